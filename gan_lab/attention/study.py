"""The lab's self-attention study: a short French sentence, its attention before and after training.

The input is the lab's: `le chat est sur le tapis` as token ids padded with `<pad>` to seq_len, in
a batch of two (the second sample is the same words in another real order), then embedded:
(2, seq_len, embed_dim) in, (2, seq_len, embed_dim) out.

Each (embed_dim, num_heads) setting gives two variants of maps from one seeded model:
- "random": the untrained embeddings and projections. As in the lab's figures the maps are
  near-uniform: nothing has told the heads what to look at.
- "trained": the same model after `train_steps` full-batch Adam steps on a tiny denoising task:
  give back every real token of a sentence in which one word may be hidden behind `<mask>`. The
  model has no residual path, so a token's identity reaches the output only through attention,
  and a hidden word only from the others; the maps show what that taught the heads.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from gan_lab.attention.layer import MultiHeadSelfAttention
from gan_lab.config import AttentionConfig

SENTENCE = ("le", "chat", "est", "sur", "le", "tapis")
SECOND_SENTENCE = ("le", "tapis", "est", "sur", "le", "chat")  # same words, another real sentence
PAD = "<pad>"
VOCABULARY = (PAD, *dict.fromkeys(SENTENCE))  # <pad>, le, chat, est, sur, tapis
PAD_ID = 0
MASK_ID = len(VOCABULARY)  # one extra embedding row for the hidden word, seen only in training
VARIANTS = ("random", "trained")
LAB_SETTING = (64, 4)  # the lab's input (2, 10, 64) with the 4 heads of its Transformer GAN

# Spread of the seeded embeddings. With Glorot projections the attention scores have a standard
# deviation of about EMBEDDING_STD**2, so 0.5 gives the lab's near-uniform random maps while
# leaving training room to sharpen them.
EMBEDDING_STD = 0.5


def encode(words: tuple[str, ...], seq_len: int) -> np.ndarray:
    """Token ids of `words`, right-padded with <pad> to `seq_len`."""
    ids = [VOCABULARY.index(word) for word in words]
    return np.array(ids + [PAD_ID] * (seq_len - len(ids)), dtype="int32")


def lab_batch(seq_len: int) -> np.ndarray:
    """The lab's input batch of token ids, shape (2, seq_len)."""
    return np.stack([encode(SENTENCE, seq_len), encode(SECOND_SENTENCE, seq_len)])


def token_labels(seq_len: int) -> list[str]:
    """Sample 0's tokens: the tick labels of every map."""
    return [VOCABULARY[i] for i in encode(SENTENCE, seq_len)]


