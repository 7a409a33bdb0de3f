"""The LightningModule: normalization, a swappable backbone, the loss with its penalties, metrics, optimizer.

Every constructor argument is plain data (dicts of numbers and strings, `_target_` naming a class), saved as the
checkpoint's hyperparameters. A checkpoint therefore holds no pickled Python objects: it loads with
`torch.load(weights_only=True)` and rebuilds its own network from its own config.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import get_class, instantiate
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

WEIGHT_DECAY_MODES = ("decoupled", "l2")
# Optimizers whose weight decay can be decoupled from the gradient (Loshchilov & Hutter, AdamW), and how to ask.
DECOUPLED_DECAY_KWARGS = {"torch.optim.AdamW": {}, "torch.optim.Adam": {"decoupled_weight_decay": True}}


class MNISTClassifier(L.LightningModule):
    def __init__(
        self,
        backbone: dict,
        optimizer: dict,
        scheduler: dict | None = None,
        mean: float = 0.0,
        std: float = 1.0,
        weight_decay: float = 0.0,
        weight_decay_mode: str = "decoupled",
        l1: float = 0.0,
        label_smoothing: float = 0.0,
    ):
        """
        backbone/optimizer/scheduler: `_target_` configs (conf/model, conf/optimizer, conf/scheduler).
        mean/std: input normalization, computed by the DataModule from the training split.
        weight_decay: 'decoupled' shrinks weights inside the optimizer step (AdamW-style); 'l2' adds
            weight_decay/2 * sum(w^2) to the loss (classic L2, whose gradient Adam then rescales per weight).
        l1: adds l1 * sum(|w|) to the loss. Decay and penalties apply to weight matrices and kernels only,
            never to biases or normalization parameters.
        label_smoothing: target probability 1-eps on the true class, eps spread over all classes.
        """
        super().__init__()
        if weight_decay_mode not in WEIGHT_DECAY_MODES:
            raise ValueError(f"regularizer.weight_decay_mode must be one of {WEIGHT_DECAY_MODES}, got {weight_decay_mode!r}.")
        for name, value in (("weight_decay", weight_decay), ("l1", l1)):
            if value < 0:
                raise ValueError(f"regularizer.{name} must be >= 0, got {value}.")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"regularizer.label_smoothing must be in [0, 1), got {label_smoothing}.")
        if std <= 0:
            raise ValueError(f"std must be > 0, got {std}.")
        target = optimizer.get("_target_")
        if weight_decay > 0 and weight_decay_mode == "decoupled" and target not in DECOUPLED_DECAY_KWARGS:
            raise ValueError(
                f"regularizer.weight_decay_mode=decoupled needs optimizer=adamw or optimizer=adam; {target} has only "
                "classic (coupled) weight decay. Use regularizer.weight_decay_mode=l2 with it."
            )
        self.save_hyperparameters(logger=False)  # train.py logs the whole run config to TensorBoard instead
        self.backbone = instantiate(backbone)
        self.train_acc, self.val_acc, self.test_acc = (MulticlassAccuracy(num_classes=10, average="micro") for _ in range(3))
        self.train_loss, self.train_ce_loss = MeanMetric(), MeanMetric()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: pixel/255 in [0, 1], [B, 1, 28, 28]. Normalizing here keeps a checkpoint self-contained."""
        return self.backbone((images - self.hparams.mean) / self.hparams.std)

    def _penalized(self) -> list[torch.Tensor]:
        return [p for p in self.backbone.parameters() if p.ndim > 1]  # weights, not biases or norm scales/shifts

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        logits = self(images)
        ce_loss = F.cross_entropy(logits, labels, label_smoothing=self.hparams.label_smoothing)
        loss = ce_loss
        if self.hparams.l1:
            loss = loss + self.hparams.l1 * sum(p.abs().sum() for p in self._penalized())
        if self.hparams.weight_decay and self.hparams.weight_decay_mode == "l2":
            loss = loss + self.hparams.weight_decay / 2 * sum(p.pow(2).sum() for p in self._penalized())
        if not math.isfinite(loss.item()):  # item(): a few us on the CPU, a tenth of an isfinite kernel
            raise FloatingPointError(
                f"The training loss became {loss.item()} at epoch {self.current_epoch}, step {self.global_step}. "
                "Checkpoints already written are kept. Usual fixes: a lower optimizer.lr, "
                "regularizer.gradient_clip_val=1.0, or trainer.precision=32-true."
            )
        # Accumulate here, log once per epoch: a self.log call costs more than a small MLP's whole step on a CPU.
        self.train_loss.update(loss.detach())
        if loss is not ce_loss:  # a penalty is on: also track the data term alone
            self.train_ce_loss.update(ce_loss.detach())
        self.train_acc.update(logits.detach(), labels)
        return loss

    def on_train_epoch_end(self) -> None:
        # compute() averages over the epoch (and over DDP ranks); the ce_loss differs from the loss by the penalties.
        metrics = {"train/loss": self.train_loss, "train/acc": self.train_acc}
        if self.train_ce_loss.update_called:
            metrics["train/ce_loss"] = self.train_ce_loss
        self.log_dict({name: metric.compute() for name, metric in metrics.items()}, prog_bar=False)
        for metric in metrics.values():
            metric.reset()

    def _evaluate(self, batch, stage: str, accuracy: MulticlassAccuracy) -> None:
        images, labels = batch
        logits = self(images)
        accuracy(logits, labels)
        # sync_dist: under DDP the loss is averaged over ranks (torchmetrics syncs the accuracy itself).
        self.log(f"{stage}/loss", F.cross_entropy(logits, labels), prog_bar=True, sync_dist=True)
        self.log(f"{stage}/acc", accuracy, prog_bar=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "val", self.val_acc)

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "test", self.test_acc)

    def parameter_groups(self, weight_decay: float) -> list[dict]:
        """Optimizer parameter groups: `weight_decay` on the weight matrices and kernels, none elsewhere."""
        penalized = {id(p) for p in self._penalized()}
        return [
            {"name": "weights", "params": [p for p in self.parameters() if id(p) in penalized], "weight_decay": weight_decay},
            {"name": "biases_norms", "params": [p for p in self.parameters() if id(p) not in penalized], "weight_decay": 0.0},
        ]

    def configure_optimizers(self):
        hp = self.hparams
        decoupled = hp.weight_decay if hp.weight_decay_mode == "decoupled" else 0.0
        groups = self.parameter_groups(decoupled)
        # get_class rather than instantiate: Hydra would wrap the parameter groups into configs.
        config = dict(hp.optimizer)
        target = config.pop("_target_")
        extra = DECOUPLED_DECAY_KWARGS.get(target, {}) if decoupled else {}
        optimizer = get_class(target)(groups, **config, **extra)
        if not hp.scheduler:
            return optimizer
        config = dict(hp.scheduler)
        interval = config.pop("interval", "epoch")
        monitor = config.pop("monitor", None)
        steps_arg = config.pop("total_steps_arg", None)
        if steps_arg:  # OneCycleLR's total_steps, CosineAnnealingLR's T_max: the length of the whole run
            config[steps_arg] = int(self.trainer.estimated_stepping_batches)
            if "pct_start" in config and config[steps_arg] >= 4:
                # OneCycleLR divides by (warm-up steps - 1): a short run (20 steps at 5%) needs >= 2 warm-up steps
                config["pct_start"] = max(config["pct_start"], 2 / config[steps_arg])
            self._check_resumed_schedule_length(steps_arg, config[steps_arg])
        scheduler = {"scheduler": get_class(config.pop("_target_"))(optimizer, **config), "interval": interval}
        if monitor:
            scheduler["monitor"] = monitor
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Called on resume before configure_optimizers; the schedule's saved state is restored after it.
        self._resumed_schedulers = checkpoint.get("lr_schedulers", [])

    def _check_resumed_schedule_length(self, steps_arg: str, steps: int) -> None:
        for state in getattr(self, "_resumed_schedulers", []):
            if state.get(steps_arg, steps) != steps:
                raise ValueError(
                    f"The checkpoint's learning-rate schedule spans {state[steps_arg]} steps, but this run has {steps}: "
                    "a one-cycle or cosine schedule cannot be stretched. Resume with the trainer settings of the "
                    "original run (same max_epochs and batches), or train longer with scheduler=none or plateau."
                )


