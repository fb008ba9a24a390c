"""A peer: another program's runs on the same data, shown as one more row of the sweep's table and card.

``scripts/bench_train.py --peer-json`` writes a :class:`PeerRecord` (transformers' Trainer written as
run_ner.py does it); :func:`tagger.summary.add_peer` and ``scripts/reference_card.py --peer`` read it.

The file is one JSON object, scores as fractions (0-1)::

    {"label": "peer: ...", "description": "...",
     "runs": [{"seed": 1, "validation": {"f1", "precision", "recall", "per_type": {TYPE: {...}}},
               "test": {...}, "train_seconds": 12.3}, ...],
     "name", "data", "model", "settings": {...}, "command", "train_sentences", "eval_sentences", "scoring",
     "seeds", "validation_f1", "test_f1", "test_per_type", "train_seconds"}

The last five keys are per-seed views of ``runs`` for a reader of the file: they are written, and
recomputed from ``runs`` on reading.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from tagger.errors import InputError
from tagger.io import atomic_write_json

SPLITS = ("validation", "test")
METRICS = ("f1", "precision", "recall")
PER_TYPE_KEYS = ("f1", "precision", "recall", "support")


@dataclass(frozen=True)
class SplitScores:
    """Micro scores of one split, and ``per_type`` {TYPE: {f1, precision, recall, support}}."""

    f1: float
    precision: float
    recall: float
    per_type: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"f1": self.f1, "precision": self.precision, "recall": self.recall, "per_type": self.per_type}


@dataclass(frozen=True)
class PeerRun:
    """One seed of the peer: its scores on validation and test, and its training time."""

    seed: int
    validation: SplitScores
    test: SplitScores
    train_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "validation": self.validation.to_json(), "test": self.test.to_json(),
                "train_seconds": self.train_seconds}


@dataclass(frozen=True)
class PeerRecord:
    """A peer's runs (one per seed) and what the card says about them."""

    label: str  # the row's name in the table
    runs: tuple[PeerRun, ...]
    description: str = ""  # a sentence under the table: what the peer is and how to rerun it
    name: str | None = None
    data: str | None = None
    model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    command: str | None = None
    train_sentences: int | None = None  # None: all
    eval_sentences: int | None = None  # None: all (validation and test)
    scoring: str | None = None

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError(f"peer {self.label!r} has no runs")

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    @property
    def test_per_type(self) -> dict[str, dict[str, list[Any]]]:
        """{TYPE: {f1, precision, recall, support: one value per seed}}; None where a seed lacks the type."""
        types = sorted({t for r in self.runs for t in r.test.per_type})
        return {t: {k: [r.test.per_type.get(t, {}).get(k) for r in self.runs] for k in PER_TYPE_KEYS}
                for t in types}

    def to_json(self) -> dict[str, Any]:
        """The file's object (see the module's docstring), keys in the order the file has always had."""
        return {
            "label": self.label,
            "description": self.description,
            "runs": [r.to_json() for r in self.runs],
            "name": self.name,
            "data": self.data,
            "model": self.model,
            "settings": self.settings,
            "seeds": self.seeds,
            "validation_f1": [r.validation.f1 for r in self.runs],
            "test_f1": [r.test.f1 for r in self.runs],
            "test_per_type": self.test_per_type,
            "command": self.command,
            "train_seconds": [r.train_seconds for r in self.runs],
            "train_sentences": self.train_sentences,
            "eval_sentences": self.eval_sentences,
            "scoring": self.scoring,
        }

    @classmethod
    def from_json(cls, data: Any, source: str | os.PathLike[str] | None = None) -> PeerRecord:
        """A record from the file's object; ``source`` names the file in errors (:class:`InputError`)."""
        reader = _Reader(source)
        obj = reader.mapping(data, "the peer record")
        runs = reader.required(obj, "runs", "")
        if not isinstance(runs, list):
            reader.fail(f"'runs' must be a list, not {type(runs).__name__}")
        try:
            return cls(
                label=reader.text(reader.required(obj, "label", ""), "label"),
                runs=tuple(reader.run(run, f"runs[{i}]") for i, run in enumerate(runs)),
                description=reader.text(obj.get("description", ""), "description"),
                name=reader.optional_text(obj, "name"),
                data=reader.optional_text(obj, "data"),
                model=reader.optional_text(obj, "model"),
                settings=dict(reader.mapping(obj.get("settings", {}), "settings")),
                command=reader.optional_text(obj, "command"),
                train_sentences=reader.optional_count(obj, "train_sentences"),
                eval_sentences=reader.optional_count(obj, "eval_sentences"),
                scoring=reader.optional_text(obj, "scoring"),
            )
        except InputError:
            raise
        except ValueError as err:  # the record's own checks (no runs)
            reader.fail(str(err))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PeerRecord:
        """Read a peer file (``bench_train.py --peer-json``); :class:`InputError` names the file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise InputError(f"cannot read the peer record: {err.strerror or err}", path=path) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"not JSON: {err.msg}", path=path, line=err.lineno) from None
        return cls.from_json(data, source=path)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the file (its folder created where missing)."""
        atomic_write_json(path, self.to_json(), indent=1)


class _Reader:
    """Checks one peer file's object; every error names the file and the key (``runs[1].test.f1``)."""

    def __init__(self, source: str | os.PathLike[str] | None) -> None:
        self.source = source

    def fail(self, message: str) -> NoReturn:
        raise InputError(f"peer record: {message}", path=self.source)

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(f"{key} must be a JSON object, not {type(value).__name__}")
        return value

    def required(self, obj: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in obj:
            self.fail(f"missing key {where + key!r}")
        return obj[key]

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            self.fail(f"{key!r} must be a string, not {type(value).__name__}")
        return value

    def optional_text(self, obj: Mapping[str, Any], key: str) -> str | None:
        value = obj.get(key)
        return None if value is None else self.text(value, key)

    def optional_count(self, obj: Mapping[str, Any], key: str) -> int | None:
        value = obj.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            self.fail(f"{key!r} must be a whole number or null, not {value!r}")
        return value

    def number(self, obj: Mapping[str, Any], key: str, where: str) -> float:
        value = self.required(obj, key, where)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"{where + key!r} must be a number, not {value!r}")
        return value

    def scores(self, value: Any, where: str) -> SplitScores:
        obj = self.mapping(value, repr(where))
        per_type = self.mapping(obj.get("per_type", {}), repr(where + ".per_type"))
        return SplitScores(*(self.number(obj, m, where + ".") for m in METRICS),
                           per_type={str(t): dict(self.mapping(v, repr(f"{where}.per_type.{t}")))
                                     for t, v in per_type.items()})

    def run(self, value: Any, where: str) -> PeerRun:
        obj = self.mapping(value, repr(where))
        seed = self.required(obj, "seed", where + ".")
        if isinstance(seed, bool) or not isinstance(seed, int):
            self.fail(f"{where + '.seed'!r} must be a whole number, not {seed!r}")
        return PeerRun(seed=seed, validation=self.scores(self.required(obj, "validation", where + "."),
                                                         where + ".validation"),
                       test=self.scores(self.required(obj, "test", where + "."), where + ".test"),
                       train_seconds=self.number(obj, "train_seconds", where + "."))
