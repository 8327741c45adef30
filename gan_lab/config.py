"""The params.yaml schema: the one place that knows every key, its type and what it may hold.

Each section of params.yaml maps to a frozen dataclass. `parse_section` checks a raw mapping
against it before any stage loads data, so a typo or a bad value costs a second, not a training
run, and the error names the key's full path, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from gan_lab.errors import ConfigError
from gan_lab.yaml12 import read_yaml

FAMILIES = ("cnn", "transformer", "mlp")
TRAINING_SECTIONS = ("cnn", "transformer", "combined")
SECTIONS = ("seed", "train", *TRAINING_SECTIONS, "classifier", "attention", "evaluate")  # params.yaml's top level

C = TypeVar("C")
Check = tuple[Callable[[Any], bool], str]


# --- small vocabulary of checks ------------------------------------------------------------------

def positive() -> Check:
    return (lambda v: v > 0, "> 0")


def at_least(low: float) -> Check:
    return (lambda v: v >= low, f">= {low}")


def between(low: float, high: float, *, open_low: bool = False, open_high: bool = False) -> Check:
    lo, hi = ("(" if open_low else "["), (")" if open_high else "]")

    def ok(v: float) -> bool:
        return (v > low if open_low else v >= low) and (v < high if open_high else v <= high)

    return (ok, f"in {lo}{low}, {high}{hi}")


def one_of(*choices: str) -> Check:
    return (lambda v: v in choices, "one of " + ", ".join(choices))


def each(check: Check) -> Check:
    predicate, text = check
    return (lambda vs: len(vs) > 0 and all(predicate(v) for v in vs), f"a non-empty list, each {text}")


def checked(check: Check | None = None, *, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with a value check. Every key is required in params.yaml (it holds the
    defaults); `default` only lets code build the dataclass without the newer keys."""
    return field(default=default, metadata={"check": check})


# --- the sections --------------------------------------------------------------------------------

DISTRIBUTE = ("none", "mirrored", "multi_worker")  # gan_lab/training/distribute.py
PATCH_EMBEDDINGS = ("linear", "overlapping", "conv")  # gan_lab/models/transformer.py
ATTENTION_SCORES = ("dot", "l2")  # gan_lab/attention/layer.py
TOKEN_POOLINGS = ("mean", "class_token", "flatten")  # gan_lab/models/transformer.py
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")  # Keras dtype policies, or auto (training/precision.py)


@dataclass(frozen=True)
class TrainLoopConfig:
    """`train:` knobs shared by the three training stages: how often to log, snapshot, draw the
    quality samples and checkpoint, on how many devices to train and in which float precision."""

    log_every: int = checked(positive())
    snapshot_every: int = checked(positive())
    checkpoint_every: int = checked(positive())
    grid_size: int = checked(between(2, 16))
    tensorboard: bool = checked()
    distribute: str = checked(one_of(*DISTRIBUTE))
    precision: str = checked(one_of(*PRECISIONS))
    # every N steps (and at the last) the averaged generator draws the fixed quality batch, which the
    # `quality` stage scores into reports/<section>/quality.csv (gan_lab/evaluation/quality.py)
    quality_every: int = checked(positive(), default=400)

    def validate(self, path: str) -> None:
        if self.checkpoint_every % self.snapshot_every:
            raise ConfigError(
                f"{path}.checkpoint_every={self.checkpoint_every} must be a multiple of "
                f"{path}.snapshot_every={self.snapshot_every}"
            )


@dataclass(frozen=True)
class CnnArch:
    """DCGAN-style convolutional networks (lab Part 1)."""

    g_filters: tuple[int, ...] = checked(each(positive()))
    d_filters: tuple[int, ...] = checked(each(positive()))
    g_norm: str = checked(one_of("none", "batch"))
    d_dropout: float = checked(between(0.0, 1.0, open_high=True))

    def validate(self, path: str) -> None:
        if len(self.g_filters) != 2:
            raise ConfigError(
                f"{path}.g_filters={list(self.g_filters)}: needs exactly 2 entries (7->14->28 upsampling)"
            )


