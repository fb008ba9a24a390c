"""Sweep folders recover from what a kill or a full disk leaves, and say what is not finished:
a cut journal record, a claim without its owner, unfinished runs, bad run files, a cut predictions file,
a full disk while the best weights are written, weight files under the umask, folders given as files."""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tagger.errors import ConfigError, InputError, OutputError

if TYPE_CHECKING:
    from fault_probe import Workspace


# ------------------------------------------------------------------------------------------------ a finished run


#: two test sentences as test_predictions.conll holds them ('word gold predicted'), each closed by a blank line
PREDICTIONS_TEXT = "Anna B-PER B-PER\nlives O O\n\nin O O\nOslo B-LOC O\n\n"


def _finished_run(out: Path) -> Path:
    """A run folder of ``out`` as the recipe leaves a finished one: all_results.json and the test predictions."""
    from tagger.metrics import score_sequences

    gold, pred = [["B-PER", "O"], ["O", "B-LOC"]], [["B-PER", "O"], ["O", "O"]]
    run = out / "runs" / "ce-seed1"
    run.mkdir(parents=True)
    (run / "test_predictions.conll").write_text(PREDICTIONS_TEXT)
    scores = score_sequences(gold, pred, "conlleval")
    (run / "all_results.json").write_text(json.dumps({
        "run": "ce-seed1", "loss": "ce", "params": {}, "label": "ce", "seed": 1, "validation": scores, "test": scores,
        "best_epoch": 1, "epochs_run": 1, "train_seconds": 1.0, "num_processes": 1, "hardware": "CPU"}))
    return run


# ------------------------------------------------------------------------------------------------ the journal


def _journal_with_study(out: Path) -> Path:
    import optuna

    from tagger.search import STORAGE_NAME, open_storage

    optuna.create_study(study_name="probe", storage=open_storage(out))
    return out / STORAGE_NAME


def test_a_cut_last_record_is_dropped_with_a_warning_and_the_search_resumes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import optuna

    from tagger.search import open_storage

    journal = _journal_with_study(tmp_path)
    whole = journal.read_bytes()
    with journal.open("ab") as fh:
        fh.write(b'{"op_code": 5, "worker_id": "cut-her')  # an append killed half-way
    with caplog.at_level(logging.WARNING, logger="tagger.search"):
        storage = open_storage(tmp_path)
    assert journal.read_bytes() == whole  # never appended onto the cut line
    cut_line = whole.count(b"\n") + 1
    assert f"{journal}: its last record was cut short (36 bytes, line {cut_line})" in caplog.text
    study = optuna.load_study(study_name="probe", storage=storage)
    study.set_user_attr("resumed", True)
    again = optuna.load_study(study_name="probe", storage=open_storage(tmp_path))  # every later launch reads it
    assert again.user_attrs["resumed"] is True


def test_a_complete_last_record_without_newline_is_kept(tmp_path: Path) -> None:
    from tagger.search import open_storage

    journal = _journal_with_study(tmp_path)
    journal.write_bytes(journal.read_bytes().rstrip(b"\n"))
    open_storage(tmp_path)
    assert journal.read_bytes().endswith(b"}\n")


def test_garbage_stops_with_one_line_naming_the_file(tmp_path: Path) -> None:
    from tagger.search import open_storage, search_summary

    journal = _journal_with_study(tmp_path)
    journal.write_bytes(b"\x00\x01 not json\n" + journal.read_bytes())
    for call in (lambda: open_storage(tmp_path), lambda: search_summary(tmp_path)):
        with pytest.raises(InputError) as caught:
            call()
        assert str(caught.value) == (f"{journal}:1: not an Optuna journal record (11 bytes); the search cannot "
                                     "resume from this file: move it away to start the search over")


def test_summarize_stops_on_a_garbage_journal_with_one_line(tmp_path: Path) -> None:
    from recipe_runner import run_cli

    from tagger.search import STORAGE_NAME

    _finished_run(tmp_path)
    journal = tmp_path / STORAGE_NAME
    journal.write_bytes(b"\x00\x01 not json\n")
    done = run_cli(tmp_path, "summarize", str(tmp_path), "--no-report")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        (f"tagger summarize: error: {journal}:1: not an Optuna journal record (11 bytes); the search cannot resume "
         "from this file: move it away to start the search over")]
    assert journal.read_bytes() == b"\x00\x01 not json\n"  # left for the user to move, not rewritten
    assert not (tmp_path / "summary.json").exists()


