"""Failure behaviour: interruption and resume, non-finite guard, atomic writes, untrusted models."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tagger.io import atomic_dir, atomic_open, atomic_write_json
from tagger.train.guards import NonFiniteError, NonFiniteGuard

from test_recipe import REPO, run_recipe, tiny_args


def test_atomic_open_keeps_previous_file_on_error(tmp_path):
    target = tmp_path / "summary.json"
    atomic_write_json(target, {"good": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write('{"half": ')
            raise RuntimeError("crash while writing")
    assert json.loads(target.read_text()) == {"good": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary left behind


def test_atomic_dir_swaps_only_when_complete(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as d:
        (d / "a.txt").write_text("v1")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as d:
            (d / "a.txt").write_text("half")
            raise KeyboardInterrupt
    assert (target / "a.txt").read_text() == "v1"
    with atomic_dir(target) as d:
        (d / "a.txt").write_text("v2")
    assert (target / "a.txt").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_nonfinite_guard_counts_and_stops_with_advice():
    guard = NonFiniteGuard(max_consecutive=3, loss_name="focal(gamma=2.0)")
    for step, finite in enumerate([True, False, True, False, False], 1):
        guard.update(finite, step)
    assert guard.skipped == 3 and guard.consecutive == 2
    with pytest.raises(NonFiniteError, match=r"loss 'focal\(gamma=2.0\)'.*3 optimizer steps in a row.*step 6.*learning rate"):
        guard.update(False, 6)


def test_diverging_run_stops_with_message_and_exit_code(tmp_path, tiny_encoder_dir, data_dir):
    proc = run_recipe(tiny_args(tiny_encoder_dir, data_dir, tmp_path / "o", "training.learning_rate=1e30",
                                "training.max_grad_norm=0", "training.max_nonfinite_steps=2", "training.warmup_ratio=0"),
                      tmp_path)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "NaN/inf" in proc.stderr and "loss 'ce'" in proc.stderr and "Traceback" not in proc.stderr


def _launch(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen([sys.executable, str(REPO / "recipes" / "ner.py"), *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_interrupted_run_resumes_to_identical_metrics(tmp_path, tiny_encoder_dir, data_dir):
    common = ["data.max_train_sentences=200", "training.epochs=3", "training.max_tokens_per_batch=256",
              "training.num_threads=1", "sweep.seeds=[5]"]
    ref = run_recipe(tiny_args(tiny_encoder_dir, data_dir, tmp_path / "ref", *common), tmp_path)
    assert ref.returncode == 0, ref.stderr[-2000:]
    expected = json.loads(next((tmp_path / "ref" / "runs").glob("*/all_results.json")).read_text())

    out = tmp_path / "int"
    proc = _launch(tiny_args(tiny_encoder_dir, data_dir, out, *common), tmp_path)
    # interrupt during the second epoch, once the tracker shows training steps there
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        logs = list((out / "logs").rglob("*.jsonl")) if (out / "logs").exists() else []
        if logs and any('/validation_f1"' in line for line in logs[0].read_text().splitlines()):
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.02)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "resume with training.resume_from_checkpoint=latest" in err
    assert list((out / "runs").glob("*/checkpoints/step_*"))
    assert not list((out / "runs").glob("*/all_results.json"))

    resumed = run_recipe(tiny_args(tiny_encoder_dir, data_dir, out, *common, "training.resume_from_checkpoint=latest"),
                         tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from step_" in resumed.stderr
    got = json.loads(next((out / "runs").glob("*/all_results.json")).read_text())
    assert got["validation"]["f1"] == expected["validation"]["f1"]
    assert got["test"] == expected["test"]
    assert got["best_epoch"] == expected["best_epoch"]
    assert got["train_tokens"] == expected["train_tokens"]  # the interrupted epoch's tokens count once, before and after
    assert not list((out / "runs").glob("*/checkpoints"))  # removed once the run finished


def test_run_names_cannot_escape_output_dir(tmp_path, tiny_encoder_dir, data_dir):
    from tagger.sweep import run_folder_name

    name = run_folder_name({"name": "ce", "tag": "../../../etc"}, 1)
    assert (tmp_path / "runs" / name).resolve().parent == (tmp_path / "runs").resolve()


def test_pickle_weights_refused_unless_allowed(tmp_path, tiny_encoder_dir):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from tagger.errors import InputError
    from tagger.predict import Tagger

    model = AutoModelForTokenClassification.from_pretrained(tiny_encoder_dir, num_labels=3)
    import torch

    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")  # the pickle format older checkpoints use
    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(tmp_path)
    with pytest.raises(InputError, match="pickle"):
        Tagger.from_pretrained(tmp_path)
    assert Tagger.from_pretrained(tmp_path, allow_pickle_weights=True).predict([["a", "b"]])[0].__len__() == 2


def _write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> None:
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in sentences) + "\n")


def test_five_thousand_word_sentence_trains_and_every_word_is_scored(tmp_path, tiny_encoder_dir):
    long = [(f"w{i}", "B-PER" if i % 97 == 0 else "O") for i in range(5000)]
    short = [[("Anna", "B-PER"), ("sings", "O")], [("in", "O"), ("Oslo", "B-LOC")]]
    for split in ("train", "validation", "test"):
        _write_conll(tmp_path / f"{split}.conll", [long, *short])
    args = [f"model.name_or_path={tiny_encoder_dir}", f"data.train_file={tmp_path / 'train.conll'}",
            f"data.validation_file={tmp_path / 'validation.conll'}", f"data.test_file={tmp_path / 'test.conll'}",
            "data.max_length=32", "data.stride=8", "training.epochs=1", "training.max_tokens_per_batch=512",
            "sweep.losses=[{name: ce}]", "sweep.seeds=[1]", f"output.output_dir={tmp_path / 'out'}",
            "output.report_to=none"]
    proc = run_recipe(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(next((tmp_path / "out" / "runs").glob("*/all_results.json")).read_text())
    assert result["test"]["gold"] == len(range(0, 5000, 97)) + 2  # every gold entity counted
    words = [l for l in next((tmp_path / "out" / "runs").glob("*/test_predictions.conll")).read_text().splitlines() if l]
    assert len(words) == 5004


def test_data_without_entities_is_refused(tmp_path, tiny_encoder_dir):
    for split in ("train", "validation", "test"):
        _write_conll(tmp_path / f"{split}.conll", [[("a", "O"), ("b", "O")]])
    proc = run_recipe([f"model.name_or_path={tiny_encoder_dir}", f"data.train_file={tmp_path / 'train.conll'}",
                       f"data.validation_file={tmp_path / 'validation.conll'}",
                       f"data.test_file={tmp_path / 'test.conll'}", f"output.output_dir={tmp_path / 'out'}"], tmp_path)
    assert proc.returncode == 2 and "no entities" in proc.stderr and "Traceback" not in proc.stderr


def test_resume_with_other_labels_is_refused(tmp_path, tiny_encoder_dir, data_dir):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "tagger_state.json").write_text(json.dumps({"label_list": ["O", "B-X", "I-X"]}))
    proc = run_recipe(tiny_args(tiny_encoder_dir, data_dir, tmp_path / "o", f"training.resume_from_checkpoint={ckpt}"),
                      tmp_path)
    assert proc.returncode == 2 and "the checkpoint was trained with labels" in proc.stderr, proc.stderr[-2000:]


def test_atomic_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "x.json", {})
    finally:
        os.umask(old)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------------------ bad values and faults at launch


@pytest.mark.parametrize("bad", ["one-column", "bad-tag"])
def test_error_about_a_10_mb_line_quotes_at_most_200_characters(tmp_path, bad):
    from tagger.data.readers import read_conll
    from tagger.errors import InputError

    huge = "x" * 10_000_000
    line = huge if bad == "one-column" else f"word B_{huge}"
    path = tmp_path / "train.conll"
    path.write_text(f"Anna B-PER\n{line}\n")
    with pytest.raises(InputError) as err:
        read_conll(path)
    msg = str(err.value)
    assert len(msg) < 1000 and "\n" not in msg and msg.startswith(f"{path}:2: ")
    assert max(len(run) for run in msg.split()) <= 260  # 200 quoted characters and the note of what was cut
    assert "9,999,8" in msg  # how much was left out

    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "tagger.cli", "data-stats", str(path)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr) < 1000 and len(proc.stderr.splitlines()) == 1, proc.stderr[:2000]


def _recipe_with_config(tmp_path: Path, text: str, *overrides: str) -> subprocess.CompletedProcess:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    return run_recipe(["--config", str(config), f"output.output_dir={tmp_path / 'out'}", *overrides], tmp_path,
                      timeout=120)


def test_billion_laughs_config_stops_the_recipe_at_once(tmp_path):
    levels = "".join(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
    proc = _recipe_with_config(tmp_path, "loss:\n  name: ce\n  l0: &l0 [a, a, a, a, a, a, a, a, a]\n" + levels)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.splitlines() == [f"recipes/ner.py: error: {tmp_path / 'c.yaml'}:8: YAML aliases (*name) here "
                                        "expand to more than 100,000 values; write the values out instead"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("overrides, message", [
    (["sweep.losses=[{name: ce}, {name: focal, gamma: -2}]"], "sweep.losses[1]: gamma must be a number >= 0, got -2"),
    (["training.epochs=-1"], "training.epochs: must be >= 1, got -1"),
    (["data.max_length=64", "data.stride=64"], "data.stride: must be >= 0 and < data.max_length - 2 (62), got 64"),
])
def test_bad_value_stops_the_recipe_before_anything_trains(tmp_path, overrides, message):
    proc = _recipe_with_config(tmp_path, "sweep:\n  seeds: [1, 2]\n", *overrides)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.splitlines() == [f"recipes/ner.py: error: {message}"]
    assert not (tmp_path / "out").exists()
