"""Search per loss: a grid of settings tried on validation, the best one trained for the sweep.

A loss of the sweep is tuned when its entry has a ``search`` mapping (docs/sweeps.md)::

    sweep:
      losses:
        - {name: ce, search: {}}                           # tuned over sweep.search.learning_rate only
        - {name: focal, gamma: 2.0, search: {gamma: [1, 2, 3]}}
        - {name: soft_truncation, k: 1.0, variant: neg_softmax, search: {k: [0.5, 1, 2]}}
        - {name: dice}                                     # not tuned: trained as written
      seeds: [1, 2, 3]                                     # the final runs
      search:
        learning_rate: [5e-5, 1e-4, 1.5e-4, 3e-4]          # tried for every entry with a `search`
        seeds: [1, 2]                                      # every point is trained on each of them
        epochs: null                                       # epochs of a search run (null: training.epochs)

The space of an entry is the product of its ``search`` lists (loss parameters, or ``learning_rate``
to replace the shared list for that loss) and ``sweep.search.learning_rate``. Every point of it is
trained on every search seed, each such run a folder ``runs/search/<setting>-seed<k>/`` trained by
the recipe's own run code, so claims and resuming apply to them as to any run. A point scores the
mean validation F1 over its seeds; the point with the highest score is the choice (test scores are
never read), and the sweep then trains it on its own seeds like any other loss, as the row
``<loss>(<chosen values>)``.

The grid is an Optuna study per loss (:func:`run_searches`): ``GridSampler`` hands each trial a point
of the grid (trial k gets point k, and trial numbers are unique across processes), one trial per
point. The studies live in ``OUTPUT/search.journal``, an Optuna journal file: appends under a lock
file made with ``O_EXCL``, which works for several processes on one machine and for several
machines on a shared folder (NFS), where SQLite's locks are not to be trusted. A study resumes from
that file: points already scored are not trained again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagger.errors import ConfigError, InputError
from tagger.io import output_error
from tagger.losses.labels import loss_label
from tagger.sweep import run_folder_name
from tagger.train.claims import Processes
from tagger.train.shards import RunJob

logger = logging.getLogger(__name__)

SEARCH_KEY = "search"  # the key of a sweep.losses entry that makes it tuned
SEARCHABLE_TRAINING = ("learning_rate",)  # training keys a search may vary, beside the loss's parameters
MAX_GRID_POINTS = 1000  # a grid search past this is the wrong tool
STORAGE_NAME = "search.journal"
SEARCH_RUNS = "search"  # runs/search/<setting>-seed<k>/
STUDY_KIND = "tagger-grid-search"

# A run as the search hands it to the recipe, with where it stands for the log: its results, or None
# while another process holds its claim.
TrainFn = Callable[[RunJob, str], "dict[str, Any] | None"]


def split_search(entry: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """A ``sweep.losses`` entry as (its loss spec, its ``search`` mapping or None when it is not tuned);
    the mapping as written (tagger.config checks it)."""
    return {k: v for k, v in entry.items() if k != SEARCH_KEY}, entry.get(SEARCH_KEY)


def setting_label(spec: Mapping[str, Any], training: Mapping[str, Any]) -> str:
    """The name of a loss spec with training settings of its own: ``focal(gamma=2, learning_rate=0.0001)``."""
    return loss_label({**spec, **training})


def setting_folder(spec: Mapping[str, Any], training: Mapping[str, Any], seed: int) -> str:
    return run_folder_name({**spec, **training}, seed)


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
        return RunJob(spec=spec, seed=seed, run_dir=runs_dir / SEARCH_RUNS / setting_folder(spec, training, seed),
                      label=setting_label(spec, training), training=training, save_model=False)

    @property
    def study_name(self) -> str:
        """Readable and tied to the space: another grid, seeds or epochs is another study."""
        key = json.dumps({"spec": self.spec, "grid": self.grid, "seeds": self.seeds, "training": self.training},
                         sort_keys=True, default=str)
        return f"{self.label} {hashlib.sha256(key.encode()).hexdigest()[:10]}"

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
    """The sweep's runs in its order (losses outermost): a tuned entry with its chosen setting.

    A row is named by its loss spec (``ce``, ``focal(gamma=2)``: a tuned ``ce`` stays the baseline the
    bootstrap compares with); its chosen training keys join the name only where two rows would
    otherwise share one. The run folders always name them.
    """
    settings = [chosen.get(i) or (split_search(entry)[0], {}) for i, entry in enumerate(entries)]
    names: dict[str, set[str]] = {}
    for spec, training in settings:
        names.setdefault(loss_label(spec), set()).add(setting_label(spec, training))
    jobs = []
    for spec, training in settings:
        label = loss_label(spec) if len(names[loss_label(spec)]) == 1 else setting_label(spec, training)
        jobs += [RunJob(spec=spec, seed=seed, run_dir=runs_dir / setting_folder(spec, training, seed), label=label,
                        training=dict(training)) for seed in seeds]
    return jobs


def point_score(results: Sequence[Mapping[str, Any]]) -> float:
    """What a point of the grid is chosen by: the mean validation F1 over its seeds (never a test score)."""
    return statistics.fmean(float(r["validation"]["f1"]) for r in results)


# ------------------------------------------------------------------------------------------------ the studies

POLL_SECONDS = 10.0  # how often a process waiting on a run another process trains looks again


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError("a search (sweep.losses entries with `search`, search.journal) needs Optuna: "
                          "pip install 'tagger[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its per-trial lines repeat what the recipe logs
    return optuna


def open_storage(out_dir: Path) -> Any:
    """The studies of ``out_dir``: an Optuna journal file, ``out_dir/search.journal``, checked first
    (:func:`repair_journal`)."""
    optuna = _optuna()
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    out_dir.mkdir(parents=True, exist_ok=True)
    path = str(out_dir / STORAGE_NAME)
    # O_EXCL lock files work on NFS, where the default (symlinks) may not and SQLite's fcntl locks are broken
    lock = JournalFileOpenLock(path)
    repair_journal(Path(path), lock)
    return optuna.storages.JournalStorage(JournalFileBackend(path, lock_obj=lock))


def _is_record(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except ValueError:  # UnicodeDecodeError included
        return False
    return isinstance(record, dict) and "op_code" in record


def repair_journal(path: Path, lock: Any) -> None:
    """Check a search journal under its lock before Optuna reads or appends to it.

    A last record cut short (what a kill or a full disk in the middle of an append leaves) is removed
    with a warning, so the next append starts a line of its own instead of joining the cut one, and the
    search resumes from the complete records; a complete last record without its newline gets one. Any
    other line that is not a journal record is an InputError naming the file and the line.
    """
    from optuna.storages.journal._file import get_lock_file

    if not path.is_file():
        return
    with get_lock_file(lock):
        data = path.read_bytes()
        *lines, tail = data.split(b"\n")
        for number, line in enumerate(lines, 1):
            if not _is_record(line):
                raise InputError(f"not an Optuna journal record ({len(line):,} bytes); the search cannot resume "
                                 f"from this file: move it away to start the search over", path=path, line=number)
        if not tail:
            return
        try:
            with path.open("r+b") as fh:
                if _is_record(tail):
                    fh.seek(len(data))
                    fh.write(b"\n")
                else:
                    fh.truncate(len(data) - len(tail))
                    logger.warning("%s: its last record was cut short (%d bytes, line %d); it is ignored and the "
                                   "search resumes from the records before it", path, len(tail), len(lines) + 1)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as err:
            raise output_error(err, path) from err


def open_study(space: SearchSpace, storage: Any) -> Any:
    """The study of ``space``, created by the first process to get here and loaded by the others."""
    optuna = _optuna()
    # the same seed in every process: GridSampler's order of the grid must be one order for all
    study = optuna.create_study(study_name=space.study_name, storage=storage, direction="maximize",
                                sampler=optuna.samplers.GridSampler(space.grid, seed=0), load_if_exists=True)
    if study.user_attrs.get("kind") != STUDY_KIND:
        for key, value in {"kind": STUDY_KIND, "loss": space.label, "spec": space.spec, "grid": space.grid,
                           "seeds": space.seeds, "training": space.training}.items():
            study.set_user_attr(key, value)
    return study


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(sorted(params.items())), default=str)


def scored_points(study: Any) -> dict[str, Any]:
    """The finished trials of ``study`` by point (one per point; a point two processes scored is one)."""
    optuna = _optuna()
    scored: dict[str, Any] = {}
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        scored.setdefault(_key(trial.params), trial)
    return scored


def _queue_open_points(study: Any, space: SearchSpace, finish: bool) -> int:
    """Queue the points that need a trial; returns how many points are still unscored.

    First pass: the points whose trials all failed (an error or an interrupt in one of their runs).
    Second pass: every unscored point not queued yet, also those a process is on: taking it again
    waits for that process's runs, or takes them over if it died (its trial stays RUNNING forever).
    """
    optuna = _optuna()
    state = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)

    def points_in(*states: Any) -> set[str]:
        return {_key(t.system_attrs.get("fixed_params", t.params)) for t in trials if t.state in states}

    scored = points_in(state.COMPLETE)
    open_points = [p for p in space.points() if _key(p) not in scored]
    if finish:
        wanted = {_key(p) for p in open_points} - points_in(state.WAITING)
    else:  # a point no trial has had yet is GridSampler's to hand out
        wanted = points_in(state.FAIL) - points_in(state.RUNNING, state.WAITING) - scored
    for point in open_points:
        if _key(point) in wanted:
            study.enqueue_trial(point)
    return len(open_points)


def _wanted(study: Any, space: SearchSpace, finish: bool) -> bool:
    """Whether to take another trial: in the first pass while the grid has points no one was handed
    (GridSampler gives trial k point k), in the second until every point is scored."""
    if not _queue_open_points(study, space, finish):
        return False
    if finish:
        return True
    optuna = _optuna()
    waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
    return bool(waiting) or len(study.get_trials(deepcopy=False)) < len(space.points())


def _ensure_run(job: RunJob, train: TrainFn, where: str, poll: float) -> dict[str, Any]:
    """The results of ``job``: trained here, read back, or waited for while another process trains it."""
    while True:
        result = train(job, where)
        if result is not None:
            return result
        time.sleep(poll)  # claimed by a live process: it finishes it, or dies and its claim frees


def _evaluate(space: SearchSpace, point: dict[str, Any], train: TrainFn, runs_dir: Path,
              poll: float) -> list[dict[str, Any]]:
    jobs = [space.job(point, seed, runs_dir) for seed in space.seeds]
    return [_ensure_run(job, train, f"[search {space.label}]", poll) for job in jobs]


def _drive(space: SearchSpace, train: TrainFn, out_dir: Path, processes: Processes, *, finish: bool,
           poll: float) -> None:
    """Take points of ``space`` from its study and score them; the main process talks to the study and
    tells the others which point to train."""
    runs_dir = out_dir / "runs"
    if not processes.is_main:
        while (point := processes.decide(lambda: None)) is not None:
            _evaluate(space, point, train, runs_dir, poll)
        return

    def objective(trial: Any) -> float:
        point = {k: trial.suggest_categorical(k, values) for k, values in space.grid.items()}
        processes.decide(lambda: point)
        results = _evaluate(space, point, train, runs_dir, poll)
        trial.set_user_attr("runs", [Path(r["run"]).name for r in results])
        trial.set_user_attr("seeds", [r["seed"] for r in results])
        trial.set_user_attr("validation_f1", [r["validation"]["f1"] for r in results])
        return point_score(results)

    study = open_study(space, open_storage(out_dir))
    while _wanted(study, space, finish):
        study.optimize(objective, n_trials=1)  # GridSampler may stop a loop: one trial per call
    processes.decide(lambda: None)


def best_point(space: SearchSpace, study: Any) -> dict[str, Any]:
    """The point with the highest mean validation F1; of equal ones the first in the grid's order."""
    scored = scored_points(study)
    points = [p for p in space.points() if _key(p) in scored]
    return max(points, key=lambda p: scored[_key(p)].value)


