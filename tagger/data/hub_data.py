"""Data sets from the Hugging Face Hub, or saved with ``DatasetDict.save_to_disk``, as tagger's sentences."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tagger.data.conll import Sentence
from tagger.data.documents import DOCUMENT_COLUMN, DocumentIds
from tagger.data.jsonl import TAG_COLUMNS, TOKEN_COLUMNS, pick_column
from tagger.data.schemes import parse_tag
from tagger.data.splits import SPLIT_OF_NAME
from tagger.errors import InputError

if TYPE_CHECKING:
    import datasets  # imported where used: reading files never pays for it

logger = logging.getLogger(__name__)


def from_hf(dd: datasets.DatasetDict, where: str, tokens_column: str | None, tags_column: str | None,
             label_list: Sequence[str] | None) -> dict[str, list[Sentence]]:
    """The sentences of each split; a ``document_id`` column groups consecutive rows into documents
    (:class:`~tagger.data.documents.DocumentIds`; a row's line is its 1-based index in its split)."""
    import datasets

    out: dict[str, list[Sentence]] = {}
    for split_name, ds in dd.items():
        split = SPLIT_OF_NAME.get(split_name)
        if split is None:
            logger.warning("%s: split %r ignored (expected one of %s)", where, split_name,
                           ", ".join(SPLIT_OF_NAME))
            continue
        tok_col = pick_column(ds.column_names, tokens_column, TOKEN_COLUMNS, "tokens", where)
        tag_col = pick_column(ds.column_names, tags_column, TAG_COLUMNS, "tags", where)
        feat = ds.features[tag_col]
        inner = getattr(feat, "feature", None)
        names = list(inner.names) if isinstance(inner, datasets.ClassLabel) else None
        if names is None and label_list is not None:
            names = list(label_list)
        rows: list[Sentence] = []
        documents = DocumentIds(f"{where}[{split_name}]")
        doc_col = ds[DOCUMENT_COLUMN] if DOCUMENT_COLUMN in ds.column_names else None
        for i, (tokens, tags) in enumerate(zip(ds[tok_col], ds[tag_col])):
            if tags and not isinstance(tags[0], str):
                if names is None:
                    raise InputError(f"column {tag_col!r} holds ids without label names (no ClassLabel); pass label_list",
                                     path=f"{where}[{split_name}]", line=i + 1)
                tags = [names[t] for t in tags]
            for t in tags:
                try:
                    parse_tag(t)
                except ValueError as err:
                    raise InputError(str(err), path=f"{where}[{split_name}]", line=i + 1) from None
            document = documents.number(doc_col[i], i + 1) if doc_col is not None else None
            if tokens:
                rows.append(Sentence(list(tokens), list(tags), i + 1, document))
        out[split] = rows
    return out


def load_hub(name: str, tokens_column: str | None, tags_column: str | None,
              label_list: Sequence[str] | None) -> dict[str, list[Sentence]]:
    import datasets

    path = Path(name)
    try:
        if (path / "dataset_dict.json").is_file():
            dd = datasets.load_from_disk(str(path))
        else:
            dd = datasets.load_dataset(name)
    except InputError:
        raise
    except Exception as err:  # network, unknown id, unreadable folder: one line for the user
        raise InputError(f"cannot load data set: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
                         path=name) from err
    if not isinstance(dd, datasets.DatasetDict):
        dd = datasets.DatasetDict({"train": dd})
    return from_hf(dd, name, tokens_column, tags_column, label_list)
