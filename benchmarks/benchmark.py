"""Side-by-side speed measurements on one machine: `python benchmarks/benchmark.py [--quick]`.

Prints a markdown table and writes benchmarks/results/benchmark.{json,md}. Every comparison is measured in the
same process, on the same data, one after the other, so that ratios are meaningful on a noisy machine;
absolute times are not comparable across runs or machines.

  throughput   training images/s of the project's MLP and CNN (Lightning Trainer + DataModule + classifier)
               vs a bare PyTorch loop on in-memory tensors with the same model, batch size, optimizer, schedule
  time to 98%  the project's default MLP vs a faithful copy of the classic tutorial (tutorial_baseline.py); and
               the whole default run (`python -m mnist_lightning.train`, process start to exit, every epoch,
               validation, test and pictures: what `make train` costs) against the tutorial reaching 98 %
  augment      share of a training step spent on batched affine + elastic distortion (ours, and kornia's)
  precision    bf16-mixed vs fp32 epoch time and accuracy of a large MLP (784-2048-2048-10)
  inference    the MLP and the CNN run by PyTorch vs by onnxruntime from the exported .onnx file: a batch of 1000
               images and one image (the latency a web page or an app sees)
  distillation a training step of experiment=mlp_distill's student alone, and with one experiment=cnn_teacher
               teacher run by PyTorch or by onnxruntime (what a student run does on a CPU)
  compile      the default MLP's and CNN's training epoch eager and with compile=true (torch.compile), one
               fit each; the compilation's cost from an empty cache; both over the whole default run
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import onnxruntime
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tutorial_baseline import run_tutorial  # noqa: E402

from mnist_lightning import CONFIG_DIR  # noqa: E402
from mnist_lightning.data.augment import RandomDistortion  # noqa: E402
from mnist_lightning.data.datamodule import MNISTDataModule  # noqa: E402
from mnist_lightning.inference.exporting import onnx_model  # noqa: E402
from mnist_lightning.reporting.provenance import cpu_model  # noqa: E402
from mnist_lightning.training.allocator import keep_freed_memory  # noqa: E402
from mnist_lightning.training.precision import cpu_has_bf16  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# The default recipe augments every training batch; the throughput comparison is about the training step itself
# (the bare loop has no augmentation), and augmentation gets its own row.
# Without native bf16 (an AVX2-only CPU) oneDNN emulates it, 13x-77x slower than fp32: bf16 rows would measure
# the emulation, not the project. Such a CPU runs the quick recipe in fp32 and skips the bf16 comparison.
BF16 = cpu_has_bf16()
QUICK_RECIPE = ("experiment=mlp_quick",) if BF16 else ("experiment=mlp_quick", "trainer.precision=32-true")
SECTIONS = ("throughput", "time_to_98", "augment", "precision", "inference", "distillation", "compile")
NO_AUGMENT = (
    "regularizer.augment.rotate_deg=0",
    "regularizer.augment.translate=0",
    "regularizer.augment.scale=[1.0,1.0]",
    "regularizer.augment.elastic_alpha=0",
)


def config(*overrides: str) -> DictConfig:
    """The same composed config the command line gets for these overrides."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def datamodule_for(cfg: DictConfig) -> MNISTDataModule:
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    return dm


class EpochClock(L.Callback):
    """Wall time of each training epoch, excluding validation and everything outside the epoch."""

    def __init__(self):
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, module):
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        self.seconds.append(time.perf_counter() - self.start)


class TestAccuracyPerEpoch(L.Callback):
    """For time-to-accuracy only: official-test accuracy after every epoch, its cost kept off the clock."""

    def __init__(self, test_images: torch.Tensor, test_labels: torch.Tensor, stop_at: float = 2.0):
        self.images, self.labels, self.stop_at = test_images, test_labels, stop_at
        self.curve: list[tuple[float, float]] = []  # (training seconds so far, test accuracy)
        self.trained = 0.0

    def on_train_epoch_start(self, trainer, module):
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        self.trained += time.perf_counter() - self.start
        module.eval()
        with torch.no_grad():
            x = self.images.unsqueeze(1).float().div(255)
            accuracy = (module(x).argmax(1) == self.labels).float().mean().item()
        module.train()
        self.curve.append((self.trained, accuracy))
        trainer.should_stop = accuracy >= self.stop_at  # the rest of the run would not change the answer


