"""Where split files are: the naming rule of split files in a folder, and the folders named data sets live in."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from tagger.data.formats import DATA_SUFFIXES
from tagger.data.jsonl import LABEL_FILES
from tagger.errors import InputError

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
#: the names each split is published under (file names: :func:`split_of`; Hub splits: exactly these)
SPLIT_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "validation": ("validation", "dev", "devel", "valid", "testa"),
    "test": ("test", "testb"),
}
SPLIT_OF_NAME = {alias: split for split, aliases in SPLIT_NAMES.items() for alias in aliases}
_NAME_PARTS = re.compile(r"[._-]")


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
    elif suffix and suffix[1:] not in SPLIT_OF_NAME:
        return None
    parts = _NAME_PARTS.split(name)
    if name in SPLIT_OF_NAME:
        return SPLIT_OF_NAME[name], 0
    if len(parts) > 1 and parts[-1] in SPLIT_OF_NAME:
        return SPLIT_OF_NAME[parts[-1]], 1
    if len(parts) > 1 and parts[0] in SPLIT_OF_NAME:
        return SPLIT_OF_NAME[parts[0]], 2
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


def folder_splits(folder: Path, wanted: Sequence[str] = SPLITS) -> dict[str, Path] | None:
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


def resolve_named(name: str, data_dir: str | os.PathLike[str] | None,
                   wanted: Sequence[str] = SPLITS) -> tuple[Path, dict[str, Path]] | None:
    """The folder named ``name`` under the first data root (:func:`data_roots`) that holds split files of
    ``wanted``, with those files by split; None when no root has it (the caller may then try the Hub)."""
    for root in data_roots(data_dir):
        folder = root / name
        files = folder_splits(folder, wanted) if folder.is_dir() else None
        if files:
            return folder, files
    return None
