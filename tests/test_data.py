"""tinycv.data: loader, idx files, MNIST (embedded, full, download), synthetic sets,
augmentation."""

import dataclasses
import gzip
import hashlib
import io
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest

import tinycv
from tinycv.data import (
    MNIST,
    Compose,
    DataLoader,
    Dataset,
    DatasetNotFoundError,
    FashionMNIST,
    GaussianNoise,
    IdxError,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotation,
    TensorDataset,
    adding_problem,
    blobs,
    cluttered_mnist,
    download,
    logic_gate,
    moons,
    moving_digits,
    moving_shapes,
    random_split,
    read_idx,
    shapes,
    spirals,
    write_idx,
)
from tinycv.data import mnist as mnist_module
from tinycv.data.build_mnist_subset import build, stratified_quotas
from tinycv.data.toys import TRUTH_TABLES
from tinycv.data.videos import DIRECTIONS

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
needs_shared_mnist = pytest.mark.skipif(
    not SHARED_MNIST.is_dir(), reason="no copy of MNIST beside the repository"
)

# Class counts of the full MNIST (from its documentation).
FULL_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}


@pytest.fixture
def no_data_dirs(tmp_path, monkeypatch):
    """Point $HOME and $TINYCV_DATA at empty folders; forget earlier notices."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TINYCV_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(mnist_module, "_notified", set())
    fashion = dataclasses.replace(mnist_module.SOURCES["fashion-mnist"], system_dirs=())
    monkeypatch.setitem(mnist_module.SOURCES, "fashion-mnist", fashion)
    return tmp_path


def write_fake_split(folder: Path, n: int, train: bool, gz: bool, seed: int = 0):
    """Small random MNIST-shaped idx files; return (images, labels)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    prefix = "train" if train else "t10k"
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return images, labels


# --------------------------------------------------------------------------
# Dataset and DataLoader


class SquaresDataset(Dataset):
    """A dataset without a batch path: the loader must collate sample by sample."""

    def __len__(self):
        return 23

    def __getitem__(self, index):
        return np.full((2,), index, dtype=np.float32), index


def epoch_labels(loader):
    return [labels.numpy().tolist() for _, labels in loader]


@pytest.mark.parametrize("dataset", [SquaresDataset(), None])
def test_loader_covers_every_sample_once_per_epoch(dataset):
    dataset = dataset or TensorDataset(np.zeros((23, 2)), np.arange(23))
    loader = DataLoader(dataset, batch_size=5, shuffle=True, generator=1)
    assert len(loader) == 5

    first, second = epoch_labels(loader), epoch_labels(loader)
    for epoch in (first, second):
        assert [len(batch) for batch in epoch] == [5, 5, 5, 5, 3]
        assert sorted(sum(epoch, [])) == list(range(23))
    assert first != second  # a fresh permutation each epoch


def test_loader_batches_are_tensors_of_the_right_dtypes():
    images = np.zeros((10, 1, 4, 4), dtype=np.float32)
    dataset = TensorDataset(images, np.arange(10))
    x, y = next(iter(DataLoader(dataset, batch_size=4)))
    assert isinstance(x, tinycv.Tensor) and x.shape == (4, 1, 4, 4)
    assert x.dtype == np.float32 and y.dtype == np.int64

    x, y = next(iter(DataLoader(SquaresDataset(), batch_size=4)))
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert y.numpy().tolist() == [0, 1, 2, 3]


def test_loader_same_seed_same_batches():
    dataset = TensorDataset(np.arange(50), np.arange(50))

    def two_epochs(seed):
        loader = DataLoader(dataset, batch_size=7, shuffle=True, generator=seed)
        return epoch_labels(loader) + epoch_labels(loader)

    assert two_epochs(3) == two_epochs(3)
    assert two_epochs(3) != two_epochs(4)

    tinycv.manual_seed(5)
    first = epoch_labels(DataLoader(dataset, batch_size=7, shuffle=True))
    tinycv.manual_seed(5)
    assert epoch_labels(DataLoader(dataset, batch_size=7, shuffle=True)) == first