def lightning_fit(cfg: DictConfig, dm: MNISTDataModule, callbacks: list, **trainer_overrides) -> L.LightningModule:
    L.seed_everything(cfg.seed)
    model = instantiate(cfg.classifier, mean=dm.mean, std=dm.std)
    trainable = torch.compile(model) if cfg.compile else model  # as train.py does
    trainer = instantiate(
        cfg.trainer,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tempfile.gettempdir(),  # writes nothing there; the config's default is a run folder
        callbacks=callbacks,
        **trainer_overrides,
    )
    trainer.fit(trainable, datamodule=dm)
    return model


class BareLoop:
    """The ceiling: the same network, optimizer and schedule, batches sliced from the tensors, no framework."""

    def __init__(self, cfg: DictConfig, dm: MNISTDataModule):
        torch.manual_seed(cfg.seed)
        self.cfg, self.model = (
            cfg,
            instantiate(cfg.classifier, mean=dm.mean, std=dm.std),
        )  # same backbone, normalization, groups
        self.images, self.labels = dm.train_set.images, dm.train_set.labels

    def epoch_seconds(self, batches: int) -> float:
        cfg, model, batch_size = self.cfg, self.model, self.cfg.data.batch_size
        groups = model.parameter_groups(cfg.regularizer.weight_decay)
        optimizer = torch.optim.AdamW(groups, lr=cfg.optimizer.lr, fused=cfg.optimizer.get("fused", False))
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.optimizer.lr, total_steps=batches)
        order = torch.randperm(len(self.labels))
        model.train()
        start = time.perf_counter()
        for i in range(batches):
            index = order[i * batch_size : (i + 1) * batch_size]
            x = self.images.index_select(0, index).unsqueeze(1).float().div_(255)
            loss = F.cross_entropy(model(x), self.labels.index_select(0, index))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        return time.perf_counter() - start


class BareEpochAfterEachEpoch(L.Callback):
    """Runs one bare-loop epoch right after each project epoch (off the project's clock), so that both sides of
    each pair see the same state of a shared, noisy machine."""

    def __init__(self, bare: BareLoop, batches: int):
        self.bare, self.batches = bare, batches
        self.seconds: list[float] = []

    def on_train_epoch_end(self, trainer, module):
        self.seconds.append(self.bare.epoch_seconds(self.batches))


