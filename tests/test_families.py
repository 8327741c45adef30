"""Every family's networks, every generator/discriminator pairing's train step, the Transformer
family's params errors through the real entry point, and saving a Transformer generator."""
from __future__ import annotations

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from PIL import Image

from conftest import ROOT, run, tiny_params
from gan_lab import config
from gan_lab.config import CnnArch, MlpArch, TransformerArch, load_training
from gan_lab.data import Mnist, to_tanh_range
from gan_lab.model_io import save_model
from gan_lab.models import DISCRIMINATORS, GENERATORS, build_discriminator, build_generator, load_network
from gan_lab.models.transformer import TransformerBlock
from gan_lab.training.gan import GAN
from gan_lab.training.loop import OutputPaths, train

ARCHS = {
    "cnn": CnnArch(g_filters=(16, 8), d_filters=(8, 16), g_norm="batch", d_dropout=0.3),
    "transformer": TransformerArch(embed_dim=16, num_heads=2, depth=2, mlp_ratio=2.0, dropout=0.1, patch_size=4),
    "mlp": MlpArch(hidden_units=(32, 64), mlp_dropout=0.3),
}
FAMILIES = list(ARCHS)
PAIRINGS = [(g, d) for g in FAMILIES for d in FAMILIES]
LATENT = 16
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())
CONDITIONING = pytest.mark.parametrize("classes", [None, 10], ids=["unconditional", "conditional"])


def latent(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, LATENT)) * 3).astype("float32")


def test_every_family_has_both_builders():
    assert set(GENERATORS) == set(DISCRIMINATORS) == set(config.FAMILIES)


@CONDITIONING
@pytest.mark.parametrize("family", FAMILIES)
def test_generator_maps_latent_and_label_to_images_in_tanh_range(family, classes):
    keras.utils.set_random_seed(0)
    g = build_generator(family, ARCHS[family], LATENT, classes)
    labels = np.arange(5) % 10
    images = g([latent(5), labels] if classes else latent(5), training=False).numpy()
    assert images.shape == (5, 28, 28, 1)
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert len(g.inputs) == (2 if classes else 1)
    if classes:  # the label reaches the image: same z, other digit, other picture
        other = g([latent(5), (labels + 1) % 10], training=False).numpy()
        assert not np.allclose(images, other)


@CONDITIONING
@pytest.mark.parametrize("family", FAMILIES)
def test_discriminator_maps_images_and_labels_to_probabilities(family, classes, mnist):
    keras.utils.set_random_seed(0)
    d = build_discriminator(family, ARCHS[family], classes)
    real = to_tanh_range(mnist.x_test[:6])
    labels = tf.constant(mnist.y_test[:6], tf.int32)
    scores = d([real, labels] if classes else real, training=False).numpy()
    assert scores.shape == (6, 1)
    assert ((scores > 0) & (scores < 1)).all()
    assert d.layers[-1].activation.__name__ == "sigmoid"
    if classes:
        other = d([real, (labels + 1) % 10], training=False).numpy()
        assert not np.allclose(scores, other)


def test_transformer_networks_are_built_from_the_hand_written_attention():
    arch = ARCHS["transformer"]
    g = build_generator("transformer", arch, LATENT)
    d = build_discriminator("transformer", TransformerArch(16, 2, 3, 2.0, 0.0, patch_size=7))
    assert g.get_layer("to_tokens").output.shape[1:] == (49, arch.embed_dim)  # a 7x7 grid of tokens
    assert d.get_layer("to_tokens").output.shape[1:] == (16, 16)  # 28/7 = 4x4 patches
    for model, depth in ((g, arch.depth), (d, 3)):
        blocks = [layer for layer in model.layers if isinstance(layer, TransformerBlock)]
        assert len(blocks) == depth
        assert all(type(block.attention).__name__ == "MultiHeadSelfAttention" for block in blocks)
        assert not any(isinstance(layer, keras.layers.MultiHeadAttention) for layer in model._flatten_layers())
    assert g.get_layer("to_image").activation.__name__ == "tanh"


# --- one adversarial step for every pairing ------------------------------------------------------

def make_gan(generator: str, discriminator: str, g_lr: float = 1e-3, d_lr: float = 1e-3, classes: int | None = None) -> GAN:
    keras.utils.set_random_seed(1)
    gan = GAN(
        build_generator(generator, ARCHS[generator], LATENT, classes),
        build_discriminator(discriminator, ARCHS[discriminator], classes),
        LATENT, conditional=classes is not None, seed=1,
    )
    gan.compile(keras.optimizers.Adam(g_lr, beta_1=0.5), keras.optimizers.Adam(d_lr, beta_1=0.5))
    return gan


