"""Run by tests/test_distribute.py in a fresh interpreter (logical devices must be set up before
TensorFlow starts); prints one JSON object on stdout.

    python tests/distributed_run.py compare STEPS TMP_DIR [--conditional] [--diffaugment] [--r1 GAMMA] [--precision P]
        Split the CPU into two logical devices, train the same tiny CNN GAN on the same MNIST slice
        once on one device (train.distribute: none) and once mirrored over the two, and report both
        runs' per-step logs, the largest difference of the final weights, and checks on the plumbing.
    python tests/distributed_run.py train KIND STEPS OUT_DIR
        Train through gan_lab.training.loop.train with train.distribute: KIND (none | mirrored |
        multi_worker, which reads TF_CONFIG), writing the stage's outputs under OUT_DIR.
    python tests/distributed_run.py overflow [--keras-alone]
        mixed_float16 loss scaling over two replicas when only one replica's gradients overflow.
    python tests/distributed_run.py timing STEPS BATCH [--params-arch]
        Wall time of STEPS steps of a tiny CNN GAN (or params.yaml's) on one device and mirrored
        over two logical CPUs (the numbers in README.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conftest import tiny_cnn_params  # noqa: E402  (this script's folder is on sys.path)
from gan_lab.config import load_training  # noqa: E402  (no TensorFlow yet)
from gan_lab.data import read_mnist  # noqa: E402


def tiny_params(steps: int, batch_size: int, distribute: str, precision: str = "float32", **gan):
    """The cnn section, small, at the learning rates and β1 the tolerances in test_distribute.py were
    measured at (a larger step amplifies float rounding differences faster)."""
    params = tiny_cnn_params(precision, steps=steps, batch_size=batch_size, **{"g_lr": 2e-4, "d_lr": 2e-4, "beta1": 0.5, **gan})
    return dataclasses.replace(params, loop=dataclasses.replace(
        params.loop, distribute=distribute, log_every=2, snapshot_every=2, checkpoint_every=4, grid_size=4))


def split_cpu(devices: int = 2) -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)])


def run(params, data, distribution, steps: int) -> dict:
    """The loop of gan_lab.training.loop.train without its outputs: per-step logs and the final weights."""
    from gan_lab.training.loop import Run

    training = Run.start(params, distribution)
    gan = training.gan
    initial = [v.numpy() for v in gan.generator.weights + gan.discriminator.weights]
    logs = []
    for _, batch in zip(range(steps), training.batches(data)):
        logs.append({k: float(v) for k, v in training.step(batch).items()})
    final = [v.numpy() for v in gan.generator.weights + gan.discriminator.weights]
    optimizer_state = [v.numpy() for v in gan.g_optimizer.variables + gan.d_optimizer.variables
                       if not v.path.endswith("_average")]  # Adam's moments and counters
    with gan.averaged_generator():  # g_ema's averages are weights: compared as weights
        averaged = [v.numpy() for v in gan.generator.trainable_variables]
    return {"gan": gan, "logs": logs, "initial": initial, "final": final, "optimizer_state": optimizer_state,
            "averaged": averaged}


def replica_copies_equal(gan) -> bool:
    """Every mirrored variable (weights, batch-norm statistics, optimizer state) equal on every replica."""
    import numpy as np

    for variable in gan.generator.weights + gan.discriminator.weights + gan.g_optimizer.variables + gan.d_optimizer.variables:
        copies = [c.numpy() for c in getattr(variable.value, "values", [variable.value])]
        if not all(np.array_equal(copies[0], c) for c in copies[1:]):
            return False
    return True


def compare(args) -> dict:
    split_cpu(2)
    import numpy as np
    import tensorflow as tf

    from gan_lab.training.distribute import make_distribution
    from gan_lab.training.loop import Resumable, restore_checkpoint, save_checkpoint

    mnist = read_mnist(ROOT / "data" / "mnist")
    data = type(mnist)(mnist.x_train[:512], mnist.y_train[:512], mnist.x_test[:8], mnist.y_test[:8])
    gan_changes = {"conditional": args.conditional, "diffaugment": args.diffaugment, "r1_gamma": args.r1,
                   "precision": args.precision}
    runs = {}
    for kind in ("none", "mirrored"):
        params = tiny_params(args.steps, 16, kind, **gan_changes)
        distribution = make_distribution(kind)
        runs[kind] = run(params, data, distribution, args.steps) | {"distribution": distribution}
    one, two = runs["none"], runs["mirrored"]
    mirrored = two["distribution"]

    # Which rows of the global batch each replica received.
    first_batch = next(iter(mirrored.dataset(tf.data.Dataset.range(8).batch(8))))
    slices = [t.numpy().tolist() for t in mirrored.strategy.experimental_local_results(first_batch)]

    # A checkpoint written from the mirrored GAN restores into a fresh mirrored GAN, on every replica.
    checkpoint = Path(args.tmp) / "checkpoint"
    save_checkpoint(two["gan"], checkpoint, Resumable(step=args.steps), "fingerprint")
    fresh = run(tiny_params(args.steps, 16, "mirrored", **gan_changes), data, mirrored, 0)["gan"]
    restore_checkpoint(fresh, checkpoint, "fingerprint")
    restored = all(np.array_equal(a.numpy(), b) for a, b in zip(fresh.generator.weights + fresh.discriminator.weights, two["final"]))

    return {
        "replicas": mirrored.replicas,
        "devices": list(mirrored.strategy.extended.worker_devices),
        "slices": slices,
        "same_initial_weights": all(np.array_equal(a, b) for a, b in zip(one["initial"], two["initial"])),
        "synchronized_bn": [l.name for l in two["gan"].generator.layers if getattr(l, "synchronized", False)],
        "replica_copies_equal": replica_copies_equal(two["gan"]),
        "restored_on_every_replica": restored and replica_copies_equal(fresh),
        "none": one["logs"],
        "mirrored": two["logs"],
        "max_final_weight_difference": max(float(np.max(np.abs(a - b))) for a, b in zip(one["final"], two["final"])),
        "max_averaged_weight_difference": max(float(np.max(np.abs(a - b))) for a, b in zip(one["averaged"], two["averaged"])),
        # Adam's moments are proportional to the gradients (its update is nearly scale-free): a wrong
        # per-replica loss weight shows here, relative to each variable's largest entry.
        "max_optimizer_state_relative_difference": max(
            float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a))), 1e-30))
            for a, b in zip(one["optimizer_state"], two["optimizer_state"])
        ),
    }


def train_stage(args) -> dict:
    """gan_lab.training.loop.train itself, with `train.distribute` = args.kind, on a small MNIST slice."""
    from gan_lab.training.loop import OutputPaths, train

    mnist = read_mnist(ROOT / "data" / "mnist")
    data = type(mnist)(mnist.x_train[:256], mnist.y_train[:256], mnist.x_test[:8], mnist.y_test[:8])
    params = tiny_params(args.steps, 8, args.kind)
    out = OutputPaths.for_stage("cnn", Path(args.out))
    result = train(params, data, out, write=lambda line: None)  # makes the strategy before other TF work
    return {"result": result, "models": sorted(p.name for p in out.models.iterdir())}


def overflow(args) -> dict:
    """Loss scaling over two replicas when only the second replica's gradient overflows: with
    GAN.gradients, or (args.keras_alone) with the bare tape gradient as Keras' own docs do it."""
    split_cpu(2)
    import keras
    import tensorflow as tf

    from gan_lab.training.distribute import make_distribution
    from gan_lab.training.gan import GAN

    strategy = make_distribution("mirrored").strategy
    with strategy.scope():
        weights = keras.Variable(tf.ones((2,)))
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(0.1))
        optimizer.build([weights])

    @tf.function
    def step():
        def on_replica():
            second = tf.distribute.get_replica_context().replica_id_in_sync_group > 0
            inputs = tf.where(second, tf.constant([float("inf"), 1.0]), tf.constant([1.0, 1.0]))
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(weights * inputs)
                scaled_loss = optimizer.scale_loss(loss)
            if args.keras_alone:
                gradients = tape.gradient(scaled_loss, [weights])
            else:
                gradients = GAN.gradients(tape, loss, [weights], optimizer, GAN.gradient_scale(optimizer))
            optimizer.apply(gradients, [weights])

        strategy.run(on_replica)

    step()
    copies = [c.numpy().tolist() for c in weights.value.values]
    return {"copies": copies, "scale": float(optimizer.dynamic_scale.numpy()), "iterations": int(optimizer.iterations.numpy())}


