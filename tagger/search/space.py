"""The grid of a tuned loss: its points, the runs that score them, and the sweep's runs once it is chosen.

A ``sweep.losses`` entry with a ``search`` mapping is tuned (:mod:`tagger.search`); its space is the product
of its lists and ``sweep.search.learning_rate``. Every point is trained on every search seed in
``runs/search/<setting>-seed<k>/``, and the chosen point is trained on the sweep's seeds like any other loss.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagger.losses.labels import earlier_spec, loss_label
from tagger.run_files import find_run_dir
from tagger.train.shards import RunJob

SEARCH_KEY = "search"  # the key of a sweep.losses entry that makes it tuned
SEARCHABLE_TRAINING = ("learning_rate",)  # training keys a search may vary, beside the loss's parameters
MAX_GRID_POINTS = 1000  # a grid search past this is the wrong tool
SEARCH_RUNS = "search"  # runs/search/<setting>-seed<k>/


def split_search(entry: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """A ``sweep.losses`` entry as (its loss spec, its ``search`` mapping or None when it is not tuned);
    the mapping as written (tagger.config checks it)."""
    return {k: v for k, v in entry.items() if k != SEARCH_KEY}, entry.get(SEARCH_KEY)


def setting_label(spec: Mapping[str, Any], training: Mapping[str, Any]) -> str:
    """The name of a loss spec with training settings of its own: ``focal(gamma=2, learning_rate=0.0001)``."""
    return loss_label({**spec, **training})


@dataclass(frozen=True)
class SearchSpace:
    """The grid of one tuned loss, and what every run of it shares."""

    spec: dict[str, Any]  # the entry's loss spec: the values a searched parameter takes when not in the grid
    grid: dict[str, list[Any]]  # parameter -> values, parameters sorted (loss parameters and training keys)
    seeds: list[int]
    training: dict[str, Any] = field(default_factory=dict)  # training keys of every search run (epochs)

    @property
    def label(self) -> str:
        return loss_label(self.spec)

    def points(self) -> list[dict[str, Any]]:
        return [dict(zip(self.grid, values)) for values in itertools.product(*self.grid.values())]

    def setting(self, point: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The loss spec and the training keys of ``point``."""
        spec = {**self.spec, **{k: v for k, v in point.items() if k not in SEARCHABLE_TRAINING}}
        return spec, {k: v for k, v in point.items() if k in SEARCHABLE_TRAINING}

    def job(self, point: Mapping[str, Any], seed: int, runs_dir: Path) -> RunJob:
        """The search run of ``point`` on ``seed``: under runs/search/, no model saved."""
        spec, training = self.setting(point)
        training = {**training, **self.training}
        return RunJob(spec=spec, seed=seed, run_dir=find_run_dir(runs_dir / SEARCH_RUNS, {**spec, **training}, seed),
                      label=setting_label(spec, training), training=training, save_model=False)

    @property
    def study_name(self) -> str:
        """Readable and tied to the space: another grid, seeds or epochs is another study."""
        return self._name(self.spec, self.grid)

    @property
    def study_names(self) -> list[str]:
        """:attr:`study_name`, then the name the same study had under earlier loss parameter names (a journal
        written before the rename holds that one)."""
        spec = earlier_spec(self.spec)
        grid = earlier_spec({"name": self.spec.get("name"), **self.grid})
        if spec is None and grid is None:
            return [self.study_name]
        grid = {k: v for k, v in (grid or self.grid).items() if k != "name"}
        return [self.study_name, self._name(spec or self.spec, dict(sorted(grid.items())))]

    def _name(self, spec: Mapping[str, Any], grid: Mapping[str, Any]) -> str:
        key = json.dumps({"spec": spec, "grid": grid, "seeds": self.seeds, "training": self.training},
                         sort_keys=True, default=str)
        return f"{loss_label(spec)} {hashlib.sha256(key.encode()).hexdigest()[:10]}"

    def describe(self) -> str:
        """``gamma ∈ {1, 2, 3} × learning_rate ∈ {0.0001, 0.0003}``"""
        return " × ".join(f"{k} ∈ {{{', '.join(f'{v:g}' if isinstance(v, float) else str(v) for v in vs)}}}"
                          for k, vs in self.grid.items())


def search_spaces(entries: Sequence[Mapping[str, Any]], *, learning_rates: Sequence[float], seeds: Sequence[int],
                  epochs: int | None) -> dict[int, SearchSpace]:
    """The space of every tuned entry of the sweep (a loss of ``sweep.losses``, with its sampling
    method when the sweep has several), by the entry's position.

    ``learning_rates``, ``seeds``, ``epochs``: ``sweep.search``'s, seeds already defaulted to the
    sweep's. ValueError for an entry whose space has no point but the entry itself.
    """
    spaces = {}
    for i, entry in enumerate(entries):
        spec, search = split_search(entry)
        if search is None:
            continue
        # YAML 1.1 reads 5e-5 (no dot) as a string; tagger.config has checked that it is a number
        grid = {k: [float(x) for x in v] if k in SEARCHABLE_TRAINING else list(v) for k, v in search.items()}
        if "learning_rate" not in grid and learning_rates:
            grid["learning_rate"] = list(learning_rates)
        if not grid:
            raise ValueError("nothing to search: list values of a loss parameter in `search`, "
                             "or learning rates in sweep.search.learning_rate")
        spaces[i] = SearchSpace(spec=spec, grid=dict(sorted(grid.items())), seeds=list(seeds),
                                training={"epochs": epochs} if epochs is not None else {})
    return spaces


def sweep_jobs(entries: Sequence[Mapping[str, Any]], seeds: Sequence[int], runs_dir: Path,
               chosen: Mapping[int, tuple[dict[str, Any], dict[str, Any]]]) -> list[RunJob]:
    """The sweep's runs in its order (:func:`sweep_order`): a tuned entry with its chosen setting.

    A row is named by its loss spec (``ce``, ``focal(gamma=2)``: a tuned ``ce`` stays the baseline the
    bootstrap compares with); its chosen training keys join the name only where two rows would
    otherwise share one. The run folders always name them.
    """
    settings = [chosen.get(i) or (split_search(entry)[0], {}) for i, entry in enumerate(entries)]
    names: dict[str, set[str]] = {}
    for spec, training in settings:
        names.setdefault(loss_label(spec), set()).add(setting_label(spec, training))
    jobs = []
    for i, seed in sweep_order(len(settings), seeds):
        spec, training = settings[i]
        label = loss_label(spec) if len(names[loss_label(spec)]) == 1 else setting_label(spec, training)
        jobs.append(RunJob(spec=spec, seed=seed, run_dir=find_run_dir(runs_dir, {**spec, **training}, seed),
                           label=label, training=dict(training)))
    return jobs


def sweep_order(entries: int, seeds: Sequence[int]) -> list[tuple[int, int]]:
    """(entry index, seed) of every run of a sweep, in the order they train: seeds outermost, so that a
    launch stopped early has every setting on its first seeds, which the summary can already compare."""
    return [(i, seed) for seed in seeds for i in range(entries)]


def point_score(results: Sequence[Mapping[str, Any]]) -> float:
    """What a point of the grid is chosen by: the mean validation F1 over its seeds (never a test score)."""
    return statistics.fmean(float(r["validation"]["f1"]) for r in results)