def test_loader_without_shuffle_keeps_order_and_drop_last():
    dataset = TensorDataset(np.arange(10), np.arange(10))
    loader = DataLoader(dataset, batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert epoch_labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(dataset, batch_size=4)) == 3
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(dataset, batch_size=0)


def test_tensor_dataset_and_random_split():
    dataset = TensorDataset(tinycv.tensor([[1.0, 2.0], [3.0, 4.0]]), np.array([0, 1]))
    x, y = dataset[1]
    assert x.numpy().tolist() == [3.0, 4.0] and y.item() == 1
    with pytest.raises(ValueError, match="first dimension"):
        TensorDataset(np.zeros(3), np.zeros(4))

    parts = random_split(TensorDataset(np.arange(10), np.arange(10)), [0.7, 0.3], 0)
    assert [len(part) for part in parts] == [7, 3]
    seen = sorted(int(part[i][1].item()) for part in parts for i in range(len(part)))
    assert seen == list(range(10))
    batch = next(iter(DataLoader(parts[1], batch_size=3)))
    assert batch[1].numpy().tolist() == [int(parts[1][i][1].item()) for i in range(3)]


# --------------------------------------------------------------------------
# idx files


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32"])
def test_idx_round_trip(tmp_path, suffix, dtype):
    array = (np.arange(2 * 3 * 5) * 7 - 20).astype(dtype).reshape(2, 3, 5)
    path = tmp_path / f"array-idx3{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == (2, 3, 5)
    np.testing.assert_array_equal(back, array)
    if suffix:
        assert path.read_bytes()[:2] == b"\x1f\x8b"


def test_idx_errors(tmp_path):
    path = tmp_path / "images-idx3"
    write_idx(path, np.zeros((4, 28, 28), dtype=np.uint8))
    raw = path.read_bytes()

    path.write_bytes(raw[:-10])
    with pytest.raises(IdxError, match="truncated.*3,136 bytes of data.*3,126"):
        read_idx(path)

    path.write_bytes(b"\x08\x03" + raw[2:])
    with pytest.raises(IdxError, match="not an idx file"):
        read_idx(path)

    path.write_bytes(raw[:10])
    with pytest.raises(IdxError, match="truncated inside the header"):
        read_idx(path)

    path.write_bytes(gzip.compress(raw)[:-20])
    with pytest.raises(IdxError, match="gzip"):
        read_idx(path)


# --------------------------------------------------------------------------
# MNIST


def test_embedded_subset_checksum_and_class_counts():
    raw = mnist_module.EMBEDDED_FILE.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == mnist_module.EMBEDDED_SHA256
    assert len(raw) < 4_000_000

    with np.load(mnist_module.EMBEDDED_FILE) as archive:
        for split, size in (("train", 10_000), ("test", 2_000)):
            images = archive[f"{split}_images"]
            labels = archive[f"{split}_labels"]
            indices = archive[f"{split}_indices"]
            assert images.shape == (size, 28, 28) and images.dtype == np.uint8
            counts = np.bincount(labels, minlength=10)
            assert counts.tolist() == list(mnist_module.EMBEDDED_CLASS_COUNTS[split])

            # Proportional to the full set's class frequencies.
            full = np.repeat(np.arange(10), FULL_COUNTS[split])
            expected = stratified_quotas(full, size)
            assert counts.tolist() == expected.tolist()
            assert np.all(np.diff(indices.astype(np.int64)) > 0)
        assert "CC BY-SA 3.0" in str(archive["credit"])


