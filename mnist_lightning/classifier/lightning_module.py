"""The LightningModule: normalization, a swappable backbone, the loss with its penalties, metrics, optimizer.

Every constructor argument is plain data (dicts of numbers and strings, `_target_` naming a class), saved as the
checkpoint's hyperparameters. A checkpoint therefore holds no pickled Python objects: it loads with
`torch.load(weights_only=True)` and rebuilds its own network from its own config (inference/checkpoint.py).
conf/train.yaml builds it (`classifier:`); the regularizer group wires in its knobs.

It is the model of record: training fits it, inference and evaluation load it, and it imports neither. What it
learns from besides the labels (distillation's teachers) is handed to it by a callback (training/teachers.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import get_class, instantiate
from lightning.fabric.utilities import AttributeDict
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from mnist_lightning.classifier.distillation_loss import check_settings, distillation_loss
from mnist_lightning.classifier.protocol import Classifier
from mnist_lightning.classifier.schedules import lr_scheduler_config
from mnist_lightning.models.background import check_background_window, without_background

WEIGHT_DECAY_MODES = ("decoupled", "l2")
# Optimizers whose weight decay can be decoupled from the gradient (Loshchilov & Hutter, AdamW), and how to ask.
DECOUPLED_DECAY_KWARGS = {"torch.optim.AdamW": {}, "torch.optim.Adam": {"decoupled_weight_decay": True}}
DIGITS = tuple(str(digit) for digit in range(10))  # MNIST's classes, and those of a checkpoint that names none


class MNISTClassifier(L.LightningModule):
    def __init__(
        self,
        backbone: dict,
        optimizer: dict,
        scheduler: dict | None = None,
        mean: float = 0.0,
        std: float = 1.0,
        background_window: int = 0,
        weight_decay: float = 0.0,
        weight_decay_mode: str = "decoupled",
        l1: float = 0.0,
        label_smoothing: float = 0.0,
        max_norm: float | None = None,
        temperature: float = 1.0,
        distillation: dict | None = None,
        dataset: str = "mnist",
        class_names: Sequence[str] = DIGITS,
        digits: bool = True,
    ):
        """
        backbone/optimizer/scheduler: `_target_` configs (conf/model, conf/optimizer, conf/scheduler).
        dataset, class_names, digits: what it learns to tell apart (conf/data/, `dataset:`), recorded so that every
            tool that loads it knows: the backbone gets one output per class name; predict and serve take only a
            model of handwritten digits (`digits`).
        mean/std: input normalization, computed by the DataModule from the training split.
        background_window: before it, take away what is wider than this many pixels (a grey or foggy ground, a
            bright frame: models/background.py) and stretch the strokes to [0, 1]; 0 = off.
        weight_decay: 'decoupled' shrinks weights inside the optimizer step (AdamW-style); 'l2' adds
            weight_decay/2 * sum(w^2) to the loss (classic L2, whose gradient Adam then rescales per weight).
        l1: adds l1 * sum(|w|) to the loss. Decay and penalties apply to weight matrices and kernels only,
            never to biases or normalization parameters.
        label_smoothing: target probability 1-eps on the true class, eps spread over all classes.
        max_norm: after every optimizer step, each unit's incoming weights (a row of a Linear weight, an output
            channel of a Conv2d kernel) are scaled down to this L2 norm if longer (Srivastava et al. 2014).
        temperature: `probabilities` divides the logits by it. Not set by hand: training fits it on the
            validation split once it has chosen its checkpoint (evaluation/calibration.py) and writes it into the
            file; 1.0 leaves the softmax as trained.
        distillation: {teachers, temperature, hard_label_weight} (conf/distillation/), or None to learn from the
            labels alone. The data term of the loss becomes hard_label_weight x cross-entropy + (1 -
            hard_label_weight) x distillation_loss (classifier/distillation_loss.py) to the teachers' averaged
            probabilities on the same distorted batch. The Teachers callback (training/teachers.py) loads them
            when fitting starts, not when a checkpoint is read: a trained student needs none of them.
        """
        super().__init__()
        class_names = [str(name) for name in class_names]  # a command line's [0,1,2] are numbers; names are text
        if weight_decay_mode not in WEIGHT_DECAY_MODES:
            raise ValueError(
                f"regularizer.weight_decay_mode must be one of {WEIGHT_DECAY_MODES}, got {weight_decay_mode!r}."
            )
        for name, value in (("weight_decay", weight_decay), ("l1", l1)):
            if value < 0:
                raise ValueError(f"regularizer.{name} must be >= 0, got {value}.")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"regularizer.label_smoothing must be in [0, 1), got {label_smoothing}.")
        if max_norm is not None and not max_norm > 0:
            raise ValueError(f"regularizer.max_norm must be > 0 (e.g. 3.0), or null for no constraint; got {max_norm}.")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        if std <= 0:
            raise ValueError(f"std must be > 0, got {std}.")
        check_background_window(background_window)
        if distillation is not None:
            check_settings(distillation)
        target = optimizer.get("_target_")
        if weight_decay > 0 and weight_decay_mode == "decoupled" and target not in DECOUPLED_DECAY_KWARGS:
            raise ValueError(
                f"regularizer.weight_decay_mode=decoupled needs optimizer=adamw or optimizer=adam; {target} has only "
                "classic (coupled) weight decay. Use regularizer.weight_decay_mode=l2 with it."
            )
        self.save_hyperparameters(logger=False)  # train.py logs the whole run config to TensorBoard instead
        self.backbone = instantiate(backbone, num_classes=len(class_names))
        self.train_acc, self.val_acc, self.test_acc = (
            MulticlassAccuracy(num_classes=len(class_names), average="micro") for _ in range(3)
        )
        self.train_loss, self.train_ce_loss, self.train_kd_loss = MeanMetric(), MeanMetric(), MeanMetric()
        self.teacher: Classifier | None = None  # set by the Teachers callback when fitting starts; never saved
        self.teacher_in_bf16 = False
        self._resumed_schedules: list[dict] = []

    @property
    def hparams(self) -> AttributeDict:
        """The constructor's arguments, as `save_hyperparameters` stored them. Lightning types `hparams` as
        `AttributeDict | MutableMapping` (a module may save a config object instead); this one always saves its
        plain-data arguments, which Lightning keeps as an AttributeDict, so `self.hparams.temperature` is typed."""
        return cast(AttributeDict, super().hparams)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: pixel/255 in [0, 1], [B, 1, 28, 28]. Normalizing here keeps a checkpoint self-contained."""
        if self.hparams.background_window and not self.training:
            # Pictures from outside only: on MNIST's digits, what training sees, it changes a pixel by 6e-5 on
            # average, and it would add a third to each training step's time.
            images = without_background(images, self.hparams.background_window)
        return self.backbone((images - self.hparams.mean) / self.hparams.std)

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """[N, 10] logits for [N, 28, 28] images (pixel/255), in batches of 1,000."""
        return torch.cat([self(batch[:, None]).float() for batch in images.split(1000)])

    def log_probabilities(self, images: torch.Tensor, calibrated: bool = True) -> torch.Tensor:
        """[N, 10] log class probabilities for [N, 28, 28] images: log_softmax(logits / temperature), or of the
        logits as trained when not `calibrated`."""
        return torch.log_softmax(self.logits(images) / (self.hparams.temperature if calibrated else 1.0), dim=1)

    def probabilities(self, images: torch.Tensor, calibrated: bool = True) -> torch.Tensor:
        """[N, 10] class probabilities for [N, 28, 28] images (see `log_probabilities`)."""
        return self.log_probabilities(images, calibrated).exp()

    def _penalized(self) -> list[torch.Tensor]:
        return [p for p in self.backbone.parameters() if p.ndim > 1]  # weights, not biases or norm scales/shifts

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        logits = self(images)
        ce_loss = F.cross_entropy(logits, labels, label_smoothing=self.hparams.label_smoothing)
        loss = ce_loss
        if self.teacher is not None:
            kd_loss = distillation_loss(
                logits, self.teacher_log_probabilities(images), self.hparams.distillation["temperature"]
            )
            weight = self.hparams.distillation["hard_label_weight"]
            loss = weight * ce_loss + (1 - weight) * kd_loss
            self.train_kd_loss.update(kd_loss.detach())
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
        if loss is not ce_loss:  # a teacher or a penalty is in the loss: also track the hard-label term alone
            self.train_ce_loss.update(ce_loss.detach())
        self.train_acc.update(logits.detach(), labels)
        return loss

    def teacher_log_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """The teachers' log probabilities for the distorted batch the student is learning from."""
        assert self.teacher is not None, "only called while distilling"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.teacher_in_bf16):
            return self.teacher.log_probabilities(images[:, 0])

    def on_fit_start(self) -> None:
        # Callbacks' on_fit_start runs first: by now a distilling student has its teachers, or was built without them.
        if self.hparams.distillation and self.teacher is None:
            raise RuntimeError(
                "This classifier distills (distillation.teachers is set) but was given no teachers: train it with "
                "the mnist_lightning.training.teachers.Teachers callback, as conf/distillation/teachers.yaml does."
            )

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        if self.hparams.max_norm is not None:  # a constraint, not a penalty: it acts on the weights after the step
            with torch.no_grad():
                for weight in self._penalized():
                    weight.copy_(weight.renorm(2, 0, self.hparams.max_norm))

    def on_train_epoch_end(self) -> None:
        # compute() averages over the epoch (and over DDP ranks); ce_loss and kd_loss are the loss's terms.
        metrics = {"train/loss": self.train_loss, "train/acc": self.train_acc}
        if self.train_ce_loss.update_called:
            metrics["train/ce_loss"] = self.train_ce_loss
        if self.train_kd_loss.update_called:
            metrics["train/kd_loss"] = self.train_kd_loss
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
            {
                "name": "weights",
                "params": [p for p in self.parameters() if id(p) in penalized],
                "weight_decay": weight_decay,
            },
            {
                "name": "biases_norms",
                "params": [p for p in self.parameters() if id(p) not in penalized],
                "weight_decay": 0.0,
            },
        ]

    def configure_optimizers(self):
        hp = self.hparams
        decoupled = hp.weight_decay if hp.weight_decay_mode == "decoupled" else 0.0
        # get_class rather than instantiate: Hydra would wrap the parameter groups into configs.
        config = dict(hp.optimizer)
        target = config.pop("_target_")
        extra = DECOUPLED_DECAY_KWARGS.get(target, {}) if decoupled else {}
        optimizer = get_class(target)(self.parameter_groups(decoupled), **config, **extra)
        if not hp.scheduler:
            return optimizer
        run_steps = int(self.trainer.estimated_stepping_batches)
        schedule = lr_scheduler_config(optimizer, hp.scheduler, run_steps, resumed=self._resumed_schedules)
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # On resume this runs before configure_optimizers, which checks the saved schedules' length against the run's.
        self._resumed_schedules = checkpoint.get("lr_schedulers", [])
