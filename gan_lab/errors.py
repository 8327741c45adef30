"""One error type for every fault a user can fix, and the guard that prints it as one line."""
from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

T = TypeVar("T")


class GanLabError(Exception):
    """A fault in the user's params or data: reported as one line, never as a traceback."""


class ConfigError(GanLabError):
    """A parameter is missing, mistyped or out of range."""


class DataError(GanLabError):
    """A data file is missing, corrupt or not what it claims to be."""


def exit_on_user_error(main: Callable[..., T]) -> Callable[..., T]:
    """Run `main`; turn a GanLabError into `error: <message>` on stderr and exit status 2."""

    @functools.wraps(main)
    def guarded(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except GanLabError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    return guarded
