"""Module: the building block every layer and model is made of.

A Module owns three kinds of things, each found by its attribute name:

- Parameters: the Tensors that training changes (``self.weight = Parameter(...)``);
- buffers: Tensors that belong to the model but are not trained, such as
  the running mean of a batch norm (``self.register_buffer("running_mean", t)``);
- sub-modules: other Modules (``self.conv1 = Conv2d(1, 6, 5)``).

Assigning an attribute is enough to register it, as in PyTorch, so a model
is written as plain Python: make the layers in ``__init__`` and call them in
``forward``. ``parameters()`` then walks the whole tree, which is what an
optimiser needs, and ``state_dict()`` names every tensor, which is what
saving needs.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Iterable, Iterator

import numpy as np

from tinycv.device import check_device, to_device
from tinycv.tensor import Tensor

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class StateDictError(RuntimeError):
    """A state dict does not fit a model: keys missing, unexpected or mis-shaped."""


class Parameter(Tensor):
    """A Tensor that a Module trains: it requires grad and is registered
    automatically when assigned as a Module attribute."""

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def empty_parameter(*shape, dtype=None, device=None) -> Parameter:
    """A zero Parameter of ``shape`` for a layer to initialise (float32 default)."""
    array = np.zeros(shape, dtype=np.float32 if dtype is None else np.dtype(dtype))
    return Parameter(to_device(array, device or "cpu"))


class Module:
    """Base class of layers and models: subclass it and write ``forward``."""

    def __init__(self):
        # object.__setattr__ because our own __setattr__ needs these to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- registration by attribute ------------------------------------------

    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() is called; "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )
        if isinstance(value, Parameter):
            self._forget(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} "
                    "(a Parameter or None is expected)"
                )
            self._parameters[name] = None
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} as buffer {name!r} "
                    "(a Tensor or None is expected)"
                )
            self._buffers[name] = value
        elif name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module "
                    f"{name!r} (a Module or None is expected)"
                )
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # Called only when normal lookup fails, i.e. for registered things.
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(
            f"'{type(self).__name__}' object has no attribute {name!r}"
        )

    def __delattr__(self, name: str) -> None:
        if name not in self.__dict__ and not self._forget(name):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        self._forget(name)

    def _forget(self, name: str) -> bool:
        """Remove ``name`` from every registry (and plain attributes)."""
        found = False
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                found = True
        self._non_persistent_buffers.discard(name)
        if name in self.__dict__:
            object.__delattr__(self, name)
        return found

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None, for an absent one such as bias=False)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter: {name!r} must be a Parameter or None, "
                f"got {type(param).__name__}"
            )
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(
        self, name: str, tensor: Tensor | None, persistent: bool = True
    ) -> None:
        """Register a tensor that is saved with the model but not trained."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"register_buffer: {name!r} must be a Tensor or None, "
                f"got {type(tensor).__name__}"
            )
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} is a {type(module).__name__}")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    # ---- walking the tree ----------------------------------------------------

    def named_modules(self, prefix: str = "", memo: set | None = None) -> Iterator:
        """Every module in the tree (self first) with its dotted name."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                child_prefix = f"{prefix}.{name}" if prefix else name
                yield from module.named_modules(child_prefix, memo)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator:
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool) -> Iterator:
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator:
        """(dotted name, Parameter) for each parameter, each one once."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def num_parameters(self, trainable_only: bool = False) -> int:
        """How many numbers the model learns (the sum of every parameter's size)."""
        return sum(
            p.numel()
            for p in self.parameters()
            if p.requires_grad or not trainable_only
        )

    def apply(self, fn) -> Module:
        """Call ``fn`` on every sub-module, then on self (e.g. to initialise)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ---- modes and gradients ---------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Training mode: dropout drops, batch norm uses batch statistics."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: dropout is off, batch norm uses running statistics."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad.data = param.grad.data * 0

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze (True) every parameter."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    # ---- device and dtype --------------------------------------------------------

    def _convert(self, convert) -> Module:
        """Replace every parameter's and buffer's array in place, keeping identity
        (so an optimiser made before ``to()`` still holds the right tensors)."""
        for module in self.modules():
            for tensor in list(module._parameters.values()) + list(
                module._buffers.values()
            ):
                if tensor is None:
                    continue
                tensor.data = convert(tensor.data)
                if tensor.grad is not None:
                    tensor.grad.data = convert(tensor.grad.data)
        return self

    def to(self, target) -> Module:
        """``to("cuda")``, ``to("cpu")`` or ``to(tinycv.float64)``."""
        if isinstance(target, str):
            device = check_device(target)
            return self._convert(lambda array: to_device(array, device))
        dtype = np.dtype(target)
        if dtype.kind != "f":
            raise TypeError(f"Module.to: {dtype} is not a floating-point dtype")
        # Only floating-point tensors change dtype; counters stay integers.
        return self._convert(
            lambda array: array.astype(dtype) if array.dtype.kind == "f" else array
        )

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    # ---- saving and loading ----------------------------------------------------

    def state_dict(self, prefix: str = "") -> OrderedDict:
        """Every parameter and persistent buffer by dotted name (detached)."""
        state = OrderedDict()
        for module_prefix, module in self.named_modules(prefix):
            dot = f"{module_prefix}." if module_prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    state[dot + name] = param.detach()
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    state[dot + name] = buffer.detach()
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy the tensors of ``state_dict`` into this model, matched by name.

        Shapes must match. With ``strict`` (the default) the keys must match
        exactly too; otherwise missing and unexpected keys are returned.
        Raises StateDictError naming every problem in one line.
        """
        own = self._own_tensors()
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        mis_shaped = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = _raw(state_dict[key])
            if tuple(value.shape) != target.shape:
                mis_shaped.append(
                    f"{key} (file {tuple(value.shape)}, model {target.shape})"
                )

        problems = []
        if mis_shaped:
            problems.append("wrong shapes: " + _listing(mis_shaped))
        if strict and missing:
            problems.append("missing keys: " + _listing(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + _listing(unexpected))
        if problems:
            raise StateDictError(
                f"cannot load the state dict into {type(self).__name__}: "
                + "; ".join(problems)
            )

        for key, target in own.items():
            if key in state_dict:
                value = to_device(_raw(state_dict[key]), target.device)
                target.data = value.astype(target.dtype)  # a copy, never shared
        return IncompatibleKeys(missing, unexpected)

    def _own_tensors(self) -> OrderedDict:
        """The live tensors behind ``state_dict()``, by the same names."""
        tensors = OrderedDict()
        for module_prefix, module in self.named_modules():
            dot = f"{module_prefix}." if module_prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    tensors[dot + name] = param
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    tensors[dot + name] = buffer
        return tensors

    # ---- printing ------------------------------------------------------------

    def extra_repr(self) -> str:
        """The settings shown between the parentheses (layers override this)."""
        return ""

    def __repr__(self) -> str:
        children = [
            f"({name}): " + repr(module).replace("\n", "\n  ")
            for name, module in self._modules.items()
        ]
        extra = self.extra_repr()
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = ([extra] if extra else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(
            set(super().__dir__())
            | set(self._parameters)
            | set(self._buffers)
            | set(self._modules)
        )

    # ---- input checks ------------------------------------------------------------

    def check_input(self, x, *patterns) -> None:
        """Raise ValueError unless ``x.shape`` fits one of ``patterns``.

        A pattern is a tuple: an int must match that size exactly, a string
        (``"N"``, ``"H"``) matches any size, and ``"*"`` first or last
        matches any number of dims there. The message names the layer::

            Conv2d(1, 6, kernel_size=(5, 5)): expected input (N, 1, H, W),
            got (8, 3, 32, 32)
        """
        shape = tuple(getattr(x, "shape", ()))
        if any(_fits(shape, pattern) for pattern in patterns):
            return
        expected = " or ".join(_show_pattern(p) for p in patterns)
        layer = f"{type(self).__name__}({self.extra_repr()})"
        raise ValueError(f"{layer}: expected input {expected}, got {shape}")


def _fits(shape: tuple, pattern: tuple) -> bool:
    if pattern and pattern[0] == "*":
        tail = pattern[1:]
        return len(shape) >= len(tail) and _fits(shape[len(shape) - len(tail) :], tail)
    if pattern and pattern[-1] == "*":
        head = pattern[:-1]
        return len(shape) >= len(head) and _fits(shape[: len(head)], head)
    if len(shape) != len(pattern):
        return False
    return all(isinstance(p, str) or p == n for p, n in zip(pattern, shape))


def _show_pattern(pattern: tuple) -> str:
    return "(" + ", ".join(str(p) for p in pattern) + ")"


def _raw(value):
    """The array inside a Tensor; numpy arrays pass through; lists become arrays."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "shape") and hasattr(value, "astype"):
        return value
    return np.asarray(value)


def _listing(keys: list, limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    if len(keys) > limit:
        shown += f" and {len(keys) - limit} more"
    return shown


# ---- containers ------------------------------------------------------------------


class Sequential(Module):
    """Modules applied one after another: ``Sequential(conv, relu, pool)``.

    Also accepts an ``OrderedDict`` of named modules, as in PyTorch.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[index]


class ModuleList(Module):
    """A list of modules whose parameters the parent can see (a plain Python
    list would hide them from ``parameters()``)."""

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        self.extend(items)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return list(self._modules.values())[index]

    def __setitem__(self, index: int, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList: cannot hold a {type(module).__name__}")
        key = list(self._modules)[index]
        self._modules[key] = module

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            "ModuleList is a container, not a layer: iterate over it in forward()"
        )
