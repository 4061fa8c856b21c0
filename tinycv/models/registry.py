"""The zoo's catalogue: every model by name, with a one-line description.

``create("vgg16", width=0.25, input_size=32)`` builds a model;
``available()`` lists the names. An entry is a model class and the
options that make it the named network (``vgg16`` is ``VGG`` with
``config="D"``); any other option of the class can be given on top.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from tinycv.models.alexnet import AlexNet
from tinycv.models.autoencoder import Autoencoder, ConvAutoencoder, DenoisingAutoencoder
from tinycv.models.c3d import C3D
from tinycv.models.densenet import DenseNet
from tinycv.models.fcn import FCN
from tinycv.models.lenet import LeNet5
from tinycv.models.mobilenet import MobileNetV1, MobileNetV2
from tinycv.models.network import Network
from tinycv.models.recurrent import SequenceModel
from tinycv.models.resnet import CifarResNet, ResNet
from tinycv.models.slowfast import SlowFast
from tinycv.models.two_stream import TwoStream
from tinycv.models.unet import UNet
from tinycv.models.vgg import VGG
from tinycv.models.wide_resnet import WideResNet


@dataclass(frozen=True)
class Entry:
    model: type
    description: str
    defaults: dict = field(default_factory=dict)

    def options(self) -> dict:
        """The class's options and their defaults, this entry's included."""
        parameters = inspect.signature(self.model.__init__).parameters
        found = {
            name: p.default
            for name, p in parameters.items()
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        }
        found.update(self.defaults)
        return found

    def takes_any_option(self) -> bool:
        parameters = inspect.signature(self.model.__init__).parameters.values()
        return any(p.kind == p.VAR_KEYWORD for p in parameters)


REGISTRY: dict[str, Entry] = {
    "lenet5": Entry(
        LeNet5,
        "LeNet-5 (LeCun 1998): partial C3, trainable subsampling, RBF outputs; 60,000 "
        "parameters",
    ),
    "alexnet": Entry(
        AlexNet, "AlexNet (Krizhevsky 2012): two-GPU grouping, LRN, 227×227; 61 M"
    ),
    "alexnet_single": Entry(
        AlexNet,
        "AlexNet, one-stream variant (64-192-384-256-256, 224×224)",
        {"variant": "single"},
    ),
    "vgg": Entry(
        VGG, "VGG (Simonyan 2014), any configuration of Table 1: -o config=A..E"
    ),
    "vgg11": Entry(
        VGG, "VGG configuration A, 11 weight layers; 133 M", {"config": "A"}
    ),
    "vgg11_lrn": Entry(
        VGG, "VGG configuration A-LRN (A with AlexNet's LRN)", {"config": "A-LRN"}
    ),
    "vgg13": Entry(
        VGG, "VGG configuration B, 13 weight layers; 133 M", {"config": "B"}
    ),
    "vgg16_c": Entry(
        VGG, "VGG configuration C: 16 layers, three of them 1×1; 134 M", {"config": "C"}
    ),
    "vgg16": Entry(
        VGG, "VGG-16, configuration D; 138,357,544 parameters", {"config": "D"}
    ),
    "vgg19": Entry(VGG, "VGG-19, configuration E; 144 M", {"config": "E"}),
    "resnet": Entry(ResNet, "ResNet (He 2015) for ImageNet, -o depth=18|34|50|101|152"),
    "resnet18": Entry(
        ResNet, "ResNet-18: basic blocks; 11.7 M, 1.8 G mult-adds", {"depth": 18}
    ),
    "resnet34": Entry(ResNet, "ResNet-34: basic blocks; 21.8 M, 3.6 G", {"depth": 34}),
    "resnet50": Entry(
        ResNet, "ResNet-50: bottleneck blocks; 25.6 M, 3.8 G", {"depth": 50}
    ),
    "resnet101": Entry(
        ResNet, "ResNet-101: bottleneck blocks; 44.5 M, 7.6 G", {"depth": 101}
    ),
    "resnet152": Entry(
        ResNet, "ResNet-152: bottleneck blocks; 60.2 M, 11.3 G", {"depth": 152}
    ),
    "plain18": Entry(
        ResNet,
        "Plain-18: ResNet-18 without skip connections",
        {"depth": 18, "plain": True},
    ),
    "plain34": Entry(
        ResNet,
        "Plain-34: ResNet-34 without skip connections",
        {"depth": 34, "plain": True},
    ),
    "resnet_cifar": Entry(
        CifarResNet, "CIFAR-10 ResNet with 6n+2 layers: -o depth=20|32|..."
    ),
    "resnet20": Entry(
        CifarResNet,
        "ResNet-20 for CIFAR-10 (option A shortcuts); 0.27 M",
        {"depth": 20},
    ),
    "resnet56": Entry(CifarResNet, "ResNet-56 for CIFAR-10; 0.85 M", {"depth": 56}),
    "resnet110": Entry(CifarResNet, "ResNet-110 for CIFAR-10; 1.7 M", {"depth": 110}),
    "plain20": Entry(
        CifarResNet, "Plain-20 for CIFAR-10 (no skips)", {"depth": 20, "plain": True}
    ),
    "plain56": Entry(
        CifarResNet,
        "Plain-56 for CIFAR-10 (no skips): deeper, yet worse",
        {"depth": 56, "plain": True},
    ),
    "wide_resnet": Entry(
        WideResNet, "Wide ResNet WRN-d-k (Zagoruyko 2016): -o depth=28 -o k=10; 36.5 M"
    ),
    "densenet": Entry(
        DenseNet, "DenseNet-BC (Huang 2017) for CIFAR, L=100, k=12; 0.8 M"
    ),
    "densenet121": Entry(
        DenseNet,
        "DenseNet-121 for ImageNet (k=32); 8.0 M",
        {"depth": 121, "growth_rate": 32, "dataset": "imagenet"},
    ),
    "fcn32s": Entry(
        FCN, "FCN-32s (Long 2015): VGG-16 made fully convolutional", {"variant": "32s"}
    ),
    "fcn16s": Entry(FCN, "FCN-16s: FCN-32s plus a skip from pool4", {"variant": "16s"}),
    "fcn8s": Entry(FCN, "FCN-8s: skips from pool4 and pool3", {"variant": "8s"}),
    "unet": Entry(UNet, "U-Net (Ronneberger 2015), unpadded: 572×572 -> 388×388"),
    "unet_small": Entry(
        UNet,
        "U-Net, padded and small: 8 base filters, 3 levels, 64×64",
        {"base": 8, "depth": 3, "padding": 1, "input_size": 64},
    ),
    "mobilenet_v1": Entry(
        MobileNetV1,
        "MobileNet v1 (Howard 2017): -o alpha=... -o resolution=...; 4.2 M, 569 M",
    ),
    "mobilenet_v2": Entry(
        MobileNetV2, "MobileNet v2 (Sandler 2018): inverted residuals; 3.5 M, 300 M"
    ),
    "c3d": Entry(C3D, "C3D (Tran 2015): 3×3×3 convolutions on 16×112×112 clips"),
    "two_stream": Entry(
        TwoStream,
        "Two-stream (Simonyan 2014): spatial + temporal CNN-M-2048, late fusion",
    ),
    "slowfast": Entry(
        SlowFast, "SlowFast R50 (Feichtenhofer 2019): α=8, β=1/8, lateral connections"
    ),
    "autoencoder": Entry(Autoencoder, "Fully connected autoencoder for 28×28 images"),
    "conv_autoencoder": Entry(
        ConvAutoencoder, "Convolutional autoencoder for 28×28 images"
    ),
    "denoising_autoencoder": Entry(
        DenoisingAutoencoder, "Denoising autoencoder (Vincent 2008): -o kind=fc|conv"
    ),
    "rnn": Entry(
        SequenceModel,
        "Elman RNN + linear read-out (adding problem by default)",
        {"cell": "rnn"},
    ),
    "lstm": Entry(
        SequenceModel,
        "LSTM + linear read-out (adding problem by default)",
        {"cell": "lstm"},
    ),
}


def available() -> dict[str, str]:
    """Every model name with its one-line description."""
    return {name: entry.description for name, entry in REGISTRY.items()}


def entry(name: str) -> Entry:
    if name not in REGISTRY:
        close = [n for n in REGISTRY if n.startswith(name[:3])] or list(REGISTRY)
        raise KeyError(f"unknown model {name!r}; try one of: {', '.join(close)}")
    return REGISTRY[name]


def create(name: str, **options) -> Network:
    """Build the model called ``name`` with ``options`` on top of its defaults.

    Raises KeyError for an unknown name and TypeError for an option the
    model does not have (naming the ones it does).
    """
    found = entry(name)
    known = found.options()
    if not found.takes_any_option():
        unknown = [key for key in options if key not in known]
        if unknown:
            raise TypeError(
                f"{name}: unknown option {', '.join(map(repr, unknown))}; its options "
                f"are {', '.join(known)}"
            )
    return found.model(**{**found.defaults, **options})
