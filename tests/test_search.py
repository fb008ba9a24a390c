"""Search per loss: a grid scored on validation only, kept in an Optuna study that resumes and that several
processes share; the chosen setting trained for the sweep and reported in the summary."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from recipe_runner import child_env

pytest.importorskip("optuna")

from test_recipe import REPO, run_recipe, tiny_args  # noqa: E402

from tagger.config import load_config  # noqa: E402
from tagger.errors import ConfigError  # noqa: E402
from tagger.search import (  # noqa: E402
    STORAGE_NAME,
    SearchSpace,
    run_searches,
    search_spaces,
    search_summary,
    sweep_jobs,
)
from tagger.train.claims import claim_run  # noqa: E402
from tagger.train.shards import RunJob  # noqa: E402

# ------------------------------------------------------------------------------------------------ the space


def test_the_yaml_declares_each_space_per_loss(tmp_path: Path) -> None:
    cfg = load_config(None, [
        "sweep.losses=[{name: ce, search: {}}, {name: focal, gamma: 2.0, search: {gamma: [1, 3]}}, {name: dice},"
        " {name: hard_truncation, threshold: 0.5, search: {threshold: [0.3, 0.7], learning_rate: [1e-3]}}]",
        "sweep.search.learning_rate=[5e-5, 1e-4]", "sweep.search.seeds=[1, 2]", "sweep.seeds=[7]",
        "sweep.search.epochs=1"])
    spaces = search_spaces(cfg.sweep_entries(), learning_rates=cfg.sweep.search.learning_rate,
                           seeds=cfg.sweep.search.seeds, epochs=cfg.sweep.search.epochs)
    assert sorted(spaces) == [0, 1, 3]  # dice is not tuned
    assert spaces[0].grid == {"learning_rate": [5e-5, 1e-4]}
    assert spaces[1].grid == {"gamma": [1, 3], "learning_rate": [5e-5, 1e-4]} and len(spaces[1].points()) == 4
    assert spaces[3].grid == {"learning_rate": [1e-3], "threshold": [0.3, 0.7]}  # its own list replaces the shared one
    job = spaces[1].job({"gamma": 3, "learning_rate": 1e-4}, 2, tmp_path / "runs")
    assert job.run_dir == tmp_path / "runs" / "search" / "focal-epochs=1-gamma=3-learning_rate=0.0001-seed2"
    assert (job.spec, job.training, job.save_model) == ({"name": "focal", "gamma": 3},
                                                        {"learning_rate": 1e-4, "epochs": 1}, False)
    # without a search the sweep trains what the entry says; run_specs ignores the search
    assert cfg.run_specs()[1] == ({"name": "focal", "gamma": 2.0}, 7)
    jobs = sweep_jobs(cfg.sweep_entries(), [7], tmp_path, {1: ({"name": "focal", "gamma": 3}, {"learning_rate": 1e-4})})
    assert [j.label for j in jobs] == ["ce", "focal(gamma=3)", "dice", "hard_truncation(threshold=0.5)"]
    assert jobs[1].run_dir.name == "focal-gamma=3-learning_rate=0.0001-seed7" and jobs[1].training == {"learning_rate": 1e-4}
    # a row's name holds its training keys only where two rows would share a name
    twice = [{"name": "ce"}, {"name": "ce", "search": {}}]
    jobs = sweep_jobs(twice, [7], tmp_path, {1: ({"name": "ce"}, {"learning_rate": 1e-4})})
    assert [j.label for j in jobs] == ["ce", "ce(learning_rate=0.0001)"]
    # another grid is another study; the same grid the same one
    other = SearchSpace(spaces[1].spec, {**spaces[1].grid, "gamma": [1, 2]}, spaces[1].seeds, spaces[1].training)
    assert other.study_name != spaces[1].study_name
    assert SearchSpace(**vars(spaces[1])).study_name == spaces[1].study_name


@pytest.mark.parametrize("override, message", [
    ("sweep.losses=[{name: ce, search: {}}]", r"sweep.losses\[0\].search: nothing to search"),
    ("sweep.losses=[{name: focal, search: {gamma: [1, -1]}}]", r"sweep.losses\[0\] \(gamma=-1 of its search\): gamma"),
    ("sweep.losses=[{name: focal, search: {gamma: 2}}]", r"sweep.losses\[0\].search.gamma: expected a non-empty list"),
    ("sweep.losses=[{name: focal, search: {learning_rate: [0]}}]", r"search.learning_rate\[0\]: must be > 0"),
    ("sweep.losses=[{name: focal, search: {alpha: [[0.1, 0.9]]}}]", r"search.alpha: a grid holds single values"),
    ("sweep.search.learning_rate=[-1]", r"sweep.search.learning_rate\[0\]: must be > 0"),
])
def test_a_bad_search_stops_the_launch(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


# ------------------------------------------------------------------------------------------------ the study


def fake_results(job: RunJob, validation: dict[float, float], test: dict[float, float]) -> dict[str, Any]:
    lr = job.training["learning_rate"]
    return {"run": job.name, "label": job.label, "seed": job.seed, "train_seconds": 1.0, "num_processes": 1,
            "validation": {"f1": validation[lr] + job.seed / 1000}, "test": {"f1": test[lr]}}


class FakeTrain:
    """Stands for the recipe's train_or_skip: claims the run, writes its all_results.json, counts what it trained."""

    def __init__(self, validation: dict[float, float], test: dict[float, float], fail: float | None = None) -> None:
        self.validation, self.test, self.fail = validation, test, fail
        self.trained: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, job: RunJob, where: str) -> dict[str, Any] | None:
        verdict, claim = claim_run(job.run_dir, redo=False)
        if verdict == "done":
            return json.loads((job.run_dir / "all_results.json").read_text())
        if verdict == "claimed":
            return None
        try:
            if job.training["learning_rate"] == self.fail:
                raise RuntimeError("a run failed")
            result = fake_results(job, self.validation, self.test)
            (job.run_dir / "all_results.json").write_text(json.dumps(result))
            with self.lock:
                self.trained.append(job.name)
            return result
        finally:
            claim.release()


