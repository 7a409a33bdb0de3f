"""classifier/lightning_module.py: normalization inside the model, the loss and its penalties, decay, the NaN guard."""

from __future__ import annotations

import pytest
import torch

from mnist_lightning.classifier.lightning_module import MNISTClassifier

MLP_CFG = {"_target_": "mnist_lightning.models.mlp.MLP", "hidden_sizes": [32, 16], "dropout": 0.5}


ADAMW = {"_target_": "torch.optim.AdamW", "lr": 1e-3}


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
    for kwargs, extra in (
        ({"weight_decay": 0.1, "weight_decay_mode": "l2"}, 0.05 * weights_sq),
        ({"l1": 1e-3}, 1e-3 * weights_abs),
    ):
        penalized = make_classifier(**kwargs)
        penalized.load_state_dict(state)
        assert _loss(penalized, batch) == pytest.approx(_loss(plain, batch) + extra, rel=1e-5)


def test_nan_loss_stops_with_advice():
    model = make_classifier()
    with pytest.raises(FloatingPointError, match="lower optimizer.lr"):
        model.training_step((torch.full((4, 1, 28, 28), float("nan")), torch.zeros(4, dtype=torch.long)), 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weight_decay": -1e-4}, "weight_decay must be >= 0"),
        ({"l1": -1.0}, "l1"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"weight_decay_mode": "both"}, "weight_decay_mode"),
        ({"max_norm": 0.0}, "max_norm must be > 0"),
        ({"temperature": 0.0}, "temperature must be > 0"),
    ],
)
def test_bad_regularizer_values_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_classifier(**kwargs)


@pytest.mark.parametrize(
    "backbone", [MLP_CFG, {"_target_": "mnist_lightning.models.cnn.CNN", "channels": [4], "hidden_size": 8}]
)
def test_max_norm_caps_every_units_incoming_weights_after_each_step(backbone):
    def unit_norms(model):  # one norm per unit: per row of a Linear weight, per output channel of a kernel
        return torch.cat([w.detach().flatten(1).norm(dim=1) for w in model._penalized()])

    batch = (torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,)))
    for max_norm in (None, 0.5):
        torch.manual_seed(0)
        model = make_classifier(backbone=backbone, max_norm=max_norm)
        optimizer = model.configure_optimizers()
        assert unit_norms(model).max() > 0.5  # Kaiming init: most units start longer than the cap
        shortest = unit_norms(model).argmin()

        def closure(model=model, optimizer=optimizer):  # this iteration's, bound now
            optimizer.zero_grad()
            loss = model.training_step(batch, 0)
            loss.backward()
            return loss

        before = unit_norms(model)
        model.optimizer_step(0, 0, optimizer, closure)
        after = unit_norms(model)
        if max_norm is None:
            assert after.max() > 0.5  # off: the step leaves norms free
        else:
            assert after.max() <= 0.5 + 1e-5
            assert torch.isclose(after, torch.full_like(after, 0.5), atol=1e-4)[
                before > 0.6
            ].all()  # capped, not zeroed
            assert after[shortest] <= before[shortest] + 0.01  # a short unit is only moved by the step itself
