"""CoNLL column files: the one reader and the one writer.

Reading: columns split on tabs or runs of spaces, a blank line ends a sentence, a ``-DOCSTART-`` line
opens a document (:mod:`tagger.data.documents`); the token is the first column and the tag the last.
Writing: one ``token column...`` line per word and a blank line after every sentence (what ``tagger score`` reads and what ``tagger report`` takes
as a complete file); whitespace inside a token becomes ``_`` so that the columns stay columns.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, TextIO

from tagger.data.schemes import parse_tag
from tagger.errors import InputError, missing_file

_COLUMN_SPLIT = re.compile(r"[ \t]+")
_TOKEN_SPACE = re.compile(r"\s")



class Sentence(NamedTuple):
    """One sentence as read: its words and tags (N each; ``tags`` None for a file of tokens only), the line
    (1-based) of its first word, and its document: a number increasing along the file, or None for a
    sentence that is a document of its own (no ``-DOCSTART-`` before it, no ``document_id``)."""

    tokens: list[str]
    tags: list[str] | None
    line: int
    document: int | None = None


def iter_conll_columns(path: str | os.PathLike[str]) -> Iterator[tuple[list[list[str]], int, int | None]]:
    """Stream sentences as lists of column lists, with the line number (1-based) of their first word and
    their document (the number of ``-DOCSTART-`` lines before them less one; None before the first).

    Columns split on tabs or runs of spaces (other Unicode spaces and zero-width characters stay
    inside tokens); a line that is empty or only whitespace ends a sentence; a ``-DOCSTART-`` line
    ends a sentence and opens a document; CRLF, a final line without newline and a UTF-8 BOM are
    accepted. Non-UTF-8 bytes raise :class:`InputError` naming the line and byte offset.
    """
    if not os.path.isfile(path):
        raise InputError(missing_file(path), path=path)
    rows: list[list[str]] = []
    first = 0
    document: int | None = None
    for lineno, line in utf8_lines(path):
        line = line.rstrip("\r\n")
        if not line.strip():
            if rows:
                yield rows, first, document
                rows = []
            continue
        cols = _COLUMN_SPLIT.split(line.strip(" \t"))
        if cols[0] == "-DOCSTART-":
            if rows:
                yield rows, first, document
                rows = []
            document = 0 if document is None else document + 1
            continue
        if not rows:
            first = lineno
        rows.append(cols)
    if rows:
        yield rows, first, document


def utf8_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """Stream (line number, decoded line) without a BOM; bytes that are not UTF-8 raise
    :class:`InputError` naming the line and the byte offset."""
    offset = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise InputError(f"not UTF-8: byte 0x{raw[err.start]:02x} at byte offset {offset + err.start}",
                                 path=path, line=lineno) from None
            offset += len(raw)
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield lineno, line


def iter_conll(path: str | os.PathLike[str], require_tags: bool = True) -> Iterator[Sentence]:
    """Stream :class:`Sentence` (tokens, tags, first line, document): token in the first column, tag in the last.

    With ``require_tags=False`` a file of tokens only (one column) yields ``tags=None``; whether a file
    has tags is decided by its first word line, and every other line must agree. Tags are checked:
    anything but ``O`` or ``PREFIX-TYPE`` raises :class:`InputError` naming file, line and tag.
    Memory stays flat: one sentence at a time.
    """
    has_tags: bool | None = True if require_tags else None
    for rows, first, document in iter_conll_columns(path):
        if has_tags is None:
            has_tags = len(rows[0]) > 1
        tokens: list[str] = []
        tags: list[str] = []
        for j, cols in enumerate(rows):
            if has_tags and len(cols) < 2:
                raise InputError(f"expected a token and a tag separated by tabs or spaces, got one column {cols[0]!r}",
                                 path=path, line=first + j)
            if not has_tags and len(cols) > 1:
                raise InputError(f"expected one token per line (the file started without tags), got {len(cols)} columns",
                                 path=path, line=first + j)
            tokens.append(cols[0])
            if has_tags:
                tag = cols[-1]
                try:
                    parse_tag(tag)
                except ValueError as err:
                    raise InputError(str(err), path=path, line=first + j) from None
                tags.append(tag)
        yield Sentence(tokens, tags if has_tags else None, first, document)


def read_conll(path: str | os.PathLike[str]) -> list[Sentence]:
    """All sentences of a CoNLL file as (tokens, tags, first line, document); see :func:`iter_conll`."""
    return list(iter_conll(path))  # type: ignore[arg-type]


def conll_token(token: str) -> str:
    """``token`` as one column: whitespace inside it (odd data, JSON or Hub sources) becomes ``_``, and an
    empty token ``_``, so that every line splits back into the same columns."""
    return _TOKEN_SPACE.sub("_", token) or "_"


def write_conll(out: TextIO, sentences: Iterable[Sequence[Sequence[str]]]) -> int:
    """Write each sentence, given as columns (``tokens``, then e.g. ``gold``, ``pred``, all as long as the
    tokens), as one ``token col ...`` line per word and a blank line after it; returns the sentences written."""
    n = 0
    for columns in sentences:
        tokens, *rest = columns
        for i, token in enumerate(tokens):
            out.write(" ".join([conll_token(token), *(column[i] for column in rest)]) + "\n")
        out.write("\n")
        n += 1
    return n
