"""Read NER data as published into one representation (:class:`NerData`).

Accepted inputs: CoNLL column files (:mod:`tagger.data.conll`) and JSON lines (:mod:`tagger.data.jsonl`),
chosen by suffix (:mod:`tagger.data.formats`), a folder of such files named after their splits
(:mod:`tagger.data.splits`), a saved ``DatasetDict`` folder, Hub data sets (:mod:`tagger.data.hub_data`),
and the named sets ``conll2003`` / ``wnut17``. Tags are checked, converted to the training scheme (IOB2
by default) and mapped to a deterministic label list; sentences keep their order and their document
(:mod:`tagger.data.documents`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagger.catalog import DATASETS
from tagger.catalog import hub_id as catalog_hub_id
from tagger.data.conll import Sentence, read_conll
from tagger.data.documents import DOCUMENT_COLUMN, number_documents
from tagger.data.formats import file_format
from tagger.data.hub_data import load_hub
from tagger.data.jsonl import read_jsonl
from tagger.data.schemes import (
    convert_tags,
    detect_scheme,
    entities,
    labels_for_types,
    normalize_scheme,
    parse_tag,
    sort_labels,
)
from tagger.data.splits import SPLITS, folder_splits, resolve_named
from tagger.errors import InputError

if TYPE_CHECKING:
    import datasets  # imported where used: `tagger predict` (which only reads files) starts 0.4 s sooner

logger = logging.getLogger(__name__)


@dataclass
class NerData:
    """Splits with ``tokens`` (list of str), ``ner_tags`` (ClassLabel ids over ``label_list``) and
    ``document_id`` (each sentence's document number in its split, :func:`~tagger.data.documents.number_documents`:
    consecutive sentences of one document share it; a sentence without a document has one of its own)."""

    splits: datasets.DatasetDict
    label_list: list[str]
    sources: dict[str, str] = field(default_factory=dict)  # split -> relative path or Hub id, never absolute
    scheme: str = "IOB2"
    name: str = ""


def read_file(path: str | os.PathLike[str], **kwargs: Any) -> list[Sentence]:
    """A CoNLL or JSON-lines file, chosen by suffix (:func:`tagger.data.formats.file_format`).

    ``kwargs`` (tokens_column, tags_column, label_list) apply to JSON lines only.
    """
    if file_format(path) == "jsonl":
        return read_jsonl(path, **kwargs)
    return read_conll(path)


def _deterministic_fingerprint(parts: Sequence[Any]) -> str:
    # the feature cache keys on the fingerprint: equal data must give equal fingerprints across runs
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, ensure_ascii=False).encode())
    return h.hexdigest()[:32]


@dataclass
class _Raw:
    """Sentences per split as read, before scheme conversion, and where each split came from."""

    rows: dict[str, list[Sentence]] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # split -> path or Hub split, for error messages
    sources: dict[str, str] = field(default_factory=dict)  # split -> relative path or Hub id, never absolute
    name: str = ""

    def add(self, split: str, rows: list[Sentence], where: str, source: str) -> None:
        self.rows[split], self.where[split], self.sources[split] = rows, where, source


def load_ner_dataset(
    name: str | None = None,
    *,
    train_file: str | os.PathLike[str] | None = None,
    validation_file: str | os.PathLike[str] | None = None,
    test_file: str | os.PathLike[str] | None = None,
    data_dir: str | None = None,
    scheme: str = "IOB2",
    tokens_column: str | None = None,
    tags_column: str | None = None,
    label_list: list[str] | None = None,
) -> NerData:
    """Read a data set into :class:`NerData` (splits among train/validation/test).

    ``name``: ``conll2003`` | ``wnut17`` (a local folder first, see :func:`data_roots`, else the Hub),
    a folder of data files named after their splits (:func:`split_of`; suffixes:
    :mod:`tagger.data.formats`) or a saved ``DatasetDict``, or a Hub id. A folder whose data files name
    no split is an :class:`InputError` listing them. Explicit ``*_file`` arguments override (or
    replace) the splits of ``name``. ``label_list`` forces the labels (e.g. a checkpoint's): other
    labels in the data are an error. Labels seen only in validation/test are logged as a warning and
    appended so they are scored.
    """
    try:
        target = normalize_scheme(scheme)
    except ValueError as err:
        raise InputError(str(err)) from None
    columns: dict[str, Any] = {"tokens_column": tokens_column, "tags_column": tags_column,
                               "label_list": label_list}
    explicit = {"train": train_file, "validation": validation_file, "test": test_file}
    wanted = [split for split in SPLITS if explicit[split] is None]
    raw = _read_name(name, data_dir, wanted, columns) if name is not None else _Raw()
    _read_files(raw, explicit, columns)
    if not raw.rows:
        raise InputError("no data: give a data set name, a folder or train/validation/test files", path=name)
    for split, rows in raw.rows.items():
        if not rows:
            raise InputError(f"the {split} split has no sentences", path=raw.where[split])
    converted = _convert_scheme(raw, target)
    labels = _build_label_list(converted, raw.where, target, label_list)
    return NerData(splits=_dataset_dict(converted, labels), label_list=labels, sources=raw.sources,
                   scheme=target, name=raw.name)


def _read_name(name: str, data_dir: str | None, wanted: Sequence[str], columns: dict[str, Any]) -> _Raw:
    """The ``wanted`` splits of a named set, a folder of split files, a saved ``DatasetDict`` or a Hub id."""
    is_dir = Path(name).is_dir()
    raw = _Raw(name=Path(name).resolve().name if is_dir else name)
    if not wanted:
        return raw
    if name in DATASETS:
        found = resolve_named(name, data_dir, wanted)
    else:
        files = folder_splits(Path(name), wanted) if is_dir else None
        found = (Path(name), files) if files else None
    if found is not None:
        _read_folder(raw, *found, wanted, columns)
    else:
        _read_hub(raw, name, wanted, columns, source=raw.name if is_dir else None)
    return raw


def _read_folder(raw: _Raw, folder: Path, files: dict[str, Path], wanted: Sequence[str],
                 columns: dict[str, Any]) -> None:
    for split, path in files.items():
        if split in wanted:
            raw.add(split, read_file(path, **columns), str(path), f"{folder.name}/{path.name}")


def _read_hub(raw: _Raw, name: str, wanted: Sequence[str], columns: dict[str, Any], source: str | None) -> None:
    """``source``: what ``NerData.sources`` records (a local folder's name, never its path); default the Hub id."""
    hub_id = catalog_hub_id(name)
    loaded = load_hub(hub_id, columns["tokens_column"], columns["tags_column"], columns["label_list"])
    for split, rows in loaded.items():
        if split in wanted:
            raw.add(split, rows, f"{hub_id}[{split}]", source or hub_id)


def _read_files(raw: _Raw, explicit: dict[str, str | os.PathLike[str] | None], columns: dict[str, Any]) -> None:
    """Splits given as files replace those of the name; without a name, the first file's stem names the set."""
    for split, path in explicit.items():
        if path is not None:
            raw.add(split, read_file(path, **columns), str(path), Path(path).name)
            raw.name = raw.name or Path(path).stem


def _convert_scheme(raw: _Raw, target: str) -> dict[str, list[Sentence]]:
    """Each split in ``target``, its scheme detected per split (CoNLL-2003 copies exist in IOB1 and IOB2)."""
    converted: dict[str, list[Sentence]] = {}
    for split, rows in raw.rows.items():
        source = detect_scheme(tags for _, tags, _, _ in rows)
        if source != target:
            logger.info("%s: %s tags converted to %s", raw.where[split], source, target)
            rows = [row._replace(tags=convert_tags(row.tags, source, target)) for row in rows]
        converted[split] = rows
    return converted


def _dataset_dict(rows_by_split: dict[str, list[Sentence]], labels: list[str]) -> datasets.DatasetDict:
    """Splits in :data:`SPLITS` order, tags as ``ClassLabel`` ids over ``labels``, fingerprints deterministic."""
    import datasets

    label_index = {label: i for i, label in enumerate(labels)}
    features = datasets.Features({
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=labels)),
        DOCUMENT_COLUMN: datasets.Value("int64"),
    })
    splits = datasets.DatasetDict()
    for split in SPLITS:
        if split not in rows_by_split:
            continue
        rows = rows_by_split[split]
        tokens = [row.tokens for row in rows]
        ids = [[label_index[t] for t in row.tags] for row in rows]
        documents = number_documents([row.document for row in rows])
        ds = datasets.Dataset.from_dict({"tokens": tokens, "ner_tags": ids, DOCUMENT_COLUMN: documents},
                                        features=features, split=datasets.NamedSplit(split))
        ds._fingerprint = _deterministic_fingerprint([split, labels, tokens, ids, documents])
        splits[split] = ds
    return splits


