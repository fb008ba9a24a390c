"""End to end: the recipe trains, sweeps two losses and writes everything a user reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from recipe_runner import REPO, run_recipe, tiny_args  # noqa: F401 - other test modules import them from here
from safetensors.torch import load_file


def test_sweep_of_two_losses_end_to_end(tmp_path, tiny_encoder_dir, data_dir):
    out = tmp_path / "out"
    proc = run_recipe(tiny_args(tiny_encoder_dir, data_dir, out,
                                "sweep.losses=[{name: ce}, {name: focal, gamma: 2.0}]", "sweep.seeds=[1]"), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert [r["loss"] for r in summary["runs"]] == ["ce", "focal"]
    cost = summary["cost"]["final"]
    assert cost["runs"] == cost["runs_timed"] == 2
    assert cost["run_seconds"] == pytest.approx(sum(r["run_seconds"] for r in summary["runs"]), abs=0.02)
    assert cost["most_at_once"] == 1 and cost["span_seconds"] >= cost["run_seconds"] - 2  # one after the other (ISO s)
    for run in summary["runs"]:
        assert run["params"] == ({} if run["loss"] == "ce" else {"gamma": 2.0})
        for split in ("validation", "test"):
            assert {"f1", "precision", "recall", "per_type"} <= set(run[split])
            for t in run[split]["per_type"].values():
                assert {"f1", "precision", "recall", "support"} <= set(t)
        assert run["train_seconds"] > 0 and run["optimizer_steps"] > 0
        assert run["run_seconds"] > run["train_seconds"]  # the whole run: set-up, training, evaluation, files
        run_dir = out / "runs" / run["run"]
        # parameters changed: the saved encoder differs from the one it started from
        trained = load_file(str(run_dir / "model" / "model.safetensors"))
        initial = load_file(str(Path(tiny_encoder_dir) / "model.safetensors"))
        key = next(k for k in trained if k.endswith("encoder.layer.0.attention.self.query.weight"))
        init_key = next(k for k in initial if k.endswith("encoder.layer.0.attention.self.query.weight"))
        assert not trained[key].equal(initial[init_key])
        config = json.loads((run_dir / "model" / "config.json").read_text())
        assert config["id2label"]["0"] == "O" and len(config["id2label"]) == 13
        assert (run_dir / "model" / "README.md").is_file()
        # test predictions: token gold pred, one line per word of the 48 test sentences
        lines = (run_dir / "test_predictions.conll").read_text().split("\n\n")
        assert len([b for b in lines if b.strip()]) == 48
    for name in ("summary.csv", "summary.md", "summary.png", "report.html", "errors.json"):
        assert (out / name).stat().st_size > 0
    assert f"report: {out / 'report.html'}" in proc.stdout
    # one training window per row of the split, each trained once per epoch
    for run in summary["runs"]:
        assert [h["window_coverage"]["missed"] for h in run["history"]] == [0, 0]
        assert all(h["window_coverage"]["trained"] == h["window_coverage"]["windows"] for h in run["history"])
    assert "| ce · argmax" in proc.stdout and "focal(gamma=2.0) · viterbi+threshold" in proc.stdout  # the printed table
    check_decodings(out, summary)
    # training.mixed_precision=auto (the default) says what it chose and why
    from tagger.train.precision import resolve_mixed_precision

    assert f"mixed precision: {resolve_mixed_precision('auto', 'cpu')[0]} (auto: this CPU" in proc.stderr
    # the tracker wrote training losses
    assert any(json.loads(line).get("ce-seed1/train_loss") is not None
               for line in (out / "logs").rglob("*.jsonl").__next__().read_text().splitlines()[1:])

    # a second launch skips finished runs
    proc = run_recipe(tiny_args(tiny_encoder_dir, data_dir, out,
                                "sweep.losses=[{name: ce}, {name: focal, gamma: 2.0}]", "sweep.seeds=[1]"), tmp_path)
    assert proc.returncode == 0 and proc.stderr.count("results exist, skipped") == 2, proc.stderr[-2000:]


def check_decodings(out: Path, summary: dict) -> None:
    """Every run scored with every decoding on one trained model; the headline is training.decoding."""
    from tagger.data.schemes import convert_tags
    from tagger.metrics import score_sequences
    from tagger.run_files import read_predictions

    assert [(r["loss"], r["decoding"]) for r in summary["table"]] == [
        (loss, d) for loss in ("ce", "focal(gamma=2.0)")
        for d in ("argmax", "viterbi", "viterbi+threshold", "viterbi+type_thresholds")]
    for run in summary["runs"]:
        run_dir = out / "runs" / run["run"]
        # argmax+type_thresholds is neither shown nor the default decoding: not tuned
        assert run["decoding"] == "viterbi" and set(run["decodings"]) == {
            "argmax", "viterbi", "argmax+threshold", "viterbi+threshold", "viterbi+type_thresholds"}
        assert run["test"] == run["decodings"]["viterbi"]["test"]
        assert (run_dir / "test_predictions.conll").read_text() == (run_dir / "test_predictions.viterbi.conll").read_text()
        for name, scores in run["decodings"].items():
            gold, pred = read_predictions(run_dir / f"test_predictions.{name}.conll")
            assert score_sequences(gold, pred) == scores["test"]  # each file holds what its scores count
            assert 0 <= scores["calibration"]["ece"] <= 1 if scores["calibration"]["entities"] else True
            if name.startswith("viterbi"):  # well-formed: strict reads what conlleval reads
                assert all(p == convert_tags(p, "IOB2", "IOB2") for p in pred)
                strict = score_sequences(gold, pred, "strict")
                assert (strict["tp"], strict["predicted"]) == (scores["test"]["tp"], scores["test"]["predicted"])
            if name.endswith("+threshold"):
                assert 0 <= scores["o_bias"] <= 6 and (scores["o_bias"] * 4).is_integer()
        info = json.loads((run_dir / "model" / "tagger_run.json").read_text())
        assert info["decoding"]["default"] == "viterbi" and info["decoding"]["scheme"] == "IOB2"
        assert info["decoding"]["o_bias"] == {m: run["decodings"][f"{m}+threshold"]["o_bias"]
                                              for m in ("argmax", "viterbi")}
        typed = run["decodings"]["viterbi+type_thresholds"]
        assert typed["o_bias"] == run["decodings"]["viterbi+threshold"]["o_bias"]
        assert info["decoding"]["type_bias"] == {"viterbi": typed["type_bias"]}
        assert set(typed["type_bias"]) == set(typed["type_bias_tuning"]["raw"]) == set(summary["types"]) | set(
            typed["type_bias_tuning"]["validation_entities"])
        assert "## Decoding" in (run_dir / "model" / "README.md").read_text()
    row = next(r for r in summary["table"] if r["label"] == summary["best"])
    assert row["validation_f1_mean"] == max(r["validation_f1_mean"] for r in summary["table"])


def test_bad_config_fails_fast_with_one_line(tmp_path):
    # a real launch: the exit code and the one line are what the shell sees
    proc = run_recipe(["training.epoch=3"], tmp_path, subprocess_=True)
    assert proc.returncode == 2
    assert "unknown config key 'training.epoch'" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_loss_parameter_fails_with_one_line(tmp_path, tiny_encoder_dir, data_dir):
    proc = run_recipe(tiny_args(tiny_encoder_dir, data_dir, tmp_path / "o", "--loss.name", "focal", "--loss.gamma", "-1"),
                      tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "gamma" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_minilm_one_epoch_learns(tmp_path, data_dir):
    """The packaged MiniLM, one epoch on 500 WNUT-17 sentences, reaches validation F1 above 0."""
    out = tmp_path / "out"
    proc = run_recipe(["data.max_train_sentences=500", "data.max_eval_sentences=300", f"data.data_dir={data_dir}",
                       "training.epochs=1", "training.learning_rate=5e-4", "training.max_sentences_per_batch=16",
                       "training.warmup_ratio=0.05", "sweep.losses=[]", "sweep.seeds=[]", f"output.output_dir={out}"],
                      tmp_path,
                      timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((out / "summary.json").read_text())["runs"][0]
    assert run["validation"]["f1"] > 0


@pytest.mark.slow
def test_two_processes_score_every_sentence_once(tmp_path, tiny_encoder_dir, data_dir):
    """torchrun with 2 CPU processes (gloo) scores the same validation/test entities as one process."""
    common = ["sweep.seeds=[1]", "training.epochs=1", "data.max_eval_sentences=101"]  # odd: uneven shards
    single = run_recipe(tiny_args(tiny_encoder_dir, data_dir, tmp_path / "one", *common), tmp_path)
    assert single.returncode == 0, single.stderr[-2000:]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
         str(REPO / "recipes" / "ner.py"), *tiny_args(tiny_encoder_dir, data_dir, tmp_path / "two", *common)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = json.loads(next((tmp_path / "one" / "runs").glob("*/all_results.json")).read_text())
    two = json.loads(next((tmp_path / "two" / "runs").glob("*/all_results.json")).read_text())
    assert two["num_processes"] == 2
    for split in ("validation", "test"):
        assert two[split]["gold"] == one[split]["gold"]
        def support(r):
            return {t: v["support"] for t, v in r[split]["per_type"].items() if v["support"]}

        assert support(two) == support(one)
    words = [line for line in (tmp_path / "two" / "runs" / two["run"] / "test_predictions.conll").read_text().splitlines()
             if line.strip()]
    words_one = [line.split()[:2] for line in
                 (tmp_path / "one" / "runs" / one["run"] / "test_predictions.conll").read_text().splitlines() if line.strip()]
    assert [w.split()[:2] for w in words] == words_one
