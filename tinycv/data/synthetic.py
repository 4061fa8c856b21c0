"""Every synthetic data set in one place; each is generated, seeded, offline.

    logic_gate            points (4k, 2), labels (4k,) float32        perceptron, MLP
    spirals, moons, blobs points (N, 2) float32, labels (N,) int64     MLP
    shapes                images (N, C, H, W), masks (N, H, W) int64  FCN, U-Net
    cluttered_mnist       images (N, 1, S, S), labels, locations      attention
    moving_shapes,        videos (N, 1, T, H, W), direction (N,)      3D CNN, two-
      moving_digits                                                   stream, SlowFast
    adding_problem        inputs (N, T, 2), targets (N, 1)            RNN vs LSTM

All take ``generator`` (an int seed, a numpy Generator, or None for tinycv's
global generator) and ``as_dataset=True`` to get a TensorDataset instead of
arrays. Images are float32 in [0, 1].
"""

from tinycv.data.cluttered import cluttered_mnist
from tinycv.data.sequences import adding_problem
from tinycv.data.shapes import SHAPE_CLASSES, shapes
from tinycv.data.toys import blobs, logic_gate, moons, spirals
from tinycv.data.videos import direction_names, moving_digits, moving_shapes

__all__ = [
    "SHAPE_CLASSES",
    "adding_problem",
    "blobs",
    "cluttered_mnist",
    "direction_names",
    "logic_gate",
    "moons",
    "moving_digits",
    "moving_shapes",
    "shapes",
    "spirals",
]