def run_searches(spaces: Mapping[int, SearchSpace], train: TrainFn, out_dir: Path, *,
                 processes: Processes = Processes(), poll: float = POLL_SECONDS
                 ) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
    """Score every point of every space, resuming its study; the chosen (loss spec, training keys) per entry.

    ``train(job, where)`` trains or reads back one run (claiming it) and returns its results, or
    None while another process holds its claim. First every process takes points no one has had
    yet, space after space; then each waits for the points others are on (or takes over those of
    dead processes), so that all of them leave with every point scored and make the same choice.
    """
    if not spaces:
        return {}
    for finish in (False, True):
        for space in spaces.values():
            _drive(space, train, out_dir, processes, finish=finish, poll=poll)

    def choose() -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
        storage = open_storage(out_dir)
        chosen = {}
        for i, space in spaces.items():
            point = best_point(space, open_study(space, storage))
            chosen[i] = space.setting(point)
            logger.info("search %s: chose %s (mean validation F1 over seeds %s)", space.label,
                        setting_label(*chosen[i]), ", ".join(map(str, space.seeds)))
        return chosen

    return processes.decide(choose)


# ------------------------------------------------------------------------------------------------ the summary


def _space_of(study: Any) -> SearchSpace:
    attrs = study.user_attrs
    return SearchSpace(spec=attrs["spec"], grid=attrs["grid"], seeds=attrs["seeds"], training=attrs["training"])


