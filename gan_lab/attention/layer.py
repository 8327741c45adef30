"""Multi-head self-attention written out step by step, the mechanism the lab teaches.

`keras.layers.MultiHeadAttention` does the same maths (tests/test_attention.py checks it weight
for weight); this version keeps every step visible: project, split into heads, scaled dot
product, softmax, weighted sum, merge heads, project back.

`score="l2"` is ViTGAN's attention for a discriminator (Lee et al. 2021, after Kim et al. 2021):
the score of query i for key j is minus their squared distance, with one projection shared by
queries and keys. Dot-product attention is not Lipschitz (its scores grow with the square of the
input), so no weight normalisation can bound how fast such a discriminator's output changes; the
L2 form with tied projections can be bounded. `spectral_norm=True` is that bound: every projection
is divided by its largest singular value before each training call (`spectrally_normalised`).
"""
from __future__ import annotations

from typing import Any

import keras
from keras import ops

from gan_lab.config import ATTENTION_SCORES  # q.k (Vaswani et al.), or -|q - k|^2 with tied q, k (ViTGAN)
from gan_lab.errors import ConfigError

# Score given to a masked key before the softmax: exp(-1e9 - max) is exactly 0 in float32,
# so masked keys get weight 0 and each row sums to 1 over the keys it may see.
MASKED_SCORE = -1e9


def spectrally_normalised(layer: keras.layers.Layer, on: bool = True) -> keras.layers.Layer:
    """`layer`, or, if `on`, `layer` whose kernel is divided by its largest singular value before
    every training call (Miyato et al. 2018; Keras' wrapper, one power iteration per call): it can
    then stretch no input difference, which makes a discriminator Lipschitz layer by layer."""
    if not on:
        return layer
    return keras.layers.SpectralNormalization(layer, name=f"{layer.name}_sn", dtype=layer.dtype_policy)


@keras.saving.register_keras_serializable(package="gan_lab")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Self-attention over a sequence (B, T, embed_dim), returning the output and the weights.

    Each of the `num_heads` heads works on its own slice of head_dim = embed_dim // num_heads
    features, so the heads cost together what one full-width head would cost, yet each can
    attend to different tokens.
    """

    def __init__(
        self, embed_dim: int, num_heads: int, dropout: float = 0.0, score: str = "dot", spectral_norm: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if embed_dim % num_heads:
            raise ConfigError(f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
        if score not in ATTENTION_SCORES:
            raise ConfigError(f"attention score={score!r}: must be one of {', '.join(ATTENTION_SCORES)}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.score = score
        self.spectral_norm = spectral_norm

        def projection(name: str) -> keras.layers.Layer:
            return spectrally_normalised(keras.layers.Dense(embed_dim, name=name), spectral_norm)

        # One Dense per role computes all heads at once; the heads are its column blocks.
        self.query = projection("query")
        self.key = projection("key") if score == "dot" else None  # l2: tied to query
        self.value = projection("value")
        self.output_projection = projection("output_projection")
        self.weights_dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        # Built explicitly so that a model loaded from a .keras file has the variables to fill.
        for projection in (self.query, self.key, self.value, self.output_projection):
            if projection is not None:
                projection.build(input_shape)
        self.built = True

    def split_heads(self, x: Any) -> Any:
        """(B, T, embed_dim) -> (B, num_heads, T, head_dim): each head sees its own features."""
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (batch, length, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def merge_heads(self, x: Any) -> Any:
        """(B, num_heads, T, head_dim) -> (B, T, embed_dim): the heads side by side again."""
        batch, length = ops.shape(x)[0], ops.shape(x)[2]
        x = ops.transpose(x, (0, 2, 1, 3))
        return ops.reshape(x, (batch, length, self.embed_dim))

    def call(self, x: Any, mask: Any = None, training: bool | None = None) -> tuple[Any, Any]:
        """Attend from every token to every allowed token.

        mask: None; (B, T) booleans, True for a real token (padding keys are hidden from every
        query); or (B, T, T) booleans, True where query i may see key j.
        Returns output (B, T, embed_dim) and weights (B, num_heads, T, T) before dropout.
        """
        query = self.split_heads(self.query(x))
        key = query if self.score == "l2" else self.split_heads(self.key(x))
        value = self.split_heads(self.value(x))

        # Dividing by sqrt(head_dim) keeps the scores' spread independent of the head width,
        # so the softmax does not saturate as heads get wider.
        similarity = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))  # (B, heads, T, T): q_i . k_j
        if self.score == "l2":  # -|q_i - k_j|^2 = 2 q_i.k_j - |q_i|^2 - |k_j|^2
            square = ops.sum(ops.square(query), axis=-1)
            similarity = 2.0 * similarity - square[..., :, None] - square[..., None, :]
        scores = similarity / ops.sqrt(ops.cast(self.head_dim, query.dtype))
        if mask is not None:
            scores = ops.where(self.broadcast_mask(mask), scores, MASKED_SCORE)
        weights = ops.softmax(scores, axis=-1)

        attended = ops.matmul(self.weights_dropout(weights, training=training), value)
        return self.output_projection(self.merge_heads(attended)), weights

    @staticmethod
    def broadcast_mask(mask: Any) -> Any:
        """A (B, T) or (B, T, T) mask as (B, 1, T|1, T) so it applies to every head (and query)."""
        mask = ops.cast(mask, "bool")
        if len(mask.shape) == 2:
            return mask[:, None, None, :]
        return mask[:, None, :, :]

    def compute_mask(self, x: Any, previous_mask: Any = None) -> Any:
        """The output keeps a (B, T) padding mask, so later layers still know which tokens pad."""
        if previous_mask is None or len(previous_mask.shape) != 2:
            return None
        return previous_mask, None

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "score": self.score,
            "spectral_norm": self.spectral_norm,
        }