SPACE = SearchSpace(spec={"name": "ce"}, grid={"learning_rate": [1e-4, 1e-3, 1e-2]}, seeds=[1, 2])


def test_the_choice_is_by_mean_validation_f1_and_never_reads_test(tmp_path: Path) -> None:
    validation = {1e-4: 0.30, 1e-3: 0.50, 1e-2: 0.40}
    honest = FakeTrain(validation, test={1e-4: 0.3, 1e-3: 0.5, 1e-2: 0.4})
    assert run_searches({0: SPACE}, honest, tmp_path / "a") == {0: ({"name": "ce"}, {"learning_rate": 1e-3})}
    assert sorted(honest.trained) == sorted(SPACE.job(p, s, tmp_path).name for p in SPACE.points() for s in (1, 2))
    # the worse points score far better on test: the choice stays
    tempting = FakeTrain(validation, test={1e-4: 0.9, 1e-3: 0.1, 1e-2: 0.95})
    assert run_searches({0: SPACE}, tempting, tmp_path / "b") == {0: ({"name": "ce"}, {"learning_rate": 1e-3})}

    [found] = search_summary(tmp_path / "b")
    assert found["chosen"] == {"learning_rate": 1e-3} and found["chosen_label"] == "ce(learning_rate=0.001)"
    assert [p["validation_f1_mean"] for p in found["points"]] == pytest.approx([0.3015, 0.5015, 0.4015])
    assert found["points"][1]["validation_f1"] == pytest.approx([0.501, 0.502])
    assert found["points"][1]["runs"] == ["ce-learning_rate=0.001-seed1", "ce-learning_rate=0.001-seed2"]


