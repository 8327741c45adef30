"""The Transformer family's options for a Part 2 that works: each one's mechanism, shown directly.

L2-distance attention against a NumPy reference, the discriminator's three patch embeddings (what
each token can see) and its class token, the generator's upsampling and their params errors.
"""
from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from gan_lab.attention.layer import MultiHeadSelfAttention
from gan_lab.config import ConfigError, TransformerArch, parse_section
from gan_lab.models import build_discriminator, build_generator

BASE = TransformerArch(embed_dim=16, num_heads=2, depth=1, mlp_ratio=2.0, dropout=0.0, patch_size=4)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_l2_attention_matches_a_numpy_reference():
    """score = -|q_i - k_j|^2 / sqrt(head_dim), with keys projected by the queries' own weights."""
    embed_dim, heads, length = 8, 2, 5
    x = np.random.default_rng(0).normal(size=(3, length, embed_dim)).astype("float32")
    layer = MultiHeadSelfAttention(embed_dim, heads, score="l2")
    output, weights = layer(x)
    (wq, bq), (wv, bv), (wo, bo) = (p.get_weights() for p in (layer.query, layer.value, layer.output_projection))
    head_dim = embed_dim // heads
    q = (x @ wq + bq).reshape(3, length, heads, head_dim).transpose(0, 2, 1, 3)
    v = (x @ wv + bv).reshape(3, length, heads, head_dim).transpose(0, 2, 1, 3)
    distance = ((q[:, :, :, None, :] - q[:, :, None, :, :]) ** 2).sum(axis=-1)  # (B, heads, T, T)
    expected_weights = softmax(-distance / np.sqrt(head_dim))
    merged = (expected_weights @ v).transpose(0, 2, 1, 3).reshape(3, length, embed_dim)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-5)
    np.testing.assert_allclose(output, merged @ wo + bo, atol=1e-5)


def test_l2_attention_ties_queries_and_keys():
    layer = MultiHeadSelfAttention(8, 2, score="l2")
    layer.build((None, 5, 8))
    assert layer.key is None
    assert len(layer.trainable_weights) == 6  # query, value, output projections: kernel + bias each
    _, weights = layer(np.random.default_rng(1).normal(size=(1, 5, 8)).astype("float32"))
    # A token is at distance 0 from itself, and no key is closer: the diagonal holds each row's maximum.
    weights = np.asarray(weights)[0]
    assert np.all(weights.argmax(axis=-1) == np.arange(5))


def test_unknown_attention_score_is_refused():
    with pytest.raises(ConfigError, match=r"attention score='cosine': must be one of dot, l2"):
        MultiHeadSelfAttention(8, 2, score="cosine")


def token_reach(embedding: str) -> np.ndarray:
    """Which of the discriminator's 7x7 tokens change when one pixel (row 4, column 4) changes."""
    keras.utils.set_random_seed(0)
    d = build_discriminator("transformer", dataclasses.replace(BASE, patch_embedding=embedding))
    tokens = keras.Model(d.input, d.get_layer("to_tokens").output)
    image = np.zeros((1, 28, 28, 1), "float32")
    poked = image.copy()
    poked[0, 4, 4, 0] = 1.0
    return (np.abs(np.asarray(tokens(poked)) - np.asarray(tokens(image)))[0].max(axis=-1) > 1e-6).reshape(7, 7)


def test_linear_patch_embedding_keeps_a_pixel_in_its_own_patch():
    reach = token_reach("linear")
    assert reach.sum() == 1 and reach[1, 1]  # pixel (4, 4) lies in patch (1, 1) of 4x4 patches


@pytest.mark.parametrize("embedding", ["overlapping", "conv"])
def test_overlapping_and_conv_embeddings_let_a_pixel_reach_neighbouring_tokens(embedding):
    reach = token_reach(embedding)
    assert reach[1, 1] and reach.sum() > 1  # its own token and at least one neighbour's
    assert not reach[4:, 4:].any()  # still local: nothing far away


def test_conv_stem_is_two_stride_2_convolutions_for_4x4_patches():
    d = build_discriminator("transformer", dataclasses.replace(BASE, patch_embedding="conv"))
    stem = [layer for layer in d.layers if layer.name.startswith("stem") and not layer.name.endswith("lrelu")]
    assert [(layer.filters, layer.strides) for layer in stem] == [(8, (2, 2)), (16, (2, 2))]


