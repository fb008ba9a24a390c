"""Read NER data as published into one representation (:class:`NerData`).

Accepted inputs: CoNLL column files and JSON lines (by suffix: :mod:`tagger.data.formats`), a folder
of such files named after their splits (:func:`split_of`), a saved ``DatasetDict`` folder, Hub data
sets (or any folder ``datasets.load_dataset`` understands), and the named sets ``conll2003`` /
``wnut17``. Tags are checked, converted to the training scheme (IOB2 by default) and mapped to a
deterministic label list.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagger.catalog import DATASETS
from tagger.catalog import hub_id as catalog_hub_id
from tagger.data.formats import DATA_SUFFIXES, file_format
from tagger.data.schemes import (convert_tags, detect_scheme, entities, labels_for_types, normalize_scheme,
                                 parse_tag, sort_labels)
from tagger.errors import InputError, missing_file

if TYPE_CHECKING:
    import datasets  # imported where used: `tagger predict` (which only reads files) starts 0.4 s sooner

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
#: the names each split is published under (file names: :func:`split_of`; Hub splits: exactly these)
SPLIT_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "validation": ("validation", "dev", "devel", "valid", "testa"),
    "test": ("test", "testb"),
}
_SPLIT_OF_NAME = {alias: split for split, aliases in SPLIT_NAMES.items() for alias in aliases}
_NAME_PARTS = re.compile(r"[._-]")
#: label lists that may sit next to JSON-lines data (see :func:`read_jsonl`); never a split
LABEL_FILES = ("labels.json", "label_list.json")
_COLUMN_SPLIT = re.compile(r"[ \t]+")
_TOKEN_COLUMNS = ("tokens", "words", "token", "word")
_TAG_COLUMNS = ("ner_tags", "tags", "ner", "labels", "label", "ner_labels")

Sentence = tuple[list[str], list[str], int]  # tokens, tags, first line (1-based)


@dataclass
class NerData:
    """Splits with ``tokens`` (list of str) and ``ner_tags`` (ClassLabel ids over ``label_list``)."""

    splits: datasets.DatasetDict
    label_list: list[str]
    sources: dict[str, str] = field(default_factory=dict)  # split -> relative path or Hub id, never absolute
    scheme: str = "IOB2"
    name: str = ""


# ---------------------------------------------------------------------------------------------------------------
# CoNLL column files


def iter_conll_columns(path: str | os.PathLike[str]) -> Iterator[tuple[list[list[str]], int]]:
    """Stream sentences as lists of column lists, with the line number (1-based) of their first word.

    Columns split on tabs or runs of spaces (other Unicode spaces and zero-width characters stay
    inside tokens); a line that is empty or only whitespace ends a sentence; ``-DOCSTART-`` lines
    are skipped (and end a sentence); CRLF, a final line without newline and a UTF-8 BOM are
    accepted. Non-UTF-8 bytes raise :class:`InputError` naming the line and byte offset.
    """
    if not os.path.isfile(path):
        raise InputError(missing_file(path), path=path)
    rows: list[list[str]] = []
    first = 0
    for lineno, line in utf8_lines(path):
        line = line.rstrip("\r\n")
        if not line.strip():
            if rows:
                yield rows, first
                rows = []
            continue
        cols = _COLUMN_SPLIT.split(line.strip(" \t"))
        if cols[0] == "-DOCSTART-":
            if rows:
                yield rows, first
                rows = []
            continue
        if not rows:
            first = lineno
        rows.append(cols)
    if rows:
        yield rows, first


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


def iter_conll(path: str | os.PathLike[str], require_tags: bool = True) -> Iterator[tuple[list[str], list[str] | None, int]]:
    """Stream (tokens, tags, first line) per sentence: token in the first column, tag in the last.

    With ``require_tags=False`` a file of tokens only (one column) yields ``tags=None``; whether a file
    has tags is decided by its first word line, and every other line must agree. Tags are checked:
    anything but ``O`` or ``PREFIX-TYPE`` raises :class:`InputError` naming file, line and tag.
    Memory stays flat: one sentence at a time.
    """
    has_tags: bool | None = True if require_tags else None
    for rows, first in iter_conll_columns(path):
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
        yield tokens, (tags if has_tags else None), first


def read_conll(path: str | os.PathLike[str]) -> list[Sentence]:
    """All sentences of a CoNLL file as (tokens, tags, first line); see :func:`iter_conll`."""
    return list(iter_conll(path))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------
# JSON lines


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
    """
    if not os.path.isfile(path):
        raise InputError(missing_file(path), path=path)
    tok_key, tag_key = tokens_column or "tokens", tags_column or "ner_tags"
    names = list(label_list) if label_list is not None else None
    out: list[Sentence] = []
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
        if tokens:
            out.append((list(tokens), list(tags), lineno))
    return out


