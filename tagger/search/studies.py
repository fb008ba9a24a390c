"""The grid searches as Optuna studies: one study per tuned loss in ``OUTPUT/search.journal``, every point of
its grid scored by the mean validation F1 of its runs, resumed from the journal, the best point chosen.

GridSampler hands trial k point k (trial numbers are unique across processes); a journal file, appended under
an ``O_EXCL`` lock file, serves several processes on one machine and several machines on a shared folder.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tagger.errors import ConfigError, InputError
from tagger.io import output_error
from tagger.search.space import SearchSpace, point_score, setting_label
from tagger.train.claims import Processes
from tagger.train.shards import RunJob

logger = logging.getLogger(__name__)

STORAGE_NAME = "search.journal"
STUDY_KIND = "tagger-grid-search"

# A run as the search hands it to the recipe, with where it stands for the log: its results, or None
# while another process holds its claim.
TrainFn = Callable[[RunJob, str], "dict[str, Any] | None"]

POLL_SECONDS = 10.0  # how often a process waiting on a run another process trains looks again


def require_optuna() -> Any:
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
    optuna = require_optuna()
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
    optuna = require_optuna()
    names = space.study_names
    if len(names) > 1:  # a study started before a loss parameter was renamed resumes under its name then
        found = {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
        names = [n for n in names if n in found] or names
    # the same seed in every process: GridSampler's order of the grid must be one order for all
    study = optuna.create_study(study_name=names[0], storage=storage, direction="maximize",
                                sampler=optuna.samplers.GridSampler(space.grid, seed=0), load_if_exists=True)
    if study.user_attrs.get("kind") != STUDY_KIND:
        for key, value in {"kind": STUDY_KIND, "loss": space.label, "spec": space.spec, "grid": space.grid,
                           "seeds": space.seeds, "training": space.training}.items():
            study.set_user_attr(key, value)
    return study


def point_key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(sorted(params.items())), default=str)


def scored_points(study: Any) -> dict[str, Any]:
    """The finished trials of ``study`` by point (one per point; a point two processes scored is one)."""
    optuna = require_optuna()
    scored: dict[str, Any] = {}
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        scored.setdefault(point_key(trial.params), trial)
    return scored


def _queue_open_points(study: Any, space: SearchSpace, finish: bool) -> int:
    """Queue the points that need a trial; returns how many points are still unscored.

    First pass: the points whose trials all failed (an error or an interrupt in one of their runs).
    Second pass: every unscored point not queued yet, also those a process is on: taking it again
    waits for that process's runs, or takes them over if it died (its trial stays RUNNING forever).
    """
    optuna = require_optuna()
    state = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)

    def points_in(*states: Any) -> set[str]:
        return {point_key(t.system_attrs.get("fixed_params", t.params)) for t in trials if t.state in states}

    scored = points_in(state.COMPLETE)
    open_points = [p for p in space.points() if point_key(p) not in scored]
    if finish:
        wanted = {point_key(p) for p in open_points} - points_in(state.WAITING)
    else:  # a point no trial has had yet is GridSampler's to hand out
        wanted = points_in(state.FAIL) - points_in(state.RUNNING, state.WAITING) - scored
    for point in open_points:
        if point_key(point) in wanted:
            study.enqueue_trial(point)
    return len(open_points)


def _wanted(study: Any, space: SearchSpace, finish: bool) -> bool:
    """Whether to take another trial: in the first pass while the grid has points no one was handed
    (GridSampler gives trial k point k), in the second until every point is scored."""
    if not _queue_open_points(study, space, finish):
        return False
    if finish:
        return True
    optuna = require_optuna()
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
    points = [p for p in space.points() if point_key(p) in scored]
    return max(points, key=lambda p: scored[point_key(p)].value)


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