class TokenAttentionModel(keras.Model):
    """Embedding -> multi-head self-attention -> token logits, with no residual path."""

    def __init__(self, embed_dim: int, num_heads: int, mask_padding: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_padding = mask_padding
        spread = keras.initializers.RandomNormal(stddev=EMBEDDING_STD)
        self.embedding = keras.layers.Embedding(MASK_ID + 1, embed_dim, embeddings_initializer=spread)
        self.attention = MultiHeadSelfAttention(embed_dim, num_heads)
        self.readout = keras.layers.Dense(len(VOCABULARY))

    def attend(self, tokens: Any) -> tuple[Any, Any]:
        """Embed `tokens` (B, T) and attend: output (B, T, embed_dim), weights (B, heads, T, T)."""
        mask = ops.not_equal(tokens, PAD_ID) if self.mask_padding else None
        return self.attention(self.embedding(tokens), mask=mask)

    def call(self, tokens: Any) -> Any:
        return self.readout(self.attend(tokens)[0])


def denoising_examples(seq_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs: each sentence whole and with each of its words hidden in turn. Targets: the whole
    sentence. Loss weights: 0 on padding, which has nothing to give back."""
    whole = lab_batch(seq_len)
    inputs = [whole]
    for position in range(len(SENTENCE)):
        hidden = whole.copy()
        hidden[:, position] = MASK_ID
        inputs.append(hidden)
    targets = np.tile(whole, (len(inputs), 1))
    return np.concatenate(inputs), targets, (targets != PAD_ID).astype("float32")


def train(model: TokenAttentionModel, seq_len: int, steps: int, learning_rate: float) -> float:
    """Full-batch Adam on the denoising examples; returns the last step's loss.

    The whole loop is one TensorFlow graph: the model is so small that a Python round trip per
    step (as `fit` makes) would cost more than the maths.
    """
    inputs, targets, loss_weights = denoising_examples(seq_len)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(learning_rate)
    model(inputs)  # create the variables before the graph is traced
    variables = model.trainable_variables
    optimizer.build(variables)

    @tf.function
    def run_steps() -> tf.Tensor:
        loss = tf.constant(0.0)
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                loss = loss_fn(targets, model(inputs), sample_weight=loss_weights)
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return float(run_steps())


@dataclass(frozen=True)
class AttentionMaps:
    """One setting's attention on the lab batch, for one variant."""

    variant: str
    embed_dim: int
    num_heads: int
    output: np.ndarray  # (2, seq_len, embed_dim)
    weights: np.ndarray  # (2, num_heads, seq_len, seq_len)
    loss: float | None = None  # denoising loss after training; None for the random variant

    @property
    def name(self) -> str:
        return setting_name(self.embed_dim, self.num_heads)


def setting_name(embed_dim: int, num_heads: int) -> str:
    return f"embed{embed_dim}_heads{num_heads}"


def study_setting(
    embed_dim: int, num_heads: int, config: AttentionConfig, seed: int
) -> dict[str, AttentionMaps]:
    """The maps of a freshly seeded model ("random"), then of the same model trained ("trained").

    Seeding each setting makes its numbers independent of which other settings are swept.
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()  # same params, same bytes
    model = TokenAttentionModel(embed_dim, num_heads, config.mask_padding)
    tokens = lab_batch(config.seq_len)

    def maps(variant: str, loss: float | None = None) -> AttentionMaps:
        output, weights = model.attend(tokens)
        return AttentionMaps(variant, embed_dim, num_heads, np.asarray(output), np.asarray(weights), loss)

    random_maps = maps("random")
    loss = train(model, config.seq_len, config.train_steps, config.learning_rate)
    return {"random": random_maps, "trained": maps("trained", loss)}


def study(config: AttentionConfig, seed: int) -> dict[tuple[int, int], dict[str, AttentionMaps]]:
    """Every embed_dim x num_heads setting of the sweep, row by row, plus the lab's setting."""
    settings = [(embed_dim, heads) for embed_dim in config.embed_dims for heads in config.num_heads]
    if LAB_SETTING not in settings:
        settings.append(LAB_SETTING)
    return {setting: study_setting(*setting, config, seed) for setting in settings}


def row_entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy in nats of each attention row: 0 when one key takes all, ln(keys) when uniform."""
    return -np.sum(weights * np.log(np.where(weights > 0, weights, 1.0)), axis=-1)


def uniform_entropy(config: AttentionConfig) -> float:
    """The row entropy of a perfectly uniform map over the keys a query may see."""
    return math.log(len(SENTENCE) if config.mask_padding else config.seq_len)


def summarise(maps: AttentionMaps) -> dict[str, float]:
    """Numbers for `dvc metrics`, over sample 0's real-token query rows (a padding query stands
    for no word) and every head: the largest weight, the mean row entropy, and the mean weight
    a row gives to <pad> keys; for the trained variant also the final loss."""
    words = len(SENTENCE)
    rows = maps.weights[0, :, :words, :]  # (heads, real queries, keys)
    summary = {
        "max_weight": round(float(rows.max()), 4),
        "mean_entropy": round(float(row_entropy(rows).mean()), 4),
        "padding_weight": round(float(rows[..., words:].sum(axis=-1).mean()), 4),
    }
    if maps.loss is not None:
        summary["loss"] = float(f"{maps.loss:.3g}")  # tiny once trained: keep 3 significant digits
    return summary


def headline(metrics: dict) -> dict:
    """The attention study's DVC metrics, out of `metrics` (uniform_entropy, then per variant and
    setting what `summarise` gives): the lab setting's (LAB_SETTING) entropies, random and trained,
    against a uniform row's, and its trained maps' largest weight and weight on padding, so that
    `dvc exp show` compares runs without the per-setting table (metrics.json, which the report reads)."""
    random, trained = (metrics[variant][setting_name(*LAB_SETTING)] for variant in VARIANTS)
    return {
        "uniform_entropy": metrics["uniform_entropy"],
        "random_entropy": random["mean_entropy"],
        "trained_entropy": trained["mean_entropy"],
        "trained_max_weight": trained["max_weight"],
        "trained_padding_weight": trained["padding_weight"],
    }


def top_keys(maps: AttentionMaps, seq_len: int) -> dict[str, str]:
    """For each real token of sample 0, the key it attends to most, heads averaged: where the
    token looks overall. Tokens are written word@position, since `le` occurs twice."""
    labels = token_labels(seq_len)
    head_mean = maps.weights[0, :, : len(SENTENCE), :].mean(axis=0)
    return {
        f"{labels[query]}@{query}": f"{labels[key]}@{key} ({head_mean[query, key]:.2f})"
        for query, key in enumerate(head_mean.argmax(axis=-1))
    }