def test_a_search_resumes_where_it_stopped(tmp_path: Path) -> None:
    validation, test = {1e-4: 0.3, 1e-3: 0.5, 1e-2: 0.4}, {1e-4: 0.3, 1e-3: 0.5, 1e-2: 0.4}
    broken = FakeTrain(validation, test, fail=1e-2)
    with pytest.raises(RuntimeError, match="a run failed"):
        run_searches({0: SPACE}, broken, tmp_path)
    assert (tmp_path / STORAGE_NAME).is_file()
    again = FakeTrain(validation, test)
    assert run_searches({0: SPACE}, again, tmp_path)[0] == ({"name": "ce"}, {"learning_rate": 1e-3})
    # what had finished before the failure is not trained again; the failed point is
    every_run = {SPACE.job(p, s, tmp_path).name for p in SPACE.points() for s in (1, 2)}
    assert not set(again.trained) & set(broken.trained) and set(again.trained) | set(broken.trained) == every_run
    assert {"ce-learning_rate=0.01-seed1", "ce-learning_rate=0.01-seed2"} <= set(again.trained)
    done = FakeTrain(validation, test)
    assert run_searches({0: SPACE}, done, tmp_path)[0] == ({"name": "ce"}, {"learning_rate": 1e-3})
    assert done.trained == []


SHARED_SEARCH = """
import json, sys, time
from pathlib import Path
from tagger.search import SearchSpace, run_searches
from tagger.train.claims import claim_run

space = SearchSpace(spec={"name": "ce"}, grid={"learning_rate": [1e-4, 2e-4, 3e-4, 4e-4]}, seeds=[1, 2])

def train(job, where):
    verdict, claim = claim_run(job.run_dir, redo=False)
    if verdict == "done":
        return json.loads((job.run_dir / "all_results.json").read_text())
    if verdict == "claimed":
        return None
    time.sleep(0.3)  # a run takes a while: the other process meets it claimed
    result = {"run": job.name, "label": job.label, "seed": job.seed, "validation": {"f1": job.training["learning_rate"]},
              "test": {"f1": 0.0}, "train_seconds": 0.3}
    (job.run_dir / "all_results.json").write_text(json.dumps(result))
    claim.release()
    print("trained", job.name, flush=True)
    return result

chosen = run_searches({0: space}, train, Path(sys.argv[1]), poll=0.1)
print("chosen", json.dumps(chosen[0]), flush=True)
"""


