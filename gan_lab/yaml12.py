"""Reading YAML as DVC reads params.yaml: ruamel.yaml's safe loader, YAML 1.2, duplicate keys refused.

PyYAML speaks YAML 1.1, where `yes`, `on` are booleans, `010` is eight and `1:30` is ninety; DVC
(and so `dvc.lock`, `dvc exp show`, `dvc exp run -S`) reads the same text as YAML 1.2, where the
first and last are strings and `010` is ten. A stage reading PyYAML would train on one value while
DVC records another, so every params file and `--set` value is read here, the way DVC reads it.
Every fault (unreadable file, bytes that are not UTF-8, bad syntax, a key given twice) is one
ConfigError line naming the file, where in it, and what is wrong.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from gan_lab.errors import ConfigError


def _where(exc: YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def parse_yaml(text: str, source: str) -> Any:
    """`text` as YAML 1.2 (DVC's reading); `source` names it in the one-line error."""
    try:
        return YAML(typ="safe").load(text)
    except DuplicateKeyError as exc:
        problem = exc.problem.split(" with value")[0]  # `found duplicate key "steps"`
        raise ConfigError(f"{source}: {problem}{_where(exc)}; each key may appear once (DVC refuses duplicates)") from None
    except MarkedYAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc.problem}{_where(exc)})") from None
    except YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None


def read_yaml(path: Path, what: str) -> Any:
    """Read and parse the file at `path` (`what` it is, for the message): UTF-8 text, YAML 1.2."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: byte 0x{data[exc.start]:02x} at line {line} is not UTF-8; save the {what} as UTF-8 text"
        ) from None
    return parse_yaml(text, str(path))