def read_file(path: str | os.PathLike[str], **kwargs: Any) -> list[Sentence]:
    """A CoNLL or JSON-lines file, chosen by suffix (:func:`tagger.data.formats.file_format`).

    ``kwargs`` (tokens_column, tags_column, label_list) apply to JSON lines only.
    """
    if file_format(path) == "jsonl":
        return read_jsonl(path, **kwargs)
    return read_conll(path)


# ---------------------------------------------------------------------------------------------------------------
# Hub and saved data sets


def _pick_column(names: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str, where: str) -> str:
    if wanted is not None:
        if wanted not in names:
            raise InputError(f"no column {wanted!r} for {what} (columns: {', '.join(names)})", path=where)
        return wanted
    for c in candidates:
        if c in names:
            return c
    raise InputError(f"cannot find the {what} column among {', '.join(names)}; name it with "
                     f"{'tokens_column' if what == 'tokens' else 'tags_column'}", path=where)


def _from_hf(dd: datasets.DatasetDict, where: str, tokens_column: str | None, tags_column: str | None,
             label_list: Sequence[str] | None) -> dict[str, list[Sentence]]:
    import datasets

    out: dict[str, list[Sentence]] = {}
    for split_name, ds in dd.items():
        split = _SPLIT_OF_NAME.get(split_name)
        if split is None:
            logger.warning("%s: split %r ignored (expected one of %s)", where, split_name,
                           ", ".join(_SPLIT_OF_NAME))
            continue
        tok_col = _pick_column(ds.column_names, tokens_column, _TOKEN_COLUMNS, "tokens", where)
        tag_col = _pick_column(ds.column_names, tags_column, _TAG_COLUMNS, "tags", where)
        feat = ds.features[tag_col]
        inner = getattr(feat, "feature", None)
        names = list(inner.names) if isinstance(inner, datasets.ClassLabel) else None
        if names is None and label_list is not None:
            names = list(label_list)
        rows: list[Sentence] = []
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
            if tokens:
                rows.append((list(tokens), list(tags), i + 1))
        out[split] = rows
    return out