@pytest.mark.slow
def test_two_processes_share_a_study_and_train_each_run_once(tmp_path: Path) -> None:
    env = child_env()
    procs = [subprocess.Popen([sys.executable, "-c", SHARED_SEARCH, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    trained = [re.findall(r"trained (\S+)", out) for out, _ in outs]
    assert sorted(trained[0] + trained[1]) == sorted(f"ce-learning_rate={lr}-seed{s}" for lr in ("0.0001", "0.0002",
                                                                                                  "0.0003", "0.0004")
                                                     for s in (1, 2))
    assert trained[0] and trained[1]
    chosen = {re.search(r"chosen (.*)", out).group(1) for out, _ in outs}
    assert chosen == {json.dumps([{"name": "ce"}, {"learning_rate": 4e-4}])}  # both leave with the same choice


# ------------------------------------------------------------------------------------------------ end to end


def test_a_tuned_loss_on_the_tiny_model(tmp_path, tiny_encoder_dir, data_dir):
    out = tmp_path / "out"
    args = tiny_args(tiny_encoder_dir, data_dir, out, "sweep.losses=[{name: ce, search: {}}, {name: focal, gamma: 2.0}]",
                     "sweep.search.learning_rate=[1e-5, 3e-3]", "sweep.search.seeds=[3]", "sweep.seeds=[1]",
                     "training.num_threads=1", "training.epochs=1")
    proc = run_recipe(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    search_dir = out / "runs" / "search"
    trials = {p.parent.name: json.loads(p.read_text()) for p in search_dir.glob("*/all_results.json")}
    assert sorted(trials) == ["ce-learning_rate=0.003-seed3", "ce-learning_rate=1e-05-seed3"]
    assert not list(search_dir.glob("*/model"))  # search runs keep no model
    best = max(trials, key=lambda name: trials[name]["validation"]["f1"])
    lr = {"ce-learning_rate=1e-05-seed3": 1e-5, "ce-learning_rate=0.003-seed3": 3e-3}[best]

    summary = json.loads((out / "summary.json").read_text())
    # tuned, ce is still the baseline; one row per decoding (argmax, viterbi, +threshold, +type_thresholds)
    assert [row["loss"] for row in summary["table"]] == ["ce"] * 4 + ["focal(gamma=2.0)"] * 4
    assert summary["table"][4]["vs_ce"]
    final = out / "runs" / f"ce-learning_rate={lr}-seed1"
    card = json.loads((final / "model" / "tagger_run.json").read_text())
    assert card["hyperparameters"]["learning_rate"] == lr and card["hyperparameters"]["seed"] == 1
    [search] = summary["search"]
    assert search["chosen"] == {"learning_rate": lr} and search["complete"]
    assert [p["validation_f1_mean"] for p in search["points"]] == [trials["ce-learning_rate=1e-05-seed3"]["validation"]["f1"],
                                                                 trials["ce-learning_rate=0.003-seed3"]["validation"]["f1"]]
    assert summary["table"][0]["tuned"]["over"] == {"learning_rate": [1e-5, 3e-3]} and summary["table"][4]["tuned"] is None
    costs = summary["cost"]
    assert costs["search"]["runs"] == 2 and costs["final"]["runs"] == 2
    assert costs["search"]["train_seconds"] == pytest.approx(sum(t["train_seconds"] for t in trials.values()), abs=0.02)
    md = (out / "summary.md").read_text()
    assert "## Search" in md and f"Chosen: **ce(learning_rate={lr})**" in md and "## Cost" in md
    assert f"- ce: learning_rate={lr:g}, chosen over learning_rate ∈ {{1e-05, 0.003}} (2 points)" in md
    assert "- not tuned: focal(gamma=2.0)" in md

    # launched again, the study and the runs are where they were: nothing trains
    again = run_recipe(args, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert ": training" not in again.stderr, again.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["search"][0]["chosen"] == {"learning_rate": lr}


@pytest.mark.slow
def test_two_shards_share_the_search_and_the_sweep(tmp_path, tiny_encoder_dir, data_dir):
    out = tmp_path / "out"
    args = tiny_args(tiny_encoder_dir, data_dir, out, "sweep.losses=[{name: ce, search: {}}, {name: focal, gamma: 2.0}]",
                     "sweep.search.learning_rate=[1e-5, 3e-3]", "sweep.search.seeds=[3]", "sweep.seeds=[1, 2]",
                     "training.num_threads=1", "training.epochs=1")
    env = child_env()
    shards = [subprocess.Popen([sys.executable, str(REPO / "recipes" / "ner.py"), *args, "--shard", f"{i}/2"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for i in range(2)]
    logs = [p.communicate(timeout=900)[1] for p in shards]
    for p, log in zip(shards, logs):
        assert p.returncode == 0, log[-3000:]
    trained = [re.findall(r"\] (\S+): training", log) for log in logs]
    runs = sorted(trained[0] + trained[1])
    assert len(runs) == len(set(runs)) == 6, trained  # 2 search runs and 4 of the sweep, each by one shard
    assert sorted(p.parent.name for p in (out / "runs" / "search").glob("*/all_results.json")) == [
        "ce-learning_rate=0.003-seed3", "ce-learning_rate=1e-05-seed3"]
    choices = {re.search(r"search ce: chose (\S+)", log).group(1) for log in logs}
    assert len(choices) == 1  # both shards trained the same choice
    summary = json.loads((out / "summary.json").read_text())
    assert [len(row["seeds"]) for row in summary["table"]] == [2] * 8 and summary["search"][0]["complete"]


def test_the_sweep_trains_seeds_outermost_and_run_specs_lists_that_order(tmp_path: Path) -> None:
    # a launch stopped early must have every setting on its first seeds
    cfg = load_config(None, ["sweep.losses=[{name: ce}, {name: focal, gamma: 2.0}]", "sweep.seeds=[1, 2]"])
    jobs = sweep_jobs(cfg.sweep_entries(), cfg.sweep_seeds(), tmp_path, {})
    assert [(j.label, j.seed) for j in jobs] == [("ce", 1), ("focal(gamma=2.0)", 1), ("ce", 2), ("focal(gamma=2.0)", 2)]
    assert [(j.spec, j.seed) for j in jobs] == cfg.run_specs()
