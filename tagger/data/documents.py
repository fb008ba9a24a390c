"""Documents: which sentences belong together, and the context subwords their neighbours give a window.

Data sets mark documents in three ways: a ``-DOCSTART-`` line in CoNLL files (the sentences after it,
up to the next one, are one document), a ``document_id`` field on every line of JSON lines, or a
``document_id`` column in Hub data. A document's sentences must be consecutive and in order; data without
any marking has no documents, and every sentence is then a document of its own. A sentence's document is
a number, increasing along the file (:func:`number_documents` gives the numbers of a split).

Document context (``data.context``, FLERT: Schweter and Akbik, 2020) puts subwords of the neighbouring
sentences of the same document beside a sentence's own in its windows, up to ``context`` subwords on each
side and up to the window's length: :func:`neighbour_subwords` gathers what each sentence's neighbours
offer, :func:`context_sizes` how much of it one window takes. Context subwords carry no label and no word
index, so no loss is computed and no prediction is read there.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import TypeVar

from tagger.errors import InputError

T = TypeVar("T")

#: the field (JSON lines) or column (Hub data) that names each sentence's document
DOCUMENT_COLUMN = "document_id"


class DocumentIds:
    """Numbers the documents of consecutive rows from the ``document_id`` each row names (JSON lines, Hub
    rows, ``Tagger.predict(..., documents=...)``).

    :meth:`number` returns the row's document number, or None for a row without an id when no row has one
    (each such row is then a document of its own). An :class:`InputError` naming ``path`` and the row's
    line: an id that comes back after another document started (its sentences are not consecutive), an id
    that is not a string or an integer, or rows with an id mixed with rows without one.
    """

    def __init__(self, path: str | os.PathLike[str] | None, unit: str = "line") -> None:
        self.path = path
        self.unit = unit  # what a row is called in messages: a line of a file, a sentence of a list
        self.first_line: dict[Hashable, int] = {}  # id -> line of its first row
        self.current: Hashable | None = None
        self.count = 0  # documents seen
        self.with_id: bool | None = None  # whether rows carry an id (set by the first row)
        self.first_row_line = 0

    def number(self, value: object, line: int, present: bool = True) -> int | None:
        """The document number of the row at ``line`` whose id is ``value`` (``present``: the row has one)."""
        if self.with_id is None:
            self.with_id, self.first_row_line = present, line
        if present != self.with_id:
            have, lack = (line, self.first_row_line) if present else (self.first_row_line, line)
            raise InputError(f"{DOCUMENT_COLUMN} is on some rows and not on others ({self.unit} {have} has one, "
                             f"{self.unit} {lack} has none): give every sentence its document, or none",
                             path=self.path, line=line)
        if not present:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InputError(f"{DOCUMENT_COLUMN} must be a string or an integer, got {value!r}"
                             + (f" ({self.unit} {line})" if self.path is None else ""), path=self.path, line=line)
        if self.count and value == self.current:
            return self.count - 1
        if value in self.first_line:
            raise InputError(f"{DOCUMENT_COLUMN} {value!r} comes back after another document: the sentences of a "
                             f"document must be consecutive (its first is {self.unit} {self.first_line[value]}"
                             + (f", this is {self.unit} {line})" if self.path is None else ")"),
                             path=self.path, line=line)
        self.first_line[value] = line
        self.current = value
        self.count += 1
        return self.count - 1


def number_documents(documents: Sequence[int | None]) -> list[int]:
    """Document numbers 0, 1, ... for S sentences from what a reader gave (None: a document of its own).

    >>> number_documents([None, 0, 0, 1, None])
    [0, 1, 1, 2, 3]
    """
    out: list[int] = []
    previous: int | None = None
    for doc in documents:
        same = bool(out) and doc is not None and doc == previous
        out.append(out[-1] if same else (out[-1] + 1 if out else 0))
        previous = doc
    return out


def has_documents(documents: Sequence[int]) -> bool:
    """Whether any document holds more than one sentence (otherwise context has nothing to add)."""
    return any(a == b for a, b in itertools.pairwise(documents))


def neighbour_subwords(subwords: Sequence[Sequence[int]], documents: Sequence[int], context: int
                       ) -> tuple[list[list[int]], list[list[int]]]:
    """What the neighbours of each of S sentences offer as context: ``(left, right)``, S rows each.

    ``left[s]``: the last ``context`` subwords of the sentences before ``s`` in its document, in text order;
    ``right[s]``: the first ``context`` subwords of the sentences after it. ``subwords``: S rows of subword
    ids without special tokens; ``documents``: S document numbers (consecutive sentences of one document
    share one). A document boundary is never crossed.
    """
    if len(subwords) != len(documents):
        raise ValueError(f"{len(documents)} document numbers for {len(subwords)} sentences")
    n = len(subwords)
    left: list[list[int]] = []
    right: list[list[int]] = []
    for s in range(n):
        before: list[int] = []
        j = s - 1
        while context and j >= 0 and documents[j] == documents[s] and len(before) < context:
            before = list(subwords[j]) + before
            j -= 1
        after: list[int] = []
        j = s + 1
        while context and j < n and documents[j] == documents[s] and len(after) < context:
            after += subwords[j]
            j += 1
        left.append(before[max(len(before) - context, 0):])
        right.append(after[:context])
    return left, right


def context_sizes(room: int, left: int, right: int) -> tuple[int, int]:
    """How many context subwords a window takes on each side: ``left``/``right`` are on offer, ``room`` is what
    the window's own subwords leave. Both sides get all they offer when it fits; otherwise the room is
    shared evenly (the left side gets the odd one), a side that offers less leaving the rest to the other.

    >>> context_sizes(10, 8, 8), context_sizes(10, 2, 8), context_sizes(11, 8, 8), context_sizes(0, 4, 4)
    ((5, 5), (2, 8), (6, 5), (0, 0))
    """
    room = max(room, 0)
    take_left = min(left, max(room - right, (room + 1) // 2))
    return take_left, min(right, room - take_left)


def document_chunks(items: Iterable[T], documents: Iterable[Hashable] | None, size: int
                    ) -> Iterator[tuple[list[T], list[int] | None]]:
    """``items`` in chunks of ``size`` with their document numbers, a chunk ending only where a document ends
    (so a document longer than ``size`` is one chunk); without ``documents``, chunks of ``size`` and None.

    ``documents``: one id per item (any string or integer; consecutive items of a document share it). An
    :class:`InputError` for an id that comes back after another document, ValueError when the two differ in
    length.
    """
    it = iter(items)
    if documents is None:
        while chunk := list(itertools.islice(it, size)):
            yield chunk, None
        return
    ids = DocumentIds(None, unit="sentence")
    chunk: list[T] = []
    numbers: list[int] = []
    missing = object()
    for k, (item, doc) in enumerate(itertools.zip_longest(it, documents, fillvalue=missing), 1):
        if item is missing or doc is missing:
            raise ValueError("documents must give one document id per sentence")
        number = ids.number(doc, k)
        if len(chunk) >= size and number != numbers[-1]:
            yield chunk, numbers
            chunk, numbers = [], []
        chunk.append(item)  # type: ignore[arg-type]
        numbers.append(number)  # type: ignore[arg-type]
    if chunk:
        yield chunk, numbers
