"""Two-stream networks (Simonyan and Zisserman, 2014) for action recognition.

Like the ventral ("what") and dorsal ("where, how it moves") streams of
human vision, two independent ConvNets look at a video:

- the *spatial* stream sees one still frame: the objects and the scene;
- the *temporal* stream sees motion: a stack of L optical-flow fields
  (2L channels, horizontal and vertical), or here by default the stack of
  L differences between consecutive frames, a flow-free stand-in that
  needs no optical-flow solver;

and their class scores are fused late, by averaging the two softmax
outputs. Both streams are CNN-M-2048 networks (the paper's Figure 1):

    conv1 96 7×7/2, norm, pool 2×2 | conv2 256 5×5/2, norm, pool 2×2
    | conv3 512 3×3 | conv4 512 3×3 | conv5 512 3×3, pool 2×2
    | full6 4096, dropout | full7 2048, dropout | softmax

and the temporal one drops the second normalisation. The figure gives no
paddings; here conv2 to conv5 are padded by 1, which leaves 6×6 maps
before full6 on a 224×224 input.
"""

from __future__ import annotations

from collections import OrderedDict

from tinycv import nn
from tinycv.models import shapes
from tinycv.models.alexnet import alexnet_lrn
from tinycv.models.network import Network, scaled
from tinycv.nn import functional as F
from tinycv.tensor import Tensor


class Stream(nn.Module):
    """One CNN-M-2048 stream: features, then full6, full7 and the class scores."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        width: float,
        input_size: int,
        second_norm: bool,
        dropout: float,
        who: str,
    ):
        super().__init__()
        c1, c2, c3 = scaled(96, width), scaled(256, width), scaled(512, width)
        layers = [
            ("conv1", nn.Conv2d(in_channels, c1, 7, stride=2)),
            ("relu1", nn.ReLU()),
            ("norm1", alexnet_lrn()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(c1, c2, 5, stride=2, padding=1)),
            ("relu2", nn.ReLU()),
        ]
        if second_norm:
            layers.append(("norm2", alexnet_lrn()))
        layers += [
            ("pool2", nn.MaxPool2d(2)),
            ("conv3", nn.Conv2d(c2, c3, 3, padding=1)),
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(c3, c3, 3, padding=1)),
            ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(c3, c3, 3, padding=1)),
            ("relu5", nn.ReLU()),
            ("pool5", nn.MaxPool2d(2)),
        ]
        self.features = nn.Sequential(OrderedDict(layers))
        out = shapes.checked_output_shape(
            self.features, (in_channels, input_size, input_size), who
        )
        full6, full7 = scaled(4096, width), scaled(2048, width)
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("full6", nn.Linear(out[0] * out[1] * out[2], full6)),
                    ("relu6", nn.ReLU()),
                    ("drop6", nn.Dropout(dropout)),
                    ("full7", nn.Linear(full6, full7)),
                    ("relu7", nn.ReLU()),
                    ("drop7", nn.Dropout(dropout)),
                    ("scores", nn.Linear(full7, num_classes)),
                ]
            )
        )

    def forward(self, input: Tensor) -> Tensor:
        return self.classifier(self.features(input).flatten(1))


def frame_differences(clip: Tensor) -> Tensor:
    """(N, C, T, H, W) -> (N, C (T - 1), H, W): each frame minus the one before."""
    n, c, t, h, w = clip.shape
    differences = clip[:, :, 1:] - clip[:, :, :-1]
    return differences.reshape(n, c * (t - 1), h, w)


class TwoStream(Network):
    """Spatial and temporal CNN-M-2048 streams, fused by averaging softmax scores.

    Args:
        num_classes: actions (101 for UCF101).
        stack: L, the number of motion frames stacked (10 in the paper).
        motion: ``"difference"``: ``forward(clip)`` takes an (N, C, L + 1, H,
            W) clip, gives its middle frame to the spatial stream and its L
            frame differences to the temporal one; ``"flow"``:
            ``forward(frame, flow)`` takes an (N, C, H, W) frame and an
            (N, 2L, H, W) stack of optical flow.
        width: multiplier on every layer's width.
        input_size: frame side (224); the streams' full6 is sized for it.
        dropout: after full6 and full7 (the paper: 0.5 spatial, 0.9 temporal).

    ``forward`` returns the log of the fused class probabilities, so
    ``CrossEntropyLoss`` (or ``NLLLoss``) trains both streams at once. The
    paper trains each stream on its own: use ``spatial_scores`` and
    ``temporal_scores``.
    """

    def __init__(
        self,
        num_classes: int = 101,
        stack: int = 10,
        motion: str = "difference",
        width: float = 1.0,
        input_size: int = 224,
        dropout: float = 0.5,
        in_channels: int = 3,
    ):
        super().__init__()
        if motion not in ("difference", "flow"):
            raise ValueError(
                f"TwoStream: motion must be 'difference' or 'flow', got {motion!r}"
            )
        if stack < 1:
            raise ValueError(f"TwoStream: stack must be at least 1, got {stack}")
        self.motion = motion
        self.title = "Two-stream (CNN-M-2048)"
        motion_channels = in_channels * stack if motion == "difference" else 2 * stack
        if motion == "difference":
            self.input_shape = (in_channels, stack + 1, input_size, input_size)
        else:
            self.input_shape = (
                (in_channels, input_size, input_size),
                (motion_channels, input_size, input_size),
            )
        self.fixed_dims = tuple(range(len(self._expected_shapes()[0])))
        self.size_option = "stack= and input_size"

        self.spatial = Stream(
            in_channels, num_classes, width, input_size, True, dropout, "spatial stream"
        )
        self.temporal = Stream(
            motion_channels,
            num_classes,
            width,
            input_size,
            False,
            dropout,
            "temporal stream",
        )

    def spatial_scores(self, frame: Tensor) -> Tensor:
        return self.spatial(frame)

    def temporal_scores(self, motion: Tensor) -> Tensor:
        return self.temporal(motion)

    def forward(self, *inputs: Tensor) -> Tensor:
        if self.motion == "difference":
            (clip,) = inputs
            frame = clip[:, :, clip.shape[2] // 2]
            motion = frame_differences(clip)
        else:
            frame, motion = inputs
        spatial = F.softmax(self.spatial(frame), dim=1)
        temporal = F.softmax(self.temporal(motion), dim=1)
        return ((spatial + temporal) * 0.5).log()