# ------------------------------------------------------------------------------------------------ claims


def test_a_fresh_claim_without_owner_is_described_and_an_old_one_taken_over(tmp_path: Path) -> None:
    from tagger.train.claims import current_claim, try_claim

    run = tmp_path / "run"
    (run / ".claim-1").mkdir(parents=True)
    assert try_claim(run) is None  # it may be a process between making the folder and writing its owner
    assert "a claim without its owner record (.claim-1/owner.json) since" in current_claim(run).describe()
    old = time.time() - 3600
    os.utime(run / ".claim-1", (old, old))
    claim = try_claim(run)
    assert claim is not None and claim.path.name == ".claim-2"
    claim.release()
    assert not (run / ".claim-1").exists()


def test_a_claim_whose_owner_cannot_be_written_is_not_left_behind(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import tagger.train.claims as claims
    from tagger.io import output_error

    def full(path: Path, obj: object) -> None:
        raise output_error(OSError(errno.ENOSPC, "No space left on device"), path)

    monkeypatch.setattr(claims, "atomic_write_json", full)
    run = tmp_path / "run"
    with pytest.raises(OutputError, match="no space left on .*owner.json"):
        claims.try_claim(run)
    assert list(run.iterdir()) == []


# ------------------------------------------------------------------------------------------------ summaries


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_unfinished_running_and_dead_runs_are_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from tagger.sweep_folder import unfinished_markdown, warn_unfinished
    from tagger.train.claims import _pid_namespace, try_claim

    runs = tmp_path / "runs"
    (runs / "done-seed1").mkdir(parents=True)
    (runs / "done-seed1" / "all_results.json").write_text("{}")
    running = try_claim(runs / "running-seed1")
    dead = runs / "dead-seed1" / ".claim-1"
    dead.mkdir(parents=True)
    (dead / "owner.json").write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid(),
                                                 "pid_namespace": _pid_namespace()}))
    (runs / "stopped-seed1").mkdir()
    (runs / "search" / "point-seed1").mkdir(parents=True)
    try:
        with caplog.at_level(logging.WARNING, logger="tagger.sweep_folder"):
            found = warn_unfinished(tmp_path)
    finally:
        running.release()
    assert [(r["run"], r["state"]) for r in found] == [
        ("dead-seed1", "dead"), ("running-seed1", "running"), ("stopped-seed1", "unfinished"),
        ("search/point-seed1", "unfinished")]
    assert found[0]["detail"].startswith("owner gone: ")
    assert f"claimed by {socket.gethostname()} pid {os.getpid()}" in found[1]["detail"]
    assert "running-seed1: running, not in the summary" in caplog.text
    assert "| dead-seed1 | dead |" in unfinished_markdown(found)