@pytest.mark.parametrize("filters, norm", [((16,), "none"), ((16, 8), "batch")])
def test_generator_upsampling(filters, norm):
    keras.utils.set_random_seed(0)
    arch = dataclasses.replace(BASE, upsample_filters=filters, upsample_norm=norm)
    g = build_generator("transformer", arch, 8)
    images = g(np.random.default_rng(0).normal(size=(4, 8)).astype("float32"), training=True).numpy()
    assert images.shape == (4, 28, 28, 1) and np.abs(images).max() <= 1.0
    ups = [layer for layer in g.layers if layer.name.startswith("up") and layer.name[2:].isdigit()]
    assert [layer.filters for layer in ups] == list(filters)
    norms = [layer for layer in g.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == (len(filters) if norm == "batch" else 0)


RAW = {"embed_dim": 16, "num_heads": 2, "depth": 1, "mlp_ratio": 2.0, "dropout": 0.0, "patch_size": 4,
       "patch_embedding": "linear", "upsample_filters": [16], "upsample_norm": "none", "d_attention": "dot",
       "d_pooling": "mean", "d_spectral_norm": False, "d_position_std": 1.0}


@pytest.mark.parametrize("change, message", [
    ({"patch_embedding": "conv", "patch_size": 7}, r"transformer.patch_size=7: the conv patch embedding needs 2 or 4"),
    ({"patch_embedding": "stem"}, r"transformer.patch_embedding='stem': must be one of linear, overlapping, conv"),
    ({"upsample_filters": [8, 8, 8]}, r"transformer.upsample_filters=\[8, 8, 8\]: needs 1 or 2 entries"),
    ({"upsample_norm": "layer"}, r"transformer.upsample_norm='layer': must be one of none, batch"),
    ({"d_attention": "cosine"}, r"transformer.d_attention='cosine': must be one of dot, l2"),
    ({"d_pooling": "cls"}, r"transformer.d_pooling='cls': must be one of mean, class_token, flatten"),
    ({"d_spectral_norm": "yes"}, r"transformer.d_spectral_norm='yes': expected true or false"),
    ({"d_position_std": 0.0}, r"transformer.d_position_std=0.0: must be in \(0.0, 10.0\]"),
])
def test_bad_options_are_refused_in_one_line(change, message):
    with pytest.raises(ConfigError, match=message):
        parse_section(TransformerArch, {**RAW, **change}, "transformer")


def test_discriminator_attention_score_reaches_its_blocks_only():
    """`d_attention: l2` changes the discriminator's blocks; the generator keeps dot-product attention."""
    arch = dataclasses.replace(BASE, d_attention="l2")
    d = build_discriminator("transformer", arch)
    g = build_generator("transformer", arch, 8)
    assert [layer.attention.key for layer in d.layers if layer.name.startswith("block")] == [None]
    assert all(layer.attention.key is not None for layer in g.layers if layer.name.startswith("block"))


@pytest.mark.parametrize("std", [1.0, 0.1])
def test_d_position_std_sets_the_spread_of_the_discriminators_positions_only(std):
    """D's 49 x 64 learned positions start with spread `d_position_std`; G's keep ViT's 0.02."""
    arch = dataclasses.replace(BASE, embed_dim=64, num_heads=4, d_position_std=std)
    keras.utils.set_random_seed(0)
    d_positions = build_discriminator("transformer", arch).get_layer("position_embedding").embedding.numpy()
    g_positions = build_generator("transformer", arch, 8).get_layer("position_embedding").embedding.numpy()
    assert d_positions.std() == pytest.approx(std, rel=0.05)
    assert g_positions.std() == pytest.approx(0.02, rel=0.05)


def test_class_token_is_where_the_discriminator_reads_its_verdict():
    """`d_pooling: class_token`: one learned token more, placed first; D's output is read off it
    alone, so changing that token's learned vector changes every verdict, while with mean pooling
    the verdict is the average over the patch tokens."""
    keras.utils.set_random_seed(0)
    d = build_discriminator("transformer", dataclasses.replace(BASE, d_pooling="class_token"))
    images = np.random.default_rng(1).uniform(-1, 1, size=(4, 28, 28, 1)).astype("float32")
    token = d.get_layer("class_token")
    assert d.get_layer("position_embedding").num_tokens == 7 * 7 + 1
    tokens = token(np.zeros((4, 49, BASE.embed_dim), "float32")).numpy()
    assert tokens.shape == (4, 50, BASE.embed_dim) and np.all(tokens[:, 0] == token.token.numpy()[0])
    before = d(images).numpy()
    # (a random vector: a constant shift of every number would be undone by the LayerNorms)
    token.token.assign(np.random.default_rng(2).normal(size=(1, 1, BASE.embed_dim)).astype("float32"))
    after = d(images).numpy()
    assert np.all(np.abs(after - before) > 1e-4)  # every image's verdict moved with the token
    with pytest.raises(ValueError):
        build_discriminator("transformer", BASE).get_layer("class_token")  # mean pooling has none


def test_flatten_readout_weighs_each_token_on_its_own():
    """`d_pooling: flatten`: the verdict is one Dense over all 49 tokens' outputs, so unlike the
    mean, the same two tokens swapped between positions give another verdict: D's head knows
    where each token sits, as the CNN discriminator's Dense over its 7x7 map does."""
    keras.utils.set_random_seed(0)
    flat = build_discriminator("transformer", dataclasses.replace(BASE, d_pooling="flatten"))
    mean = build_discriminator("transformer", BASE)
    head = flat.get_layer("real_probability")
    assert head.kernel.shape == (7 * 7 * BASE.embed_dim, 1)
    assert flat.count_params() - mean.count_params() == (7 * 7 - 1) * BASE.embed_dim
    tokens = np.random.default_rng(1).normal(size=(1, 49, BASE.embed_dim)).astype("float32")
    swapped = tokens[:, [1, 0, *range(2, 49)]]  # the first two tokens trade places
    for model, pooling, moves in ((flat, "flatten_tokens", True), (mean, "mean_pool", False)):
        pool, verdict = model.get_layer(pooling), model.get_layer("real_probability")
        before, after = verdict(pool(tokens)).numpy(), verdict(pool(swapped)).numpy()
        assert np.allclose(before, after) != moves, pooling


def test_spectral_norm_leaves_every_discriminator_kernel_with_top_singular_value_one(tmp_path):
    """`d_spectral_norm: true`: after training-mode calls (one power iteration each) every kernel of
    D, down to the attention projections inside its blocks, has its largest singular value at 1,
    so no layer stretches a difference between two inputs; inference calls change nothing, the
    generator is untouched, and the saved discriminator scores as the trained one."""
    keras.utils.set_random_seed(0)
    arch = dataclasses.replace(BASE, patch_embedding="conv", d_attention="l2", d_spectral_norm=True)
    d = build_discriminator("transformer", arch)
    images = np.random.default_rng(3).uniform(-1, 1, size=(4, 28, 28, 1)).astype("float32")
    wrapped = [layer for layer in _sublayers(d) if isinstance(layer, keras.layers.SpectralNormalization)]
    # stem0, stem1; per block q(=k), v, output projection, 2 MLP layers; the head
    assert len(wrapped) == 2 + arch.depth * 5 + 1

    def top_singular_values() -> np.ndarray:
        return np.array([np.linalg.svd(w.layer.kernel.numpy().reshape(-1, w.layer.kernel.shape[-1]), compute_uv=False)[0]
                         for w in wrapped])

    assert top_singular_values().max() > 1.5  # Keras' initialisers do not normalise
    before = d(images, training=False).numpy()
    assert np.array_equal(d(images, training=False).numpy(), before)
    for _ in range(30):
        d(images, training=True)
    np.testing.assert_allclose(top_singular_values(), 1.0, atol=0.02)
    assert not any(isinstance(layer, keras.layers.SpectralNormalization)
                   for layer in _sublayers(build_generator("transformer", arch, 8)))
    d.save(tmp_path / "d.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "d.keras")(images).numpy(), d(images).numpy(), atol=1e-6)


def _sublayers(model: keras.Model) -> list:
    """Every layer of a model, nested ones (inside Transformer blocks and attention) included."""
    return [layer for top in model.layers for layer in [top, *top._flatten_layers(include_self=False)]]
