"""What a GAN of given params will hold in memory, computed from the params alone, before anything is built.

`cnn.latent_dim: 1000000` is a valid integer, but its generator's first layer alone has 12.5
billion weights: Keras would spend minutes failing to allocate them. `check_fits` counts each
layer's weights from the architecture (the same formulas as gan_lab/models/; a test compares them
with the built networks' `count_params()`), multiplies by what training keeps per weight, and
refuses a section that cannot fit in this machine's memory, naming the keys of its largest layer.

Per weight, in float32: the weight, its gradient and Adam's two moments; the generator's also its
moving average when `g_ema > 0`. Activations are not counted, so a section that passes may still
run out of memory at a large batch; one that fails cannot run at all.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, NamedTuple

from gan_lab.data import IMAGE_SHAPE, NUM_CLASSES
from gan_lab.errors import ConfigError

BYTES_PER_FLOAT = 4
ADAM_SLOTS = 2  # first and second moments
IMAGE_SIDE, IMAGE_PIXELS = IMAGE_SHAPE[0], math.prod(IMAGE_SHAPE)
CNN_PROJECTION = 7 * 7 * 256  # the CNN generator's Dense, reshaped to 7x7x256
GENERATOR_TOKENS = 7 * 7  # the Transformer generator's grid
CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")


class Layer(NamedTuple):
    weights: int
    keys: tuple[str, ...]  # the params keys its size grows with


def _transformer_blocks(arch: Any, score: str = "dot", spectral_norm: bool = False) -> Layer:
    e = arch.embed_dim
    mlp = max(1, round(e * arch.mlp_ratio))
    projections = 4 if score == "dot" else 3  # q, k, v, out; l2 ties the keys to the queries
    per_block = 2 * 2 * e + projections * (e * e + e) + (e * mlp + mlp) + (mlp * e + e)  # 2 norms, attention, MLP
    if spectral_norm:  # each kernel's power-iteration vector, one number per output unit
        per_block += projections * e + mlp + e
    return Layer(arch.depth * per_block, ("depth", "embed_dim", "mlp_ratio"))


def _transformer_upsampling(arch: Any) -> list[Layer]:
    """The stride-2 transposed convolutions of `upsample_filters`, then the one-channel image layer."""
    layers, previous, batch_norm = [], arch.embed_dim, arch.upsample_norm == "batch"
    for filters in arch.upsample_filters:
        layers.append(Layer(16 * previous * filters + (4 if batch_norm else 1) * filters, ("upsample_filters",)))
        previous = filters
    kernel = 4 if len(arch.upsample_filters) == 1 else 7  # 14 -> 28 in the last layer, or a 7x7 at 28
    return [*layers, Layer(kernel * kernel * previous + 1, ("upsample_filters",))]


def _patch_embedding(arch: Any, channels: int) -> list[Layer]:
    e, p, sn = arch.embed_dim, arch.patch_size, int(arch.d_spectral_norm)  # sn: + a power-iteration vector
    if arch.patch_embedding == "conv":  # log2(p) stride-2 4x4 convolutions widening to embed_dim
        halvings, layers, previous = p.bit_length() - 1, [], channels
        for i in range(halvings):
            filters = e // 2 ** (halvings - 1 - i)
            layers.append(Layer(16 * previous * filters + (1 + sn) * filters, ("embed_dim",)))
            previous = filters
        return layers
    kernel = 2 * p if arch.patch_embedding == "overlapping" else p
    return [Layer(kernel * kernel * channels * e + (1 + sn) * e, ("embed_dim", "patch_size"))]


def generator_layers(family: str, arch: Any, latent_dim: int, conditional: bool) -> list[Layer]:
    embedding = [Layer(NUM_CLASSES * latent_dim, ("latent_dim",))] if conditional else []
    width = 2 * latent_dim if conditional else latent_dim  # z, then z and the label's embedding
    if family == "cnn":
        biased, norm = arch.g_norm == "none", 4 if arch.g_norm == "batch" else 0
        f0, f1 = arch.g_filters
        return [
            *embedding,
            Layer(width * CNN_PROJECTION + (CNN_PROJECTION if biased else norm * CNN_PROJECTION), ("latent_dim",)),
            Layer(16 * 256 * f0 + (f0 if biased else norm * f0), ("g_filters",)),
            Layer(16 * f0 * f1 + (f1 if biased else norm * f1), ("g_filters",)),
            Layer(7 * 7 * f1 + 1, ("g_filters",)),
        ]
    if family == "transformer":
        e = arch.embed_dim
        return [
            *embedding,
            Layer(width * GENERATOR_TOKENS * e + GENERATOR_TOKENS * e, ("latent_dim", "embed_dim")),
            Layer(GENERATOR_TOKENS * e + 2 * e, ("embed_dim",)),  # positions, final norm
            _transformer_blocks(arch),
            *_transformer_upsampling(arch),
        ]
    units = [width, *arch.hidden_units, IMAGE_PIXELS]
    return [*embedding, *(Layer(a * b + b, ("hidden_units",)) for a, b in zip(units, units[1:]))]


def discriminator_layers(family: str, arch: Any, conditional: bool) -> list[Layer]:
    channels = 2 if conditional else 1  # the image, and the label's plane
    embedding = [Layer(NUM_CLASSES * IMAGE_PIXELS, ())] if conditional else []
    if family == "cnn":
        layers, side, previous = [], IMAGE_SIDE, channels
        for filters in arch.d_filters:
            layers.append(Layer(16 * previous * filters + filters, ("d_filters",)))
            side, previous = math.ceil(side / 2), filters
        return [*embedding, *layers, Layer(side * side * previous + 1, ("d_filters",))]
    if family == "transformer":
        e, class_token = arch.embed_dim, int(arch.d_pooling == "class_token")
        tokens = (IMAGE_SIDE // arch.patch_size) ** 2 + class_token
        verdict_inputs = tokens * e if arch.d_pooling == "flatten" else e
        return [
            *embedding,
            *_patch_embedding(arch, channels),
            # positions, final norm, output (and its power-iteration vector), the class token
            Layer(tokens * e + 2 * e + verdict_inputs + 1 + int(arch.d_spectral_norm) + class_token * e,
                  ("embed_dim", "patch_size")),
            _transformer_blocks(arch, arch.d_attention, arch.d_spectral_norm),
        ]
    units = [IMAGE_PIXELS * channels, *reversed(arch.hidden_units), 1]
    return [*embedding, *(Layer(a * b + b, ("hidden_units",)) for a, b in zip(units, units[1:]))]


def machine_memory() -> int:
    """Bytes of memory this process may use: the physical memory, or its cgroup's limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = CGROUP_LIMIT.read_text().strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


