"""The model zoo: the papers' figures, small models that run both ways, clear errors.

Counts come from shape inference alone (``models.summary``), so the full-size
networks are checked without allocating their weights; forward and backward
run on small versions (width multipliers, small inputs).
"""

import math
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner

import tinycv
from tinycv import models, nn
from tinycv.cli import main
from tinycv.models import shapes


def params(name, **options):
    return models.summary(name, **options).params


def millions(count: int) -> float:
    return count / 1e6


# ---- the papers' figures ------------------------------------------------------------


def test_lenet5_lecun1998_60000_parameters_and_340908_connections():
    """LeCun et al. 1998: 60,000 trainable parameters from C1 to F6 (the RBF
    output units are fixed) and 340,908 connections, RBF links included."""
    result = models.summary("lenet5")
    assert result.params == result.trainable_params == 60_000
    assert result.connections == 340_908
    by_layer = {row.name: row for row in result.rows}
    assert by_layer["c1"].connections == 122_304
    assert by_layer["s2"].connections == 5_880
    assert by_layer["c3"].connections == 151_600
    assert by_layer["c3"].params == 1_516
    assert by_layer["s4"].connections == 2_000
    assert by_layer["c5"].connections == 48_120
    assert by_layer["f6"].connections == 10_164
    assert by_layer["output"].connections == 840
    assert [row.output_shape for row in result.compact_rows()][:5] == [
        (6, 28, 28),
        (6, 14, 14),
        (16, 10, 10),
        (16, 5, 5),
        (120, 1, 1),
    ]


def test_lenet5_lecun1998_fully_connected_c3_has_60900():
    """LeCun et al. 1998: a full C3 has 16 × (6 × 25 + 1) = 2,416 parameters,
    900 more than Table I's 1,516, so 60,900 in all."""
    assert params("lenet5", full_c3=True) == 60_900
    assert params("lenet5", subsampling="average") == 60_000 - 12 - 32


def test_lenet5_lecun1998_table1_connection_scheme():
    """LeCun et al. 1998, Table I: six C3 maps see 3 S2 maps, nine see 4, one sees 6."""
    from tinycv.models.lenet import C3_TABLE

    sizes = [len(inputs) for inputs in C3_TABLE]
    assert sizes == [3] * 6 + [4] * 9 + [6]
    assert C3_TABLE[4] == (0, 4, 5) and C3_TABLE[12] == (0, 1, 3, 4)
    assert sum(sizes) == 60


def test_alexnet_krizhevsky2012_60_million_parameters():
    """Krizhevsky et al. 2012: "60 million parameters" (two-GPU grouping);
    torchvision's one-stream variant has 61,100,840."""
    result = models.summary("alexnet")
    assert result.params == 60_965_224
    assert result.row("features.conv1").output_shape == (96, 55, 55)
    assert result.row("features.pool5").output_shape == (256, 6, 6)
    assert params("alexnet_single") == 61_100_840


def test_vgg_simonyan2014_table2_parameters():
    """Simonyan and Zisserman 2014, Table 2 (millions): A 133, A-LRN 133, B 133,
    C 134, D 138, E 144; VGG-16 (D) exactly 138,357,544."""
    table2 = {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}
    for config, expected in table2.items():
        assert round(millions(params("vgg", config=config))) == expected, config
    assert params("vgg16") == 138_357_544


def test_resnet_he2015_table1_parameters_and_flops():
    """He et al. 2015, Table 1: ResNet-18 1.8, ResNet-34 3.6, ResNet-50 3.8,
    ResNet-101 7.6, ResNet-152 11.3 ×10^9 FLOPs (multiply-adds; the paper
    rounds 3.66 down to 3.6); ResNet-18 has 11,689,512 parameters (as torchvision's)."""
    resnet18 = models.summary("resnet18")
    assert resnet18.params == 11_689_512
    assert round(resnet18.macs / 1e9, 1) == 1.8
    for name, gflops in (
        ("resnet34", 3.6),
        ("resnet50", 3.8),
        ("resnet101", 7.6),
        ("resnet152", 11.3),
    ):
        assert abs(models.summary(name).macs / 1e9 - gflops) < 0.1, name
    assert params("resnet50") == 25_557_032


