"""Training speed, measured side by side: the lab's loop vs the tf.function idiom vs this project's step.

    python bench/train_speed.py [--quick] [--out bench/results/train_speed.json]

Recipes are timed interleaved (A B C A B C ...) so that a machine that slows down or speeds up
during the run affects them alike; the table reports the median seconds per step with min/max.
(a) and (b) run the lab's networks as the handout builds them (bench/lab_networks.py), with stock
Keras layers; (b+) is (b) with this project's implementation of the generator's last layer
(`OneChannelConvTranspose`, same maths), as is (c), so that (b) -> (b+) is the layer's gain and
(b+) -> (c) the train step's.
GFLOP/step counts the convolutions and matrix products a compiled step really runs (the graph
pruned to what updates the weights, TensorFlow's own per-op FLOP formulas); GFLOP/s divides it by
the step's time, and "of peak" by a float32 matmul's GFLOP/s on this machine (a bfloat16 row's by
a bfloat16 matmul's). The `mixed_bfloat16` rows run the same step under `train.precision:
mixed_bfloat16`; whether that is faster depends on the CPU (its bfloat16 flags head the table).
Not part of the test suite: it takes minutes.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.lab_networks import LATENT, handout_discriminator, handout_gan, handout_generator  # noqa: E402
from gan_lab.config import load_training  # noqa: E402
from gan_lab.data import load_prepared, to_tanh_range  # noqa: E402
from gan_lab.report.machine import cpu_model  # noqa: E402
from gan_lab.training.gan import GAN  # noqa: E402
from gan_lab.training.loop import build_gan  # noqa: E402
from gan_lab.training.precision import BFLOAT16, cpu_flags, dtype_policy  # noqa: E402
from tensorflow.python.framework import ops as tf_ops  # noqa: E402  (FLOP statistics of graph ops)

BATCH = 128

class Step:
    """One training step to time; `graph` is its compiled function's graph where there is one."""

    def __init__(self, run: Callable[[], object], graph: tf.Graph | None = None):
        self.run, self.graph = run, graph

    def __call__(self) -> None:
        self.run()


def lab_networks(project_layers: bool = False) -> tuple[keras.Model, keras.Model]:
    return handout_generator(project_layers), handout_discriminator()


def lab_loop(real: np.ndarray) -> Step:
    """(a) The handout's loop: predict, two discriminator.train_on_batch, gan.train_on_batch.

    With the freeze fixed: the discriminator's train function is built (by a first call) while it
    is trainable, and only then frozen for the stacked model, so both networks really train.
    """
    g, d = lab_networks()
    d.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), loss="binary_crossentropy")
    ones, zeros = np.ones((BATCH, 1), "float32"), np.zeros((BATCH, 1), "float32")
    d.train_on_batch(real, ones)
    d.trainable = False
    gan = keras.Sequential([g, d])
    gan.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5), loss="binary_crossentropy")

    def step() -> None:
        noise = np.random.normal(size=(BATCH, LATENT)).astype("float32")
        fake = g.predict(noise, verbose=0)
        d.train_on_batch(real, ones)
        d.train_on_batch(fake, zeros)
        gan.train_on_batch(noise, ones)

    return Step(step)


def two_tape_step(real: np.ndarray, project_layers: bool = False) -> Step:
    """(b) The TensorFlow DCGAN tutorial's idiom: one tf.function, two tapes, D called twice."""
    g, d = lab_networks(project_layers)
    g_opt, d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)
    bce = keras.losses.BinaryCrossentropy()
    images = tf.constant(real)

    @tf.function
    def step() -> None:
        noise = tf.random.normal((BATCH, LATENT))
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = g(noise, training=True)
            real_out, fake_out = d(images, training=True), d(fake, training=True)
            g_loss = bce(tf.ones_like(fake_out), fake_out)
            d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g.trainable_variables), g.trainable_variables))
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d.trainable_variables), d.trainable_variables))

    return Step(step, step.get_concrete_function().graph)


def project_step(gan: GAN, real: np.ndarray) -> Step:
    """(c) This project's GAN.train_step, compiled once, as stages/train.py runs it."""
    batch = (tf.constant(real), tf.zeros((BATCH,), tf.int32))
    compiled = tf.function(gan.train_step)
    return Step(lambda: compiled(batch), compiled.get_concrete_function(batch).graph)


def lab_networks_in_project_step(real: np.ndarray, precision: str = "float32") -> Step:
    with dtype_policy(precision):
        return project_step(handout_gan(), real)