def study_summary(study: Any) -> dict[str, Any]:
    """One search for summary.json: the grid, every point's validation F1 (the curve) and the choice."""
    space = _space_of(study)
    scored = scored_points(study)
    points = []
    for point in space.points():
        trial = scored.get(_key(point))
        f1 = trial.user_attrs.get("validation_f1", []) if trial else []
        points.append({"params": point, "validation_f1_mean": trial.value if trial else None,
                       "validation_f1_std": statistics.stdev(f1) if len(f1) > 1 else 0.0 if f1 else None,
                       "validation_f1": f1, "runs": trial.user_attrs.get("runs", []) if trial else []})
    complete = all(p["validation_f1_mean"] is not None for p in points)
    chosen = best_point(space, study) if complete else None
    spec, training = space.setting(chosen) if chosen else (None, None)
    return {"loss": space.label, "study": study.study_name, "spec": space.spec, "grid": space.grid,
            "seeds": space.seeds, "training": space.training, "over": space.describe(),
            "chosen_by": "mean validation F1 over the search seeds", "complete": complete, "chosen": chosen,
            "chosen_setting": {"spec": spec, "training": training} if chosen else None,
            "chosen_label": setting_label(spec, training) if chosen else None, "points": points}


def trains_choice(search: Mapping[str, Any], run: Mapping[str, Any]) -> bool:
    """Whether ``run`` (a run's all_results.json) is a final run of the setting ``search`` chose."""
    setting = search.get("chosen_setting")
    return bool(setting) and run["run"] == setting_folder(setting["spec"], setting["training"], run["seed"])