def test_mnist_falls_back_to_the_embedded_subset(no_data_dirs, capsys):
    train = MNIST()
    test = MNIST(train=False)
    assert (len(train), len(test)) == (10_000, 2_000)
    assert train.source == "embedded" and train.targets.dtype == np.int64

    notice = capsys.readouterr().err.strip()
    assert "embedded subset" in notice and len(notice.splitlines()) == 1

    image, label = train[0]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    assert 0 <= image.numpy().min() and image.numpy().max() <= 1
    assert label == train.targets[0]

    with pytest.raises(DatasetNotFoundError, match="tinycv data download mnist"):
        MNIST(subset="full")
    with pytest.raises(DatasetNotFoundError, match="fashion-mnist"):
        FashionMNIST()


@pytest.mark.parametrize("layout", ["", "mnist", "MNIST/raw"])
def test_mnist_finds_idx_files_in_the_usual_places(no_data_dirs, layout):
    folder = no_data_dirs / "data" / layout
    images, labels = write_fake_split(folder, 6, train=False, gz=layout == "mnist")
    dataset = MNIST(train=False, subset="full")  # found through $TINYCV_DATA
    np.testing.assert_array_equal(dataset.data, images)
    np.testing.assert_array_equal(dataset.targets, labels)

    x, y = next(iter(DataLoader(dataset, batch_size=6)))
    np.testing.assert_allclose(x.numpy()[:, 0], images / 255, atol=1e-7)
    assert y.numpy().tolist() == labels.tolist()


def test_fashion_mnist_loads_from_root(no_data_dirs):
    images, labels = write_fake_split(no_data_dirs / "fm", 5, train=True, gz=True)
    dataset = FashionMNIST(root=no_data_dirs / "fm")
    assert len(dataset) == 5 and dataset.classes[9] == "Ankle boot"
    np.testing.assert_array_equal(dataset.targets, labels)


def test_mnist_rejects_mismatched_files(no_data_dirs):
    folder = no_data_dirs / "data"
    write_fake_split(folder, 6, train=True, gz=False)
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(5, dtype=np.uint8))
    with pytest.raises(ValueError, match="expected 6 uint8 labels"):
        MNIST(subset="full")


