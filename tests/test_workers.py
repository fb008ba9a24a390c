"""sweep.workers: a launch that trains several runs at once as shards of itself (tagger/train/workers.py)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from recipe_runner import child_env, recipe_module
from test_recipe import REPO, run_recipe, tiny_args

from tagger.train.shards import RunJob, Shard, shard_order
from tagger.train.workers import (
    WORKER_ENV,
    WorkerPlan,
    Workers,
    available_cores,
    plan_workers,
    summary_left_to_parent,
    worker_commands,
)

CPU = {"shard": Shard(), "runs": 12, "cores": 2, "num_threads": None, "cuda": False, "world_size": 1}


# ------------------------------------------------------------------------------------------------ the plan


def test_two_workers_on_two_cores_are_two_shards_of_one_thread_each() -> None:
    plan, why = plan_workers(2, **CPU)
    assert plan == WorkerPlan((Shard(0, 2), Shard(1, 2)), threads=1)
    assert "2 processes train at once with 1 thread each, as shards 0/2, 1/2" in why
    # the launch keeps its config; a worker starts no workers and writes warnings only to its console
    assert plan.overrides(0) == ["sweep.shard=0/2", "training.num_threads=1"]
    assert plan.overrides(1) == ["sweep.shard=1/2", "training.num_threads=1", "sweep.workers=1",
                                 "output.log_level=warning"]


@pytest.mark.parametrize(("changes", "reason"), [
    ({"cuda": True}, "is for CPU training"),
    ({"world_size": 2}, "this one has 2"),
    ({"runs": 1}, "one process trains (1 run, 2 cores)"),
    ({"cores": 1}, "one process trains (12 runs, 1 core)"),
])
def test_workers_are_left_out_where_they_cannot_help(changes: dict, reason: str) -> None:
    plan, why = plan_workers(2, **{**CPU, **changes})
    assert plan is None and reason in why


def test_one_worker_is_the_plain_launch_and_says_nothing() -> None:
    assert plan_workers(1, **CPU) == (None, "")


def test_workers_share_the_cores_unless_the_threads_are_set() -> None:
    assert plan_workers(3, **{**CPU, "cores": 16})[0].threads == 5
    assert plan_workers(4, **{**CPU, "cores": 3})[0].shards[-1] == Shard(2, 3)  # no more workers than cores
    assert plan_workers(2, **{**CPU, "cores": 16, "num_threads": 4})[0].threads == 4


def _jobs(tmp_path: Path, n: int, done: set[int]) -> list[RunJob]:
    jobs = [RunJob({"name": "ce"}, i, tmp_path / f"ce-seed{i}", "ce") for i in range(n)]
    for i in done:
        jobs[i].run_dir.mkdir(parents=True, exist_ok=True)
        (jobs[i].run_dir / "all_results.json").write_text("{}")
    return jobs


@pytest.mark.parametrize(("runs", "done"), [(7, {1, 4}), (12, set()), (3, {0, 1, 2}), (10, {9})])
def test_the_workers_of_launch_i_of_n_split_exactly_its_runs(tmp_path: Path, runs: int, done: set[int]) -> None:
    jobs = _jobs(tmp_path, runs, done)
    for count in (1, 2, 3):
        for index in range(count):
            launch = shard_order(jobs, Shard(index, count), overwrite=False)[0]
            for workers in (2, 3):
                plan, _ = plan_workers(workers, **{**CPU, "shard": Shard(index, count), "cores": 8})
                owns = [shard_order(jobs, shard, overwrite=False)[0] for shard in plan.shards]
                assert sorted(i for own in owns for i in own) == sorted(launch)  # every run of the launch's, once
                assert sum(map(len, owns)) == len(launch)


def test_a_worker_runs_this_recipe_with_the_launch_config_then_its_own_overrides(tmp_path: Path) -> None:
    plan, _ = plan_workers(2, **CPU)
    [cmd] = worker_commands(plan, REPO / "recipes" / "ner.py", "my.yaml", ["training.epochs=1", "sweep.shard=0/1"])
    assert cmd == [sys.executable, str(REPO / "recipes" / "ner.py"), "--config", "my.yaml", "training.epochs=1",
                   "sweep.shard=0/1", "sweep.shard=1/2", "training.num_threads=1", "sweep.workers=1",
                   "output.log_level=warning"]  # later overrides win


# ------------------------------------------------------------------------------------------------ the processes


def test_a_worker_leaves_the_summary_to_its_launch_while_the_launch_lives(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not summary_left_to_parent()
    monkeypatch.setenv(WORKER_ENV, json.dumps({"parent": os.getppid(), "command": "x"}))
    assert summary_left_to_parent()
    # a launch that died (the worker was handed to another parent) leaves the summary to the last shard
    monkeypatch.setenv(WORKER_ENV, json.dumps({"parent": os.getppid() + 100_000, "command": "x"}))
    assert not summary_left_to_parent()
    monkeypatch.setenv(WORKER_ENV, "not json")
    assert not summary_left_to_parent()


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_failed_worker_is_named_with_the_end_of_its_console(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    consoles = [tmp_path / "logs" / "sweep-shard1of3.console", tmp_path / "logs" / "sweep-shard2of3.console"]
    workers = Workers([_python("pass"), _python("import sys; print('data file bad, line 3'); sys.exit(3)")],
                      consoles, "accelerate launch recipes/ner.py")
    with caplog.at_level(logging.INFO, logger="tagger.train.workers"), workers:
        failed = workers.report(workers.wait())
    assert failed == [2]
    assert "worker 2 exited with code 3" in caplog.text and "data file bad, line 3" in caplog.text
    assert "worker 1 ended; its log: " + str(tmp_path / "logs" / "sweep-shard1of3.log") in caplog.text
    assert not consoles[0].exists() and consoles[1].is_file()  # a silent worker that ended well leaves no console


def test_a_failing_launch_stops_its_workers_with_sigterm_and_waits_for_them(tmp_path: Path) -> None:
    ready, stopped = tmp_path / "ready", tmp_path / "stopped"
    code = (f"import signal, sys, time, pathlib\n"
            f"def stop(signum, frame):\n    pathlib.Path({str(stopped)!r}).write_text(str(signum)); sys.exit(143)\n"
            f"signal.signal(signal.SIGTERM, stop)\npathlib.Path({str(ready)!r}).write_text('')\ntime.sleep(600)\n")
    workers = Workers([_python(code)], [tmp_path / "w.console"], "cmd")
    with pytest.raises(RuntimeError, match="the launch failed"), workers:
        while not ready.exists():
            time.sleep(0.05)
        raise RuntimeError("the launch failed")
    assert stopped.read_text() == "15" and workers.procs[0].returncode == 143


def test_workers_get_the_launch_pid_and_command_and_a_process_group_of_their_own(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    code = (f"import json, os; json.dump({{'env': json.loads(os.environ[{WORKER_ENV!r}]), 'sid': os.getsid(0), "
            f"'pid': os.getpid()}}, open({str(out)!r}, 'w'))")
    with Workers([_python(code)], [tmp_path / "w.console"], "accelerate launch recipes/ner.py x=1") as workers:
        assert workers.wait() == [0]
    seen = json.loads(out.read_text())
    assert seen["env"] == {"parent": os.getpid(), "command": "accelerate launch recipes/ner.py x=1"}
    assert seen["sid"] == seen["pid"] != os.getsid(0)  # a Ctrl-C at the terminal reaches the launch alone


# ------------------------------------------------------------------------------------------------ in the recipe


def test_the_launch_trains_what_a_dead_worker_held_and_writes_the_summary(
        tmp_path: Path, tiny_encoder_dir: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that claims a run and dies before finishing it: the launch, once the worker has ended,
    trains that run itself and writes the summary over every run."""
    out = tmp_path / "sweep"
    log, ready = out / "logs" / "sweep-shard0of2.log", tmp_path / "claimed"
    # the stand-in worker claims the launch's second run, waits until the launch waits for it, then fails
    code = ("import sys, time; from pathlib import Path; from tagger.train.claims import try_claim\n"
            f"claim = try_claim(Path({str(out / 'runs' / 'ce-seed2')!r}))\nassert claim is not None\n"
            f"Path({str(ready)!r}).write_text('')\nlog = Path({str(log)!r})\n"
            "while not (log.is_file() and 'waiting for the worker processes' in log.read_text()):\n"
            "    time.sleep(0.1)\n"
            "print('worker failed on purpose', flush=True); sys.exit(1)\n")

    class ClaimedFirst(Workers):
        def start(self) -> ClaimedFirst:  # the launch goes on once the worker holds its run
            super().start()
            deadline = time.monotonic() + 120
            while not ready.exists() and self.procs[0].poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            return self

    ner = recipe_module()
    monkeypatch.setattr(ner, "available_cores", lambda: 2)
    monkeypatch.setattr(ner, "worker_commands", lambda *args: [_python(code)])
    monkeypatch.setattr(ner, "Workers", ClaimedFirst)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    done = run_recipe(tiny_args(tiny_encoder_dir, data_dir, out, "sweep.seeds=[1, 2]", "sweep.workers=2",
                                "training.epochs=1"), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    text = log.read_text()
    assert "sweep.workers=2: 2 processes train at once with 1 thread each, as shards 0/2, 1/2" in text
    assert re.search(r"ce-seed2: claimed by .* skipped", text)  # the worker held it while it lived
    assert "worker 1 exited with code 1" in text and "worker failed on purpose" in text
    assert re.findall(r"\] (\S+): training", text) == ["ce-seed1", "ce-seed2"]  # the launch trained both
    assert json.loads((out / "summary.json").read_text())["runs"] and "summary: " in done.stdout


@pytest.mark.slow
def test_a_launch_with_a_worker_trains_every_run_once_and_summarizes_once(
        tmp_path: Path, tiny_encoder_dir: str, data_dir: Path) -> None:
    assert available_cores() >= 2, "workers train at once on 2 cores or more"
    out = tmp_path / "sweep"
    args = [*tiny_args(tiny_encoder_dir, data_dir, out, "sweep.losses=[{name: ce}, {name: focal, gamma: 2.0}]",
                       "sweep.seeds=[1, 2]", "sweep.workers=2", "training.epochs=1")]
    proc = subprocess.run([sys.executable, str(REPO / "recipes" / "ner.py"), *args], cwd=tmp_path,
                          env=child_env(), capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    logs = {shard: (out / "logs" / f"sweep-shard{shard}of2.log").read_text() for shard in (0, 1)}
    trained = {shard: re.findall(r"\] (\S+): training", text) for shard, text in logs.items()}
    assert sorted(trained[0] + trained[1]) == ["ce-seed1", "ce-seed2", "focal-gamma=2.0-seed1",
                                               "focal-gamma=2.0-seed2"]
    assert trained[0] and trained[1]  # both processes trained
    assert proc.stdout.count("summary: ") == 1 and "| ce" in proc.stdout  # the launch printed the table
    assert not (out / "logs" / "sweep-shard1of2.console").exists()  # the worker ended well and said nothing
    # a run the worker trained names the launch's command, not the worker's own command line
    for name in trained[1]:
        info = json.loads((out / "runs" / name / "model" / "tagger_run.json").read_text())
        assert "sweep.shard" not in info["command"] and "sweep.workers=2" in info["command"]