def read_checkpoint(path: str | Path) -> dict:
    """torch.load with weights_only=True, and errors that say what is wrong with the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist. Pass ckpt_path=<a .ckpt under outputs/.../checkpoints>.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated zip, pickle with code, not a torch file: same advice
        raise ValueError(
            f"Checkpoint {path} cannot be read as a weights-only torch checkpoint ({type(err).__name__}: {err}). "
            "It is truncated, corrupt, or holds pickled Python objects; use a .ckpt written by mnist_lightning."
        ) from err
    if not isinstance(checkpoint, dict) or "backbone" not in checkpoint.get("hyper_parameters", {}):
        raise ValueError(f"{path} is not an mnist_lightning checkpoint (its hyperparameters name no backbone).")
    return checkpoint


def describe(backbone: dict) -> str:
    arch = {k: v for k, v in backbone.items() if k not in ("_target_", "dropout")}
    return f"{backbone.get('_target_', '?').rsplit('.', 1)[-1]}({', '.join(f'{k}={v}' for k, v in arch.items())})"


def check_same_architecture(model: MNISTClassifier, checkpoint: dict, path: str | Path) -> None:
    """Fail before training when a checkpoint's tensors do not fit the network this run builds."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in checkpoint["state_dict"].items()}
    if expected != found:
        raise ValueError(
            f"Checkpoint {path} holds a {describe(checkpoint['hyper_parameters']['backbone'])}, but this run builds "
            f"a {describe(model.hparams.backbone)}. Use the model settings the checkpoint was trained with (its "
            "run folder's .hydra/config.yaml has them), or drop ckpt_path to start fresh."
        )