@needs_shared_mnist
def test_full_mnist_from_the_shared_copy():
    train = MNIST(root=SHARED_MNIST, subset="full")
    test = MNIST(root=SHARED_MNIST, train=False, subset="full")
    assert train.data.shape == (60_000, 28, 28) and len(test) == 10_000
    assert train.targets[:5].tolist() == [5, 0, 4, 1, 9]
    assert test.targets[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(train.targets).tolist() == FULL_COUNTS["train"]

    # The embedded subset is made of these very images.
    with np.load(mnist_module.EMBEDDED_FILE) as archive:
        indices = archive["train_indices"].astype(np.int64)
        np.testing.assert_array_equal(archive["train_images"], train.data[indices])


@needs_shared_mnist
def test_building_the_subset_is_reproducible(tmp_path):
    build(SHARED_MNIST, tmp_path / "subset.npz")
    # Compare contents, not bytes: another zlib may compress differently.
    with (
        np.load(tmp_path / "subset.npz") as rebuilt,
        np.load(mnist_module.EMBEDDED_FILE) as shipped,
    ):
        assert rebuilt.files == shipped.files
        for key in shipped.files:
            np.testing.assert_array_equal(rebuilt[key], shipped[key])


# --------------------------------------------------------------------------
# download, with a fake opener in place of the network


class FakeOpener:
    """Serves ``files`` (name -> bytes) from the mirrors in ``working``."""

    def __init__(self, files, working=(), corrupt=()):
        self.files, self.working, self.corrupt = files, working, corrupt
        self.urls = []

    def __call__(self, url, timeout=None):
        self.urls.append(url)
        mirror, name = url.rsplit("/", 1)
        if not any(url.startswith(base) for base in self.working + self.corrupt):
            raise URLError("no network")
        payload = self.files[name]
        if any(url.startswith(base) for base in self.corrupt):
            payload = gzip.compress(b"not mnist")
        return io.BytesIO(payload)


@pytest.fixture
def fake_mnist(monkeypatch):
    """Small stand-in idx files, with the catalogue's checksums made to match."""
    rng = np.random.default_rng(0)
    contents = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.array([5, 0, 4, 1], dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.array([7, 2], dtype=np.uint8),
    }
    files, sha256 = {}, {}
    for stem, array in contents.items():
        buffer = io.BytesIO()
        header = bytes([0, 0, 8, array.ndim])
        raw = header + np.asarray(array.shape, ">u4").tobytes() + array.tobytes()
        buffer.write(gzip.compress(raw))
        files[f"{stem}.gz"] = buffer.getvalue()
        sha256[stem] = hashlib.sha256(raw).hexdigest()

    source = dataclasses.replace(
        mnist_module.SOURCES["mnist"],
        mirrors=("https://one.example/", "https://two.example/"),
        sha256=sha256,
    )
    monkeypatch.setitem(mnist_module.SOURCES, "mnist", source)
    return files


def test_download_tries_the_next_mirror(tmp_path, monkeypatch, fake_mnist):
    opener = FakeOpener(fake_mnist, working=("https://two.example/",))
    monkeypatch.setattr(mnist_module, "urlopen", opener)

    assert download("mnist", root=tmp_path) == 0
    saved = sorted(p.name for p in (tmp_path / "mnist").iterdir())
    assert saved == sorted(fake_mnist)
    dataset = MNIST(root=tmp_path, subset="full")
    assert dataset.targets.tolist() == [5, 0, 4, 1]

    # Files already there and correct are not fetched again.
    opener.urls.clear()
    assert download("mnist", root=tmp_path) == 0
    assert opener.urls == []


def test_download_refuses_a_checksum_mismatch(tmp_path, monkeypatch, fake_mnist):
    opener = FakeOpener(fake_mnist, corrupt=("https://one.example/",))
    monkeypatch.setattr(mnist_module, "urlopen", opener)

    assert download("mnist", root=tmp_path) == 1
    assert list((tmp_path / "mnist").iterdir()) == []  # not even a temporary file


def test_download_offline_says_what_to_do(tmp_path, monkeypatch, capsys, fake_mnist):
    monkeypatch.setattr(mnist_module, "urlopen", FakeOpener(fake_mnist))

    assert download("mnist", root=tmp_path) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1
    assert "~/.cache/tinycv/mnist" in message and "TINYCV_DATA" in message
    assert download("imagenet") == 2


# --------------------------------------------------------------------------
# Synthetic data sets


def test_logic_gates_follow_their_truth_tables():
    for gate, table in TRUTH_TABLES.items():
        points, labels = logic_gate(gate)
        assert points.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
        assert labels.tolist() == list(table)

        points, labels = logic_gate(gate, "bipolar", n_per_corner=3)
        assert points.shape == (12, 2) and set(labels.tolist()) <= {-1.0, 1.0}
        assert labels[:4].tolist() == [2 * v - 1 for v in table]


def test_two_dimensional_toys_shapes_and_determinism():
    for make, n in ((spirals, 300), (moons, 200), (blobs, 300)):
        points, labels = make(generator=7)
        assert points.shape == (n, 2) and points.dtype == np.float32
        assert labels.shape == (n,) and labels.dtype == np.int64
        again, _ = make(generator=7)
        other, _ = make(generator=8)
        np.testing.assert_array_equal(points, again)
        assert not np.array_equal(points, other)

    points, labels = spirals(n_per_class=50, n_classes=5, generator=0)
    assert np.bincount(labels).tolist() == [50] * 5
    assert np.abs(points).max() <= 1.5

    centres = np.array([[0.0, 0.0], [10.0, 10.0]])
    points, labels = blobs(100, centers=centres, std=0.5, generator=0)
    for k in range(2):
        assert np.allclose(points[labels == k].mean(axis=0), centres[k], atol=0.3)

    dataset = moons(as_dataset=True)
    assert isinstance(dataset, TensorDataset) and len(dataset) == 200


def test_shapes_masks_label_the_bright_pixels():
    images, masks = shapes(20, size=32, channels=1, noise=0.0, generator=0)
    assert images.shape == (20, 1, 32, 32) and masks.shape == (20, 32, 32)
    assert masks.dtype == np.int64 and set(np.unique(masks)) <= {0, 1, 2, 3}
    assert np.all(images[:, 0][masks > 0] >= 0.45)
    assert np.all(images[:, 0][masks == 0] <= 0.25)
    assert set(np.unique(masks)) == {0, 1, 2, 3}  # every class appears

    colour, _ = shapes(2, channels=3, generator=0)
    assert colour.shape == (2, 3, 32, 32)
    np.testing.assert_array_equal(shapes(3, generator=5)[0], shapes(3, generator=5)[0])


def test_cluttered_mnist_places_the_digit_at_its_location():
    rng = np.random.default_rng(0)
    digits = rng.integers(1, 256, (5, 28, 28), dtype=np.uint8)
    source_labels = np.arange(5)

    images, labels, where = cluttered_mnist(
        30, canvas_size=50, n_clutter=0, noise=0.0, digits=(digits, source_labels)
    )
    assert images.shape == (30, 1, 50, 50) and where.shape == (30, 2)
    for image, label, (row, col) in zip(images[:, 0], labels, where, strict=True):
        box = image[row : row + 28, col : col + 28]
        np.testing.assert_allclose(box, digits[label] / 255, atol=1e-6)
        assert image.sum() == pytest.approx(box.sum(), rel=1e-5)  # nothing else

    images, labels, where = cluttered_mnist(10, canvas_size=60, generator=3)
    assert images.dtype == np.float32 and 0 <= images.min() and images.max() <= 1
    assert labels.dtype == np.int64 and np.all(where <= 60 - 28)
    again = cluttered_mnist(10, canvas_size=60, generator=3)
    np.testing.assert_array_equal(images, again[0])


def centre_of_mass(frame):
    rows, cols = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    return np.array([(rows * frame).sum(), (cols * frame).sum()]) / frame.sum()


@pytest.mark.parametrize("make", [moving_shapes, moving_digits])
def test_moving_objects_move_the_way_their_label_says(make):
    videos, labels = make(40, frames=6, size=32, speed=2, generator=1)
    assert videos.shape == (40, 1, 6, 32, 32) and labels.dtype == np.int64
    assert set(labels.tolist()) == set(range(8))

    for video, label in zip(videos[:, 0], labels, strict=True):
        _, step_row, step_col = DIRECTIONS[label]
        moved = centre_of_mass(video[-1]) - centre_of_mass(video[0])
        np.testing.assert_allclose(
            moved, [2 * 5 * step_row, 2 * 5 * step_col], atol=1e-4
        )

    _, labels = make(20, n_directions=4, generator=1)
    assert labels.max() <= 3


def test_adding_problem_targets_are_the_marked_sums():
    inputs, targets = adding_problem(64, length=20, generator=0)
    assert inputs.shape == (64, 20, 2) and targets.shape == (64, 1)
    markers = inputs[:, :, 1]
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :10].sum(axis=1) == 1)
    np.testing.assert_allclose(
        targets[:, 0], (inputs[:, :, 0] * markers).sum(axis=1), rtol=1e-6
    )


