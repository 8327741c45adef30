"""Everything around the train step: building the GAN from params, the loop, progress, checkpoints
and the files a training stage leaves behind.

The same code trains every family: a stage differs from another only by its params section.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from gan_lab.config import TrainingParams
from gan_lab.data import NUM_CLASSES, Mnist, training_batches
from gan_lab.errors import GanLabError
from gan_lab.model_io import remove_swapped, save_model, surviving, swap_in, write_json
from gan_lab.models import build_discriminator, build_generator
from gan_lab.names import GENERATOR_FILE, QUALITY_SAMPLES_FILE, QUALITY_SECONDS_KEY
from gan_lab.plots import captioned, image_grid, save_gif, save_loss_plot, save_png
from gan_lab.training.distribute import Distribution, make_distribution, synchronize_batch_norm
from gan_lab.training.gan import GAN
from gan_lab.training.precision import adam, dtype_policy, resolve
from gan_lab.training.quality import QualitySamples, draw, pixel_spread, quality_inputs
from gan_lab.training.schedule import LinearDecayTail, learning_rate

LOSS_COLUMNS = ["step", "d_loss", "g_loss", "d_real", "d_fake", "d_real_accuracy", "d_fake_accuracy"]
THROUGHPUT_COLUMNS = ["step", "images_per_second"]  # wall-clock figures: kept apart, not hashed by DVC
# speed.json, the stage's DVC metrics: the two numbers of timing.json that runs are compared on, under
# the section's name, so that `dvc exp show` names their columns `cnn.images_per_second`, ...
SPEED_KEYS = ("images_per_second", "wall_seconds")


class DivergenceError(GanLabError):
    """A loss became NaN or infinite."""


@dataclass(frozen=True)
class OutputPaths:
    """Where a training stage writes: models and reports are DVC outputs; checkpoints and the
    optional TensorBoard logs (written live, for watching a run) are not."""

    models: Path
    reports: Path
    checkpoints: Path
    tensorboard: Path

    @classmethod
    def for_stage(cls, name: str, root: Path = Path(".")) -> "OutputPaths":
        return cls(*(root / folder / name for folder in ("models", "reports", "checkpoints", "tensorboard")))


def make_deterministic(seed: int) -> None:
    """Same seed, same CPU -> same bits: seed every RNG and ask TensorFlow for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_gan(params: TrainingParams, distribution: Distribution | None = None) -> GAN:
    """The GAN of `params`, in `train.precision` (`auto` resolved for its families on this machine:
    `gan.precision` says which); on several devices (`distribution`), mirrored on each."""
    cfg = params.gan
    precision = resolve(params.loop.precision, {cfg.generator, cfg.discriminator})
    distribution = distribution or make_distribution("none")
    classes = NUM_CLASSES if cfg.conditional else None

    def rate(base: float) -> float | LinearDecayTail:
        return learning_rate(base, cfg.lr_decay_start, cfg.steps)

    with distribution.scope(), dtype_policy(precision):
        gan = GAN(
            build_generator(cfg.generator, cfg.arch[cfg.generator], cfg.latent_dim, classes),
            build_discriminator(cfg.discriminator, cfg.arch[cfg.discriminator], classes),
            cfg.latent_dim,
            conditional=cfg.conditional,
            seed=params.seed,
            label_smoothing=cfg.label_smoothing,
            diffaugment=cfg.diffaugment,
            r1_gamma=cfg.r1_gamma,
            precision=precision,
        )
        if distribution.strategy:  # batch statistics of the global batch, as on one device (D has none)
            synchronize_batch_norm(gan.generator)
        gan.compile(
            g_optimizer=adam(precision, rate(cfg.g_lr), cfg.beta1, cfg.beta2, ema=cfg.g_ema),
            d_optimizer=adam(precision, rate(cfg.d_lr), cfg.beta1, cfg.beta2),
        )
    return gan


@dataclass(frozen=True)
class Run:
    """A GAN ready to train: seeded, built on its devices, its train step compiled.

    `train` below drives one; bench/time_to_quality.py and tests/distributed_run.py drive the same
    set-up without the stage's outputs.
    """

    params: TrainingParams
    distribution: Distribution
    gan: GAN
    step: Callable[[tuple[tf.Tensor, tf.Tensor]], dict]

    @classmethod
    def start(cls, params: TrainingParams, distribution: Distribution | None = None) -> "Run":
        # The strategy first: multi-worker wants it before any other TensorFlow work.
        distribution = distribution or make_distribution(params.loop.distribute)
        distribution.check_batch(params.gan.batch_size, params.name)
        make_deterministic(params.seed)
        gan = build_gan(params, distribution)
        return cls(params, distribution, gan, distribution.compile(gan.train_step))

    def batches(self, data: Mnist, start_step: int = 0):
        """The seeded batch stream from `start_step` on, split over the devices."""
        cfg = self.params.gan
        return self.distribution.dataset(
            training_batches(data.x_train, data.y_train, cfg.batch_size, self.params.seed, start_step=start_step)
        )


