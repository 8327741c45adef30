"""How much of each Transformer network is attention: its parameters and forward FLOPs in the blocks.

    python bench/attention_share.py [--sections transformer combined] [--set transformer.depth=3 ...]

For each network of a family `transformer` in a section's params, counts the parameters of the
Transformer blocks (`block<i>`: self-attention, its LayerNorms and MLP) and, separately, of the
self-attention layers alone, and the same split of one forward pass's floating-point operations
(TensorFlow's per-op FLOP formulas on the traced graph, batch 1). docs/models.md quotes its table.
Seconds to run; not part of the test suite.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework import ops as tf_ops  # noqa: E402  (FLOP statistics of graph ops)

from gan_lab.config import TRAINING_SECTIONS  # noqa: E402
from gan_lab.overrides import load_training_with_overrides  # noqa: E402
from gan_lab.training.loop import build_gan  # noqa: E402


def parameter_split(model: keras.Model) -> dict[str, int]:
    """All parameters, those in Transformer blocks, and those in the blocks' self-attention."""
    blocks = [layer for layer in model.layers if layer.name.startswith("block")]
    return {
        "all": model.count_params(),
        "blocks": sum(block.count_params() for block in blocks),
        "attention": sum(block.attention.count_params() for block in blocks),
    }


def flop_split(model: keras.Model) -> dict[str, float]:
    """Forward FLOPs of one sample (MFLOP): all, in Transformer blocks, in their self-attention."""
    spec = [tf.TensorSpec((1, *shape[1:]), dtype) for shape, dtype in
            zip([i.shape for i in model.inputs], [i.dtype for i in model.inputs])]
    graph = tf.function(lambda *x: model(list(x) if len(x) > 1 else x[0], training=False)).get_concrete_function(*spec).graph
    flops: collections.Counter = collections.Counter()
    for op in graph.get_operations():
        try:
            value = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value or 0
        except (ValueError, KeyError):  # ops with no FLOP formula (data movement)
            continue
        flops["all"] += value
        if re.search(r"/block\d+(_\d+)?/", op.name):  # Keras names scopes block0, or block0_1 when retraced
            flops["blocks"] += value
            if re.search(r"/attention(_\d+)?/", op.name):
                flops["attention"] += value
    return {key: flops[key] / 1e6 for key in ("all", "blocks", "attention")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="*", default=["transformer", "combined"], choices=TRAINING_SECTIONS)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    args = parser.parse_args()
    print("| section | network | parameters | in blocks | in attention | forward MFLOP | in blocks | in attention |")
    print("|---|---|---|---|---|---|---|---|")
    for section in args.sections:
        params = load_training_with_overrides(section, Path("params.yaml"),
                                              [s for s in args.set if s.split(".")[0] in ("seed", "train", section)])
        gan = build_gan(params)
        for role, model in (("generator", gan.generator), ("discriminator", gan.discriminator)):
            if getattr(params.gan, role) != "transformer":
                continue
            p, f = parameter_split(model), flop_split(model)
            print(f"| {section} | {role} | {p['all']:,} | {p['blocks'] / p['all']:.0%} | {p['attention'] / p['all']:.0%} "
                  f"| {f['all']:.2f} | {f['blocks'] / f['all']:.0%} | {f['attention'] / f['all']:.0%} |")


if __name__ == "__main__":
    main()