def test_resnet_he2015_cifar_table6_parameters():
    """He et al. 2015, Table 6: ResNet-20 0.27 M, 32 0.46 M, 44 0.66 M,
    56 0.85 M, 110 1.7 M (option A shortcuts)."""
    table6 = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}
    for depth, expected in table6.items():
        count = millions(params("resnet_cifar", depth=depth))
        digits = 1 if expected >= 1 else 2
        assert round(count, digits) == expected, depth
    assert params("plain20") == params("resnet20")  # option A: skips are free


def test_resnet_he2015_option_b_and_c_add_projections():
    """He et al. 2015, Table 3: options B and C add parameters to ResNet-34."""
    a, b, c = (params("resnet34", shortcut=option) for option in "ABC")
    assert a < b < c


def test_mobilenet_howard2017_tables_6_and_7():
    """Howard et al. 2017, Table 6 (width α) and Table 7 (resolution ρ):
    millions of multiply-adds and parameters."""
    table6 = {1.0: (569, 4.2), 0.75: (325, 2.6), 0.5: (149, 1.3), 0.25: (41, 0.5)}
    for alpha, (macs, count) in table6.items():
        result = models.summary("mobilenet_v1", alpha=alpha)
        assert abs(result.macs / 1e6 - macs) < 1, alpha
        assert round(millions(result.params), 1) == count, alpha
    table7 = {192: 418, 160: 290, 128: 186}
    for resolution, macs in table7.items():
        result = models.summary("mobilenet_v1", resolution=resolution)
        assert abs(result.macs / 1e6 - macs) < 1, resolution
        assert round(millions(result.params), 1) == 4.2


def test_mobilenet_howard2017_table1_rows():
    """Howard et al. 2017, Table 1: the summary's rows read like the paper's."""
    rows = models.summary("mobilenet_v1").compact_rows()
    assert rows[0].type_and_stride == "Conv / s2" and rows[0].filter == "3×3×3×32"
    assert rows[1].type_and_stride == "Conv dw" and rows[1].filter == "3×3×32 dw"
    assert rows[2].filter == "1×1×32×64" and rows[2].input_shape == (32, 112, 112)
    assert rows[3].type_and_stride == "Conv dw / s2"
    assert rows[-2].filter == "Pool 7×7" and rows[-1].filter == "1024×1000"
    assert rows[1].folded == ["BN", "ReLU"]


def test_mobilenet_v2_sandler2018_300m_multiply_adds():
    """Sandler et al. 2018, Table 3: 300 M multiply-adds. The paper rounds the
    parameters to 3.4 M; the reference implementation (torchvision's) has 3,504,872."""
    result = models.summary("mobilenet_v2")
    assert round(result.macs / 1e6, -1) == 300
    assert result.params == 3_504_872


def test_densenet_huang2017_parameters():
    """Huang et al. 2017, Table 2: DenseNet-BC (L=100, k=12) 0.8 M, DenseNet
    (L=40, k=12) 1.0 M; DenseNet-121 7,978,856 (torchvision's, the paper's 8.0 M)."""
    assert round(millions(params("densenet")), 1) == 0.8
    plain = params("densenet", depth=40, bottleneck=False, compression=1.0)
    assert round(millions(plain), 1) == 1.0
    assert params("densenet121") == 7_978_856


def test_wide_resnet_zagoruyko2016_wrn_28_10():
    """Zagoruyko and Komodakis 2016, Table 5: WRN-28-10 has 36.5 M parameters
    (WRN-40-4 8.9 M, WRN-16-8 11.0 M)."""
    assert round(millions(params("wide_resnet")), 1) == 36.5
    assert round(millions(params("wide_resnet", depth=40, k=4)), 1) == 8.9
    assert round(millions(params("wide_resnet", depth=16, k=8)), 1) == 11.0