def timing(args) -> dict:
    split_cpu(2)
    from gan_lab.training.distribute import make_distribution

    mnist = read_mnist(ROOT / "data" / "mnist")
    data = type(mnist)(mnist.x_train[:4096], mnist.y_train[:4096], mnist.x_test[:8], mnist.y_test[:8])
    seconds = {}
    for kind in ("none", "mirrored"):
        params = tiny_params(args.steps, args.batch, kind)
        if args.params_arch:  # the cnn section's own architecture and latent size, not the tiny one
            default = load_training("cnn", ROOT / "params.yaml").gan
            params = dataclasses.replace(params, gan=dataclasses.replace(params.gan, arch=default.arch, latent_dim=default.latent_dim))
        distribution = make_distribution(kind)
        from gan_lab.data import training_batches
        from gan_lab.training.loop import build_gan, make_deterministic

        make_deterministic(params.seed)
        gan = build_gan(params, distribution)
        step_fn = distribution.compile(gan.train_step)
        batches = iter(distribution.dataset(training_batches(data.x_train, data.y_train, args.batch, params.seed)))
        float(step_fn(next(batches))["d_loss"])  # trace outside the clock
        started = time.perf_counter()
        for _ in range(args.steps):
            logs = step_fn(next(batches))
        float(logs["d_loss"])
        seconds[kind] = round(time.perf_counter() - started, 2)
    return {"steps": args.steps, "batch_size": args.batch, "params_arch": args.params_arch, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("compare")
    c.add_argument("steps", type=int)
    c.add_argument("tmp")
    c.add_argument("--conditional", action="store_true")
    c.add_argument("--diffaugment", action="store_true")
    c.add_argument("--r1", type=float, default=0.0)
    c.add_argument("--precision", default="float32")
    m = sub.add_parser("train")
    m.add_argument("kind")
    m.add_argument("steps", type=int)
    m.add_argument("out")
    o = sub.add_parser("overflow")
    o.add_argument("--keras-alone", action="store_true")
    t = sub.add_parser("timing")
    t.add_argument("steps", type=int)
    t.add_argument("batch", type=int)
    t.add_argument("--params-arch", action="store_true", help="params.yaml's cnn architecture instead of the tiny one")
    args = parser.parse_args()
    result = {"compare": compare, "train": train_stage, "overflow": overflow, "timing": timing}[args.mode](args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
