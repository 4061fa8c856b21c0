"""tinycv.save / tinycv.load: round trips, clear errors, no half-written files."""

import os
import zipfile

import numpy as np
import pytest

import tinycv
from tinycv import nn, optim
from tinycv.nn import serialization
from tinycv.nn.serialization import SerializationError, load, save


class SmallNet(nn.Module):
    def __init__(self, hidden=4):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(8, hidden)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).relu().flatten(1))


@pytest.fixture
def trained(tmp_path):
    tinycv.manual_seed(0)
    model = SmallNet()
    model(tinycv.randn(4, 1, 4, 4))  # moves the batch-norm running statistics
    path = tmp_path / "model.npz"
    save(model, path)
    return model, path


def test_module_round_trip_restores_parameters_and_buffers(trained):
    model, path = trained
    state = load(path)
    assert list(state) == list(model.state_dict())
    assert all(isinstance(value, tinycv.Tensor) for value in state.values())

    fresh = SmallNet()
    fresh.load_state_dict(state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[key].data, value.data)
        assert fresh.state_dict()[key].dtype == value.dtype
    assert fresh.bn.num_batches_tracked.item() == 1

    model.eval(), fresh.eval()
    x = tinycv.randn(2, 1, 4, 4)
    np.testing.assert_array_equal(fresh(x).data, model(x).data)


def test_the_file_is_a_plain_npz_that_needs_no_pickle(trained):
    model, path = trained
    with np.load(path, allow_pickle=False) as archive:
        assert "conv.weight" in archive.files
        np.testing.assert_array_equal(
            archive["bn.running_mean"], model.bn.running_mean.data
        )


def test_checkpoint_with_optimiser_state_round_trips(tmp_path):
    model = nn.Linear(3, 2)
    optimizer = optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    model(tinycv.randn(5, 3)).sum().backward()
    optimizer.step()
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": 3,
        "note": "after one step",
        "best": None,
    }
    save(checkpoint, tmp_path / "checkpoint.npz")
    loaded = load(tmp_path / "checkpoint.npz")

    assert loaded["epoch"] == 3 and loaded["note"] == "after one step"
    assert loaded["best"] is None
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.8, 0.9)
    assert list(loaded["optimizer"]["state"]) == [0, 1]
    exp_avg = loaded["optimizer"]["state"][0]["exp_avg"]
    np.testing.assert_array_equal(exp_avg, optimizer.state[model.weight]["exp_avg"])

    restored = optim.Adam(model.parameters(), lr=0.5)
    restored.load_state_dict(loaded["optimizer"])
    assert restored.state[model.weight]["step"] == 1
    assert restored.param_groups[0]["lr"] == 0.01


def test_tensors_and_awkward_key_names(tmp_path):
    t = tinycv.tensor([[1.0, 2.0]], dtype=tinycv.float64)
    save(t, tmp_path / "t.npz")
    back = load(tmp_path / "t.npz")
    assert isinstance(back, tinycv.Tensor) and back.dtype == np.float64
    np.testing.assert_array_equal(back.data, t.data)

    # np.savez would choke on a key named "file"; these are written by hand.
    save({"file": t, "allow_pickle": t}, tmp_path / "keys.npz")
    assert list(load(tmp_path / "keys.npz")) == ["file", "allow_pickle"]


def test_a_plain_numpy_archive_loads_as_a_dict_of_tensors(tmp_path):
    np.savez(tmp_path / "plain.npz", weight=np.ones((2, 2)))
    state = load(tmp_path / "plain.npz")
    assert isinstance(state["weight"], tinycv.Tensor)


def test_wrong_architecture_names_missing_unexpected_and_misshaped_keys(
    trained, tmp_path
):
    _, path = trained

    class OtherNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.fc = nn.Linear(8, 5)
            self.extra = nn.Linear(5, 1)

    with pytest.raises(nn.StateDictError) as error:
        OtherNet().load_state_dict(load(path))
    message = str(error.value)
    assert "\n" not in message
    assert "cannot load the state dict into OtherNet" in message
    assert "missing keys: extra.weight, extra.bias" in message
    assert "unexpected keys: bn.weight, bn.bias, bn.running_mean" in message
    assert "fc.weight (file (4, 8), model (5, 8))" in message
    assert "fc.bias (file (4,), model (5,))" in message


def test_truncated_file_gives_a_one_line_error(trained, tmp_path):
    _, path = trained
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        broken = tmp_path / f"broken{cut}.npz"
        broken.write_bytes(data[:cut])
        with pytest.raises(SerializationError) as error:
            load(broken)
        assert "\n" not in str(error.value) and str(broken) in str(error.value)


def test_damaged_member_gives_a_one_line_error(trained, tmp_path):
    _, path = trained
    data = bytearray(path.read_bytes())
    start = data.find(b"\x93NUMPY", 200)  # inside a stored array
    data[start + 80 : start + 90] = b"\xff" * 10
    broken = tmp_path / "damaged.npz"
    broken.write_bytes(bytes(data))
    with pytest.raises(SerializationError, match="damaged"):
        load(broken)


def test_foreign_files_give_clear_errors(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("this is not a model\n")
    with pytest.raises(SerializationError, match="not a tinycv model file"):
        load(text)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load(tmp_path / "missing.npz")

    # An archive holding a pickled object could run code when loaded.
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, payload=np.array([{"a": 1}], dtype=object))
    with pytest.raises(SerializationError, match="pickled Python objects"):
        load(pickled)


def test_an_interrupted_save_leaves_the_old_file_and_no_debris(
    trained, tmp_path, monkeypatch
):
    model, path = trained
    before = path.read_bytes()

    def write_half_then_fail(file, arrays, meta):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization, "_write_npz", write_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        save(model, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]


def test_saved_files_get_normal_permissions(trained):
    _, path = trained
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_unsupported_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store a set"):
        save({"bad": {1, 2}}, tmp_path / "bad.npz")
    assert not list(tmp_path.iterdir())


def test_the_archive_is_stored_uncompressed(trained):
    _, path = trained
    with zipfile.ZipFile(path) as archive:
        assert all(
            info.compress_type == zipfile.ZIP_STORED for info in archive.infolist()
        )
