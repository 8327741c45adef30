"""The hand-written MultiHeadSelfAttention: Keras's maths weight for weight, masks, errors, saving."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from gan_lab.attention.layer import MultiHeadSelfAttention
from gan_lab.errors import ConfigError

SETTINGS = [(8, 1), (16, 2), (32, 4), (64, 4), (64, 8)]  # (embed_dim, num_heads)
LENGTH = 7
LENGTHS = [4, 7]  # real tokens per sample: the first is padded, the second is not


def sequence(embed_dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(len(LENGTHS), LENGTH, embed_dim)).astype("float32")


def padding_mask() -> np.ndarray:
    """(B, T), True for real tokens."""
    return np.arange(LENGTH)[None, :] < np.array(LENGTHS)[:, None]


def keras_twin(layer: MultiHeadSelfAttention, x: np.ndarray) -> keras.layers.MultiHeadAttention:
    """keras.layers.MultiHeadAttention holding `layer`'s weights: Keras keeps each projection's
    heads on their own kernel axis, ours keeps them side by side in one Dense, so reshape."""
    heads, head_dim, dim = layer.num_heads, layer.head_dim, layer.embed_dim
    twin = keras.layers.MultiHeadAttention(heads, key_dim=head_dim)
    twin(x, x)
    pairs = [(layer.query, twin.query_dense), (layer.key, twin.key_dense), (layer.value, twin.value_dense)]
    for ours, theirs in pairs:
        kernel, bias = ours.get_weights()
        theirs.set_weights([kernel.reshape(dim, heads, head_dim), bias.reshape(heads, head_dim)])
    kernel, bias = layer.output_projection.get_weights()
    twin.output_dense.set_weights([kernel.reshape(heads, head_dim, dim), bias])
    return twin


@pytest.mark.parametrize("embed_dim,num_heads", SETTINGS)
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "padding-mask"])
def test_matches_keras_multi_head_attention(embed_dim: int, num_heads: int, masked: bool) -> None:
    x = sequence(embed_dim)
    layer = MultiHeadSelfAttention(embed_dim, num_heads)
    mask = padding_mask() if masked else None
    output, weights = layer(x, mask=mask)
    twin = keras_twin(layer, x)
    # Keras takes a full (B, T, T) mask: every query sees the same real keys.
    full_mask = np.repeat(mask[:, None, :], LENGTH, axis=1) if masked else None
    expected_output, expected_weights = twin(x, x, attention_mask=full_mask, return_attention_scores=True)
    assert output.shape == (len(LENGTHS), LENGTH, embed_dim)
    assert weights.shape == (len(LENGTHS), num_heads, LENGTH, LENGTH)
    np.testing.assert_allclose(output, expected_output, atol=1e-5)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-5)


def test_padding_mask_hides_padding_keys() -> None:
    _, weights = MultiHeadSelfAttention(16, 4)(sequence(16), mask=padding_mask())
    weights = np.asarray(weights)
    for sample, length in enumerate(LENGTHS):
        np.testing.assert_allclose(weights[sample, :, :, :length].sum(axis=-1), 1.0, atol=1e-6)
        assert np.all(weights[sample, :, :, length:] == 0.0)  # exactly 0, not merely small


def test_full_mask_is_per_query() -> None:
    causal = np.tril(np.ones((LENGTH, LENGTH), dtype=bool))[None].repeat(len(LENGTHS), axis=0)
    _, weights = MultiHeadSelfAttention(16, 2)(sequence(16), mask=causal)
    weights = np.asarray(weights)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-6)
    assert np.all(weights[:, :, ~causal[0]] == 0.0)
    assert np.all(weights[:, :, causal[0]] > 0.0)


def test_embed_dim_must_divide_into_heads() -> None:
    with pytest.raises(ConfigError, match=r"embed_dim=30 is not divisible by num_heads=4"):
        MultiHeadSelfAttention(30, 4)


def test_survives_a_keras_file(tmp_path) -> None:
    """The Transformer GAN saves models holding this layer as .keras files."""
    inputs = keras.Input((LENGTH, 16))
    output, weights = MultiHeadSelfAttention(16, 4, dropout=0.1)(inputs)
    model = keras.Model(inputs, [output, weights])
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    layer = loaded.layers[-1]
    assert (layer.embed_dim, layer.num_heads, layer.dropout) == (16, 4, 0.1)
    x = sequence(16)
    for ours, theirs in zip(model(x), loaded(x)):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