def throughput(model_name: str, batches: int, pairs: int) -> dict:
    cfg = config(f"model={model_name}", *NO_AUGMENT)
    dm = datamodule_for(cfg)
    batches = min(batches, len(dm.train_set) // cfg.data.batch_size)  # steps beyond one epoch would not happen
    clock, bare = EpochClock(), BareEpochAfterEachEpoch(BareLoop(cfg, dm), batches)
    # `pairs` + 1 epochs of `batches` steps, each followed by a bare epoch; the first pair warms up allocator and
    # kernels. Validation is off: it is not training. The ratio is the median over pairs.
    lightning_fit(cfg, dm, [clock, bare], max_epochs=pairs + 1, limit_train_batches=batches, limit_val_batches=0)
    project, reference = clock.seconds[1:], bare.seconds[1:]
    images = batches * cfg.data.batch_size
    return {
        "model": model_name,
        "batch_size": cfg.data.batch_size,
        "batches": batches,
        "pairs": pairs,
        "project_images_per_s": images / statistics.median(project),
        "bare_images_per_s": images / statistics.median(reference),
        "ratio": statistics.median(b / p for b, p in zip(reference, project)),
        "pair_ratios": [b / p for b, p in zip(reference, project)],
    }


def time_to_accuracy(target: float, tutorial_max_epochs: int) -> dict:
    """Training seconds until official-test accuracy first reaches `target`: the default MLP recipe, a short
    recipe for speed alone (experiment=mlp_quick), and the classic tutorial."""

    def first_reaching(curve):
        return next((seconds for seconds, accuracy in curve if accuracy >= target), None)

    result = {"target": target}
    for name, overrides in (("project", ("model=mlp",)), ("quick_recipe", QUICK_RECIPE)):
        cfg = config(*overrides)
        dm = datamodule_for(cfg)
        dm.setup("test")
        probe = TestAccuracyPerEpoch(dm.test_set.images, dm.test_set.labels, stop_at=target)
        lightning_fit(cfg, dm, [probe], limit_val_batches=0)
        result[f"{name}_seconds"], result[f"{name}_curve"] = first_reaching(probe.curve), probe.curve
    result["whole_run_seconds"] = whole_default_run()
    result["tutorial_curve"] = run_tutorial(dm.cache_dir, max_epochs=tutorial_max_epochs, target=target)
    result["tutorial_seconds"] = first_reaching(result["tutorial_curve"])
    for name in ("project", "quick_recipe"):
        ours, theirs = result[f"{name}_seconds"], result["tutorial_seconds"]
        result[f"{name}_speedup"] = theirs / ours if ours and theirs else None
    return result


def whole_default_run() -> float:
    """Wall seconds of `python -m mnist_lightning.train` with its defaults, from process start to exit."""
    with tempfile.TemporaryDirectory() as run_dir:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mnist_lightning.train",
                f"hydra.run.dir={run_dir}",
                "trainer.enable_progress_bar=false",
            ],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


class AlternateDistortion(L.Callback):
    """Even epochs train on plain images, odd epochs with `augment`: each augmented epoch has a plain neighbour
    measured moments apart on the same model and data."""

    def __init__(self, dm: MNISTDataModule, augment: RandomDistortion):
        self.dm, self.on, self.off = dm, augment, RandomDistortion()

    def on_train_epoch_start(self, trainer, module):
        self.dm.augment = self.on if trainer.current_epoch % 2 else self.off


def augmentation_cost(batches: int, pairs: int) -> dict:
    """Epoch time of the default MLP with and without distortion, in alternating epochs of one run, and the
    distortion alone on the same batches."""
    strong = dict(rotate_deg=10, shear_deg=10, translate=0.1, scale=(0.9, 1.1), elastic_alpha=34, elastic_sigma=4)
    ours = RandomDistortion(**strong)
    cfg = config("model=mlp")
    dm = datamodule_for(cfg)
    clock = EpochClock()
    # Epoch 0 (plain) warms up; then pairs of (augmented, plain) epochs.
    lightning_fit(
        cfg,
        dm,
        [AlternateDistortion(dm, ours), clock],
        max_epochs=1 + 2 * pairs,
        limit_train_batches=batches,
        limit_val_batches=0,
    )
    augmented, plain = clock.seconds[1::2], clock.seconds[2::2]
    share = statistics.median(1 - p / a for a, p in zip(augmented, plain))
    batch = torch.rand(256, 1, 28, 28)
    result = {
        "step_ms_plain": 1000 * statistics.median(plain) / batches,
        "step_ms_augmented": 1000 * statistics.median(augmented) / batches,
        "share_of_step": share,
        "ours_ms_per_batch": 1000 * per_call(lambda: ours(batch)),
    }
    try:
        import kornia.augmentation as K

        theirs = torch.nn.Sequential(
            K.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10, p=1.0),
            K.RandomElasticTransform(kernel_size=(25, 25), sigma=(4.0, 4.0), alpha=(34 / 14, 34 / 14), p=1.0),
        )
        result["kornia_ms_per_batch"] = 1000 * per_call(lambda: theirs(batch))
    except ImportError:
        result["kornia_ms_per_batch"] = None
    return result