def search_summary(out_dir: Path, studies: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The searches of ``out_dir``: those named (in that order), or every one in its journal."""
    optuna = _optuna()
    storage = open_storage(out_dir)
    names = list(studies) if studies is not None else [s.study_name for s in optuna.get_all_study_summaries(storage)]
    found = []
    for name in names:
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:  # a search of this sweep that no process has started
            continue
        if study.user_attrs.get("kind") == STUDY_KIND:
            found.append(study_summary(study))
    return found


def _value_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def tuned_note(table: Sequence[Mapping[str, Any]]) -> str:
    """The lines under the summary table that say which rows were tuned, and over what."""
    first: dict[str, Mapping[str, Any]] = {}  # one line per loss, also where a loss has a row per decoding
    for row in table:
        if row.get("tuned"):
            first.setdefault(row["loss"], row)
    tuned = list(first.values())
    if not tuned:
        return ""
    lines = [f"Tuned on validation (grid search, chosen by mean validation F1 over seeds "
             f"{', '.join(map(str, tuned[0]['tuned']['seeds']))}; test never read):"]
    for row in tuned:
        t = row["tuned"]
        over = " × ".join(f"{k} ∈ {{{', '.join(_value_text(v) for v in vs)}}}" for k, vs in t["over"].items())
        chose = ", ".join(f"{k}={_value_text(v)}" for k, v in t["chosen"].items())
        lines.append(f"- {row['loss']}: {chose}, chosen over {over} ({t['points']} points)")
    untuned = list(dict.fromkeys(row["loss"] for row in table if not row.get("tuned")))
    if untuned:
        lines.append(f"- not tuned: {', '.join(untuned)}")
    return "\n".join(lines)


def search_markdown(searches: Sequence[Mapping[str, Any]]) -> str:
    """summary.md's section: per tuned loss, validation F1 per point of its grid, the choice in bold."""
    out = ["\n## Search\n"]
    for s in searches:
        out.append(f"### {s['loss']}: {s['over']}\n")
        out.append(f"Validation F1 (%), mean ± std over seeds {', '.join(map(str, s['seeds']))}"
                   + (f"; search runs: {', '.join(f'{k}={v}' for k, v in s['training'].items())}" if s["training"] else "")
                   + (f". Chosen: **{s['chosen_label']}**." if s["chosen"] else ". Not finished yet.") + "\n")
        keys = list(s["grid"])
        out.append("| " + " | ".join([*keys, "val F1"]) + " |")
        out.append("|" + "---|" * (len(keys) + 1))
        for p in s["points"]:
            mean, std = p["validation_f1_mean"], p["validation_f1_std"]
            cell = "-" if mean is None else f"{mean * 100:.1f} ± {std * 100:.1f}"
            if p["params"] == s["chosen"]:
                cell = f"**{cell}**"
            out.append("| " + " | ".join([*(_value_text(p["params"][k]) for k in keys), cell]) + " |")
        out.append("")
    return "\n".join(out) + "\n"