def _build_label_list(rows_by_split: dict[str, list[Sentence]], where: dict[str, str], scheme: str,
                      forced: list[str] | None) -> list[str]:
    if forced is not None:
        allowed = set(forced)
        for split, rows in rows_by_split.items():
            for _toks, tags, line, _doc in rows:
                for t in tags:
                    if t not in allowed:
                        raise InputError(f"label {t!r} is not in the given label list ({', '.join(forced)})",
                                         path=where[split], line=line)
        return list(forced)
    # every label of the scheme for each type seen in training, so that e.g. I-X exists even if
    # training only had single-word X entities
    base = "train" if "train" in rows_by_split else next(iter(rows_by_split))
    train_types = {parse_tag(t)[1] for _, tags, _, _ in rows_by_split[base] for t in tags} - {None}
    labels = labels_for_types(sorted(train_types), scheme)  # type: ignore[arg-type]
    known = set(labels)
    extra = {t for split, rows in rows_by_split.items() for _, tags, _, _ in rows for t in tags} - known
    if extra:
        extra_types = {parse_tag(t)[1] for t in extra} - {None}
        new = [lab for lab in labels_for_types(sorted(extra_types), scheme) if lab not in known]  # type: ignore[arg-type]
        new += sort_labels(extra - known - set(new))  # prefixes outside the scheme, kept as published
        splits = [s for s in rows_by_split if s != base and any(t in extra for _, tags, _, _ in rows_by_split[s] for t in tags)]
        logger.warning("labels not seen in %s, found in %s: %s (added to the label list so they are scored)",
                       base, ", ".join(splits), ", ".join(sort_labels(extra)))
        labels += new
    return labels


def entity_counts(tags_per_sentence: Sequence[Sequence[str]]) -> dict[str, int]:
    """Entities per type, read like conlleval (:func:`tagger.data.schemes.entities`)."""
    out: dict[str, int] = {}
    for tags in tags_per_sentence:
        for typ, _, _ in entities(tags):
            out[typ] = out.get(typ, 0) + 1
    return dict(sorted(out.items()))
