"""Where one training step's time goes: TensorFlow's profiler on a few compiled steps, per op and per layer.

    python bench/profile_step.py [--recipe c] [--steps 10] [--top 20]

Recipes are bench/train_speed.py's compiled ones, at batch 128: `b` (the tutorial's two-tape step on
the handout's networks, stock Keras layers), `b+` (the same with this project's last generator
layer), `c` (this project's step on those networks), or a params section (`cnn`, `transformer`,
`combined`: that stage's defaults). Prints the ops that took longest (milliseconds per step, summed over TensorFlow's threads, which
overlap, so the column adds up to more than the wall time) and the same time summed per layer and
pass. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402  (the profiler's trace format)

from bench.train_speed import BATCH, Step, lab_networks_in_project_step, project_step, two_tape_step  # noqa: E402
from gan_lab.config import TRAINING_SECTIONS, load_training  # noqa: E402
from gan_lab.data import load_prepared, to_tanh_range  # noqa: E402
from gan_lab.training.loop import build_gan  # noqa: E402

RECIPES = ["b", "b+", "c", *TRAINING_SECTIONS]


def make_step(recipe: str, real) -> Step:
    if recipe in TRAINING_SECTIONS:
        return project_step(build_gan(load_training(recipe)), real)
    return {"b": lambda: two_tape_step(real), "b+": lambda: two_tape_step(real, project_layers=True),
            "c": lambda: lab_networks_in_project_step(real)}[recipe]()


def op_times(trace_dir: Path) -> collections.Counter:
    """Total microseconds per op name over every TensorFlow thread of the trace."""
    total: collections.Counter = collections.Counter()
    for path in trace_dir.rglob("*.xplane.pb"):
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())
        for plane in space.planes:
            for line in plane.lines:
                if not line.name.startswith("tf_Compute"):
                    continue
                for event in line.events:
                    name = plane.event_metadata[event.metadata_id].name
                    if re.fullmatch(r"[^:]+:[^:]+", name):  # "scope/op:OpType", not "ExecutorState::Process"
                        total[name] += event.duration_ps / 1e6
    return total


def layer_of(op: str) -> str:
    """'gradient_tape/cnn_generator_1/up1_1/conv_transpose/...:Type' -> 'cnn_generator/up1 backward'."""
    scope = op.split(":")[0].split("/")
    if len(scope) == 1:  # e.g. the gradient ops of a tf.custom_gradient, created outside any layer
        return f"{scope[0]} (no layer scope)"
    backward = scope[0] == "gradient_tape"
    parts = [re.sub(r"_\d+$", "", p) for p in scope[1 if backward else 0:][:2]]
    return "/".join(parts) + (" backward" if backward else " forward")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=RECIPES, default="c")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    real = to_tanh_range(load_prepared(Path("data/prepared")).x_train[:BATCH]).numpy()
    step = make_step(args.recipe, real)
    for _ in range(3):  # trace and warm up outside the profile
        step()
    with tempfile.TemporaryDirectory() as trace_dir:
        tf.profiler.experimental.start(trace_dir)
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        wall = (time.perf_counter() - start) / args.steps * 1000
        tf.profiler.experimental.stop()
        ops = op_times(Path(trace_dir))

    per_step = {name: us / args.steps / 1000 for name, us in ops.items()}
    busy = sum(per_step.values())
    print(f"recipe {args.recipe}: {wall:.1f} ms/step wall under the profiler; "
          f"ops {busy:.1f} ms/step summed over threads\n")
    print("| ms/step | share | op |\n|---|---|---|")
    for name, ms in sorted(per_step.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"| {ms:.1f} | {ms / busy:.0%} | `{name}` |")
    layers: collections.Counter = collections.Counter()
    for name, ms in per_step.items():
        layers[layer_of(name)] += ms
    print("\n| ms/step | share | layer and pass |\n|---|---|---|")
    for name, ms in layers.most_common(args.top):
        print(f"| {ms:.1f} | {ms / busy:.0%} | {name} |")


if __name__ == "__main__":
    main()