@dataclass(frozen=True)
class TransformerArch:
    """Vision-Transformer networks built on the hand-written multi-head self-attention (lab Part 2)."""

    embed_dim: int = checked(positive())
    num_heads: int = checked(positive())
    depth: int = checked(at_least(1))
    mlp_ratio: float = checked(positive())
    dropout: float = checked(between(0.0, 1.0, open_high=True))
    patch_size: int = checked(positive())
    # How the discriminator turns the image into tokens (docs/models.md, "Lab Part 2 that works"):
    # linear: each patch_size x patch_size patch projected on its own (ViT's patch embedding);
    # overlapping: the same projection over 2*patch_size windows at stride patch_size (ViTGAN);
    # conv: a small convolutional stem of log2(patch_size) stride-2 convolutions with LeakyReLU.
    patch_embedding: str = checked(one_of(*PATCH_EMBEDDINGS), default="linear")
    # The generator's upsampling from its 7x7 token grid: one width per stride-2 transposed
    # convolution (1 entry: 7->14, then a 4x4 transposed convolution to the 28x28 image; 2 entries:
    # 7->14->28, then a 7x7 one-channel convolution, as the CNN generator), and its normalisation.
    upsample_filters: tuple[int, ...] = checked(each(positive()), default=(64,))
    upsample_norm: str = checked(one_of("none", "batch"), default="none")
    # The discriminator's attention score: dot (q.k) or l2 (-|q - k|^2, queries and keys tied: ViTGAN).
    d_attention: str = checked(one_of(*ATTENTION_SCORES), default="dot")
    # How the discriminator reads one verdict off its tokens: mean (the average token) or
    # class_token (a learned extra token that attends to the patches, ViT's and ViTGAN's [CLS]).
    d_pooling: str = checked(one_of(*TOKEN_POOLINGS), default="mean")
    # Spectral normalisation of every discriminator kernel (stem, attention, MLPs, head): Miyato et al.
    # 2018; with d_attention l2, ViTGAN's Lipschitz discriminator.
    d_spectral_norm: bool = checked(default=False)
    # Initial spread of the discriminator's learned positional embeddings (the generator's: 0.02,
    # models/transformer.py). 1.0 let the linear patch embedding tell where each patch sits.
    d_position_std: float = checked(between(0.0, 10.0, open_low=True), default=1.0)

    def validate(self, path: str) -> None:
        if len(self.upsample_filters) not in (1, 2):
            raise ConfigError(
                f"{path}.upsample_filters={list(self.upsample_filters)}: needs 1 or 2 entries (7->14 or 7->14->28)"
            )
        if self.embed_dim % self.num_heads:
            raise ConfigError(
                f"{path}.embed_dim={self.embed_dim} is not divisible by "
                f"{path}.num_heads={self.num_heads}"
            )
        if 28 % self.patch_size:
            raise ConfigError(f"{path}.patch_size={self.patch_size}: must divide 28 (1, 2, 4, 7, 14 or 28)")
        if self.patch_embedding == "conv" and self.patch_size not in (2, 4):
            raise ConfigError(
                f"{path}.patch_size={self.patch_size}: the conv patch embedding needs 2 or 4 "
                "(one stride-2 convolution per halving)"
            )


@dataclass(frozen=True)
class MlpArch:
    """The classic fully connected GAN."""

    hidden_units: tuple[int, ...] = checked(each(positive()))
    mlp_dropout: float = checked(between(0.0, 1.0, open_high=True))


ARCHS: dict[str, type] = {"cnn": CnnArch, "transformer": TransformerArch, "mlp": MlpArch}


