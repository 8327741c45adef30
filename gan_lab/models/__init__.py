"""The model families and the one way to build them: `build_generator` / `build_discriminator`.

Every family exposes the same two builders taking its architecture config, the latent size and an
optional number of classes (conditional GAN). Generators map (z[, label]) to 28x28x1 images in
[-1, 1] (Tanh); discriminators map (image[, label]) to the probability that the image is real
(Sigmoid). The training code never needs to know which family it holds.

Those last layers take `conditioning.output_dtype()`: float32 under a mixed-precision policy
(`train.precision`, gan_lab/training/precision.py), where the body computes in 16-bit floats but images and
probabilities, and so the losses, stay float32.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import keras

from gan_lab.errors import DataError
from gan_lab.model_io import load_model
from gan_lab.models import cnn, mlp, transformer
from gan_lab.models.conditioning import IMAGE_SHAPE

GeneratorBuilder = Callable[[Any, int, int | None], keras.Model]
DiscriminatorBuilder = Callable[[Any, int | None], keras.Model]

GENERATORS: dict[str, GeneratorBuilder] = {
    "cnn": cnn.build_generator,
    "transformer": transformer.build_generator,
    "mlp": mlp.build_generator,
}
DISCRIMINATORS: dict[str, DiscriminatorBuilder] = {
    "cnn": cnn.build_discriminator,
    "transformer": transformer.build_discriminator,
    "mlp": mlp.build_discriminator,
}


def build_generator(family: str, arch: Any, latent_dim: int, num_classes: int | None = None) -> keras.Model:
    return GENERATORS[family](arch, latent_dim, num_classes)


def build_discriminator(family: str, arch: Any, num_classes: int | None = None) -> keras.Model:
    return DISCRIMINATORS[family](arch, num_classes)


def load_network(path: str | Path) -> keras.Model:
    """Load a generator or discriminator file in safe mode (a missing or unreadable one: DataError).

    Safe mode rebuilds only registered classes; importing this package registered the project's own
    layers (Transformer blocks, `OneChannelConvTranspose`), so load networks through here.
    """
    return load_model(path)


def _shapes(tensors: list) -> str:
    return " and ".join(str(tuple(t.shape[1:])) for t in tensors)


def load_generator(path: str | Path) -> keras.Model:
    """`load_network`, refusing a file that is not a generator: one that does not map (latent,)
    noise, and optionally an integer label, to IMAGE_SHAPE images (a discriminator, a classifier)."""
    model = load_network(path)
    inputs, outputs = list(model.inputs), list(model.outputs)
    noise_ok = len(inputs) in (1, 2) and len(inputs[0].shape) == 2
    label_ok = len(inputs) == 1 or (len(inputs[1].shape) == 1 and "int" in str(inputs[1].dtype))
    if not (noise_ok and label_ok and len(outputs) == 1 and tuple(outputs[0].shape[1:]) == IMAGE_SHAPE):
        raise DataError(
            f"{path}: {model.name} maps {_shapes(inputs)} to {_shapes(outputs)}, not a generator; "
            f"a generator maps (latent_dim,) noise, and a label if conditional, to {IMAGE_SHAPE} images"
        )
    return model