def test_unet_ronneberger2015_572_to_388():
    """Ronneberger et al. 2015, Figure 1: a 572×572 tile gives a 388×388 map; the
    top level's 568×568 features are cropped to 392×392 before concatenation."""
    result = models.summary("unet")
    assert result.output_shape == (2, 388, 388)
    assert result.row("down.0.2").output_shape == (64, 568, 568)
    assert result.row("up.3.0").input_shape == (128, 392, 392)


def test_fcn_long2015_crop_offsets_match_the_caffe_models():
    """Long et al. 2015: the released Caffe FCNs crop by 19 (32s), 5 and 27 (16s),
    9 and 31 (8s); here they follow from the layers' geometry."""
    with models.placeholder_weights():
        assert models.create("fcn32s").offsets == {"upscore": 19}
        assert models.create("fcn16s").offsets == {"score_pool4": 5, "upscore16": 27}
        assert models.create("fcn8s").offsets == {
            "score_pool4": 5,
            "score_pool3": 9,
            "upscore8": 31,
        }


def test_fcn_long2015_has_no_fully_connected_layer_and_any_input_size():
    """Long et al. 2015: no FC layer, so every input size gives a same-size output."""
    result = models.summary("fcn8s")
    assert not any(row.kind == "FC" for row in result.rows)
    with models.placeholder_weights():
        model = models.create("fcn8s")
    for size in (1, 17, 224, 333):
        assert shapes.output_shape(model, (3, size, size)) == (21, size, size)


def test_c3d_tran2015_eight_convolutions_five_poolings():
    """Tran et al. 2015: 3×3×3 kernels, 8 conv and 5 pool layers, 8192 inputs to fc6."""
    rows = models.summary("c3d").rows
    convs = [row for row in rows if row.kind == "Conv3d"]
    pools = [row for row in rows if row.kind == "Max Pool"]
    assert len(convs) == 8 and len(pools) == 5
    assert all(row.filter.startswith("3×3×3×") for row in convs)
    assert pools[0].filter == "Pool 1×2×2" and pools[-1].output_shape == (512, 1, 4, 4)


def test_slowfast_feichtenhofer2019_pathways():
    """Feichtenhofer et al. 2019: the Fast pathway has α× the frames and β× the
    channels; lateral convolutions 5×1×1 with stride α carry 2βC channels."""
    result = models.summary("slowfast")
    slow_stem = result.row("slow_stem.0")
    fast_stem = result.row("fast_stem.0")
    assert slow_stem.output_shape == (64, 4, 112, 112)
    assert fast_stem.output_shape == (8, 32, 112, 112)
    lateral = result.row("laterals.0.0")
    assert lateral.filter == "5×1×1×8×16" and lateral.output_shape == (16, 4, 56, 56)
    assert result.row("fc").input_shape == (2048 + 256,)


def test_slowfast_feichtenhofer2019_table2_flops():
    """Feichtenhofer et al. 2019, Table 2, at 256×256: SlowFast 4×16 R50 (α=8)
    36.1 GFLOPs; 8×8 R50 (α=4, lateral kernel 7 as the released model) 65.7."""
    four_by_16 = models.summary("slowfast", (3, 32, 256, 256))
    assert round(four_by_16.macs / 1e9, 1) == 36.1
    eight_by_8 = models.summary("slowfast", (3, 32, 256, 256), alpha=4, fusion_kernel=7)
    assert round(eight_by_8.macs / 1e9, 1) == 65.7


def test_summary_allocates_no_weights():
    """Summarising VGG-16 (138 M weights, 553 MB as float32) stays far below that."""
    tracemalloc.start()
    result = models.summary("vgg16")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.params == 138_357_544
    assert peak < 50e6
    assert not result.allocated