def fixed_inputs(params: TrainingParams) -> tuple[tf.Tensor, tf.Tensor]:
    """The latent batch (and labels) rendered at every snapshot: the GIF shows the same z evolving.

    A conditional grid has one row per digit, so rows read 0..9 top to bottom.
    """
    size = params.loop.grid_size
    if params.gan.conditional:
        rows, cols = NUM_CLASSES, size
        labels = np.repeat(np.arange(NUM_CLASSES), cols)
    else:
        rows, cols = size, size
        labels = np.zeros(rows * cols, np.int64)
    z = tf.random.stateless_normal((rows * cols, params.gan.latent_dim), seed=[params.seed, -1])
    return z, tf.constant(labels, tf.int32)


def params_fingerprint(params: TrainingParams) -> str:
    """A checkpoint may only resume the run whose params made it."""
    text = json.dumps(dataclasses.asdict(params), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Progress:
    """One line every `every` steps: step, losses, D(x), D(G(z)), images/s and ETA."""

    def __init__(self, name: str, total: int, batch_size: int, every: int, write: Callable[[str], None]):
        self.name, self.total, self.batch_size, self.every, self.write = name, total, batch_size, every, write
        self.window_start = time.perf_counter()

    def update(self, step: int, row: dict) -> None:
        if step % self.every and step != self.total:
            return
        now = time.perf_counter()
        steps_done = self.every if step % self.every == 0 else step % self.every
        seconds_per_step = (now - self.window_start) / steps_done
        self.window_start = now
        eta = int(seconds_per_step * (self.total - step))
        self.write(
            f"[{self.name}] step {step:>6}/{self.total} | d_loss {row['d_loss']:.3f} g_loss {row['g_loss']:.3f} "
            f"| D(x) {row['d_real']:.2f} D(G(z)) {row['d_fake']:.2f} "
            f"| {self.batch_size / seconds_per_step:6.0f} img/s | ETA {eta // 60}m{eta % 60:02d}s"
        )


class TensorBoardLog:
    """With `train.tensorboard: true`: the progress line's numbers as scalars, and each snapshot grid
    as an image, in TensorBoard's event files (`tensorboard --logdir tensorboard`)."""

    def __init__(self, directory: Path, every: int):
        self.writer = tf.summary.create_file_writer(str(directory))
        self.every = every

    def scalars(self, step: int, row: dict) -> None:
        if step % self.every == 0:
            with self.writer.as_default(step=step):
                for key in LOSS_COLUMNS[1:]:
                    tf.summary.scalar(key, row[key])
                tf.summary.scalar("images_per_second", row["images_per_second"])

    def image(self, step: int, grid: np.ndarray) -> None:
        with self.writer.as_default(step=step):
            tf.summary.image("samples", grid[None, :, :, None])
        self.writer.flush()


# --- checkpoints ---------------------------------------------------------------------------------

def training_state(gan: GAN) -> list:
    """Every variable a resumed run needs: weights, batch-norm statistics, dropout RNG states and
    both optimizers' moments and step counters (a tf.train.Checkpoint would miss the RNG states)."""
    return [*gan.generator.variables, *gan.discriminator.variables, *gan.g_optimizer.variables, *gan.d_optimizer.variables]


@dataclass
class Resumable:
    """What a run has made so far besides the networks: the loss rows, the GIF frames, the quality
    samples and the training seconds (quality sampling excluded) they took, over every session."""

    step: int = 0
    history: list[dict] = dataclasses.field(default_factory=list)
    frames: list[np.ndarray] = dataclasses.field(default_factory=list)
    quality: QualitySamples = dataclasses.field(default_factory=QualitySamples)
    train_seconds: float = 0.0


def save_checkpoint(gan: GAN, directory: Path, made: Resumable, fingerprint: str) -> None:
    """Write the whole training state to a fresh folder, then swap it in: a crash at any point leaves
    the old or the new one (`model_io.swap_in`)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    np.savez(tmp / "state.npz", *[v.numpy() for v in training_state(gan)])
    np.save(tmp / "frames.npy", np.stack(made.frames) if made.frames else np.zeros((0, 1, 1), np.uint8))
    made.quality.save(tmp / QUALITY_SAMPLES_FILE, compress=False)  # uncompressed: a checkpoint is written often
    (tmp / "progress.json").write_text(json.dumps({"step": made.step, "fingerprint": fingerprint,
                                                   "train_seconds": made.train_seconds,
                                                   "quality_seconds": made.quality.seconds, "history": made.history}))
    swap_in(tmp, directory)


def restore_checkpoint(gan: GAN, directory: Path, fingerprint: str) -> Resumable:
    """Resume from `directory` (or the one a crashed swap left) if it holds a checkpoint of this
    very run; discard one of other params; refuse, in one line, one that cannot be read."""
    found = surviving(directory)
    if found is None or not (found / "progress.json").is_file():
        return Resumable()
    variables = training_state(gan)
    try:
        progress = json.loads((found / "progress.json").read_text())
        if progress["fingerprint"] != fingerprint:
            remove_swapped(directory)
            return Resumable()
        with np.load(found / "state.npz") as state:  # every array read and checked before any is assigned
            values = [state[f"arr_{i}"] for i in range(len(state.files))]
        made = Resumable(int(progress["step"]), list(progress["history"]), list(np.load(found / "frames.npy")),
                         QualitySamples.load(found / QUALITY_SAMPLES_FILE, progress["quality_seconds"]),
                         float(progress["train_seconds"]))
        shapes = [tuple(v.shape) for v in variables]
        if [a.shape for a in values] != shapes:
            raise ValueError(f"{len(values)} arrays that do not match the {len(shapes)} variables of these params")
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise GanLabError(
            f"{found}: unreadable checkpoint ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
            f"remove {directory} to start the run over"
        ) from None
    for variable, value in zip(variables, values):
        variable.assign(value)
    return made


# --- the loop ------------------------------------------------------------------------------------

def _render(gan: GAN, z: tf.Tensor, labels: tf.Tensor, cols: int) -> np.ndarray:
    with gan.averaged_generator():
        return image_grid(gan.generate(z, labels, training=False).numpy(), cols)


def train(params: TrainingParams, data: Mnist, out: OutputPaths, write: Callable[[str], None] = print) -> dict:
    """Train one GAN for `steps` steps, resuming from a checkpoint if one exists; write all outputs."""
    cfg, loop = params.gan, params.loop
    run = Run.start(params)
    gan = run.gan
    fingerprint = params_fingerprint(params)
    made = restore_checkpoint(gan, out.checkpoints, fingerprint)
    start, history, frames = made.step, made.history, made.frames
    if start:
        write(f"[{params.name}] resuming from checkpoint at step {start}")
    if loop.precision != gan.precision:
        write(f"[{params.name}] train.precision={loop.precision}: {gan.precision} on this machine")
    z, labels = fixed_inputs(params)
    quality_z, quality_labels = quality_inputs(params)
    real_spread = pixel_spread(data.x_train[: len(quality_z)])
    cols = loop.grid_size
    batches = run.batches(data, start_step=start)
    progress = Progress(params.name, cfg.steps, cfg.batch_size, loop.log_every, write)
    board = TensorBoardLog(out.tensorboard, loop.log_every) if loop.tensorboard else None

    started = time.perf_counter()
    last = started
    sampling = 0.0  # this session's seconds drawing quality samples: left out of the training seconds
    for step, batch in zip(range(start + 1, cfg.steps + 1), batches):
        logs = {k: float(v) for k, v in run.step(batch).items()}
        now = time.perf_counter()
        if not all(np.isfinite(v) for v in logs.values()):
            raise DivergenceError(
                f"{params.name}: non-finite loss at step {step} ({logs}); "
                f"last good checkpoint kept in {out.checkpoints}"
            )
        row = {"step": step, **logs, "images_per_second": cfg.batch_size / (now - last)}
        last = now
        history.append(row)
        progress.update(step, row)
        if board:
            board.scalars(step, row)
        if step % loop.snapshot_every == 0 or step == cfg.steps:
            grid = _render(gan, z, labels, cols)
            frames.append(captioned(grid, f"step {step}"))
            if board:
                board.image(step, grid)
        if step % loop.quality_every == 0 or step == cfg.steps:
            drawing = time.perf_counter()
            images = draw(gan, quality_z, quality_labels)
            made.quality.add(step, made.train_seconds + drawing - started - sampling, images)
            write(f"[{params.name}] step {step:>6}: quality samples drawn; pixel spread "
                  f"{pixel_spread(images) / real_spread:.2f} of real data's (one repeated image: 0)")
            sampling += time.perf_counter() - drawing
        if step % loop.checkpoint_every == 0 or step == cfg.steps:
            made.step = step
            saved = dataclasses.replace(made, train_seconds=made.train_seconds + time.perf_counter() - started - sampling)
            save_checkpoint(gan, out.checkpoints, saved, fingerprint)
    wall = time.perf_counter() - started

    metrics, timing = summarise(params, gan, history, wall, resumed_from=start, replicas=run.distribution.replicas)
    timing["quality_sampling_seconds"] = round(sampling, 2)  # this session's share of `wall_seconds`
    timing[QUALITY_SECONDS_KEY] = made.quality.seconds  # training seconds at each quality point, all sessions
    write_outputs(params, gan, history, frames, _render(gan, z, labels, cols), metrics, timing, out, made.quality)
    remove_swapped(out.checkpoints)
    return {**metrics, **timing}


def summarise(
    params: TrainingParams, gan: GAN, history: list[dict], wall: float, resumed_from: int, replicas: int = 1
) -> tuple[dict, dict]:
    """Final losses (mean of the last `log_every` steps) and parameter counts; timing (and the number
    of devices it was measured on) kept apart."""
    frame = pd.DataFrame(history)
    tail = frame.tail(params.loop.log_every)
    metrics = {
        "steps": int(frame["step"].iloc[-1]),
        "generator": params.gan.generator,
        "discriminator": params.gan.discriminator,
        "conditional": params.gan.conditional,
        "generator_parameters": int(gan.generator.count_params()),
        "discriminator_parameters": int(gan.discriminator.count_params()),
        **{f"final_{k}": round(float(tail[k].mean()), 6) for k in ("d_loss", "g_loss", "d_real", "d_fake")},
    }
    timed = frame[frame["step"] > resumed_from + 1]["images_per_second"]  # skip the tracing step
    timing = {
        "wall_seconds": round(wall, 2),
        "steps_timed": int(len(timed)),
        "images_per_second": round(float(timed.median()), 1) if len(timed) else None,
        "resumed_from_step": resumed_from,
        "replicas": replicas,
        "dtype_policy": gan.precision,  # what train.precision meant here: `auto` differs between machines
    }
    return metrics, timing


def write_outputs(
    params: TrainingParams,
    gan: GAN,
    history: list[dict],
    frames: list[np.ndarray],
    final_grid: np.ndarray,
    metrics: dict,
    timing: dict,
    out: OutputPaths,
    quality: QualitySamples,
) -> None:
    """Write every declared output into a staging folder, then move them into place together."""
    staging = Path(tempfile.mkdtemp(prefix=".staging.", dir=out.reports.parent.parent))
    try:
        models, reports = staging / "models", staging / "reports"
        models.mkdir()
        reports.mkdir()
        with gan.averaged_generator():  # what the samples showed: the weights' average, if kept (g_ema)
            save_model(gan.generator, models / GENERATOR_FILE)
        save_model(gan.discriminator, models / "discriminator.keras")
        frame = pd.DataFrame(history)
        for name, columns in (("losses.csv", LOSS_COLUMNS), ("throughput.csv", THROUGHPUT_COLUMNS)):
            frame[columns].to_csv(reports / name, index=False, float_format="%.6g", lineterminator="\n")
        save_gif(frames, reports / "progress.gif")
        quality.save(reports / QUALITY_SAMPLES_FILE)
        save_png(final_grid, reports / "samples.png")
        title = f"{params.name}: {params.gan.generator} generator vs {params.gan.discriminator} discriminator"
        save_loss_plot(frame, reports / "losses.png", title)
        write_json(reports / "metrics.json", metrics)
        write_json(reports / "timing.json", timing)
        write_json(reports / "speed.json", {params.name: {key: timing[key] for key in SPEED_KEYS}})
        for src, dst in ((models, out.models), (reports, out.reports)):
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.exists():
                shutil.rmtree(dst)
            src.rename(dst)
    except OSError as exc:  # e.g. a full disk: one line, no partial outputs, the final checkpoint kept
        raise GanLabError(
            f"{params.name}: could not write outputs ({exc.strerror or exc}); none were written; "
            f"the trained state is kept in {out.checkpoints}: run the stage again to write them"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
