"""Smoke tests of ``tinycv bench``: tiny sizes, one round, JSON written.

Only that the benchmarks run and report; timings are never asserted.
"""

import json

import pytest

from tinycv import bench


def _run(tmp_path, what, sizes):
    path = tmp_path / "out" / f"{what}.json"
    assert bench.main(what, sizes, "cpu", str(path), rounds=1) == 0
    payload = json.loads(path.read_text())
    assert payload["environment"]["device"] == "cpu"
    assert not list(path.parent.glob(".bench-*"))  # no temp file left behind
    return payload["results"]


def test_matmul(tmp_path, capsys):
    results = _run(tmp_path, "matmul", [8, 17])
    implementations = {(r["case"], r["implementation"]) for r in results}
    assert ("n=8", "tinycv") in implementations
    assert ("n=17", "numpy") in implementations
    assert ("n=32", "reference") in implementations
    for r in results:
        assert r["median_ms"] > 0 and r["first_call_ms"] > 0
        assert r["gflops"] > 0
    numpy_row = next(r for r in results if r["implementation"] == "numpy")
    assert numpy_row["ratio"] > 0
    assert "matmul" in capsys.readouterr().out


def test_pool(tmp_path):
    results = _run(tmp_path, "pool", [1])
    cases = {r["case"] for r in results}
    assert {"max 2x2 fwd+bwd 1x64x32x32", "avg 2x2 fwd+bwd 1x64x32x32"} <= cases
    references = {r["case"] for r in results if r["implementation"] == "reference"}
    assert references == {"max 2x2 fwd+bwd 2x4x16x16", "avg 2x2 fwd+bwd 2x4x16x16"}


def test_first_calls_one_per_kind_of_kernel():
    def result(section, case, implementation="tinycv"):
        return bench.Result(section, case, implementation, 1.0, 1.0, 1.0, None, None)

    results = [
        result("matmul", "n=64"),
        result("matmul", "n=64", "numpy"),
        result("matmul", "n=128"),
        result("conv2d", "a fwd"),
        result("conv2d", "a fwd+bwd"),
        result("conv2d", "b fwd"),
        result("pool", "max 2x2 fwd+bwd 32x64x32x32", "tinycv cuda"),
        result("pool", "max 2x2 fwd+bwd 32x64x32x32", "tinycv cpu"),
        result("pool", "avg 2x2 fwd+bwd 32x64x32x32", "tinycv cuda"),
        result("pool", "avg 2x2 fwd+bwd 32x64x32x32", "torch cuda"),
    ]
    kinds = [(r.section, r.case, r.implementation) for r in bench._first_calls(results)]
    assert kinds == [
        ("matmul", "n=64", "tinycv"),
        ("conv2d", "a fwd", "tinycv"),
        ("conv2d", "a fwd+bwd", "tinycv"),
        ("pool", "max 2x2 fwd+bwd 32x64x32x32", "tinycv cuda"),
        ("pool", "max 2x2 fwd+bwd 32x64x32x32", "tinycv cpu"),
        ("pool", "avg 2x2 fwd+bwd 32x64x32x32", "tinycv cuda"),
    ]


def test_conv2d_cases_are_the_lecture_layers():
    shapes = [case.shapes() for case in bench.CONV_CASES]
    assert shapes == [
        ((64, 1, 32, 32), (6, 1, 5, 5)),
        ((64, 6, 14, 14), (16, 6, 5, 5)),
        ((32, 64, 32, 32), (64, 64, 3, 3)),
        ((32, 128, 28, 28), (128, 1, 3, 3)),
    ]
    vgg = bench.CONV_CASES[2]
    assert vgg.forward_flops() == 2.0 * 32 * 64 * 32 * 32 * 64 * 9


def test_conv2d(tmp_path, monkeypatch):
    # One small case keeps the Numba compile of a cold cache short; the
    # lecture's four cases run through the same code.
    monkeypatch.setattr(bench, "CONV_CASES", (bench.ConvCase("tiny", 2, 3, 8, 4, 3),))
    results = _run(tmp_path, "conv2d", None)
    cases = {r["case"] for r in results if r["implementation"] == "tinycv"}
    assert "tiny 2x3x8x8*4x3x3x3 fwd" in cases
    assert "tiny 2x3x8x8*4x3x3x3 fwd+bwd" in cases
    assert any(r["implementation"] == "reference" for r in results)


def test_bad_arguments_exit_2(capsys):
    assert bench.main("fft", None, "cpu", None, 1) == 2
    assert bench.main("matmul", [0], "cpu", None, 1) == 2
    assert "tinycv bench:" in capsys.readouterr().err


def test_cuda_missing_exits_2(capsys):
    from tinycv import cuda

    if cuda.is_available():
        pytest.skip("a GPU (or the simulator) is available here")
    assert bench.main("matmul", [8], "cuda", None, 1) == 2
    assert "no CUDA device" in capsys.readouterr().err


@pytest.mark.parametrize("set_by_tinycv", [True, False])
def test_settings_note(tmp_path, monkeypatch, capsys, set_by_tinycv):
    # The feature list tinycv writes into NUMBA_CPU_FEATURES is hundreds of
    # characters long: the report names the setting in a line instead. A
    # value the user set is shown as it is.
    from tinycv import kernels

    monkeypatch.setattr(kernels, "WIDE_VECTORS_SET", set_by_tinycv)
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+avx2,+fma,+user-choice")
    _run(tmp_path, "pool", [1])
    out = capsys.readouterr().out
    if set_by_tinycv:
        assert "512-bit vectors" in out and "+user-choice" not in out
    else:
        assert "NUMBA_CPU_FEATURES=+avx2,+fma,+user-choice is set" in out


@pytest.mark.parametrize("kept", [True, False])
def test_memory_note(tmp_path, monkeypatch, capsys, kept):
    # Whether freed memory stays in the process changes PyTorch's times as
    # much as tinycv's: the report says which way it ran, and the JSON too.
    from tinycv import kernels

    monkeypatch.setattr(kernels, "FREED_MEMORY_KEPT", kept)
    path = tmp_path / "pool.json"
    assert bench.main("pool", [1], "cpu", str(path), rounds=1) == 0
    out = capsys.readouterr().out
    assert ("freed memory stays in this process" in out) == kept
    assert json.loads(path.read_text())["environment"]["freed_memory_kept"] == kept
