"""Shards and claims: a sweep split between launches trains each run once; the output folder is tagger's own;
`tagger summarize` rebuilds the summary from whatever runs are finished."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from recipe_runner import child_env, run_cli
from test_recipe import REPO, run_recipe, tiny_args

from tagger.errors import OutputError
from tagger.io import OUTPUT_MARKER, ensure_output_dir
from tagger.train.claims import claim_run, current_claim, read_claim, try_claim
from tagger.train.shards import RunJob, Shard, shard_order

# ------------------------------------------------------------------------------------------------ claims


def test_a_claimed_run_cannot_be_claimed_again_until_released(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "ce-seed1"
    first = try_claim(run_dir, note="shard 0/2")
    assert first is not None and first.path.name == ".claim-1"
    assert try_claim(run_dir) is None
    owner = json.loads((first.path / "owner.json").read_text())
    assert (owner["host"], owner["pid"], owner["note"]) == (socket.gethostname(), os.getpid(), "shard 0/2")
    assert current_claim(run_dir).live
    first.release()
    assert not current_claim(run_dir).live and current_claim(run_dir).why == "released"
    second = try_claim(run_dir)
    assert second is not None and second.path.name == ".claim-2"
    assert not first.path.exists()  # superseded claims are cleared; the newest one says who trained the run
    second.release()


def test_of_processes_racing_for_a_run_exactly_one_wins(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    start = threading.Barrier(8)
    won: list[object] = []

    def race() -> None:
        start.wait()
        claim = try_claim(run_dir)
        if claim is not None:
            won.append(claim)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    won[0].release()


def _claim_in_child(run_dir: Path) -> subprocess.Popen:
    code = ("import sys, time; from pathlib import Path; from tagger.train.claims import try_claim; "
            "c = try_claim(Path(sys.argv[1])); print('claimed' if c else 'refused', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "claimed"
    return proc


def test_the_claim_of_a_dead_process_on_this_host_is_taken_over(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    child = _claim_in_child(run_dir)
    try:
        assert try_claim(run_dir) is None  # its owner lives
    finally:
        child.send_signal(signal.SIGKILL)  # no release: as a crash leaves it
        child.wait()
    state = current_claim(run_dir)
    assert not state.live and state.why == "owner gone"
    taken = try_claim(run_dir)
    assert taken is not None and taken.path.name == ".claim-2"
    taken.release()


def test_a_claim_from_another_host_holds_while_its_heartbeat_is_fresh(tmp_path: Path) -> None:
    claim_dir = tmp_path / "run" / ".claim-3"
    claim_dir.mkdir(parents=True)
    (claim_dir / "owner.json").write_text(json.dumps({"host": "elsewhere", "pid": 1, "claimed_at": "then"}))
    (claim_dir / "heartbeat").touch()
    assert read_claim(claim_dir, stale_after=60).live
    assert try_claim(tmp_path / "run", stale_after=60) is None
    old = time.time() - 120
    for p in (claim_dir / "heartbeat", claim_dir / "owner.json", claim_dir):
        os.utime(p, (old, old))
    assert read_claim(claim_dir, stale_after=60).why == "stale"
    taken = try_claim(tmp_path / "run", stale_after=60)
    assert taken is not None and taken.path.name == ".claim-4"
    taken.release()


def test_claim_run_says_done_claimed_or_train(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    verdict, claim = claim_run(run_dir, redo=False)
    assert verdict == "train" and claim is not None
    assert claim_run(run_dir, redo=True) == ("claimed", None)  # overwrite still respects a live claim
    (run_dir / "all_results.json").write_text("{}")
    claim.release()
    assert claim_run(run_dir, redo=False) == ("done", None)
    verdict, claim = claim_run(run_dir, redo=True)
    assert verdict == "train"
    claim.release()


# ------------------------------------------------------------------------------------------------ the shard rule


def _jobs(tmp_path: Path, n: int, done: set[int] = frozenset()) -> list[RunJob]:
    jobs = [RunJob({"name": "ce"}, i, tmp_path / f"ce-seed{i}", "ce") for i in range(n)]
    for i in done:
        jobs[i].run_dir.mkdir(parents=True, exist_ok=True)
        (jobs[i].run_dir / "all_results.json").write_text("{}")
    return jobs


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_split_the_pending_runs_exactly(tmp_path: Path, count: int) -> None:
    jobs = _jobs(tmp_path, 7, done={1, 4})
    owns = [shard_order(jobs, Shard(i, count), overwrite=False)[0] for i in range(count)]
    assert sorted(i for own in owns for i in own) == [0, 2, 3, 5, 6]
    # the pending runs are numbered in the sweep's order and dealt round-robin
    assert owns[0] == [0, 2, 3, 5, 6][::count]
    # then each shard helps with every run that is not its own
    for i, own in enumerate(owns):
        rest = shard_order(jobs, Shard(i, count), overwrite=False)[1]
        assert sorted(own + rest) == list(range(7))


def test_under_overwrite_every_run_is_pending_and_no_shard_helps(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, 4, done={0, 1, 2, 3})
    assert shard_order(jobs, Shard(1, 2), overwrite=True) == ([1, 3], [])


def test_shard_text_is_checked() -> None:
    assert Shard.parse("3/4") == Shard(3, 4) and Shard.parse(None) == Shard(0, 1)
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError, match="expected I/N"):
            Shard.parse(bad)


# ------------------------------------------------------------------------------------------------ the output folder


def test_tagger_writes_only_into_its_own_folders(tmp_path: Path) -> None:
    fresh = ensure_output_dir(tmp_path / "new" / "sweep")
    assert [p.name for p in fresh.iterdir()] == [OUTPUT_MARKER]
    (fresh / "runs").mkdir()
    assert ensure_output_dir(fresh) == fresh  # marked: a second launch goes on

    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("precious")
    with pytest.raises(OutputError) as err:
        ensure_output_dir(mine)
    message = str(err.value)
    assert "\n" not in message and str(mine) in message and "chapter1.tex" in message
    assert sorted(p.name for p in mine.iterdir()) == ["chapter1.tex"]  # nothing written
    ensure_output_dir(mine, overwrite=True)
    assert (mine / OUTPUT_MARKER).is_file() and (mine / "chapter1.tex").read_text() == "precious"

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".write-check.ab12.tmp").touch()  # another launch starting on the same folder right now
    ensure_output_dir(empty)
    assert (empty / OUTPUT_MARKER).is_file()


def test_the_recipe_refuses_a_folder_of_the_users(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    proc = run_recipe([f"output.output_dir={out}", "sweep.losses=[{name: ce}]"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and f"{out} holds files tagger did not write" in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


# ------------------------------------------------------------------------------------------------ end to end


def _launch(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "recipes" / "ner.py"), *args], cwd=cwd, env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _table(summary: dict) -> list[dict]:
    """The table's rows without what depends on the machine's speed."""
    return [{k: v for k, v in row.items() if not k.startswith("train_seconds")} for row in summary["table"]]


SWEEP = ["sweep.losses=[{name: ce}, {name: focal, gamma: 2.0}]", "sweep.seeds=[1, 2]", "training.num_threads=1",
         "training.epochs=1"]
RUNS = ["ce-seed1", "ce-seed2", "focal-gamma=2.0-seed1", "focal-gamma=2.0-seed2"]


@pytest.mark.slow
def test_two_shards_train_every_run_once_and_summarize_as_one_process(tmp_path, tiny_encoder_dir, data_dir):
    out = tmp_path / "sharded"
    shards = [_launch([*tiny_args(tiny_encoder_dir, data_dir, out, *SWEEP), "--shard", f"{i}/2"], tmp_path)
              for i in range(2)]
    outputs = [p.communicate(timeout=900) for p in shards]
    logs = [err for _, err in outputs]
    for p, log in zip(shards, logs):
        assert p.returncode == 0, log[-3000:]
    # the shard that finished last found every run done and wrote the summary
    assert any("summary: " in stdout for stdout, _ in outputs) and (out / "summary.json").is_file()
    trained = [sorted(re.findall(r"\] (\S+): training", log)) for log in logs]
    assert sorted(trained[0] + trained[1]) == RUNS, trained  # every run by exactly one shard
    assert trained[0] and trained[1]  # both shards did some
    for i, names in enumerate(trained):
        for name in names:  # the claim left in the run folder says the same
            owner = json.loads(next((out / "runs" / name).glob(".claim-*/owner.json")).read_text())
            assert owner["note"] == f"shard {i}/2"
    assert sorted(p.parent.name for p in (out / "runs").glob("*/all_results.json")) == RUNS
    assert sorted(p.name for p in (out / "logs").glob("*.jsonl")) == ["sweep-shard0of2.jsonl", "sweep-shard1of2.jsonl"]

    single = run_recipe(tiny_args(tiny_encoder_dir, data_dir, tmp_path / "single", *SWEEP), tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    expected = json.loads((tmp_path / "single" / "summary.json").read_text())

    for name in ("summary.json", "report.html"):
        (out / name).unlink(missing_ok=True)
    proc = run_cli(tmp_path, "summarize", str(out), "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads((out / "summary.json").read_text())
    # argmax, viterbi, +threshold, +type_thresholds
    assert [r["loss"] for r in got["table"]] == ["ce"] * 4 + ["focal(gamma=2.0)"] * 4
    assert _table(got) == _table(expected)
    assert got["best"] == expected["best"] and got["metric_mode"] == expected["metric_mode"]
    assert got["cost"]["final"]["runs"] == 4 and got["cost"]["final"]["train_seconds"] > 0
    assert "| ce" in proc.stdout and "## Cost" in (out / "summary.md").read_text()
    assert not (out / "report.html").exists()

    # the end of the sweep writes the same: the shard that finished last found every run done
    relaunch = run_recipe([*tiny_args(tiny_encoder_dir, data_dir, out, *SWEEP), "--shard", "1/2"], tmp_path)
    assert relaunch.returncode == 0 and relaunch.stderr.count("results exist, skipped") == 4, relaunch.stderr[-2000:]
    assert _table(json.loads((out / "summary.json").read_text())) == _table(expected)


def test_summarize_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    proc = run_cli(tmp_path, "summarize", str(tmp_path))
    assert proc.returncode == 2 and "no finished run under" in proc.stderr and "Traceback" not in proc.stderr
