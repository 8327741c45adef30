"""The Transformer family of lab Part 2: ViT-style networks on a 7x7 grid of tokens.

Both networks share one encoder: learned positional embeddings, then `depth` pre-norm Transformer
blocks built on the hand-written `MultiHeadSelfAttention`, then a final LayerNorm.

Generator: (z[, label]) -> Dense projection to 49 tokens of embed_dim -> encoder -> Reshape to a
7x7xembed_dim feature map -> `upsample`: one stride-2 Conv2DTranspose per `upsample_filters` entry
(optionally with batch norm), then the image layer, Tanh. The default, [64, 32] with batch norm, is
the CNN generator's own upsampling (7->14->28, then a 7x7 one-channel layer); with one entry the
last layer is a 4x4 stride-2 Conv2DTranspose from 14x14.

Why transposed convolutions and not pixel-shuffle ("unpatchify": each token becomes its own 4x4
pixel block)? With unpatchify every output patch is a function of one token only, and neighbouring
patches are only tied together through attention; on a CPU budget of a few thousand steps that
leaves visible seams on the 4x4 patch grid. A transposed convolution's overlapping 4x4 kernels
blend neighbouring tokens, so attention lays out the digit at 7x7 and the convolutions draw
smooth strokes. It is also the lab handout's own upsampling, so Part 1 and Part 2 stay comparable.

Discriminator: (image[, label plane]) -> `embed_patches`: (28/patch_size)^2 tokens of embed_dim
(`patch_embedding`: a stem of stride-2 convolutions, the default; or each patch linearly projected,
ViT's, a Conv2D whose kernel equals its stride; or overlapping windows, ViTGAN's) -> encoder -> one
vector (`d_pooling`: the mean over tokens, a learned class token's output, or all tokens'
outputs flattened, as the CNN discriminator reads its 7x7 map) -> Dense(1) with Sigmoid.
`d_attention: l2` gives its blocks ViTGAN's distance attention, `d_spectral_norm` divides each of
its kernels by its largest singular value (with l2: ViTGAN's Lipschitz discriminator).
docs/models.md, "Lab Part 2 that works", measures each choice.

The two networks differ in one number: how large their positional embeddings start (G:
GENERATOR_POSITION_STD below; D: `d_position_std`); docs/models.md has the runs behind it.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import keras
from keras import layers, ops

from gan_lab.attention.layer import MultiHeadSelfAttention, spectrally_normalised
from gan_lab.config import TransformerArch
from gan_lab.models.conditioning import IMAGE_SHAPE, discriminator_inputs, generator_inputs, output_dtype
from gan_lab.models.one_channel import OneChannelConvTranspose

GENERATOR_GRID = 7  # the generator attends over 7x7 = 49 tokens, then upsamples twice (x4)

# Initial spread of the generator's learned positional embeddings: ViT's usual 0.02, small next to
# the projected latent (~0.25), so every z starts out as a different set of tokens; at 1.0 the
# positions drowned z and every z drew the same image.
# The discriminator's is a params key, `d_position_std`: 1.0, far above what tells one image's
# patches from another's at the start (~0.06 with linear patches), lets D know from its first step
# where each patch sits. At 0.02 a linear-patch D was a bag of patches, and as most MNIST patches
# are empty background, an all-black image or one repeated texture scored as real and the
# generator collapsed onto it.
GENERATOR_POSITION_STD = 0.02


@keras.saving.register_keras_serializable(package="gan_lab")
class PositionEmbedding(layers.Layer):
    """Adds one learned vector per token position: attention alone does not know token order."""

    def __init__(self, num_tokens: int, embed_dim: int, stddev: float = 0.02, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_tokens = num_tokens
        self.embed_dim = embed_dim
        self.stddev = stddev

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.embedding = self.add_weight(
            shape=(self.num_tokens, self.embed_dim),
            initializer=keras.initializers.RandomNormal(stddev=self.stddev),
            name="embedding",
        )

    def call(self, tokens: Any) -> Any:
        return tokens + self.embedding  # (B, T, E) + (T, E): the same positions for every sample

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_tokens": self.num_tokens,
            "embed_dim": self.embed_dim,
            "stddev": self.stddev,
        }


@keras.saving.register_keras_serializable(package="gan_lab")
class ClassToken(layers.Layer):
    """Puts one learned token in front of the patch tokens (ViT's [CLS]); D reads its verdict off it.

    The mean over tokens weighs every patch alike, most of them empty background, and forgets
    where each one was. The class token instead attends to the patches in every block, so it can
    look where the digit's strokes are, as the CNN discriminator's final Dense over its whole 7x7
    map does.
    """

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros", name="token")

    def call(self, tokens: Any) -> Any:
        batch, width = ops.shape(tokens)[0], ops.shape(tokens)[2]
        return ops.concatenate([ops.broadcast_to(self.token, (batch, 1, width)), tokens], axis=1)


@keras.saving.register_keras_serializable(package="gan_lab")
class TransformerBlock(layers.Layer):
    """Pre-norm block: x + Attention(LayerNorm(x)), then x + MLP(LayerNorm(x)).

    Normalising before each sub-layer (not after, as in the 2017 paper) keeps the residual path
    an identity from input to output, which is what lets Transformers train without warm-up.
    """

    def __init__(
        self, embed_dim: int, num_heads: int, mlp_ratio: float, dropout: float, score: str = "dot",
        spectral_norm: bool = False, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.dropout = dropout
        self.score = score
        self.spectral_norm = spectral_norm
        self.mlp_units = max(1, round(embed_dim * mlp_ratio))
        self.attention_norm = layers.LayerNormalization(epsilon=1e-6, name="attention_norm")
        self.attention = MultiHeadSelfAttention(embed_dim, num_heads, dropout, score, spectral_norm, name="attention")
        self.mlp_norm = layers.LayerNormalization(epsilon=1e-6, name="mlp_norm")
        self.mlp_hidden = spectrally_normalised(
            layers.Dense(self.mlp_units, activation="gelu", name="mlp_hidden"), spectral_norm)
        self.mlp_output = spectrally_normalised(layers.Dense(embed_dim, name="mlp_output"), spectral_norm)
        self.mlp_dropout = layers.Dropout(dropout, name="mlp_dropout")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        # Built explicitly so that a model loaded from a .keras file has the variables to fill.
        for sublayer in (self.attention_norm, self.attention, self.mlp_norm, self.mlp_hidden):
            sublayer.build(input_shape)
        self.mlp_output.build((*input_shape[:-1], self.mlp_units))
        self.built = True

    def call(self, x: Any, training: bool | None = None) -> Any:
        attended, _ = self.attention(self.attention_norm(x), training=training)
        x = x + attended
        hidden = self.mlp_dropout(self.mlp_hidden(self.mlp_norm(x)), training=training)
        return x + self.mlp_dropout(self.mlp_output(hidden), training=training)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "mlp_ratio": self.mlp_ratio,
            "dropout": self.dropout,
            "score": self.score,
            "spectral_norm": self.spectral_norm,
        }


def encode(
    tokens: keras.KerasTensor, arch: TransformerArch, position_stddev: float, score: str = "dot", spectral_norm: bool = False,
) -> keras.KerasTensor:
    """Positional embeddings, `depth` Transformer blocks and a final LayerNorm, on (B, T, E) tokens."""
    x = PositionEmbedding(tokens.shape[1], arch.embed_dim, position_stddev, name="position_embedding")(tokens)
    for i in range(arch.depth):
        x = TransformerBlock(
            arch.embed_dim, arch.num_heads, arch.mlp_ratio, arch.dropout, score, spectral_norm, name=f"block{i}")(x)
    return layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)


def upsample(x: keras.KerasTensor, arch: TransformerArch) -> keras.KerasTensor:
    """7x7 feature map -> 28x28x1 image in [-1, 1], with stride-2 transposed convolutions."""
    batch_norm = arch.upsample_norm == "batch"
    for i, filters in enumerate(arch.upsample_filters):  # 7 -> 14 (-> 28)
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=not batch_norm, name=f"up{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=0.9, name=f"up{i}_norm")(x)
        x = layers.ReLU(name=f"up{i}_relu")(x)
    if len(arch.upsample_filters) == 1:  # 14 -> 28 in the last layer
        return layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh", name="to_image", dtype=output_dtype())(x)
    return OneChannelConvTranspose(7, activation="tanh", name="to_image", dtype=output_dtype())(x)


def build_generator(arch: TransformerArch, latent_dim: int, num_classes: int | None = None) -> keras.Model:
    inputs, x = generator_inputs(latent_dim, num_classes)
    tokens = GENERATOR_GRID * GENERATOR_GRID
    x = layers.Dense(tokens * arch.embed_dim, name="project")(x)
    x = layers.Reshape((tokens, arch.embed_dim), name="to_tokens")(x)
    x = encode(x, arch, GENERATOR_POSITION_STD)
    x = layers.Reshape((GENERATOR_GRID, GENERATOR_GRID, arch.embed_dim), name="to_7x7")(x)
    return keras.Model(inputs, upsample(x, arch), name="transformer_generator")


def embed_patches(x: keras.KerasTensor, arch: TransformerArch) -> keras.KerasTensor:
    """(28, 28, C) image -> (28/patch_size)^2 tokens of embed_dim numbers (`patch_embedding`)."""
    size, normalised = arch.patch_size, partial(spectrally_normalised, on=arch.d_spectral_norm)
    if arch.patch_embedding == "conv":  # halve the image log2(patch_size) times, widening to embed_dim
        halvings = size.bit_length() - 1
        for i in range(halvings):
            filters = arch.embed_dim // 2 ** (halvings - 1 - i)
            x = normalised(layers.Conv2D(filters, 4, strides=2, padding="same", name=f"stem{i}"))(x)
            x = layers.LeakyReLU(negative_slope=0.2, name=f"stem{i}_lrelu")(x)
        return x
    if arch.patch_embedding == "overlapping":  # each token also sees half a patch of its neighbours
        return normalised(layers.Conv2D(arch.embed_dim, 2 * size, strides=size, padding="same", name="patch_embedding"))(x)
    return normalised(layers.Conv2D(arch.embed_dim, size, strides=size, name="patch_embedding"))(x)


def build_discriminator(arch: TransformerArch, num_classes: int | None = None) -> keras.Model:
    inputs, x = discriminator_inputs(num_classes)
    grid = IMAGE_SHAPE[0] // arch.patch_size
    x = embed_patches(x, arch)
    x = layers.Reshape((grid * grid, arch.embed_dim), name="to_tokens")(x)
    if arch.d_pooling == "class_token":
        x = ClassToken(name="class_token")(x)
    x = encode(x, arch, arch.d_position_std, arch.d_attention, arch.d_spectral_norm)
    if arch.d_pooling == "class_token":
        x = x[:, 0]  # the class token's output
    elif arch.d_pooling == "flatten":  # every token's output, each with weights of its own (the CNN D's head)
        x = layers.Flatten(name="flatten_tokens")(x)
    else:
        x = layers.GlobalAveragePooling1D(name="mean_pool")(x)
    head = layers.Dense(1, activation="sigmoid", name="real_probability", dtype=output_dtype())
    probability = spectrally_normalised(head, arch.d_spectral_norm)(x)
    return keras.Model(inputs, probability, name="transformer_discriminator")
