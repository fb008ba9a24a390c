"""User-facing errors.

Anything a user can cause by bad input (a malformed file, an unknown config key, an invalid loss
parameter) raises a subclass of :class:`TaggerError`. The command line prints its message on one
line and exits with code 2; tracebacks are shown only with ``--debug``.
"""

from __future__ import annotations

from os import PathLike


class TaggerError(Exception):
    """Base class for errors caused by user input; the CLI maps them to exit code 2."""

    exit_code: int = 2


class InputError(TaggerError, ValueError):
    """Bad data: names the file and, where known, the line (1-based) or byte offset.

    >>> str(InputError("tag 'X-PER' is not O or PREFIX-TYPE", path="train.conll", line=12))
    "train.conll:12: tag 'X-PER' is not O or PREFIX-TYPE"
    """

    def __init__(self, message: str, path: str | PathLike[str] | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path + (f":{self.line}" if self.line is not None else "") + ": "
        return where + self.message


class ConfigError(TaggerError, ValueError):
    """Bad configuration: unknown key, wrong type or invalid value."""


class PushError(TaggerError):
    """Publishing to the Hub failed (no token, no network, refused); the local model is untouched."""

    exit_code = 1
