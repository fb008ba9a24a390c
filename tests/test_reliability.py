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
from recipe_runner import run_cli
from test_recipe import REPO, run_recipe, tiny_args

from tagger.io import atomic_dir, atomic_open, atomic_write_json
from tagger.train.guards import NonFiniteError, NonFiniteGuard

sys.path.insert(0, str(REPO / "scripts"))
from fault_probe import checkpoint_state, launch_interrupted, run_fingerprint  # noqa: E402


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


def _resumed(args: list[str]) -> list[str]:
    return [*args, "training.resume_from_checkpoint=latest"]


def test_interrupted_and_killed_runs_resume_bit_identical_at_the_default_threads(tmp_path, probe_workspace):
    """SIGTERM mid-epoch 1, SIGTERM mid-epoch 2 of the resumed launch, SIGKILL in epoch 3 after the epoch-2
    checkpoint: the run that finishes equals the uninterrupted one in scores, best epoch, every epoch's
    validation F1, tokens, predictions and weights, byte for byte.

    Default settings: threads from the cores (2 here), bf16 autocast where the CPU has it, fast dropout.
    The signals land at exact optimizer steps (fault_probe.launch_interrupted), whatever the load.
    """
    ws = probe_workspace
    assert not any("num_threads" in a or "mixed_precision" in a or "fast_dropout" in a for a in ws.recipe_args(tmp_path))
    ref = run_recipe(ws.recipe_args(tmp_path / "ref"), tmp_path)
    assert ref.returncode == 0, ref.stderr[-2000:]
    expected = run_fingerprint(tmp_path / "ref")
    # not a vacuous comparison: the best epoch is a late one and the epochs differ
    assert expected["best_epoch"] > 1 and len({f1 for _, _, f1 in expected["epochs"]}) == 3
    per_epoch = expected["epochs"][0][1]

    out = tmp_path / "int"
    args = ws.recipe_args(out)
    stop = launch_interrupted(args, per_epoch // 3, signal.SIGTERM, tmp_path)
    assert stop.returncode == 128 + signal.SIGTERM, stop.stderr[-2000:]
    assert "resume with training.resume_from_checkpoint=latest" in stop.stderr
    state = checkpoint_state(out)
    assert (state["epoch"], state["batches_done"]) == (0, per_epoch // 3)
    assert not list(out.glob("runs/*/all_results.json"))

    stop = launch_interrupted(_resumed(args), per_epoch + per_epoch // 2, signal.SIGTERM, tmp_path)
    assert stop.returncode == 128 + signal.SIGTERM and "resumed from step_" in stop.stderr, stop.stderr[-2000:]
    state = checkpoint_state(out)
    assert (state["epoch"], state["batches_done"]) == (1, per_epoch // 2)

    kill = launch_interrupted(_resumed(args), 2 * per_epoch + 3, signal.SIGKILL, tmp_path)
    assert kill.returncode == -signal.SIGKILL, kill.stderr[-2000:]
    state = checkpoint_state(out)
    assert (state["epoch"], state["batches_done"], state["global_step"]) == (2, 0, 2 * per_epoch)

    done = run_recipe(_resumed(args), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert run_fingerprint(out) == expected
    assert not list(out.glob("runs/*/checkpoints"))  # removed once the run finished


def test_a_resumed_epoch_draws_the_random_numbers_an_uninterrupted_one_draws():
    """Starting a DataLoader iterator draws from torch's global generator: the resumed epoch's draw is undone."""
    import torch
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    from tagger.train.checkpoint import skip_done_batches

    accelerator = Accelerator(cpu=True)
    loader = accelerator.prepare(DataLoader(list(range(10)), batch_size=2))
    torch.manual_seed(0)
    batches = iter(loader)
    assert [next(batches).tolist() for _ in range(2)] == [[0, 1], [2, 3]]
    saved = torch.get_rng_state()  # what a checkpoint after two batches holds
    expected = torch.rand(4)  # the dropout masks of the third batch, say

    torch.set_rng_state(saved)
    assert [b.tolist() for b in skip_done_batches(accelerator, loader, 2)] == [[4, 5], [6, 7], [8, 9]]
    torch.set_rng_state(saved)
    resumed = skip_done_batches(accelerator, loader, 2)
    assert next(resumed).tolist() == [4, 5] and torch.equal(torch.rand(4), expected)

    torch.set_rng_state(saved)  # Accelerate's own skipping shifts the stream: what made resumed runs drift
    plain = iter(accelerator.skip_first_batches(loader, 2))
    assert next(plain).tolist() == [4, 5] and not torch.equal(torch.rand(4), expected)


def test_a_resumed_launch_shuffles_each_epoch_as_an_uninterrupted_one():
    """Accelerate's loader passes its own count of passes to the sampler; a resumed launch starts it at 0."""
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    from tagger.train.batching import TokenBudgetBatchSampler

    def epoch_order(loader_epoch: int | None, epoch: int) -> list[list[int]]:
        sampler = TokenBudgetBatchSampler([3, 5, 4, 6, 2, 7, 5, 3], max_tokens=10, seed=1)
        loader = Accelerator(cpu=True).prepare(DataLoader(list(range(8)), batch_sampler=sampler))
        if loader_epoch is not None:
            loader.set_epoch(loader_epoch)
        sampler.set_epoch(epoch)
        return [b.tolist() for b in loader]

    uninterrupted = [epoch_order(e, e) for e in range(3)]
    assert len({str(o) for o in uninterrupted}) == 3  # every epoch has its own order
    assert epoch_order(None, 2) == uninterrupted[0]  # the sampler's epoch alone is overridden by the loader's count
    assert epoch_order(2, 2) == uninterrupted[2]  # what train_epoch does


def test_run_names_cannot_escape_output_dir(tmp_path, tiny_encoder_dir, data_dir):
    from tagger.run_files import run_folder_name

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
    # Validation holds the short sentences only: the O bias and the per-type biases are tuned on it with
    # dozens of Viterbi passes (each one 5,000 steps long here), and what is checked is the test split.
    for split, rows in (("train", [long, *short]), ("validation", short), ("test", [long, *short])):
        _write_conll(tmp_path / f"{split}.conll", rows)
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
    from tagger.data.conll import read_conll
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

    proc = run_cli(tmp_path, "data-stats", str(path))
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


# ------------------------------------------------------------------------ empty, unreadable and interrupted inputs


@pytest.mark.parametrize("argv, content, name", [
    (["score"], "", "in.conll"),
    (["score"], "\n  \n\t\n", "in.conll"),
    (["errors"], "", "in.conll"),
    (["errors"], "\n\n", "in.conll"),
    (["predict", "--model", "{tmp}", "--output", "{tmp}/out.conll", "--input"], "", "in.conll"),
    (["predict", "--model", "{tmp}", "--output", "{tmp}/out.jsonl", "--input"], "\n\n", "in.jsonl"),
    (["predict", "--model", "{tmp}", "--output", "{tmp}/out.jsonl", "--input"], "\n \n", "in.txt"),
    (["data-stats"], "", "in.conll"),
])
def test_an_empty_input_is_refused_with_one_line(argv, content, name, tmp_path, capfd):
    from tagger.cli import main

    path = tmp_path / name
    path.write_text(content)
    code = main([a.format(tmp=tmp_path) for a in argv] + [str(path)])
    assert code == 2
    assert capfd.readouterr().err.splitlines() == [
        f"tagger {argv[0]}: error: {path}: no sentences: the file is empty or holds only blank lines"]
    assert not list(tmp_path.glob("out.*")) and not list(tmp_path.glob(".*.tmp"))


def test_an_empty_split_is_refused_by_data_stats(tmp_path, capfd):
    from tagger.cli import main

    (tmp_path / "train.conll").write_text("Anna B-PER\n")
    (tmp_path / "validation.conll").write_text("\n\n")
    assert main(["data-stats", str(tmp_path)]) == 2
    assert capfd.readouterr().err.splitlines() == [
        f"tagger data-stats: error: {tmp_path / 'validation.conll'}: the validation split has no sentences"]


def test_an_unreadable_input_is_one_line(tmp_path, capfd, monkeypatch):
    import builtins

    from tagger.cli import main

    (tmp_path / "gold.conll").mkdir()
    assert main(["score", str(tmp_path / "gold.conll")]) == 2
    assert capfd.readouterr().err.splitlines() == [f"tagger score: error: {tmp_path / 'gold.conll'}: a folder, not a file"]

    # as root, chmod does not stop a read: the refusal is simulated where the file is opened
    readable = tmp_path / "pred.conll"
    readable.write_text("Anna B-PER B-PER\n")
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):
        if str(file) == str(readable):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    assert main(["score", str(readable)]) == 2
    assert capfd.readouterr().err.splitlines() == [f"tagger score: error: cannot read {readable}: permission denied"]


def test_a_terminated_predict_leaves_no_temporary_file(tmp_path, probe_workspace):
    """SIGTERM mid-way through a large input: exit 143, and the hidden temporary output is removed."""
    from fault_probe import child_env, write_text_input

    model = probe_workspace
    write_text_input(tmp_path / "in.txt", 20_000)
    proc = subprocess.Popen([sys.executable, "-m", "tagger.cli", "predict", "--model", str(model.model()),
                             "--input", "in.txt", "--output", "out.jsonl"], cwd=tmp_path, env=child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(6000):  # until the temporary output holds a chunk of predictions
            if proc.poll() is not None or any(p.stat().st_size for p in tmp_path.glob(".out.jsonl.*.tmp")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "predict finished before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM and err.splitlines()[-1] == "tagger predict: terminated (SIGTERM)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_the_jsonl_log_writes_nan_and_inf_as_null(tmp_path):
    from tagger.train.tracking import JsonlTracker

    tracker = JsonlTracker("sweep", tmp_path)
    tracker.log({"train_loss": float("nan"), "grad_norm": float("inf"), "lr": 1e-3}, step=4)
    tracker.finish()

    def refuse(name: str) -> None:
        raise ValueError(f"not strict JSON: {name}")

    (row,) = [json.loads(line, parse_constant=refuse) for line in (tmp_path / "sweep.jsonl").read_text().splitlines()]
    assert (row["step"], row["train_loss"], row["grad_norm"], row["lr"]) == (4, None, None, 1e-3)
