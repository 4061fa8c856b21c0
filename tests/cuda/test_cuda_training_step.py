"""A whole training step on the GPU gives the CPU's numbers.

Two copies of a small CNN, built from the same seed: one stays on the CPU,
the other moves to "cuda". The same batch goes through both, forward and
backward; loss and every gradient must agree.
"""

import numpy as np

import tinycv
import tinycv.nn as nn
import tinycv.nn.functional as F
from tinycv.cuda import is_cuda_array
from tinycv.kernels import use_backend


def small_cnn():
    tinycv.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1, groups=2),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(4, 5),
    )


def test_training_step_matches_the_cpu():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    labels = np.array([0, 4])

    # The CPU side runs the reference loops: at this size they are quick and
    # need no Numba compilation.
    with use_backend("reference"):
        cpu_model = small_cnn()
        cpu_logits = cpu_model(tinycv.tensor(images))
        cpu_loss = F.cross_entropy(cpu_logits, tinycv.tensor(labels))
        cpu_loss.backward()

    gpu_model = small_cnn().to("cuda")
    gpu_loss = F.cross_entropy(
        gpu_model(tinycv.tensor(images).to("cuda")), tinycv.tensor(labels).to("cuda")
    )
    gpu_loss.backward()

    assert is_cuda_array(gpu_loss.data)
    np.testing.assert_allclose(gpu_loss.item(), cpu_loss.item(), rtol=1e-5)
    for (name, cpu_param), (_, gpu_param) in zip(
        cpu_model.named_parameters(), gpu_model.named_parameters(), strict=True
    ):
        assert is_cuda_array(gpu_param.grad.data), name
        np.testing.assert_allclose(
            gpu_param.grad.cpu().numpy(),
            cpu_param.grad.numpy(),
            rtol=1e-4,
            atol=1e-5,
            err_msg=name,
        )
