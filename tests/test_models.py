"""Backbones, the classifier's loss and optimizer, augmentation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mnist_lightning.augment import FadeOutDistortion, RandomDistortion
from mnist_lightning.backbones import CNN, MLP
from mnist_lightning.classifier import MNISTClassifier

MLP_CFG = {"_target_": "mnist_lightning.backbones.MLP", "hidden_sizes": [32, 16], "dropout": 0.5}
ADAMW = {"_target_": "torch.optim.AdamW", "lr": 1e-3}


def test_default_mlp_is_the_classic_784_512_256_10():
    mlp = MLP()
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 512), (512, 256), (256, 10)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in mlp) == 2 and sum(isinstance(m, nn.Dropout) for m in mlp) == 2
    assert mlp(torch.rand(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("norm, layer", [("layer", nn.LayerNorm), ("none", None)])
def test_mlp_norm_choices(norm, layer):
    mlp = MLP(hidden_sizes=[64], norm=norm, activation="gelu")
    assert not any(isinstance(m, nn.BatchNorm1d) for m in mlp)
    assert any(isinstance(m, nn.GELU) for m in mlp)
    if layer:
        assert any(isinstance(m, layer) for m in mlp)


def test_cnn_shape_and_layers():
    cnn = CNN()
    assert cnn(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert sum(isinstance(m, nn.Conv2d) for m in cnn) == 2 and sum(isinstance(m, nn.MaxPool2d) for m in cnn) == 2
    assert [m.out_features for m in cnn if isinstance(m, nn.Linear)] == [128, 10]
    assert cnn[0].weight.is_contiguous(memory_format=torch.channels_last)  # the fast layout for oneDNN convs


def test_cnn_stages_and_convs_per_stage():
    cnn = CNN(channels=[32, 64, 128], convs_per_stage=2, hidden_size=256)
    assert cnn(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert sum(isinstance(m, nn.Conv2d) for m in cnn) == 6 and sum(isinstance(m, nn.MaxPool2d) for m in cnn) == 3
    assert [m.in_features for m in cnn if isinstance(m, nn.Linear)] == [128 * 3 * 3, 256]  # 28 -> 14 -> 7 -> 3
    for bad, message in (({"channels": [32, 64, 128, 256]}, "1 to 3 positive integers"), ({"convs_per_stage": 0}, "convs_per_stage")):
        with pytest.raises(ValueError, match=message):
            CNN(**bad)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_sizes": []}, "hidden_sizes must be a non-empty list"),
        ({"hidden_sizes": [0]}, "hidden_sizes"),
        ({"dropout": 1.0}, r"regularizer.dropout must be in \[0, 1\)"),
        ({"dropout": -0.1}, "regularizer.dropout"),
        ({"activation": "swish"}, "model.activation='swish' is not one of: relu"),
        ({"norm": "group"}, "model.norm"),
    ],
)
def test_bad_mlp_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(**kwargs)


def test_dropout_and_batchnorm_follow_train_and_eval_mode():
    torch.manual_seed(0)
    mlp = MLP(hidden_sizes=[64], dropout=0.5)
    x = torch.rand(8, 1, 28, 28)
    mlp.train()
    assert not torch.equal(mlp(x), mlp(x))  # dropout draws a new mask per call
    mlp.eval()
    assert torch.equal(mlp(x), mlp(x))  # eval: no dropout, BatchNorm uses its running averages
    single = mlp(x[:1])  # and so a single image works in eval mode (batch statistics of one image would not)
    assert torch.allclose(single, mlp(x)[:1], atol=1e-6)


def make_classifier(**kwargs) -> MNISTClassifier:
    defaults = {"backbone": MLP_CFG, "optimizer": ADAMW, "mean": 0.13, "std": 0.31}
    return MNISTClassifier(**{**defaults, **kwargs})


def test_normalization_is_part_of_the_model():
    model = make_classifier(mean=0.5, std=0.25).eval()
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(model(x), model.backbone((x - 0.5) / 0.25))


def test_weight_decay_spares_biases_and_norm_parameters():
    model = make_classifier(weight_decay=0.01)
    decayed, free = model.configure_optimizers().param_groups
    assert decayed["weight_decay"] == 0.01 and free["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decayed["params"]) and all(p.ndim == 1 for p in free["params"])
    assert len(decayed["params"]) == 3  # the three Linear weights


def test_adam_decay_is_decoupled_and_sgd_needs_l2():
    adam = make_classifier(optimizer={"_target_": "torch.optim.Adam", "lr": 1e-3}, weight_decay=0.01)
    assert adam.configure_optimizers().defaults["decoupled_weight_decay"] is True
    sgd = {"_target_": "torch.optim.SGD", "lr": 0.1, "momentum": 0.9, "nesterov": True}
    with pytest.raises(ValueError, match="weight_decay_mode=l2"):
        make_classifier(optimizer=sgd, weight_decay=0.01)
    l2 = make_classifier(optimizer=sgd, weight_decay=0.01, weight_decay_mode="l2")
    assert all(g["weight_decay"] == 0.0 for g in l2.configure_optimizers().param_groups)


def _loss(model, batch) -> float:
    torch.manual_seed(0)
    return model.training_step(batch, 0).item()


def test_l2_and_l1_penalties_add_exactly_to_the_loss():
    batch = (torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,)))
    torch.manual_seed(0)
    plain = make_classifier()
    state = plain.state_dict()
    weights_sq = sum(p.pow(2).sum() for p in plain._penalized()).item()
    weights_abs = sum(p.abs().sum() for p in plain._penalized()).item()
    for kwargs, extra in (({"weight_decay": 0.1, "weight_decay_mode": "l2"}, 0.05 * weights_sq), ({"l1": 1e-3}, 1e-3 * weights_abs)):
        penalized = make_classifier(**kwargs)
        penalized.load_state_dict(state)
        assert _loss(penalized, batch) == pytest.approx(_loss(plain, batch) + extra, rel=1e-5)


def test_nan_loss_stops_with_advice():
    model = make_classifier()
    with pytest.raises(FloatingPointError, match="lower optimizer.lr"):
        model.training_step((torch.full((4, 1, 28, 28), float("nan")), torch.zeros(4, dtype=torch.long)), 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"weight_decay": -1e-4}, "weight_decay must be >= 0"), ({"l1": -1.0}, "l1"),
     ({"label_smoothing": 1.0}, "label_smoothing"), ({"weight_decay_mode": "both"}, "weight_decay_mode")],
)
def test_bad_regularizer_values_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_classifier(**kwargs)


def test_augmentation_is_random_per_image_and_keeps_shape_and_range():
    torch.manual_seed(0)
    digit = torch.zeros(1, 1, 28, 28)
    digit[..., 8:20, 12:16] = 1.0  # a bar, like a "1"
    batch = digit.repeat(64, 1, 1, 1)
    out = RandomDistortion(rotate_deg=15, translate=0.1, scale=(0.9, 1.1))(batch)
    assert out.shape == batch.shape
    assert out.min() >= 0 and out.max() <= 1
    assert len({tuple(img.flatten().round(decimals=4).tolist()) for img in out}) == 64  # all different
    assert out.sum(dim=(1, 2, 3)).mean() == pytest.approx(batch[0].sum().item(), rel=0.15)  # ink is moved, not lost


def test_augmentation_off_by_default_and_identity_when_all_zero():
    assert not RandomDistortion().enabled
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(RandomDistortion(rotate_deg=0, translate=0, scale=(1.0, 1.0))(x), x, atol=1e-5)


def test_scaled_distortion_shrinks_every_range():
    full = RandomDistortion(rotate_deg=15, shear_deg=10, translate=0.1, scale=(0.8, 1.2), elastic_alpha=34, elastic_sigma=4)
    assert full.scaled(1.0) == full
    half = full.scaled(0.5)
    assert (half.rotate_deg, half.shear_deg, half.translate, half.elastic_alpha) == (7.5, 5, 0.05, 17)
    assert half.scale == pytest.approx((0.9, 1.1)) and half.elastic_sigma == 4  # sigma is smoothness, not strength
    assert not full.scaled(0.0).enabled


def test_fade_out_weakens_the_distortion_over_the_last_epochs():
    full = RandomDistortion(rotate_deg=12, elastic_alpha=30)
    fade = FadeOutDistortion(3)
    datamodule = SimpleNamespace(augment=full)
    used = []
    for epoch in range(6):
        fade.on_train_epoch_start(SimpleNamespace(datamodule=datamodule, current_epoch=epoch, max_epochs=6), None)
        used.append(datamodule.augment.rotate_deg)
    assert used == pytest.approx([12, 12, 12, 8, 4, 0])  # full, then 2/3, 1/3 and nothing in the final epoch
    assert not datamodule.augment.enabled
    assert FadeOutDistortion(0).strength(5, 6) == 1.0  # off: full strength throughout


@pytest.mark.parametrize(
    "kwargs", [{"rotate_deg": -5}, {"translate": 1.0}, {"scale": (1.2, 0.8)}, {"shear_deg": 90}, {"elastic_alpha": -1}, {"elastic_sigma": 0}]
)
def test_bad_augmentation_is_refused(kwargs):
    with pytest.raises(ValueError, match="regularizer.augment"):
        RandomDistortion(**kwargs)


def _bar_digits(n: int) -> torch.Tensor:
    digit = torch.zeros(1, 1, 28, 28)
    digit[..., 6:22, 12:16] = 1.0
    return digit.repeat(n, 1, 1, 1)


def test_elastic_distortion_is_smooth_random_and_local():
    torch.manual_seed(0)
    batch = _bar_digits(32)
    elastic = RandomDistortion(elastic_alpha=8.0, elastic_sigma=4.0)
    out = elastic(batch)
    assert out.shape == batch.shape and out.min() >= 0 and out.max() <= 1
    assert len({tuple(img.flatten().round(decimals=4).tolist()) for img in out}) == 32
    identity = RandomDistortion()._grid(4, 28, 28, "cpu", torch.float32)
    field = (elastic._grid(4, 28, 28, "cpu", torch.float32) - identity) * 14  # [4, 2, 28, 28], in pixels
    assert field.abs().max() < 8.0  # never more than alpha pixels
    neighbours = (field[..., 1:] - field[..., :-1]).abs().mean()
    assert neighbours < field.abs().mean() / 3  # smooth: neighbouring pixels move together


def test_shear_slants_a_vertical_bar():
    sheared = RandomDistortion(shear_deg=30)._affine(1000, "cpu", torch.float32)  # rows: coefficients of x, y, 1
    slope = sheared[:, 1, 0] / sheared[:, 1, 1]  # input x moves with output y: a slant
    assert slope.abs().max() <= torch.tan(torch.tensor(0.5236)) + 1e-4 and slope.std() > 0.2


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_fast_dropout_is_bernoulli_with_inverted_scaling(p):
    from mnist_lightning.backbones import FastDropout

    torch.manual_seed(0)
    dropout = FastDropout(p)
    x = torch.ones(500, 999)  # an odd size: the mask is cut from whole 64-bit draws
    y = dropout(x)
    assert (y == 0).float().mean().item() == pytest.approx(p, abs=0.005)
    assert y.unique().tolist() == [0.0, pytest.approx(1 / (1 - p))]
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)  # expected activation unchanged
    assert not torch.equal(dropout(x), y)  # a fresh mask every call
    x.requires_grad_(True)
    dropout(x).sum().backward()
    assert ((x.grad == 0) | torch.isclose(x.grad, torch.tensor(1 / (1 - p)))).all()
    assert torch.equal(dropout.eval()(x), x)


def test_random_int16_is_uniform_seeded_and_shaped():
    from mnist_lightning.random_bits import random_int16

    torch.manual_seed(0)
    values = random_int16((1001, 997))  # an odd count: cut from whole 64-bit draws
    assert values.shape == (1001, 997) and values.dtype == torch.int16
    counts = torch.bincount(((values.long() + 32768) // 4096).flatten(), minlength=16).float()  # 16 equal bins
    assert (counts / counts.mean() - 1).abs().max() < 0.02
    assert values.float().mean().item() == pytest.approx(-0.5, abs=100)  # the mean of [-32768, 32767]
    torch.manual_seed(0)
    assert torch.equal(random_int16((1001, 997)), values)  # reproducible from torch's seed
    assert not torch.equal(random_int16((1001, 997)), values)


def test_elastic_field_matches_simards_blurred_noise():
    """The cheap field has the size and smoothness of the original: per-pixel noise, Gaussian blur, times alpha."""
    import math

    import torch.nn.functional as F

    torch.manual_seed(0)
    sigma, alpha = 4.0, 34.0
    grid = RandomDistortion(elastic_alpha=alpha, elastic_sigma=sigma)._grid(2000, 28, 28, "cpu", torch.float32)
    ours = (grid - RandomDistortion()._grid(1, 28, 28, "cpu", torch.float32))[:, 0] * 14  # x displacement, pixels
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1.0)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    noise = torch.rand(2000, 1, 28, 28) * 2 - 1
    blurred = F.conv2d(noise, kernel.view(1, 1, 1, -1), padding=(0, radius))
    reference = F.conv2d(blurred, kernel.view(1, 1, -1, 1), padding=(radius, 0))[:, 0] * alpha

    def correlation(field, lag):
        inner = field[:, 8:20, 8:20]
        return torch.corrcoef(torch.stack([inner[:, :, :-lag].flatten(), inner[:, :, lag:].flatten()]))[0, 1].item()

    assert ours[:, 8:20, 8:20].std() == pytest.approx(reference[:, 8:20, 8:20].std().item(), rel=0.08)
    assert ours[:, 0].std() == pytest.approx(reference[:, 0].std().item(), rel=0.08)  # edges too
    for lag in (1, 4, 8):
        assert correlation(ours, lag) == pytest.approx(correlation(reference, lag), abs=0.05)


def test_affine_path_equals_torchs_affine_grid():
    import torch.nn.functional as F

    distortion = RandomDistortion(rotate_deg=20, shear_deg=10, translate=0.1, scale=(0.8, 1.2))
    images = torch.rand(8, 1, 28, 28)
    torch.manual_seed(3)
    ours = distortion(images)
    torch.manual_seed(3)
    theta = distortion._affine(8, "cpu", torch.float32).transpose(1, 2)  # the same draws, as [8, 2, 3]
    reference = F.grid_sample(images, F.affine_grid(theta, [8, 1, 28, 28], align_corners=False), align_corners=False)
    assert torch.allclose(ours, reference, atol=1e-5)


def test_ema_is_bias_corrected_and_forgets_the_untrained_weights():
    """After t updates the average is sum_k (1-d) d^(t-k) x_k / (1-d^t): no leftover share of the first step."""
    from torch.optim.swa_utils import AveragedModel

    from mnist_lightning.weight_average import bias_corrected_ema

    decay, steps = 0.9, 30
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    average = AveragedModel(net, multi_avg_fn=bias_corrected_ema(decay), use_buffers=True)
    history = []
    for _ in range(steps):
        with torch.no_grad():
            net.weight.add_(torch.randn_like(net.weight))
        history.append(net.weight.detach().clone())
        average.update_parameters(net)
    weights = torch.tensor([(1 - decay) * decay ** (steps - 1 - k) for k in range(steps)], dtype=torch.float64)
    expected = (weights[:, None, None] * torch.stack(history).double()).sum(0) / weights.sum()
    assert torch.allclose(average.module.weight.double(), expected, atol=1e-5)
    # A plain EMA would still hold decay**(steps-1) = 4.7% of the first step's weights; this one 0.49%.
    assert weights[0] / weights.sum() == pytest.approx(0.0049, abs=1e-4)