def _load_hub(name: str, tokens_column: str | None, tags_column: str | None,
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
    return _from_hf(dd, name, tokens_column, tags_column, label_list)


# ---------------------------------------------------------------------------------------------------------------
# Resolution of names and files


def split_of(filename: str) -> tuple[str, int] | None:
    """The split a data file's name stands for, and how closely (0 best), or None.

    The rule, case-insensitive: take away a data suffix (:data:`tagger.data.formats.DATA_SUFFIXES`);
    what is left names the split when it

    0. is one of :data:`SPLIT_NAMES` (``train.conll``, ``devel.tsv``, ``valid.txt``, ``testb``),
    1. ends with one after ``.``, ``_`` or ``-`` (``eng.train``, ``eng.testa``, ``en_dev.conll``,
       ``emerging.dev.conll``, ``en_ewt-ud-test.conll``),
    2. or starts with one before ``.``, ``_`` or ``-`` (``train_data``, ``test-2019.jsonl``).

    A name whose suffix is neither a data suffix nor a split name (``train.parquet``, ``train.log``)
    is no split file, nor is a name where the split name is only part of a word (``wnut17train.conll``).
    """
    name = filename.lower()
    suffix = Path(name).suffix
    if suffix in DATA_SUFFIXES:
        name = name[: -len(suffix)]
    elif suffix and suffix[1:] not in _SPLIT_OF_NAME:
        return None
    parts = _NAME_PARTS.split(name)
    if name in _SPLIT_OF_NAME:
        return _SPLIT_OF_NAME[name], 0
    if len(parts) > 1 and parts[-1] in _SPLIT_OF_NAME:
        return _SPLIT_OF_NAME[parts[-1]], 1
    if len(parts) > 1 and parts[0] in _SPLIT_OF_NAME:
        return _SPLIT_OF_NAME[parts[0]], 2
    return None


#: the naming rule of :func:`split_of` in words, for help texts and errors
SPLIT_NAMING_RULE = (
    "without its suffix, the file name is, ends with (after . _ or -) or starts with (before . _ or -) a split "
    "name: " + "; ".join(", ".join(names) for names in SPLIT_NAMES.values())
    + " (train.conll, eng.testa, en_dev.tsv, devel.txt)"
)
_NAMING_HINT = (f"name each file after its split ({SPLIT_NAMING_RULE}), or give the files as data.train_file=, "
                "data.validation_file=, data.test_file= (train_file= ... in load_ner_dataset)")


def _data_files(folder: Path) -> list[Path]:
    """Files of ``folder`` that could hold a split: not hidden, no label list, a data suffix or a split name."""
    return [p for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.name.lower() not in LABEL_FILES
            and (p.suffix.lower() in DATA_SUFFIXES or split_of(p.name) is not None)]


def split_files(folder: str | os.PathLike[str], wanted: Sequence[str] = SPLITS) -> dict[str, Path]:
    """The file of each split found in ``folder`` by the naming rule of :func:`split_of`.

    The closest name wins (``test.conll`` over ``test_predictions.conll``); two files equally close
    to a ``wanted`` split are an :class:`InputError` naming both (a split given as a file of its own is
    not wanted, and its ties are left out). When a wanted split is missing and the folder holds data
    files named after no split, a warning lists them.
    """
    folder = Path(folder)
    ranked: dict[str, list[tuple[int, Path]]] = {}
    unmatched: list[str] = []
    for path in _data_files(folder):
        hit = split_of(path.name)
        if hit is None:
            unmatched.append(path.name)
        else:
            ranked.setdefault(hit[0], []).append((hit[1], path))
    found: dict[str, Path] = {}
    for split in SPLITS:
        if split not in ranked:
            continue
        best = min(rank for rank, _ in ranked[split])
        top = [p.name for rank, p in ranked[split] if rank == best]
        if len(top) > 1 and split in wanted:
            raise InputError(f"{' and '.join(top)} both name the {split} split: keep one, or give the one to "
                             f"read as data.{split}_file= ({split}_file= in load_ner_dataset)", path=folder)
        if len(top) == 1:
            found[split] = folder / top[0]
            if len(ranked[split]) > 1:
                logger.info("%s: %s is the %s split (the closest name)", folder, top[0], split)
    missing = [s for s in wanted if s not in found]
    if found and missing and unmatched:
        logger.warning("%s: no %s split; data files named after no split: %s. To read them, %s", folder,
                       " or ".join(missing), _listing(unmatched), _NAMING_HINT)
    return found


def _listing(names: Sequence[str], limit: int = 10) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _folder_splits(folder: Path, wanted: Sequence[str] = SPLITS) -> dict[str, Path] | None:
    """The split files of ``folder``; None if it is a saved ``DatasetDict`` or holds no data file (the
    Hub loader reads such folders: parquet, csv, arrow); InputError if its data files name no split."""
    if (folder / "dataset_dict.json").is_file():
        return None
    found = split_files(folder, wanted)
    if found:
        return found
    unmatched = [p.name for p in _data_files(folder)]
    if unmatched:
        raise InputError(f"no file named after a split among the data files {_listing(unmatched)}; "
                         f"{_NAMING_HINT}", path=folder)
    return None


def data_roots(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where named data sets are looked for, in order: ``data_dir``, ``$TAGGER_DATA_DIR``, ``data/``, ``../shared/data/``.

    The last two are tried relative to the working directory, then to the repository root.
    """
    roots: list[Path] = []
    if data_dir:
        roots.append(Path(data_dir))
    if os.environ.get("TAGGER_DATA_DIR"):
        roots.append(Path(os.environ["TAGGER_DATA_DIR"]))
    repo = Path(__file__).resolve().parents[2]
    for base in (Path.cwd(), repo):
        roots += [base / "data", base.parent / "shared" / "data"]
    return roots


def resolve_named(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The local folder of a named data set (holding split files, :func:`split_of`), or None."""
    found = _resolve_named(name, data_dir)
    return found[0] if found is not None else None


def _resolve_named(name: str, data_dir: str | os.PathLike[str] | None,
                   wanted: Sequence[str] = SPLITS) -> tuple[Path, dict[str, Path]] | None:
    for root in data_roots(data_dir):
        folder = root / name
        files = _folder_splits(folder, wanted) if folder.is_dir() else None
        if files:
            return folder, files
    return None


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
        found = _resolve_named(name, data_dir, wanted)
    else:
        files = _folder_splits(Path(name), wanted) if is_dir else None
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
    loaded = _load_hub(hub_id, columns["tokens_column"], columns["tags_column"], columns["label_list"])
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
        source = detect_scheme(tags for _, tags, _ in rows)
        if source != target:
            logger.info("%s: %s tags converted to %s", raw.where[split], source, target)
            rows = [(toks, convert_tags(tags, source, target), line) for toks, tags, line in rows]
        converted[split] = rows
    return converted


def _dataset_dict(rows_by_split: dict[str, list[Sentence]], labels: list[str]) -> datasets.DatasetDict:
    """Splits in :data:`SPLITS` order, tags as ``ClassLabel`` ids over ``labels``, fingerprints deterministic."""
    import datasets

    label_index = {label: i for i, label in enumerate(labels)}
    features = datasets.Features({
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=labels)),
    })
    splits = datasets.DatasetDict()
    for split in SPLITS:
        if split not in rows_by_split:
            continue
        rows = rows_by_split[split]
        tokens = [toks for toks, _, _ in rows]
        ids = [[label_index[t] for t in tags] for _, tags, _ in rows]
        ds = datasets.Dataset.from_dict({"tokens": tokens, "ner_tags": ids}, features=features,
                                        split=datasets.NamedSplit(split))
        ds._fingerprint = _deterministic_fingerprint([split, labels, tokens, ids])
        splits[split] = ds
    return splits


