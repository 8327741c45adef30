"""`--set key=value` on the command line: params.yaml with a few values replaced, then checked by
the very loader a DVC stage uses, so a value the stage would refuse is refused here too.

`key` is a dotted path (`cnn.steps`, `seed`); `value` is read as YAML, as `dvc exp run -S` reads
it: `100` is an integer, `2e-4` a number, `true` a boolean, `[8, 4]` a list.
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml

from gan_lab.config import TrainingParams, load_training, read_params
from gan_lab.errors import ConfigError


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """`cnn.steps=100` -> (["cnn", "steps"], 100)."""
    key, sep, raw_value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected key=value, for example cnn.steps=100")
    try:
        value = yaml.safe_load(raw_value)
    except yaml.YAMLError:
        raise ConfigError(f"--set {text!r}: {raw_value!r} is not a YAML value") from None
    return key.strip().split("."), value


def apply_overrides(params: dict, assignments: list[str], readable: tuple[str, ...]) -> dict:
    """A copy of `params` with each assignment applied; only the sections in `readable` may be set,
    since a value the command never reads would be silently ignored."""
    params = copy.deepcopy(params)
    for text in assignments:
        path, value = parse_assignment(text)
        if path[0] not in readable:
            raise ConfigError(f"--set {text}: this command reads only {', '.join(readable)}")
        node = params
        for depth, part in enumerate(path[:-1]):
            node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text}: {'.'.join(path[:depth + 1])} is not a section of keys")
        node[path[-1]] = value
    return params


def load_training_with_overrides(section: str, params_path: Path, assignments: list[str]) -> TrainingParams:
    """`load_training` on params.yaml with `assignments` applied (written to a temporary copy)."""
    params = apply_overrides(read_params(params_path), assignments, ("seed", "train", section))
    with tempfile.TemporaryDirectory() as scratch:
        merged = Path(scratch) / "params.yaml"
        merged.write_text(yaml.safe_dump(params, sort_keys=False))
        return load_training(section, merged)