@pytest.mark.parametrize(("change", "message"), [
    ({"validation": "0.5"}, "validation: a JSON str where a dict is expected"),
    ({"seed": "1"}, "seed: a JSON str where an int is expected"),
    ({"test": {"f1": [0.5]}}, "test.f1: a JSON list where a number is expected"),
    ({"train_seconds": None}, "no train_seconds: not the all_results.json of a finished tagger run"),
    ({"train_seconds": "12"}, "train_seconds: a JSON str where an int is expected"),
])
def test_a_run_file_of_wrong_types_is_one_line(tmp_path: Path, change: dict, message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from tagger.cli import main

    path = tmp_path / "runs" / "ce-seed1" / "all_results.json"
    path.parent.mkdir(parents=True)
    result = {"label": "ce", "seed": 1, "validation": {"f1": 0.5}, "test": {"f1": 0.5}, "train_seconds": 9.5, **change}
    path.write_text(json.dumps({k: v for k, v in result.items() if v is not None}))
    assert main(["summarize", str(tmp_path), "--no-report"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"tagger summarize: error: {path}: {message}"]


def test_report_names_a_predictions_file_cut_mid_sentence(tmp_path: Path) -> None:
    from recipe_runner import run_cli

    from tagger.sweep_folder import summarize_folder

    run = _finished_run(tmp_path)
    summarize_folder(tmp_path, report=False)
    path = run / "test_predictions.conll"
    path.write_text(PREDICTIONS_TEXT[:PREDICTIONS_TEXT.index("Oslo")])  # a copy stopped after 'in': 4 whole lines
    done = run_cli(tmp_path, "report", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        (f"tagger report: error: {path}:4: ends in the middle of a sentence (no blank line after its last word): "
         "the file was cut short; restore it or rerun the run")]
    assert not (tmp_path / "report.html").exists()


def test_a_cut_predictions_file_is_named_with_its_line(tmp_path: Path) -> None:
    from tagger.report.data import _check_complete

    path = tmp_path / "test_predictions.conll"
    path.write_text("Anna B-PER B-PER\nlives O O\n\nOslo B-LOC")
    with pytest.raises(InputError) as caught:
        _check_complete(path)
    assert str(caught.value).startswith(f"{path}:4: ends in the middle of a sentence")
    path.write_text("Anna B-PER B-PER\nlives O O\n\n")
    _check_complete(path)


# ------------------------------------------------------------------------------------------------ weights


class _OneProcess:
    is_main_process = True

    @staticmethod
    def unwrap_model(model: object) -> object:
        return model

    @staticmethod
    def wait_for_everyone() -> None:
        pass


@pytest.mark.parametrize("failure", [
    OSError(errno.ENOSPC, "No space left on device"),
    "safetensors",  # how safetensors itself reports it
])
def test_a_full_disk_while_the_best_weights_are_written_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: object) -> None:
    import safetensors.torch
    import torch
    from safetensors import SafetensorError

    from tagger.train.checkpoint import BEST_WEIGHTS, save_best

    model = torch.nn.Linear(2, 2)
    save_best(_OneProcess(), model, tmp_path)
    before = (tmp_path / BEST_WEIGHTS).read_bytes()

    def full(module: object, filename: str, **kwargs: object) -> None:
        Path(filename).write_bytes(b"partial")
        if isinstance(failure, OSError):
            raise failure
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: '
                              '"No space left on device" })')

    monkeypatch.setattr(safetensors.torch, "save_model", full)
    with pytest.raises(OutputError) as caught:
        save_best(_OneProcess(), model, tmp_path)
    assert str(caught.value) == f"no space left on {tmp_path / BEST_WEIGHTS}"
    assert (tmp_path / BEST_WEIGHTS).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [BEST_WEIGHTS]


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_weight_files_follow_the_umask(tmp_path: Path, umask_022: None) -> None:
    import torch

    from tagger.crf import CRF, save_crf
    from tagger.train.checkpoint import BEST_WEIGHTS, save_best

    save_crf(CRF(["O", "B-PER", "I-PER"], "IOB2"), tmp_path)
    save_best(_OneProcess(), torch.nn.Linear(2, 2), tmp_path)
    for name in ("crf.safetensors", "crf.json", BEST_WEIGHTS):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_follow_umask_gives_a_safetensors_file_the_mode_of_open(tmp_path: Path, umask_022: None) -> None:
    import torch
    from safetensors.torch import save_file

    from tagger.io import follow_umask

    save_file({"w": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    follow_umask(tmp_path / "model.safetensors")
    assert stat.S_IMODE((tmp_path / "model.safetensors").stat().st_mode) == 0o644


def test_the_recipe_writes_model_and_crf_weights_under_the_umask(probe_workspace: Workspace, tmp_path: Path,
                                                                umask_022: None) -> None:
    from recipe_runner import run_recipe

    out = tmp_path / "out"
    # one CRF run of one epoch on 16 sentences: the model folder is what is looked at, not the scores
    args = probe_workspace.recipe_args(out, "model.head=crf", "training.epochs=1", "data.max_train_sentences=16",
                                       "data.max_eval_sentences=8", "training.max_tokens_per_batch=512",
                                       "sweep.decodings=[]", "output.report=false")
    done = run_recipe(args, tmp_path)
    assert done.returncode == 0, done.stderr
    [model] = out.glob("runs/*/model")
    for name in ("model.safetensors", "crf.safetensors"):
        assert stat.S_IMODE((model / name).stat().st_mode) == 0o644, name


# ------------------------------------------------------------------------------------------------ wording


def test_a_folder_given_as_a_file_is_called_a_folder(tmp_path: Path) -> None:
    from tagger.config import load_config
    from tagger.data.readers import load_ner_dataset

    (tmp_path / "train.conll").mkdir()
    with pytest.raises(InputError) as caught:
        load_ner_dataset(train_file=tmp_path / "train.conll")
    assert str(caught.value) == f"{tmp_path / 'train.conll'}: a folder, not a file"
    with pytest.raises(ConfigError) as config_error:
        load_config(tmp_path)
    assert str(config_error.value) == f"config file {tmp_path}: a folder, not a file"

