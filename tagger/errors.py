"""User-facing errors.

Anything a user can cause by bad input (a malformed file, an unknown config key, an invalid loss
parameter, an output folder that cannot be written) raises a subclass of :class:`TaggerError`. The
command line prints its message on one line and exits with code 2; tracebacks are shown only with
``--debug``. Every message is passed through :func:`shorten`, so an error about a 10 MB line quotes
at most :data:`QUOTE_LIMIT` characters of it.
"""

from __future__ import annotations

import re
from os import PathLike
from typing import Any

QUOTE_LIMIT = 200
# A stretch of text that long without a space is a quoted value (a line, a token, a tag, a config
# value), never the wording of a message.
_LONG_RUN = re.compile(r"\S{%d,}" % (QUOTE_LIMIT + 1))


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` if it is at most ``limit`` characters, else its start and end around how much was cut.

    The end is kept because it often holds what tells values apart (a file name, a closing quote).

    >>> quote("x" * 1000, limit=20)
    'xxxxxxxxxxxxxxx[... 980 characters ...]xxxxx'
    """
    if len(text) <= limit:
        return text
    head = limit * 3 // 4
    tail = limit - head
    return f"{text[:head]}[... {len(text) - limit:,} characters ...]{text[len(text) - tail:]}"


def shorten(message: str, limit: int = QUOTE_LIMIT) -> str:
    """``message`` with every quoted value longer than ``limit`` characters cut by :func:`quote`, and
    the whole cut to ``4 * limit`` characters should it quote long text with spaces."""
    if len(message) <= limit:
        return message
    return quote(_LONG_RUN.sub(lambda m: quote(m.group(), limit), message), 4 * limit)


def missing_file(path: str | PathLike[str]) -> str:
    """Why ``path``, expected to be a file, cannot be read: it is a folder, or it does not exist."""
    import os

    return "a folder, not a file" if os.path.isdir(path) else "file not found"


class TaggerError(Exception):
    """Base class for errors caused by user input; the CLI maps them to exit code 2."""

    exit_code: int = 2

    def __init__(self, *args: Any) -> None:
        super().__init__(*(shorten(a) if isinstance(a, str) else a for a in args))


class InputError(TaggerError, ValueError):
    """Bad data: names the file and, where known, the line (1-based) or byte offset.

    >>> str(InputError("tag 'X-PER' is not O or PREFIX-TYPE", path="train.conll", line=12))
    "train.conll:12: tag 'X-PER' is not O or PREFIX-TYPE"
    """

    def __init__(self, message: str, path: str | PathLike[str] | None = None, line: int | None = None):
        self.message = shorten(message)
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


class OutputError(TaggerError):
    """An output cannot be written (read-only folder, a file in the way, disk full); names the path.

    Whatever was being written is left as it was before: no partial file, no temporary file.
    """


class PushError(TaggerError):
    """Publishing to the Hub failed (no token, no network, refused); the local model is untouched."""

    exit_code = 1