def matmul_gflops(dtype: tf.DType, n: int = 2048, repeats: int = 10) -> float:
    a = tf.random.normal((n, n), dtype=tf.float32)
    a = tf.cast(a, dtype)
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        matmul(a).numpy()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def step_gflop(graph: tf.Graph) -> float:
    """Floating-point operations of one step: the ops the weight updates depend on (gradients a tape
    built but nothing uses are pruned, as TensorFlow prunes them at run time), by TensorFlow's own
    FLOP formulas; in practice convolutions and matrix products."""
    targets = [op.name for op in graph.control_outputs] + [t.op.name for t in graph.outputs]
    needed = {node.name for node in tf.compat.v1.graph_util.extract_sub_graph(graph.as_graph_def(), targets).node}
    flops = collections.Counter()
    for op in graph.get_operations():
        if op.name in needed:
            try:
                flops[op.type] += tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value or 0
            except (ValueError, KeyError):  # ops with no FLOP formula (data movement, optimizer slots)
                pass
    return sum(flops.values()) / 1e9


def timed(step: Step, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if tf.executing_eagerly():
        tf.constant(0).numpy()  # settle pending work
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (under 2 minutes)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/train_speed.json"))
    args = parser.parse_args()
    rounds, steps = (3, 5) if args.quick else (5, 20)

    keras.utils.set_random_seed(0)
    real = to_tanh_range(load_prepared(Path("data/prepared")).x_train[:BATCH]).numpy()
    recipes: dict[str, Step] = {
        "(a) lab loop, freeze fixed": lab_loop(real),
        "(b) two-tape tf.function": two_tape_step(real),
        "(b+) two-tape, project layers": two_tape_step(real, project_layers=True),
        "(c) project step, lab CNN networks": lab_networks_in_project_step(real),
        f"(c) project step, lab CNN networks, {BFLOAT16}": lab_networks_in_project_step(real, BFLOAT16),
    }
    for section in ("cnn", "transformer", "combined"):
        try:
            params = load_training(section)
        except Exception as exc:  # a section a checkout does not have yet is skipped, not fatal
            print(f"skipping {section}: {exc}")
            continue
        recipes[f"(c) project step, {section} defaults"] = project_step(build_gan(params), real)
        in_bfloat16 = dataclasses.replace(params, loop=dataclasses.replace(params.loop, precision=BFLOAT16))
        recipes[f"(c) project step, {section} defaults, {BFLOAT16}"] = project_step(build_gan(in_bfloat16), real)

    for step in recipes.values():  # trace and warm up
        timed(step, 2)
    samples: dict[str, list[float]] = {name: [] for name in recipes}
    for r in range(rounds):
        for name, step in recipes.items():
            samples[name].append(timed(step, steps))
        print(f"round {r + 1}/{rounds} done", flush=True)

    ceiling = {"float32": matmul_gflops(tf.float32), "bfloat16": matmul_gflops(tf.bfloat16)}
    base = statistics.median(samples["(a) lab loop, freeze fixed"])
    tape = statistics.median(samples["(b) two-tape tf.function"])
    rows = []
    flags = cpu_flags()
    print(f"\n{cpu_model()}, bfloat16 flags: {', '.join(flags) or 'none'}; "
          f"batch {BATCH}, {rounds} rounds x {steps} steps, interleaved\n")
    print("| recipe | s/step (median) | min | max | images/s | vs (a) | vs (b) | GFLOP/step | GFLOP/s | of peak |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, values in samples.items():
        med = statistics.median(values)
        gflop = step_gflop(recipes[name].graph) if recipes[name].graph else None
        row = {"recipe": name, "s_per_step": med, "min": min(values), "max": max(values), "images_per_second": BATCH / med,
               "speedup_vs_lab_loop": base / med, "speedup_vs_two_tape": tape / med, "gflop_per_step": gflop,
               "gflop_per_second": gflop / med if gflop else None}
        rows.append(row)
        peak = ceiling["bfloat16" if name.endswith(BFLOAT16) else "float32"]
        work = f"{gflop:.1f} | {gflop / med:.0f} | {gflop / med / peak:.0%}" if gflop else "n/a | n/a | n/a"
        print(f"| {name} | {med:.3f} | {min(values):.3f} | {max(values):.3f} | {BATCH / med:.0f} | {base / med:.2f}x "
              f"| {tape / med:.2f}x | {work} |")
    print(f"\nmatmul peak (2048 x 2048): float32 {ceiling['float32']:.0f} GFLOP/s, "
          f"bfloat16 {ceiling['bfloat16']:.0f} GFLOP/s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "batch": BATCH, "rounds": rounds, "steps_per_round": steps, "quick": args.quick,
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "tensorflow": tf.__version__, "bfloat16_flags": flags},
        "recipes": rows, "matmul_gflops": ceiling,
    }, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