def training_bytes(gan: Any) -> tuple[int, list[Layer]]:
    """Bytes of training state for a GanConfig, and every layer (the generator's first)."""
    g = generator_layers(gan.generator, gan.arch[gan.generator], gan.latent_dim, gan.conditional)
    d = discriminator_layers(gan.discriminator, gan.arch[gan.discriminator], gan.conditional)
    per_weight = 1 + 1 + ADAM_SLOTS  # weight, gradient, moments
    total = sum(layer.weights for layer in g) * (per_weight + (gan.g_ema > 0)) + sum(layer.weights for layer in d) * per_weight
    return total * BYTES_PER_FLOAT, g + d


def check_fits(gan: Any, section: str, memory: int | None = None) -> None:
    """Refuse a training section whose networks' training state exceeds `memory` (default: this machine's)."""
    needed, layers = training_bytes(gan)
    memory = machine_memory() if memory is None else memory
    if needed <= memory:
        return
    largest = max(layers, key=lambda layer: layer.weights)
    values = {"latent_dim": gan.latent_dim, **{k: v for arch in gan.arch.values() for k, v in vars(arch).items()}}
    named = ", ".join(f"{section}.{key}={_plain(values[key])}" for key in largest.keys)
    weights = sum(layer.weights for layer in layers)
    raise ConfigError(
        f"{named}: the networks' {weights:.3g} weights need about {needed / 1e9:.3g} GB to train "
        f"(weights, gradients, Adam and average state); this machine has {memory / 1e9:.3g} GB"
    )


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