# ---- every model runs, both ways, at a small size -------------------------------

SMALL = [
    ("lenet5", {}, (2, 1, 32, 32), (2, 10)),
    (
        "lenet5",
        dict(
            full_c3=True, subsampling="average", activation="sigmoid", output="linear"
        ),
        (2, 1, 32, 32),
        (2, 10),
    ),
    (
        "alexnet",
        dict(width=1 / 16, input_size=67, num_classes=5),
        (2, 3, 67, 67),
        (2, 5),
    ),
    (
        "alexnet_single",
        dict(width=1 / 16, input_size=64, num_classes=5),
        (2, 3, 64, 64),
        (2, 5),
    ),
    (
        "vgg11_lrn",
        dict(width=1 / 16, input_size=32, num_classes=5),
        (2, 3, 32, 32),
        (2, 5),
    ),
    (
        "vgg16_c",
        dict(width=1 / 16, input_size=32, num_classes=5, batch_norm=True),
        (2, 3, 32, 32),
        (2, 5),
    ),
    ("resnet18", dict(width=1 / 16, num_classes=5), (2, 3, 32, 32), (2, 5)),
    (
        "resnet50",
        dict(width=1 / 16, num_classes=5, shortcut="A"),
        (2, 3, 32, 32),
        (2, 5),
    ),
    ("resnet20", dict(width=0.5), (2, 3, 16, 16), (2, 10)),
    ("plain20", dict(width=0.5, shortcut="B"), (2, 3, 16, 16), (2, 10)),
    (
        "wide_resnet",
        dict(depth=10, k=2, width=0.5, dropout=0.3),
        (2, 3, 16, 16),
        (2, 10),
    ),
    ("densenet", dict(depth=28, growth_rate=4), (2, 3, 16, 16), (2, 10)),
    (
        "densenet",
        dict(depth=13, growth_rate=4, bottleneck=False, compression=1.0),
        (2, 3, 16, 16),
        (2, 10),
    ),
    ("fcn32s", dict(width=1 / 16, num_classes=3), (1, 3, 24, 24), (1, 3, 24, 24)),
    ("fcn8s", dict(width=1 / 16, num_classes=3), (1, 3, 20, 28), (1, 3, 20, 28)),
    ("unet", dict(base=4, depth=2), (1, 1, 44, 44), (1, 2, 4, 4)),
    ("unet_small", dict(base=4), (2, 1, 32, 32), (2, 2, 32, 32)),
    ("mobilenet_v1", dict(alpha=0.125, num_classes=5), (2, 3, 32, 32), (2, 5)),
    (
        "mobilenet_v2",
        dict(alpha=0.25, num_classes=5, last_channels=64),
        (2, 3, 32, 32),
        (2, 5),
    ),
    (
        "c3d",
        dict(width=1 / 16, input_size=32, num_classes=5),
        (2, 3, 16, 32, 32),
        (2, 5),
    ),
    (
        "two_stream",
        dict(width=1 / 16, input_size=64, stack=3, num_classes=5),
        (2, 3, 4, 64, 64),
        (2, 5),
    ),
    (
        "slowfast",
        dict(width=0.25, blocks=(1, 1, 1, 1), alpha=4, frames=8, num_classes=5),
        (2, 3, 8, 32, 32),
        (2, 5),
    ),
    ("autoencoder", dict(hidden=(32,), code_size=8), (2, 1, 28, 28), (2, 1, 28, 28)),
    ("conv_autoencoder", dict(channels=(4, 8)), (2, 1, 28, 28), (2, 1, 28, 28)),
    (
        "denoising_autoencoder",
        dict(kind="conv", channels=(4, 8)),
        (2, 1, 28, 28),
        (2, 1, 28, 28),
    ),
    (
        "denoising_autoencoder",
        dict(noise="gaussian", level=0.1, hidden=(16,)),
        (2, 1, 28, 28),
        (2, 1, 28, 28),
    ),
    ("rnn", {}, (2, 10, 2), (2, 1)),
    ("lstm", dict(many_to_many=True, hidden_size=8), (2, 10, 2), (2, 10, 1)),
]