def snapshot(variables) -> list[np.ndarray]:
    return [v.numpy().copy() for v in variables]


def moved(variables, before) -> set[str]:
    return {v.path for v, b in zip(variables, before) if not np.array_equal(v.numpy(), b)}


def must_move(variables) -> set[str]:
    """Paths of the variables one step must change.

    An attention key bias is left out: it adds the same number to every score of a query and
    softmax ignores a constant shift, so its gradient is zero up to rounding.
    """
    return {v.path for v in variables if not v.path.endswith("key/bias")}


def one_step(gan: GAN, mnist) -> dict:
    batch = (to_tanh_range(mnist.x_train[:8]), tf.constant(mnist.y_train[:8], tf.int32))
    return {k: float(v) for k, v in tf.function(gan.train_step)(batch).items()}


@pytest.mark.parametrize("generator, discriminator", PAIRINGS, ids=[f"{g}-G_{d}-D" for g, d in PAIRINGS])
def test_one_step_of_every_pairing_moves_both_networks(generator, discriminator, mnist):
    gan = make_gan(generator, discriminator)
    g_vars, d_vars = gan.generator.trainable_variables, gan.discriminator.trainable_variables
    g_before, d_before = snapshot(g_vars), snapshot(d_vars)
    logs = one_step(gan, mnist)
    assert must_move(g_vars) <= moved(g_vars, g_before)
    assert must_move(d_vars) <= moved(d_vars, d_before)
    assert int(gan.g_optimizer.iterations) == int(gan.d_optimizer.iterations) == 1
    assert all(np.isfinite(v) for v in logs.values())


@pytest.mark.parametrize("g_lr, d_lr", [(0.0, 1e-3), (1e-3, 0.0)], ids=["frozen-G", "frozen-D"])
def test_transformer_networks_move_only_through_their_own_optimizer(g_lr, d_lr, mnist):
    gan = make_gan("transformer", "transformer", g_lr, d_lr)
    g_vars, d_vars = gan.generator.trainable_variables, gan.discriminator.trainable_variables
    g_before, d_before = snapshot(g_vars), snapshot(d_vars)
    one_step(gan, mnist)
    assert must_move(g_vars) <= moved(g_vars, g_before) if g_lr else moved(g_vars, g_before) == set()
    assert must_move(d_vars) <= moved(d_vars, d_before) if d_lr else moved(d_vars, d_before) == set()


@pytest.mark.parametrize("family", ["transformer", "mlp"])
def test_conditional_step_trains_both_label_embeddings(family, mnist):
    gan = make_gan(family, family, classes=10)
    g_embedding = gan.generator.get_layer("label_embedding").embeddings
    d_embedding = gan.discriminator.get_layer("label_embedding").embeddings
    g_before, d_before = g_embedding.numpy().copy(), d_embedding.numpy().copy()
    one_step(gan, mnist)
    assert not np.array_equal(g_before, g_embedding.numpy())
    assert not np.array_equal(d_before, d_embedding.numpy())


def test_conditional_transformer_run_draws_one_row_per_digit(tmp_path, mnist):
    from gan_lab.plots import image_grid
    from gan_lab.training.loop import fixed_inputs

    params = tiny_params(BASE)
    params["transformer"] = {**params["transformer"], "conditional": True, "steps": 2}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    small = Mnist(mnist.x_train[:64], mnist.y_train[:64], mnist.x_test[:8], mnist.y_test[:8])
    training_params = load_training("transformer", tmp_path / "params.yaml")
    train(training_params, small, OutputPaths.for_stage("transformer", tmp_path), write=lambda line: None)
    cols = params["train"]["grid_size"]
    z, labels = fixed_inputs(training_params)
    assert (labels.numpy().reshape(10, cols) == np.arange(10)[:, None]).all()  # row r asks for digit r
    samples = np.asarray(Image.open(tmp_path / "reports/transformer/samples.png"))
    assert samples.shape == (10 * 58 + 2, cols * 58 + 2)
    generator = load_network(tmp_path / "models/transformer/generator.keras")
    drawn = image_grid(generator([z, labels], training=False).numpy(), cols)
    assert np.abs(samples.astype(int) - drawn).max() <= 1  # the grid is those labels' images, row by row
    by_row = drawn[:10 * 58].reshape(10, 58, -1)[:, 2:, :]
    assert all(not np.array_equal(by_row[0], by_row[r]) for r in range(1, 10))  # each row its own digit


