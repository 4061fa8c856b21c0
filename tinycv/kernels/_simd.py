"""SIMD registers for Numba kernels: a vector type and four operations on it.

A CPU core multiplies and adds a whole register of numbers at once: 16
float32 values in a 512-bit AVX-512 register, 8 in a 256-bit AVX2 one.
Numba's compiler (LLVM) uses these registers by itself when it can turn
an inner loop into vector code, but only for loops; it cannot be asked to
keep, say, twelve vectors of partial sums in registers across a loop, which
is what a fast matrix product does (see ``matmul.gemm_nn``).

This module gives Numba that vocabulary. ``Vector`` is a Numba type whose
values live in one SIMD register (an LLVM vector), and six intrinsics work
on it inside ``@njit`` functions:

- ``vload(a, i)``: the register holding ``a[i : i + lanes]``;
- ``vstore(a, i, v)``: write it back;
- ``vfma(acc, s, v)``: ``acc + s * v`` lane by lane, for a scalar ``s``
  (a fused multiply-add once fastmath lets LLVM fuse);
- ``vmuladd(acc, u, v)``: ``acc + u * v`` lane by lane, for two vectors;
- ``vlanes(a)``: how many of a's numbers fill one register;
- ``vtranspose(a, i, di, b, j, dj)``: a square block of ``lanes x lanes``
  numbers, transposed from ``a`` into ``b`` inside the registers.

``a`` is a one-dimensional C-contiguous array. Like the raw pointers they
become, these intrinsics do no bounds checking: the caller makes sure that
every vector they touch, ``a[i : i + lanes]``, lies inside the array.

The register width is the host's: 64 bytes with AVX-512, 32 with AVX, else
16 (SSE, or NEON on ARM). The same code runs everywhere; only the number of
lanes changes.
"""

from __future__ import annotations

import os

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model


def _register_bytes() -> int:
    """Width of the widest SIMD register of the CPU Numba compiles for."""
    features = os.environ.get("NUMBA_CPU_FEATURES", "")
    if not features and os.environ.get("NUMBA_CPU_NAME"):
        return 16  # a named CPU without features: assume the narrowest
    if not features:
        try:
            import llvmlite.binding as llvm

            features = llvm.get_host_cpu_features().flatten()
        except (ImportError, RuntimeError):
            return 16
    if "+avx512f" in features:
        return 64
    if "+avx" in features:
        return 32
    return 16


REGISTER_BYTES = _register_bytes()


class Vector(types.Type):
    """One SIMD register holding ``lanes`` numbers of ``dtype``."""

    def __init__(self, dtype, lanes):
        self.dtype = dtype
        self.lanes = lanes
        super().__init__(name=f"Vector({dtype}, {lanes})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    """A Vector is an LLVM vector value, which LLVM keeps in a register."""

    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.lanes))


def _vector_of(array_type) -> Vector:
    return Vector(array_type.dtype, REGISTER_BYTES * 8 // array_type.dtype.bitwidth)


def _address(context, builder, array_type, array, index, vector_type):
    """Pointer to array[index], typed as a pointer to a whole vector."""
    view = context.make_array(array_type)(context, builder, array)
    pointer = cgutils.get_item_pointer(
        context, builder, array_type, view, [index], wraparound=False
    )
    return builder.bitcast(pointer, vector_type.as_pointer())


@intrinsic
def vload(typingctx, array, index):
    """The vector array[index : index + lanes]."""
    signature = _vector_of(array)(array, index)

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(sig.return_type)
        address = _address(context, builder, sig.args[0], *args, vector_type)
        # align=itemsize: the numbers need not start on a vector boundary.
        return builder.load(address, align=sig.args[0].dtype.bitwidth // 8)

    return signature, codegen


@intrinsic
def vstore(typingctx, array, index, vector):
    """array[index : index + lanes] = vector."""
    signature = types.void(array, index, vector)

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(sig.args[2])
        address = _address(context, builder, sig.args[0], args[0], args[1], vector_type)
        builder.store(args[2], address, align=sig.args[0].dtype.bitwidth // 8)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def vfma(typingctx, acc, scalar, vector):
    """acc + scalar * vector, lane by lane."""
    signature = acc(acc, scalar, vector)

    def codegen(context, builder, sig, args):
        vector_type = context.get_value_type(sig.args[0])
        value = context.cast(builder, args[1], sig.args[1], sig.args[0].dtype)
        # Broadcast the scalar to every lane: put it in lane 0, then shuffle
        # lane 0 into all lanes.
        lanes = vector_type.count
        spread = builder.insert_element(
            ir.Constant(vector_type, ir.Undefined),
            value,
            ir.Constant(ir.IntType(32), 0),
        )
        spread = builder.shuffle_vector(
            spread,
            ir.Constant(vector_type, ir.Undefined),
            ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes),
        )
        product = builder.fmul(spread, args[2], flags=("fast",))
        return builder.fadd(args[0], product, flags=("fast",))

    return signature, codegen


@intrinsic
def vmuladd(typingctx, acc, u, v):
    """acc + u * v, lane by lane, for three vectors of one type."""
    if not isinstance(acc, Vector) or not (acc == u == v):
        return None  # a typing error: three vectors of the same type only
    signature = acc(acc, u, v)

    def codegen(context, builder, sig, args):
        product = builder.fmul(args[1], args[2], flags=("fast",))
        return builder.fadd(args[0], product, flags=("fast",))

    return signature, codegen


@intrinsic
def vlanes(typingctx, array):
    """How many numbers of array's dtype fill one register (a constant)."""
    lanes = _vector_of(array).lanes
    signature = types.intp(array)

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, lanes)

    return signature, codegen