@pytest.mark.parametrize(
    "name, options, input_shape, output_shape",
    SMALL,
    ids=[f"{name}-{i}" for i, (name, *_) in enumerate(SMALL)],
)
def test_small_model_runs_forward_and_backward(
    name, options, input_shape, output_shape
):
    tinycv.manual_seed(0)
    model = models.create(name, **options)
    x = tinycv.randn(*input_shape, requires_grad=True)
    y = model(x)
    assert y.shape == output_shape
    assert np.isfinite(y.numpy()).all()

    (y * y).mean().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    for param_name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, param_name
            assert param.grad.shape == param.shape, param_name

    # The trace and the real forward agree on every shape.
    assert models.summary(model, input_shape[1:]).output_shape == output_shape[1:]


def test_two_stream_takes_flow_stacks():
    """Simonyan and Zisserman 2014: the temporal stream takes 2L flow channels."""
    model = models.create(
        "two_stream", motion="flow", stack=2, width=1 / 16, input_size=64, num_classes=4
    )
    frame, flow = tinycv.randn(2, 3, 64, 64), tinycv.randn(2, 4, 64, 64)
    log_probabilities = model(frame, flow)
    assert log_probabilities.shape == (2, 4)
    np.testing.assert_allclose(
        np.exp(log_probabilities.numpy()).sum(axis=1), 1, rtol=1e-5
    )
    with pytest.raises(TypeError, match="2 input"):
        model(frame)


def test_fcn_accepts_two_input_sizes():
    """Long et al. 2015: the same FCN segments images of different sizes."""
    model = models.create("fcn16s", width=1 / 16, num_classes=2)
    for size in ((20, 20), (36, 28)):
        assert model(tinycv.randn(1, 3, *size)).shape == (1, 2, *size)


def test_denoising_autoencoder_corrupts_only_in_training():
    tinycv.manual_seed(1)
    model = models.create("denoising_autoencoder", level=0.5, hidden=(16,))
    x = tinycv.rand(3, 1, 28, 28)
    model.eval()
    clean = model.autoencoder(x).numpy()
    np.testing.assert_allclose(model(x).numpy(), clean)
    model.train()
    assert not np.allclose(model(x).numpy(), clean)


def test_lenet5_layers_pass_gradcheck():
    """The paper's own layers: partial convolution, trainable subsampling, RBF."""
    from tinycv.models.lenet import EuclideanRBF, PartialConv2d, ScaledTanh, Subsampling

    tinycv.manual_seed(0)
    layers = [
        (PartialConv2d(3, 4, 3, [(0,), (0, 1), (1, 2), (0, 1, 2)]), (1, 3, 5, 5)),
        (Subsampling(3), (2, 3, 4, 4)),
        (
            EuclideanRBF(np.sign(np.random.default_rng(0).standard_normal((4, 6)))),
            (3, 6),
        ),
        (ScaledTanh(), (2, 5)),
    ]
    for layer, shape in layers:
        layer.double()
        for param in layer.parameters():
            nn.init.uniform_(param, -1, 1)
        x = tinycv.randn(*shape, dtype=tinycv.float64, requires_grad=True)
        # gradcheck nudges the weights in place, so the layer sees every nudge.
        assert tinycv.gradcheck(
            lambda x, *weights, f=layer: f(x), x, *layer.parameters()
        )