@dataclass(frozen=True)
class GanConfig:
    """One training stage's section: which families, how to optimise, and their architectures."""

    generator: str = checked(one_of(*FAMILIES))
    discriminator: str = checked(one_of(*FAMILIES))
    latent_dim: int = checked(positive())
    conditional: bool = checked()
    steps: int = checked(positive())
    batch_size: int = checked(between(2, 4096))
    g_lr: float = checked(between(0.0, 1.0, open_low=True))
    d_lr: float = checked(between(0.0, 1.0, open_low=True))
    beta1: float = checked(between(0.0, 1.0, open_high=True))
    beta2: float = checked(between(0.0, 1.0, open_high=True))
    g_ema: float = checked(between(0.0, 1.0, open_high=True))  # 0: off
    lr_decay_start: float = checked(between(0.0, 1.0))  # fraction of steps; 1: constant rates
    label_smoothing: float = checked(between(0.0, 0.5))
    diffaugment: bool = checked()
    r1_gamma: float = checked(between(0.0, 1000.0))
    arch: dict[str, Any] = field(default_factory=dict)  # family name -> CnnArch | TransformerArch | MlpArch

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.generator, self.discriminator)))


# --- parsing -------------------------------------------------------------------------------------

def _describe(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        return f"a list of {typing.get_args(tp)[0].__name__}"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


YAML11_BOOLEANS = re.compile(r"(?i)y|n|yes|no|on|off")  # booleans to YAML 1.1 (PyYAML), strings to 1.2
SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")  # YAML 1.1's 1:30 = 90


def _yaml11_hint(value: Any, tp: Any) -> str:
    """Why a value that YAML 1.1 would have read as `tp` is a string here (YAML 1.2, as DVC reads it)."""
    if isinstance(value, str) and (
        (tp is bool and YAML11_BOOLEANS.fullmatch(value)) or (tp in (int, float) and SEXAGESIMAL.fullmatch(value))
    ):
        return " (params are read as YAML 1.2, as DVC reads them, where this is a string)"
    return ""


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Convert a YAML value to the field's type, accepting the forms `dvc exp run -S` writes."""
    bad = ConfigError(f"{path}={value!r}: expected {_describe(tp)}{_yaml11_hint(value, tp)}")
    if typing.get_origin(tp) is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad
        (inner,) = typing.get_args(tp)[:1]
        return tuple(_coerce(v, inner, f"{path}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if isinstance(value, bool):
        raise bad
    if tp is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise bad
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads `1e-06` (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                raise bad from None
        elif isinstance(value, (int, float)):
            number = float(value)
        else:
            raise bad
        if not math.isfinite(number):  # .inf passes `> 0`, then overflows the builders
            raise ConfigError(f"{path}={value!r}: expected a finite number")
        return number
    if tp is str and isinstance(value, str):
        return value
    raise bad


def did_you_mean(name: Any, allowed: typing.Sequence[str], prefix: str = "") -> str:
    """`; did you mean <prefix><nearest>?`, or the whole list when nothing is near."""
    near = difflib.get_close_matches(str(name), allowed, n=1)
    return f"; did you mean {prefix}{near[0]}?" if near else f"; allowed: {', '.join(allowed)}"


def _reject_unknown(raw: dict, allowed: list[str], path: str) -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"unknown key {path}.{key}{did_you_mean(key, allowed, f'{path}.')}")


def parse_section(cls: type[C], raw: Any, path: str, *, extra: tuple[str, ...] = ()) -> C:
    """Build dataclass `cls` from mapping `raw`, checking every key; `extra` keys are left to the caller."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init and f.name != "arch"]
    _reject_unknown(raw, [f.name for f in fields] + list(extra), path)
    values = {}
    for f in fields:
        key = f"{path}.{f.name}"
        if f.name not in raw:
            raise ConfigError(f"missing key {key} ({_describe(hints[f.name])})")
        value = _coerce(raw[f.name], hints[f.name], key)
        check = f.metadata.get("check")
        if check is not None and not check[0](value):
            raise ConfigError(f"{key}={raw[f.name]!r}: must be {check[1]}")
        values[f.name] = value
    config = cls(**values)
    if hasattr(config, "validate"):
        config.validate(path)
    return config


def parse_gan(raw: Any, path: str) -> GanConfig:
    """A training section: common keys plus the flat architecture keys of the families it uses.

    The section may also carry keys of families it does not use (they are not checked), so that
    `dvc exp run -S combined.discriminator=transformer` finds the transformer keys already there.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys, got {raw!r}")
    arch_keys = {fam: [f.name for f in dataclasses.fields(ARCHS[fam])] for fam in FAMILIES}
    all_arch_keys = tuple(k for keys in arch_keys.values() for k in keys)
    common = {k: v for k, v in raw.items() if k not in all_arch_keys}
    config = parse_section(GanConfig, common, path, extra=all_arch_keys)
    arch = {
        fam: parse_section(ARCHS[fam], {k: raw[k] for k in arch_keys[fam] if k in raw}, path)
        for fam in config.families
    }
    return dataclasses.replace(config, arch=arch)


def parse_seed(raw: Any) -> int:
    seed = _coerce(raw, int, "seed")
    if not 0 <= seed < 2**31:
        raise ConfigError(f"seed={raw!r}: must be in [0, 2147483647]")
    return seed


def read_params(path: str | Path = "params.yaml") -> dict:
    """Read a params file as DVC does (YAML 1.2, duplicate keys refused); any fault is a ConfigError."""
    path = Path(path)
    raw = read_yaml(path, "params file")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    for key in raw:  # a misspelt section would otherwise be silently ignored by every stage
        if key not in SECTIONS:
            raise ConfigError(f"{path}: unknown section {key}{did_you_mean(key, SECTIONS)}")
    return raw


def require(params: dict, key: str) -> Any:
    if key not in params:
        raise ConfigError(f"missing section {key}")
    return params[key]


def seed_and_section(params: dict, cls: type[C], section: str) -> tuple[int, C]:
    """What a one-section stage reads from params already in memory: the shared seed and its own
    section, both checked."""
    return parse_seed(require(params, "seed")), parse_section(cls, require(params, section), section)


@dataclass(frozen=True)
class TrainingParams:
    """Everything one training stage reads: the shared seed and loop knobs, and its own section."""

    name: str
    seed: int
    loop: TrainLoopConfig
    gan: GanConfig


def training_params(params: dict, section: str) -> TrainingParams:
    """One training stage's params, from params already in memory (a file, or one with `--set` applied).

    Whether its networks fit in this machine's memory is `gan_lab.footprint.check_fits`, which the
    entry points call next (a machine fact, not a params rule)."""
    if section not in TRAINING_SECTIONS:
        raise ConfigError(f"training section {section!r}: must be one of {', '.join(TRAINING_SECTIONS)}")
    return TrainingParams(
        name=section,
        seed=parse_seed(require(params, "seed")),
        loop=parse_section(TrainLoopConfig, require(params, "train"), "train"),
        gan=parse_gan(require(params, section), section),
    )


def load_training(section: str, path: str | Path = "params.yaml") -> TrainingParams:
    return training_params(read_params(path), section)


# --- the evaluator's classifier ------------------------------------------------------------------

@dataclass(frozen=True)
class ClassifierConfig:
    """`classifier:` the MNIST CNN whose features and softmax the evaluation metrics are computed on."""

    epochs: int = checked(positive())
    batch_size: int = checked(between(2, 4096))
    learning_rate: float = checked(between(0.0, 1.0, open_low=True))
    conv_filters: tuple[int, ...] = checked(each(positive()))
    feature_units: int = checked(positive())
    dropout: float = checked(between(0.0, 1.0, open_high=True))

    def validate(self, path: str) -> None:
        if len(self.conv_filters) > 4:
            raise ConfigError(
                f"{path}.conv_filters={list(self.conv_filters)}: at most 4 entries "
                "(each block halves the image: 28->14->7->3->1)"
            )


@dataclass(frozen=True)
class ClassifierParams:
    """Everything the train_classifier stage reads: the shared seed and its own section."""

    seed: int
    classifier: ClassifierConfig


def load_classifier(path: str | Path = "params.yaml") -> ClassifierParams:
    return ClassifierParams(*seed_and_section(read_params(path), ClassifierConfig, "classifier"))


# --- the self-attention study ---------------------------------------------------------------------

SENTENCE_WORDS = 6  # words in the study's sentence (gan_lab.attention.study.SENTENCE; a test ties them)
MAX_SEQ_LEN = 32  # longer, and the annotated maps stop being readable


@dataclass(frozen=True)
class AttentionConfig:
    """`attention:` the self-attention study: which embed_dim x num_heads settings, and its training."""

    embed_dims: tuple[int, ...] = checked(each(positive()))
    num_heads: tuple[int, ...] = checked(each(positive()))
    seq_len: int = checked(between(SENTENCE_WORDS, MAX_SEQ_LEN))
    mask_padding: bool = checked()
    train_steps: int = checked(positive())
    learning_rate: float = checked(between(0.0, 1.0, open_low=True))

    def validate(self, path: str) -> None:
        for key in ("embed_dims", "num_heads"):
            values = list(getattr(self, key))
            if len(set(values)) != len(values):
                raise ConfigError(f"{path}.{key}={values}: must not repeat a value")
        for embed_dim in self.embed_dims:
            for heads in self.num_heads:
                if embed_dim % heads:
                    raise ConfigError(
                        f"{path}.embed_dims: embed_dim={embed_dim} is not divisible by num_heads={heads} "
                        f"(from {path}.num_heads); every embed_dim must be a multiple of every head count"
                    )


@dataclass(frozen=True)
class AttentionParams:
    """Everything the attention_sweep stage reads: the shared seed and its own section."""

    seed: int
    attention: AttentionConfig


def load_attention(path: str | Path = "params.yaml") -> AttentionParams:
    return AttentionParams(*seed_and_section(read_params(path), AttentionConfig, "attention"))


# --- the evaluate stage ---------------------------------------------------------------------------

TRAIN_IMAGES = 60_000  # the real-data floor draws its samples from the train split
TEST_IMAGES = 10_000  # the reference every generator is scored against (gan_lab.data.IDX_FILES; a test ties them)


@dataclass(frozen=True)
class EvaluateConfig:
    """`evaluate:` how many samples each generator draws, and the evaluator's knobs."""

    n_samples: int = checked(between(10, TRAIN_IMAGES))
    batch_size: int = checked(between(1, 4096))
    nearest_k: int = checked(positive())
    kid_subsets: int = checked(positive())
    kid_subset_size: int = checked(at_least(2))

    def validate(self, path: str) -> None:
        if self.nearest_k >= self.n_samples:
            raise ConfigError(
                f"{path}.nearest_k={self.nearest_k}: must be below {path}.n_samples={self.n_samples} "
                "(each sample needs k other samples for its k-NN ball)"
            )
        if self.nearest_k >= TEST_IMAGES:
            raise ConfigError(
                f"{path}.nearest_k={self.nearest_k}: must be below the {TEST_IMAGES} test images "
                "(each test image needs k others for its k-NN ball)"
            )


@dataclass(frozen=True)
class EvaluateParams:
    """Everything the evaluate stage reads: the shared seed (noise, real slice) and its own section."""

    seed: int
    evaluate: EvaluateConfig


def load_evaluate(path: str | Path = "params.yaml") -> EvaluateParams:
    return EvaluateParams(*seed_and_section(read_params(path), EvaluateConfig, "evaluate"))