def per_call(fn, repeats: int = 30) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def precision_comparison(epochs: int) -> dict:
    if not BF16:
        return {
            "skipped": "this CPU has no native bf16 support: bf16 would be emulated, many times slower than fp32 (bf16_probe.py)"
        }
    rows = {}
    for precision in ("32-true", "bf16-mixed"):
        cfg = config(
            "model=mlp",
            "model.hidden_sizes=[2048,2048]",
            f"trainer.precision={precision}",
            f"trainer.max_epochs={epochs}",
        )
        dm = datamodule_for(cfg)
        dm.setup("test")
        clock = EpochClock()
        probe = TestAccuracyPerEpoch(dm.test_set.images, dm.test_set.labels)
        lightning_fit(cfg, dm, [clock, probe], limit_val_batches=0)
        rows[precision] = {"epoch_s": statistics.median(clock.seconds), "test_acc": probe.curve[-1][1]}
    rows["bf16_over_fp32_epoch_time"] = rows["bf16-mixed"]["epoch_s"] / rows["32-true"]["epoch_s"]
    return rows


def inference(repeats: int) -> list[dict]:
    """The same network run by PyTorch and by onnxruntime from its exported file, alternately, on the same inputs.
    Weights are random: speed does not depend on them. Each side computes logits only, from a ready input, on
    the CPU with the same number of threads."""
    rows = []
    for name in ("mlp", "cnn"):
        torch.manual_seed(0)
        model = instantiate(config(f"model={name}").classifier, mean=0.1307, std=0.3081).eval()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # the threads PyTorch gets, for a fair race
        session = onnxruntime.InferenceSession(
            onnx_model(model).SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        row = {"model": name}
        for size, label in ((1000, "batch_1000"), (1, "one_image")):
            images = torch.rand(size, 1, 28, 28)
            as_numpy = {"images": images.numpy()}
            times = {"torch": [], "onnxruntime": []}
            with torch.inference_mode():
                for _ in range(repeats):  # alternating, so that both sides see the same machine
                    times["torch"].append(per_call(functools.partial(model, images), repeats=10 if size > 1 else 50))
                    times["onnxruntime"].append(
                        per_call(functools.partial(session.run, ["logits"], as_numpy), repeats=10 if size > 1 else 50)
                    )
            for side, measured in times.items():
                row[f"{side}_{label}_ms"] = 1000 * statistics.median(measured)
        rows.append(row)
    return rows


def distillation_step(repeats: int) -> dict:
    """Training-step time of the distillation student on a batch of 512 (forward, loss, backward, optimizer
    step), alone and with one teacher, alternately. The teacher is experiment=cnn_teacher's network with random
    weights (speed does not depend on them), read from a checkpoint file as a real teacher is."""
    from mnist_lightning.inference.ensemble import Ensemble
    from mnist_lightning.training.teachers import on_onnxruntime

    torch.manual_seed(0)
    student_cfg = config("experiment=mlp_distill")
    teacher = instantiate(config("experiment=cnn_teacher").classifier, mean=0.1307, std=0.3081).eval()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "teacher.ckpt"
        torch.save({"hyper_parameters": dict(teacher.hparams), "state_dict": teacher.state_dict()}, path)
        teachers = {"none": None, "pytorch": Ensemble(str(path)), "onnxruntime": on_onnxruntime(Ensemble(str(path)))}
    student = instantiate(student_cfg.classifier, mean=0.1307, std=0.3081).train()
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-3)
    batch = (torch.rand(512, 1, 28, 28), torch.randint(0, 10, (512,)))

    def step():
        loss = student.training_step(batch, 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    times = {name: [] for name in teachers}
    for _ in range(repeats):  # alternating, so that every side sees the same machine
        for name, ensemble in teachers.items():
            student.teacher = ensemble
            times[name].append(per_call(step, repeats=5))
    return {f"{name}_step_ms": 1000 * statistics.median(measured) for name, measured in times.items()}


def compile_comparison(model_name: str, batches: int, epochs: int) -> dict:
    """Training epoch time of the default recipe (`batches` steps of 512), eager and with compile=true's
    torch.compile, one fit each in this process (a compiled model is compiled once and then trained, as in a real
    run; fits that each build a new model recompile); the compilation's own cost (the compiled first epoch beyond
    an eager first epoch, from an empty compilation cache, as a first run pays); and both over the whole default run."""
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor_")
    step_s, beyond_steps = {}, {}
    for name in ("eager", "compiled"):
        cfg = config(f"model={model_name}", f"compile={'true' if name == 'compiled' else 'false'}")
        clock = EpochClock()
        lightning_fit(
            cfg, datamodule_for(cfg), [clock], max_epochs=epochs + 1, limit_train_batches=batches, limit_val_batches=0
        )
        step_s[name] = statistics.median(clock.seconds[1:]) / batches
        beyond_steps[name] = clock.seconds[0] - batches * step_s[name]
    compile_s = beyond_steps["compiled"] - beyond_steps["eager"]
    run_steps = cfg.trainer.max_epochs * -(-(60_000 - cfg.data.val_size) // cfg.data.batch_size)
    return {
        "model": model_name,
        "eager_step_ms": 1000 * step_s["eager"],
        "compiled_step_ms": 1000 * step_s["compiled"],
        "step_ratio": step_s["compiled"] / step_s["eager"],
        "compile_s": compile_s,
        "whole_run_steps": run_steps,
        "whole_run_eager_s": run_steps * step_s["eager"],
        "whole_run_compiled_s": compile_s + run_steps * step_s["compiled"],
    }


def hardware() -> str:
    return f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}, Python {platform.python_version()}"


def markdown(r: dict) -> str:
    lines = [
        f"Hardware: {r['hardware']}. Command: `{r['command']}`.",
        "",
        "| measurement | project | reference | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for row in r.get("throughput", []):
        lines.append(
            f"| {row['model'].upper()} training throughput, batch {row['batch_size']} (images/s) | "
            f"{row['project_images_per_s']:,.0f} | bare PyTorch loop {row['bare_images_per_s']:,.0f} | "
            f"{row['ratio']:.2f} of the ceiling |"
        )
    fmt = lambda s: f"{s:.1f} s" if s is not None else "not reached"  # noqa: E731
    t = r.get("time_to_98")
    for name, label in (
        (
            ("project", "default MLP recipe (40 epochs, for final accuracy)"),
            (
                "quick_recipe",
                f"`experiment=mlp_quick` (same MLP, 4 epochs, {'bf16' if BF16 else 'fp32 here'}, no augmentation)",
            ),
        )
        if t
        else ()
    ):
        speedup = f"{t[name + '_speedup']:.1f}x faster" if t[name + "_speedup"] else "n/a"
        lines.append(
            f"| time to {t['target']:.0%} official-test accuracy, {label} | {fmt(t[name + '_seconds'])} | "
            f"classic tutorial {fmt(t['tutorial_seconds'])} | {speedup} |"
        )
    if t and t.get("whole_run_seconds") and t["tutorial_seconds"]:
        lines.append(
            f"| the whole default run, `python -m mnist_lightning.train` (process start to exit) | "
            f"{fmt(t['whole_run_seconds'])} | classic tutorial reaching {t['target']:.0%}: "
            f"{fmt(t['tutorial_seconds'])} | {t['tutorial_seconds'] / t['whole_run_seconds']:.2f}x |"
        )
    if a := r.get("augment"):
        kornia = f"kornia {a['kornia_ms_per_batch']:.1f} ms" if a["kornia_ms_per_batch"] else "kornia not installed"
        lines.append(
            f"| affine + elastic distortion, share of an MLP training step | {a['share_of_step']:.0%} "
            f"({a['step_ms_augmented']:.2f} vs {a['step_ms_plain']:.2f} ms/step) | {kornia} per batch of 256 "
            f"vs ours {a['ours_ms_per_batch']:.1f} ms | |"
        )
    if (p := r.get("precision")) and "skipped" in p:
        lines.append(f"| MLP 2048-2048 epoch time, bf16-mixed vs fp32 | skipped: {p['skipped']} | | |")
    elif p:
        lines.append(
            f"| MLP 2048-2048 epoch time, bf16-mixed vs fp32 | {p['bf16-mixed']['epoch_s']:.1f} s "
            f"(test {p['bf16-mixed']['test_acc']:.2%}) | fp32 {p['32-true']['epoch_s']:.1f} s "
            f"(test {p['32-true']['test_acc']:.2%}) | {p['bf16_over_fp32_epoch_time']:.2f} of fp32 time |"
        )
    for i in r.get("inference", []):
        for label, what in (("batch_1000", "a batch of 1,000"), ("one_image", "one image")):
            ours, theirs = i[f"onnxruntime_{label}_ms"], i[f"torch_{label}_ms"]
            lines.append(
                f"| {i['model'].upper()} inference, {what}, onnxruntime on the exported file | {ours:.3f} ms | "
                f"PyTorch {theirs:.3f} ms | {theirs / ours:.2f}x PyTorch's speed |"
            )
    if d := r.get("distillation"):
        lines.append(
            f"| distillation step, MLP student + 1 CNN teacher on onnxruntime (ms, batch 512) | "
            f"{d['onnxruntime_step_ms']:.0f} ms (student alone {d['none_step_ms']:.0f} ms) | teacher on PyTorch "
            f"{d['pytorch_step_ms']:.0f} ms | {d['pytorch_step_ms'] / d['onnxruntime_step_ms']:.2f}x PyTorch's speed |"
        )
    for c in r.get("compile", []):
        lines.append(
            f"| {c['model'].upper()} training step with `compile=true` (default recipe, batch 512) | "
            f"{c['compiled_step_ms']:.1f} ms, after {c['compile_s']:.0f} s compiling | eager "
            f"{c['eager_step_ms']:.1f} ms | {c['step_ratio']:.2f} of eager time |"
        )
        lines.append(
            f"| the whole default {c['model'].upper()} run's training ({c['whole_run_steps']:,} steps), compiled | "
            f"{c['whole_run_compiled_s']:.0f} s | eager {c['whole_run_eager_s']:.0f} s | "
            f"{c['whole_run_compiled_s'] / c['whole_run_eager_s']:.2f} of eager time |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer batches and epochs: a few minutes in all")
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, help="these comparisons only (results file named after them)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    keep_freed_memory()  # as the training entry point does, for both sides of every comparison
    batches = 40 if args.quick else 100  # at most the 107 steps of one epoch at batch 512
    measure = {
        "throughput": lambda: [
            throughput("mlp", batches, pairs=2 if args.quick else 6),
            throughput("cnn", batches // 4, pairs=2),
        ],
        "time_to_98": lambda: time_to_accuracy(0.98, tutorial_max_epochs=3 if args.quick else 15),
        "augment": lambda: augmentation_cost(batches, pairs=2 if args.quick else 5),
        "precision": lambda: precision_comparison(epochs=1 if args.quick else 3),
        "inference": lambda: inference(repeats=3 if args.quick else 9),
        "distillation": lambda: distillation_step(repeats=2 if args.quick else 6),
        "compile": lambda: [
            compile_comparison("mlp", batches, epochs=2 if args.quick else 5),
            compile_comparison("cnn", batches // 4, epochs=2 if args.quick else 3),
        ],
    }
    command = " ".join(
        [
            "python benchmarks/benchmark.py",
            *(["--quick"] if args.quick else []),
            *(["--only", *args.only] if args.only else []),
        ]
    )
    results = {"hardware": hardware(), "command": command}
    results.update({name: measure[name]() for name in args.only or SECTIONS})
    name = "benchmark" + ("-" + "-".join(args.only) if args.only else "")  # a part never overwrites the whole
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=2))
    table = markdown(results)
    (args.out / f"{name}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
