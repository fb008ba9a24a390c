"""Input formats: the one table from a file's suffix to the reader that reads it.

Training, evaluation and ``tagger data-stats`` read annotated data: CoNLL columns or JSON lines.
``tagger predict`` reads the same two and raw text. Every suffix reads the same everywhere except
``.txt``:

========================  =======================================  =================================
suffix                    training, evaluation, ``data-stats``     ``tagger predict``
========================  =======================================  =================================
.conll .iob .tsv          CoNLL columns                            CoNLL columns
.txt                      CoNLL columns                            raw text, one sentence per line
.jsonl .json .ndjson      JSON lines                               JSON lines
any other, or none        CoNLL columns                            CoNLL columns
========================  =======================================  =================================

Why ``.txt`` differs: annotated data is published as CoNLL columns in ``.txt`` files (CoNLL-2003 as
``train.txt``/``valid.txt``/``test.txt``), while what one tags with a model is mostly plain text.
``tagger predict --format conll`` reads a CoNLL ``.txt``. ``.json`` means JSON lines too (one object
per line), never one JSON array. Names without a known suffix (``eng.train``, ``eng.testa``) are
CoNLL columns. (``tagger score`` compares CoNLL column files whatever their suffix.)
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Command = Literal["data", "predict"]  # "data": training, evaluation and `tagger data-stats`

#: what each format name means, in help texts
FORMAT_NAMES: dict[str, str] = {
    "conll": "CoNLL columns",
    "jsonl": "JSON lines",
    "text": "raw text, one sentence per line",
}
#: the format of a suffix that is not in the table, or of a name without one
OTHER_FORMAT = "conll"


@dataclass(frozen=True)
class InputFormat:
    """One row of the table: suffixes and how each command reads them."""

    suffixes: tuple[str, ...]
    data: str  # training, evaluation, `tagger data-stats`: "conll" | "jsonl"
    predict: str  # `tagger predict`: "conll" | "jsonl" | "text"
    note: str = ""  # why the commands read it differently, where they do


INPUT_FORMATS: tuple[InputFormat, ...] = (
    InputFormat((".conll", ".iob", ".tsv"), "conll", "conll"),
    InputFormat((".txt",), "conll", "text",
                note="annotated data is published as CoNLL columns in .txt files, e.g. CoNLL-2003's "
                     "train.txt, while what one tags is mostly plain text; `tagger predict --format conll` "
                     "reads a CoNLL .txt"),
    InputFormat((".jsonl", ".json", ".ndjson"), "jsonl", "jsonl"),
)
#: every suffix of the table (lower case, with the dot)
DATA_SUFFIXES: tuple[str, ...] = tuple(s for row in INPUT_FORMATS for s in row.suffixes)
#: the formats `tagger predict --format` accepts
PREDICT_FORMATS: tuple[str, ...] = tuple(f for f in FORMAT_NAMES
                                         if f in {row.predict for row in INPUT_FORMATS})
_BY_SUFFIX = {s: row for row in INPUT_FORMATS for s in row.suffixes}


def file_format(path: str | os.PathLike[str], command: Command = "data") -> str:
    """The format a command reads ``path`` in, from its suffix (case-insensitive); see the module table."""
    row = _BY_SUFFIX.get(Path(path).suffix.lower())
    if row is None:
        return OTHER_FORMAT
    return row.predict if command == "predict" else row.data


def _named(fmt: str, command: Command) -> str:
    # `tagger predict --format` takes the short name: show it there
    return f"{FORMAT_NAMES[fmt]} ({fmt})" if command == "predict" else FORMAT_NAMES[fmt]


def describe(command: Command = "data", indent: str = "  ") -> str:
    """The table's column for ``command`` as help text, one line per row, with a note under a row that
    the other command reads differently::

        .conll, .iob, .tsv    CoNLL columns
        .txt                  CoNLL columns
                              (`tagger predict`: raw text, one sentence per line; annotated data is ...)
    """
    rows: list[tuple[str, str, str]] = []
    for row in INPUT_FORMATS:
        if command == "predict":
            fmt, other, other_name = row.predict, row.data, "training and `tagger data-stats`"
        else:
            fmt, other, other_name = row.data, row.predict, "`tagger predict`"
        note = f"({other_name}: {FORMAT_NAMES[other]}; {row.note})" if other != fmt else ""
        rows.append((", ".join(row.suffixes), _named(fmt, command), note))
    rows.append(("any other, or none", _named(OTHER_FORMAT, command), ""))
    width = max(len(r[0]) for r in rows) + 2
    lines = []
    for suffixes, name, note in rows:
        lines.append(f"{indent}{suffixes:<{width}}{name}")
        lines += [f"{indent}{'':<{width}}{part}" for part in textwrap.wrap(note, 96 - width - len(indent))]
    return "\n".join(lines)