@intrinsic
def vtranspose(typingctx, src, src_start, src_step, dst, dst_start, dst_step):
    """Transpose a square block of ``lanes`` x ``lanes`` numbers.

    Row r of the block is the vector at src[src_start + r * src_step] and
    row c of its transpose goes to the vector at dst[dst_start + c *
    dst_step], for r, c = 0 .. lanes - 1:

        dst[dst_start + c * dst_step + r] = src[src_start + r * src_step + c]

    Both arrays have the same dtype. Every load comes before the first
    store, so the block may be transposed in place.

    Copied number by number, a transpose costs a load and a store per
    number. Here the block is loaded as ``lanes`` vectors and rearranged in
    registers by shuffles, instructions that pick lanes out of two vectors.
    A round takes rows i and i + lanes/2 (i < lanes/2) and interleaves them
    number by number: their first halves make new row 2i (a0 b0 a1 b1 ...),
    their second halves new row 2i + 1. In binary, a number's row index
    shifts left by one bit and takes in the top bit of its lane index, and
    the lane index takes in the top bit of the row index; after log2(lanes)
    rounds (4 rounds of 16 shuffles for 16 float32 with AVX-512) row and
    lane have traded places.
    """
    if src.dtype != dst.dtype:
        return None  # a typing error: no conversion happens on the way
    signature = types.void(src, src_start, src_step, dst, dst_start, dst_step)

    def codegen(context, builder, sig, args):
        src_type, dst_type = sig.args[0], sig.args[3]
        vector_type = context.get_value_type(_vector_of(src_type))
        lanes = vector_type.count
        align = src_type.dtype.bitwidth // 8
        src_array, dst_array = args[0], args[3]
        src_start, src_step, dst_start, dst_step = (
            context.cast(builder, args[k], sig.args[k], types.intp)
            for k in (1, 2, 4, 5)
        )
        intp = context.get_value_type(types.intp)

        def address(array_type, array, start, step, r):
            index = builder.add(start, builder.mul(step, ir.Constant(intp, r)))
            return _address(context, builder, array_type, array, index, vector_type)

        rows = [
            builder.load(
                address(src_type, src_array, src_start, src_step, r), align=align
            )
            for r in range(lanes)
        ]
        half = lanes // 2
        lane_list = ir.VectorType(ir.IntType(32), lanes)
        # In shufflevector, lanes 0 .. n-1 name the first vector, n .. 2n-1 the second.
        first_halves = ir.Constant(
            lane_list, [i + s for i in range(half) for s in (0, lanes)]
        )
        second_halves = ir.Constant(
            lane_list, [i + s for i in range(half, lanes) for s in (0, lanes)]
        )
        for _ in range(lanes.bit_length() - 1):  # log2(lanes) rounds
            mixed = []
            for i in range(half):
                mixed.append(
                    builder.shuffle_vector(rows[i], rows[i + half], first_halves)
                )
                mixed.append(
                    builder.shuffle_vector(rows[i], rows[i + half], second_halves)
                )
            rows = mixed
        for c in range(lanes):
            target = address(dst_type, dst_array, dst_start, dst_step, c)
            builder.store(rows[c], target, align=align)
        return context.get_dummy_value()

    return signature, codegen