def _build_label_list(rows_by_split: dict[str, list[Sentence]], where: dict[str, str], scheme: str,
                      forced: list[str] | None) -> list[str]:
    if forced is not None:
        allowed = set(forced)
        for split, rows in rows_by_split.items():
            for _toks, tags, line in rows:
                for t in tags:
                    if t not in allowed:
                        raise InputError(f"label {t!r} is not in the given label list ({', '.join(forced)})",
                                         path=where[split], line=line)
        return list(forced)
    # every label of the scheme for each type seen in training, so that e.g. I-X exists even if
    # training only had single-word X entities
    base = "train" if "train" in rows_by_split else next(iter(rows_by_split))
    train_types = {parse_tag(t)[1] for _, tags, _ in rows_by_split[base] for t in tags} - {None}
    labels = labels_for_types(sorted(train_types), scheme)  # type: ignore[arg-type]
    known = set(labels)
    extra = {t for split, rows in rows_by_split.items() for _, tags, _ in rows for t in tags} - known
    if extra:
        extra_types = {parse_tag(t)[1] for t in extra} - {None}
        new = [lab for lab in labels_for_types(sorted(extra_types), scheme) if lab not in known]  # type: ignore[arg-type]
        new += sort_labels(extra - known - set(new))  # prefixes outside the scheme, kept as published
        splits = [s for s in rows_by_split if s != base and any(t in extra for _, tags, _ in rows_by_split[s] for t in tags)]
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