def test_lenet5_rbf_codes_are_fixed_and_sgd_lowers_the_loss():
    """LeCun et al. 1998: the RBF codes are not trained; the rest is."""
    tinycv.manual_seed(0)
    model = models.create("lenet5")
    names = [name for name, _ in model.named_parameters()]
    assert not any("prototypes" in name for name in names)
    assert "output.prototypes" in model.state_dict()

    images = tinycv.randn(16, 1, 32, 32)
    labels = tinycv.tensor(np.arange(16) % 10)
    loss_fn = nn.CrossEntropyLoss()
    optimiser = tinycv.optim.SGD(model.parameters(), lr=0.01)
    losses = []
    for _ in range(4):
        optimiser.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))


# ---- clear errors --------------------------------------------------------------


def test_unknown_vgg_configuration_names_the_valid_ones():
    with pytest.raises(ValueError, match="A, A-LRN, B, C, D, E"):
        models.create("vgg", config="F")


def test_input_too_small_names_the_smallest_valid_input():
    with pytest.raises(ValueError, match="smallest input that fits is 3×32×32"):
        models.create("vgg16", input_size=16)
    with pytest.raises(ValueError, match="3×67×67"):
        models.create("alexnet", input_size=64)
    with pytest.raises(ValueError, match="smallest input that fits is 1×188×188"):
        models.summary("unet", (1, 100, 100))
    with pytest.raises(ValueError, match="3×16×112×112"):
        models.create("c3d", frames=8)


def test_forward_on_too_small_input_names_the_smallest_valid_input():
    model = models.create("densenet", depth=28, growth_rate=4)
    with pytest.raises(ValueError, match="smallest input that fits is 3×4×4"):
        model(tinycv.randn(1, 3, 3, 3))


def test_fixed_size_models_say_how_to_change_the_size():
    model = models.create("vgg11", width=1 / 16, input_size=32)
    with pytest.raises(ValueError, match="input_size="):
        model(tinycv.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"\(N, 3, \*, \*\)"):
        models.create("resnet20", width=0.25)(tinycv.randn(1, 1, 32, 32))


def test_unknown_model_and_option():
    with pytest.raises(KeyError, match="vgg16"):
        models.create("vgg17")
    with pytest.raises(TypeError, match="unknown option 'colour'"):
        models.create("vgg16", colour="red")
    with pytest.raises(ValueError, match="6n \\+ 2"):
        models.create("resnet_cifar", depth=21)
    with pytest.raises(ValueError, match="6n \\+ 4"):
        models.create("wide_resnet", depth=27)


# ---- registry and command line ------------------------------------------------------


def test_every_registered_model_summarises_at_its_default_size():
    catalogue = models.available()
    assert len(catalogue) >= 30
    for name, description in catalogue.items():
        assert description and "\n" not in description
        result = models.summary(name)
        assert result.params > 0 and result.rows, name


def test_cli_summary_prints_the_table():
    result = CliRunner().invoke(main, ["summary", "vgg16"])
    assert result.exit_code == 0, result.output
    assert "138,357,544" in result.output and "Conv" in result.output


def test_cli_summary_with_input_size_and_options():
    result = CliRunner().invoke(
        main,
        ["summary", "mobilenet_v1", "--input-size", "3,128,128", "-o", "alpha=0.5"],
    )
    assert result.exit_code == 0, result.output
    assert "3×128×128" in result.output
    result = CliRunner().invoke(
        main, ["summary", "slowfast", "-o", "blocks=1,1,1,1", "-o", "beta=1/4"]
    )
    assert result.exit_code == 0, result.output


def test_cli_summary_user_mistakes_exit_2():
    runner = CliRunner()
    for args, words in (
        (["summary", "vgg17"], "unknown model"),
        (["summary", "vgg", "-o", "config=F"], "A-LRN"),
        (["summary", "vgg16", "--input-size", "3,16,16"], "3×32×32"),
        (["summary", "resnet18", "-o", "colour=red"], "unknown option"),
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output and "Traceback" not in result.output


def test_summary_of_a_built_model_matches_its_parameters():
    model = models.create("resnet20", width=0.5)
    result = models.summary(model)
    assert result.params == sum(math.prod(p.shape) for p in model.parameters())
    assert result.allocated
