"""Several runs of one sweep at once on a machine's CPU: a launch that starts copies of itself as shards.

Why: on a small CPU a run's matrix products are too small to keep every core busy (its elementwise
operations run on one thread below PyTorch's grain size), so two runs with one thread each train
more tokens per second than one run with two threads. ``scripts/bench_train.py --workers-check``
measures the ratio side by side; docs/performance.md shows it.

``sweep.workers: W`` makes a launch of one process start W - 1 worker processes (``recipes/ner.py``
again, with the same config and overrides) and train a share itself. Each is a shard
(:mod:`tagger.train.shards`): launch I of N (a launch without ``--shard`` is 0 of 1) becomes shards
``I + N*j`` of ``N*W`` for ``j = 0 .. W-1``, which split launch I's runs exactly, and claims keep any
run from training twice. The cores are divided between them (``training.num_threads`` each, or the
cores / W). A worker's console goes to ``logs/<its launch name>.console`` (its full log beside it, as
every shard's). The launch's own process waits for its workers, trains what a failed worker left,
and writes the summary: a worker whose parent is alive leaves the summary to it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from tagger.train.shards import Shard

logger = logging.getLogger(__name__)

#: set in a worker's environment: {"parent": the launch's pid, "command": the launch's command line}
WORKER_ENV = "TAGGER_SWEEP_WORKER"
#: how long a stopped worker gets to save its checkpoint before it is killed
STOP_GRACE_SECONDS = 120.0


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class WorkerPlan:
    """Processes that train at once: ``shards[0]`` is the launch's own process, the rest its workers."""

    shards: tuple[Shard, ...]
    threads: int  # torch threads of each process

    def overrides(self, j: int) -> list[str]:
        """Config overrides of process ``j`` (0: the launch itself)."""
        own = [f"sweep.shard={self.shards[j]}", f"training.num_threads={self.threads}"]
        # a worker starts no workers of its own, and its console holds warnings only (its log keeps everything)
        return own if j == 0 else [*own, "sweep.workers=1", "output.log_level=warning"]


def plan_workers(requested: int, *, shard: Shard, runs: int, cores: int, num_threads: int | None, cuda: bool,
                 world_size: int) -> tuple[WorkerPlan | None, str]:
    """The processes a launch trains with, or None and why it trains alone (empty when nothing was asked).

    ``runs``: the runs of the sweep; ``num_threads``: ``training.num_threads`` (None: the cores / workers).
    """
    if requested <= 1:
        return None, ""
    if cuda:
        return None, (f"sweep.workers={requested} is for CPU training: with a GPU the runs train one after another "
                      "(a shard per GPU: docs/sweeps.md)")
    if world_size > 1:
        return None, f"sweep.workers={requested} is for a launch of one process: this one has {world_size}"
    count = min(requested, runs, cores)
    if count <= 1:
        return None, (f"sweep.workers={requested}: one process trains ({runs} run{'s' * (runs != 1)}, "
                      f"{cores} core{'s' * (cores != 1)})")
    threads = num_threads or max(1, cores // count)
    shards = tuple(Shard(shard.index + shard.count * j, shard.count * count) for j in range(count))
    return WorkerPlan(shards, threads), (f"sweep.workers={requested}: {count} processes train at once with "
                                         f"{threads} thread{'s' * (threads != 1)} each, as shards "
                                         + ", ".join(str(s) for s in shards))


def worker_launch() -> dict[str, Any] | None:
    """In a worker process, what its launch told it (``parent`` pid, ``command``); None elsewhere."""
    text = os.environ.get(WORKER_ENV)
    if not text:
        return None
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        return None
    return info if isinstance(info, dict) else None


def summary_left_to_parent() -> bool:
    """Whether this process is a worker whose launch still runs (the launch then writes the summary)."""
    info = worker_launch()
    return bool(info) and os.getppid() == info.get("parent")


class Workers:
    """The worker processes of one launch. As a context manager it stops them (SIGTERM, so that each
    saves a checkpoint at its next step; killed after ``STOP_GRACE_SECONDS``) when the launch fails."""

    def __init__(self, commands: Sequence[Sequence[str]], consoles: Sequence[Path], command: str) -> None:
        self.commands = [list(c) for c in commands]
        self.consoles = list(consoles)
        self.command = command
        self.procs: list[subprocess.Popen[bytes]] = []
        self._files: list[IO[bytes]] = []

    def start(self) -> Self:
        env = {**os.environ, WORKER_ENV: json.dumps({"parent": os.getpid(), "command": self.command})}
        for argv, console in zip(self.commands, self.consoles):
            console.parent.mkdir(parents=True, exist_ok=True)
            out = open(console, "wb")  # noqa: SIM115 (closed in wait/stop, after the process ends)
            self._files.append(out)
            # a process group of its own: a Ctrl-C at the terminal reaches the launch only, which stops its workers once
            self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                               env=env, start_new_session=True))
        return self

    def wait(self) -> list[int]:
        """Wait for every worker; their exit codes."""
        codes = [proc.wait() for proc in self.procs]
        self._close()
        for code, console in zip(codes, self.consoles):
            if code == 0 and console.is_file() and console.stat().st_size == 0:
                console.unlink()  # a worker that ended well and said nothing leaves only its log
        return codes

    def stop(self) -> None:
        """Ask every live worker to stop (SIGTERM), wait for it, kill it after the grace period."""
        live = [p for p in self.procs if p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        for proc in live:
            try:
                proc.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._close()

    def _close(self) -> None:
        for out in self._files:
            out.close()
        self._files.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.wait()  # never leave a worker behind
            return
        if any(p.poll() is None for p in self.procs):
            logger.warning("stopping the worker processes (each saves a checkpoint first)")
        self.stop()

    def report(self, codes: Sequence[int]) -> list[int]:
        """Logs each worker's end; the indices of those that failed."""
        failed = []
        for j, (code, console) in enumerate(zip(codes, self.consoles), 1):
            if code == 0:
                logger.info("worker %d ended; its log: %s", j, console.with_suffix(".log"))
                continue
            failed.append(j)
            tail = console.read_text(errors="replace").strip().splitlines()[-5:] if console.is_file() else []
            logger.warning("worker %d exited with code %d (its console: %s)%s", j, code, console,
                           "".join(f"\n    {line}" for line in tail))
        return failed


def worker_commands(plan: WorkerPlan, recipe: Path, config_path: str, overrides: Sequence[str]) -> list[list[str]]:
    """The command line of each worker: this recipe, the launch's config and overrides, then its own."""
    return [[sys.executable, str(recipe), "--config", config_path, *overrides, *plan.overrides(j)]
            for j in range(1, len(plan.shards))]
