"""Data for the lessons: datasets, the DataLoader, MNIST, synthetic sets, augmentation.

from tinycv.data import MNIST, DataLoader
from tinycv.data.augment import RandomCrop
loader = DataLoader(MNIST(train=True), batch_size=64, shuffle=True)
for images, labels in loader:   # float32 (64, 1, 28, 28), int64 (64,)
    ...
"""

from tinycv.data.augment import (
    Compose,
    GaussianNoise,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotation,
)
from tinycv.data.dataset import Dataset, Subset, TensorDataset, random_split
from tinycv.data.idx import IdxError, read_idx, write_idx
from tinycv.data.loader import DataLoader, default_collate
from tinycv.data.mnist import MNIST, DatasetNotFoundError, FashionMNIST, download
from tinycv.data.synthetic import (
    adding_problem,
    blobs,
    cluttered_mnist,
    logic_gate,
    moons,
    moving_digits,
    moving_shapes,
    shapes,
    spirals,
)

__all__ = [
    "MNIST",
    "Compose",
    "DataLoader",
    "Dataset",
    "DatasetNotFoundError",
    "FashionMNIST",
    "GaussianNoise",
    "IdxError",
    "Normalize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomRotation",
    "Subset",
    "TensorDataset",
    "adding_problem",
    "blobs",
    "cluttered_mnist",
    "default_collate",
    "download",
    "logic_gate",
    "moons",
    "moving_digits",
    "moving_shapes",
    "random_split",
    "read_idx",
    "shapes",
    "spirals",
    "write_idx",
]
