"""JSON-lines data: ``{"tokens": [...], "ner_tags": [...]}`` per line, tags as strings or ids, and optionally
``"document_id"`` naming each sentence's document (:mod:`tagger.data.documents`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tagger.data.conll import Sentence, utf8_lines
from tagger.data.documents import DOCUMENT_COLUMN, DocumentIds
from tagger.data.schemes import parse_tag
from tagger.errors import InputError, missing_file

#: label lists that may sit next to JSON-lines data (see :func:`read_jsonl`); never a split
LABEL_FILES = ("labels.json", "label_list.json")
TOKEN_COLUMNS = ("tokens", "words", "token", "word")
TAG_COLUMNS = ("ner_tags", "tags", "ner", "labels", "label", "ner_labels")


def _labels_file(path: Path) -> list[str] | None:
    for name in LABEL_FILES:
        candidate = path.parent / name
        if candidate.is_file():
            labels = json.loads(candidate.read_text(encoding="utf-8"))
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                raise InputError("expected a JSON list of label strings", path=candidate)
            return labels
    return None


def iter_json_lines(path: str | os.PathLike[str]) -> Iterator[tuple[Any, int]]:
    """Stream the JSON value of each non-blank line with its line number; UTF-8 (BOM allowed) and JSON
    errors name the file, the line and, for bad bytes, the byte offset."""
    for lineno, line in utf8_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"not valid JSON: {err.msg}", path=path, line=lineno) from None
        yield obj, lineno


def read_jsonl(path: str | os.PathLike[str], *, tokens_column: str | None = None, tags_column: str | None = None,
               label_list: Sequence[str] | None = None) -> list[Sentence]:
    """Sentences of a JSON-lines file: ``{"tokens": [...], "ner_tags": [...]}`` per line.

    Tags are strings, or ints indexing ``label_list`` (else a ``labels.json`` list next to the file).
    A ``"document_id"`` on every line groups consecutive lines into documents (:class:`DocumentIds`).
    """
    if not os.path.isfile(path):
        raise InputError(missing_file(path), path=path)
    tok_key, tag_key = tokens_column or "tokens", tags_column or "ner_tags"
    names = list(label_list) if label_list is not None else None
    out: list[Sentence] = []
    documents = DocumentIds(path)
    for obj, lineno in iter_json_lines(path):
        if not isinstance(obj, dict) or tok_key not in obj or tag_key not in obj:
            raise InputError(f"expected an object with {tok_key!r} and {tag_key!r}", path=path, line=lineno)
        tokens, tags = obj[tok_key], obj[tag_key]
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise InputError(f"{tok_key!r} must be a list of strings", path=path, line=lineno)
        if not isinstance(tags, list) or len(tags) != len(tokens):
            raise InputError(f"{tag_key!r} must be a list as long as {tok_key!r} ({len(tokens)})", path=path, line=lineno)
        if tags and all(isinstance(t, int) and not isinstance(t, bool) for t in tags):
            if names is None:
                names = _labels_file(Path(path))
            if names is None:
                raise InputError("integer tags need a label list (label_list=..., or labels.json next to the file)",
                                 path=path, line=lineno)
            if any(t < 0 or t >= len(names) for t in tags):
                raise InputError(f"tag id out of range for {len(names)} labels", path=path, line=lineno)
            tags = [names[t] for t in tags]
        elif not all(isinstance(t, str) for t in tags):
            raise InputError(f"{tag_key!r} must hold tag strings or integer ids", path=path, line=lineno)
        for t in tags:
            try:
                parse_tag(t)
            except ValueError as err:
                raise InputError(str(err), path=path, line=lineno) from None
        document = documents.number(obj.get(DOCUMENT_COLUMN), lineno, DOCUMENT_COLUMN in obj)
        if tokens:
            out.append(Sentence(list(tokens), list(tags), lineno, document))
    return out


def pick_column(names: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str, where: str) -> str:
    if wanted is not None:
        if wanted not in names:
            raise InputError(f"no column {wanted!r} for {what} (columns: {', '.join(names)})", path=where)
        return wanted
    for c in candidates:
        if c in names:
            return c
    raise InputError(f"cannot find the {what} column among {', '.join(names)}; name it with "
                     f"{'tokens_column' if what == 'tokens' else 'tags_column'}", path=where)