# --------------------------------------------------------------------------
# Augmentation


def random_batch(n=16, seed=0):
    return np.random.default_rng(seed).random((n, 1, 12, 12)).astype(np.float32)


def test_flip_twice_is_identity_and_draws_are_per_image():
    batch = random_batch()
    flip = RandomHorizontalFlip(p=1.0)
    np.testing.assert_array_equal(flip(flip(batch)), batch)
    np.testing.assert_array_equal(flip(batch[0]), batch[0][..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(batch), batch)

    same = np.repeat(batch[:1], 64, axis=0)
    flipped = RandomHorizontalFlip(generator=0)(same)
    was_flipped = [np.array_equal(x, same[0][..., ::-1]) for x in flipped]
    assert 10 < sum(was_flipped) < 54


def test_random_crop_shapes_and_windows():
    batch = random_batch()
    assert RandomCrop(8, generator=0)(batch).shape == (16, 1, 8, 8)
    assert RandomCrop((12, 12), padding=2, generator=0)(batch[0]).shape == (1, 12, 12)

    # Every crop is a window of the image; identical images get different ones.
    same = np.repeat(batch[:1], 32, axis=0)
    crops = RandomCrop(6, generator=1)(same)
    windows = {
        (r, c): same[0][:, r : r + 6, c : c + 6] for r in range(7) for c in range(7)
    }
    found = [
        next(k for k, w in windows.items() if np.array_equal(w, crop)) for crop in crops
    ]
    assert len(set(found)) > 5
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(20)(batch)


def test_rotation_matches_rot90_and_keeps_shape():
    batch = random_batch(4)
    quarter = RandomRotation((90, 90))(batch)
    np.testing.assert_array_equal(quarter, np.rot90(batch, 1, axes=(2, 3)))
    smooth = RandomRotation((90, 90), interpolation="bilinear")(batch)
    np.testing.assert_allclose(smooth, np.rot90(batch, 1, axes=(2, 3)), atol=1e-5)

    rotated = RandomRotation(30, generator=0)(np.repeat(batch[:1], 8, axis=0))
    assert rotated.shape == (8, 1, 12, 12) and rotated.dtype == np.float32
    assert len({rotated[i].tobytes() for i in range(8)}) > 1  # one angle each


def test_gaussian_noise_statistics_and_independence():
    zeros = np.zeros((8, 1, 64, 64), dtype=np.float32)
    noisy = GaussianNoise(std=0.2, generator=0)(zeros)
    assert noisy.dtype == np.float32
    assert abs(noisy.mean()) < 0.01 and abs(noisy.std() - 0.2) < 0.01
    assert not np.array_equal(noisy[0], noisy[1])
    with pytest.raises(ValueError, match="float images"):
        GaussianNoise()(np.zeros((1, 2, 2), dtype=np.uint8))


def test_transforms_are_seeded_and_take_tensors():
    batch = random_batch()

    def run(seed):
        pipeline = Compose(
            [
                RandomCrop(10, padding=1, generator=seed),
                RandomRotation(20, generator=seed),
                GaussianNoise(0.1, generator=seed),
            ]
        )
        return pipeline(batch)

    np.testing.assert_array_equal(run(4), run(4))
    assert not np.array_equal(run(4), run(5))

    out = RandomHorizontalFlip(p=1.0)(tinycv.tensor(batch[0]))
    assert isinstance(out, tinycv.Tensor)
    np.testing.assert_array_equal(out.numpy(), batch[0][..., ::-1])

    normalised = Normalize((0.5,), (0.25,))(batch)
    np.testing.assert_allclose(normalised, (batch - 0.5) / 0.25, rtol=1e-6)


def test_mnist_applies_batch_transforms_per_image(no_data_dirs):
    dataset = MNIST(subset="embedded", transform=RandomHorizontalFlip(generator=0))
    plain = MNIST(subset="embedded")
    images, _ = next(iter(DataLoader(dataset, batch_size=64)))
    originals, _ = next(iter(DataLoader(plain, batch_size=64)))
    flipped = [
        np.array_equal(a, b[..., ::-1])
        for a, b in zip(images.numpy(), originals.numpy(), strict=True)
    ]
    assert 10 < sum(flipped) < 54

    # A transform that only knows single images is applied one image at a time.
    single = MNIST(subset="embedded", transform=lambda image: image[:, ::2, ::2])
    images, _ = next(iter(DataLoader(single, batch_size=8)))
    assert images.shape == (8, 1, 14, 14)
