"""The launch's own clock: how long it has run, and how long the runs it has left should take.

The estimate is the mean time of the runs this launch has trained, times the runs still to train; before
the first run ends, the run under way is extrapolated from its finished epochs. Runs a launch skips (their
results exist) or leaves to another shard cost nothing and are not counted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone


def format_duration(seconds: float) -> str:
    """``4 s``, ``3 min 05 s``, ``1 h 02 min``: what a person reads at a glance."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def utc_now() -> str:
    """Now, in UTC, as ISO 8601 to the second (``2026-12-07T12:46:04+00:00``): when a run started or ended."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def span(intervals: Sequence[tuple[str, str]]) -> tuple[float, int]:
    """Of runs given as (started_at, finished_at) ISO times (at least one): the seconds from the first start
    to the last end, and the most that ran at once."""
    times = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in intervals]
    # at an instant where one run ends and another starts, the one ending is counted out first
    events = sorted([(a, 1) for a, _ in times] + [(b, -1) for _, b in times])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return (max(b for _, b in times) - min(a for a, _ in times)).total_seconds(), most


@dataclass
class SweepClock:
    """Time of one launch of a sweep; ``pending``: the runs it expects to train."""

    pending: int
    start: float = field(default_factory=time.perf_counter)
    run_seconds: list[float] = field(default_factory=list)  # each run this launch trained, start to end
    run_start: float | None = None  # perf_counter() when the run under way began
    epochs_total: int = 0  # of the run under way
    epochs_done: int = 0

    def start_run(self, epochs: int) -> None:
        self.run_start, self.epochs_total, self.epochs_done = time.perf_counter(), epochs, 0

    def end_epoch(self, epochs_done: int) -> None:
        self.epochs_done = epochs_done

    def end_run(self) -> float:
        """Seconds the run took; it counts towards the estimate."""
        seconds = time.perf_counter() - (self.run_start if self.run_start is not None else self.start)
        self.run_seconds.append(seconds)
        self.run_start = None
        return seconds

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def runs_done(self) -> int:
        return len(self.run_seconds)

    def seconds_left(self) -> float | None:
        """The time the launch should still take; None before anything can be extrapolated."""
        under_way = self.run_start is not None
        in_run = time.perf_counter() - self.run_start if under_way else 0.0
        if self.run_seconds:
            per_run = sum(self.run_seconds) / len(self.run_seconds)
        elif under_way and self.epochs_done:
            per_run = in_run / self.epochs_done * max(self.epochs_total, self.epochs_done)
        else:
            return None
        after = max(0, self.pending - self.runs_done - (1 if under_way else 0))
        return (max(0.0, per_run - in_run) if under_way else 0.0) + per_run * after

    def describe(self) -> str:
        """``sweep: 2 of 12 runs, 9 min 40 s so far, about 48 min left``."""
        left = self.seconds_left()
        tail = f", about {format_duration(left)} left" if left is not None and self.runs_done < self.pending else ""
        return f"sweep: {self.runs_done} of {self.pending} runs, {format_duration(self.elapsed)} so far{tail}"
