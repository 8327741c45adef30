"""`--set key=value` on the command line: params.yaml with a few values replaced in memory, then
checked by the very parser a DVC stage uses, so a value the stage would refuse is refused here too.

`key` is a dotted path (`cnn.steps`, `seed`); `value` is read as YAML 1.2, as `dvc exp run -S`
reads it: `100` is an integer, `2e-4` a number, `true` a boolean, `[8, 4]` a list, `yes` a string.
Each key may be set once.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from gan_lab.config import TrainingParams, read_params, training_params
from gan_lab.errors import ConfigError
from gan_lab.yaml12 import parse_yaml


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """`cnn.steps=100` -> (["cnn", "steps"], 100)."""
    key, sep, raw_value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected key=value, for example cnn.steps=100")
    return key.strip().split("."), parse_yaml(raw_value, f"--set {text}")


def apply_overrides(params: dict, assignments: list[str], readable: tuple[str, ...]) -> dict:
    """A copy of `params` with each assignment applied; only the sections in `readable` may be set,
    since a value the command never reads would be silently ignored."""
    params = copy.deepcopy(params)
    given: dict[str, str] = {}
    for text in assignments:
        path, value = parse_assignment(text)
        dotted = ".".join(path)
        if dotted in given:
            raise ConfigError(f"--set {text}: {dotted} is already set by --set {given[dotted]}; set each key once")
        given[dotted] = text
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
    """A training section of the params file at `params_path`, with `assignments` applied."""
    params = apply_overrides(read_params(params_path), assignments, ("seed", "train", section))
    return training_params(params, section)