# --- saving --------------------------------------------------------------------------------------

@CONDITIONING
def test_saved_transformer_generator_reloads_with_identical_outputs(tmp_path, classes):
    keras.utils.set_random_seed(2)
    g = build_generator("transformer", ARCHS["transformer"], LATENT, classes)
    inputs = [latent(4), np.arange(4)] if classes else latent(4)
    save_model(g, tmp_path / "generator.keras")
    loaded = load_network(tmp_path / "generator.keras")  # safe_mode=True: only registered classes
    np.testing.assert_array_equal(g(inputs, training=False).numpy(), loaded(inputs, training=False).numpy())


# --- params: the Transformer family's rules, and families flipped with -S --------------------------

BAD_TRANSFORMER = [
    ({"embed_dim": 30, "num_heads": 4}, "transformer.embed_dim=30 is not divisible by transformer.num_heads=4"),
    ({"depth": 0}, "transformer.depth=0: must be >= 1"),
    ({"patch_size": 5}, "transformer.patch_size=5: must divide 28 (1, 2, 4, 7, 14 or 28)"),
    ({"discriminator": "transfomer"}, "transformer.discriminator='transfomer': must be one of cnn, transformer, mlp"),
    ({"embed_dimm": 64}, "unknown key transformer.embed_dimm; did you mean transformer.embed_dim?"),
]


@pytest.mark.parametrize("change, message", BAD_TRANSFORMER, ids=[next(iter(c)) for c, _ in BAD_TRANSFORMER])
def test_bad_transformer_params_fail_in_one_line_before_loading_data(tmp_path, change, message):
    params = {**BASE, "transformer": {**BASE["transformer"], **change}}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(params))
    # No prepared data exists at --prepared: a config error in stderr proves params are checked first.
    result = run([sys.executable, "-m", "stages.train", "transformer", "--params", str(bad),
                  "--prepared", str(tmp_path / "none")], ROOT, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {message}", result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("generator, discriminator", PAIRINGS, ids=[f"{g}-G_{d}-D" for g, d in PAIRINGS])
def test_combined_section_flips_families_without_other_edits(tmp_path, generator, discriminator):
    """`dvc exp run -S combined.discriminator=transformer` changes one key; the section already
    carries every family's architecture keys, and only the used families' keys are parsed."""
    params = {**BASE, "combined": {**BASE["combined"], "generator": generator, "discriminator": discriminator}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    gan = load_training("combined", tmp_path / "params.yaml").gan
    assert set(gan.arch) == {generator, discriminator}
    assert all(isinstance(gan.arch[f], config.ARCHS[f]) for f in gan.arch)


# --- the memory estimate ------------------------------------------------------------------------

VARIANTS = {  # every option that changes a network's weights
    "cnn": [{"g_norm": "batch"}, {"g_norm": "none"}],
    "transformer": [{}, {"patch_embedding": "overlapping", "upsample_filters": (32, 16), "upsample_norm": "batch"},
                    {"patch_embedding": "conv", "d_attention": "l2", "d_pooling": "class_token"},
                    {"patch_embedding": "linear", "d_spectral_norm": True}, {"d_spectral_norm": True, "d_attention": "l2",
                                                                             "patch_embedding": "conv"},
                    {"d_pooling": "flatten", "d_spectral_norm": True}],
    "mlp": [{}],
}


@pytest.mark.parametrize("family, changes", [(f, c) for f in FAMILIES for c in VARIANTS[f]], ids=str)
@CONDITIONING
def test_footprint_counts_every_weight_keras_builds(family, changes, classes):
    """gan_lab/footprint.py counts each network's weights from params alone, before building:
    the same number as the built network's `count_params()`, for every family, option and conditioning."""
    from dataclasses import replace

    from gan_lab.footprint import discriminator_layers, generator_layers

    arch = replace(ARCHS[family], **changes)
    conditional = classes is not None
    assert sum(layer.weights for layer in generator_layers(family, arch, LATENT, conditional)) == \
        build_generator(family, arch, LATENT, classes).count_params()
    assert sum(layer.weights for layer in discriminator_layers(family, arch, conditional)) == \
        build_discriminator(family, arch, classes).count_params()
