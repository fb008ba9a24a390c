"""Shards: the runs of one sweep split between independent launches, without a scheduler.

``recipes/ner.py --shard I/N`` (or ``sweep.shard: "I/N"``) makes a launch one of N shards. The rule:

1. The sweep's runs are listed in the sweep's order (seeds outermost, then the settings:
   :func:`tagger.search.space.sweep_order`). A run is *pending* when its folder has no ``all_results.json``; with
   ``output.overwrite=true`` every run is pending.
2. The pending runs are numbered 0, 1, 2, ... in that order; shard I trains those whose number
   modulo N is I. N shards started together on the same folder see the same pending runs, so they
   split them exactly.
3. Then shard I goes over every other run of the sweep, in the sweep's order, and trains any that is
   still neither finished nor claimed: the runs of a shard that died or never started, and those
   that fell between shards started at different times (a run that finished between two shards'
   listings shifts the numbering of the later one). This second pass is left out under
   ``output.overwrite=true``, where a finished run cannot be told from one finished before the launch.

Every run is claimed before it trains (:mod:`tagger.train.claims`): a run claimed by a live process,
or finished meanwhile, is passed over. So shards may start at any time and in any number; each run
is trained once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagger.train.claims import Processes

logger = logging.getLogger(__name__)

RESULTS = "all_results.json"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based); ``Shard(0, 1)`` is a launch that runs the whole sweep."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        """``"I/N"`` with ``0 <= I < N``; None or empty: the whole sweep. ValueError otherwise."""
        if not text:
            return cls()
        head, sep, tail = str(text).partition("/")
        try:
            index, count = int(head), int(tail)
        except ValueError:
            index, count = -1, 0
        if not sep or count < 1 or not 0 <= index < count:
            raise ValueError(f"expected I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def check_shard(text: str) -> None:
    """The config rule of ``sweep.shard``."""
    Shard.parse(text)


@dataclass(frozen=True)
class RunJob:
    """One run to train: a loss spec and seed, where it is written and what it changes in the training settings."""

    spec: dict[str, Any]  # {"name": ..., <loss params>}
    seed: int
    run_dir: Path
    label: str  # the row of the summary it belongs to
    training: dict[str, Any] = field(default_factory=dict)  # training keys set for this run (learning_rate, epochs)
    save_model: bool = True

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def done(self) -> bool:
        return (self.run_dir / RESULTS).is_file()


def shard_order(jobs: Sequence[RunJob], shard: Shard, *, overwrite: bool) -> tuple[list[int], list[int]]:
    """Positions in ``jobs`` of shard's own runs (step 2 of the module's rule) and of the rest (step 3)."""
    pending = [i for i, job in enumerate(jobs) if overwrite or not job.done]
    own = [i for number, i in enumerate(pending) if number % shard.count == shard.index]
    if overwrite:
        return own, []
    mine = set(own)
    return own, [i for i in range(len(jobs)) if i not in mine]


def run_share(jobs: Sequence[RunJob], shard: Shard, train: Callable[[RunJob, str, bool], dict[str, Any] | None],
              *, overwrite: bool, processes: Processes = Processes()) -> list[dict[str, Any] | None]:
    """Train this shard's runs, then help with the rest; per job its results, None where another process has it.

    ``train(job, position, redo)`` trains or skips one run (claiming it) and returns its results, or
    None when a live process holds its claim. ``redo``: train it even if it is finished.
    """
    own, rest = processes.decide(lambda: shard_order(jobs, shard, overwrite=overwrite))
    if shard.count > 1 and processes.is_main:
        logger.info("shard %s: %d of %d runs pending for this shard, then %d others to help with",
                    shard, len(own), len(jobs), len(rest))
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    for step, i in enumerate([*own, *rest], 1):
        where = f"[{step}/{len(own) + len(rest)}" + (f", shard {shard}]" if shard.count > 1 else "]")
        results[i] = train(jobs[i], where, overwrite and step <= len(own))
    return results
