#!/usr/bin/env python
"""Fault cases against the installed tagger: what each should do, what it did, and the verdict.

    python scripts/fault_probe.py               # every case (3-6 minutes on 2 CPU cores)
    python scripts/fault_probe.py --fast        # the cases that train nothing (tests/test_fault_probe.py runs them)
    python scripts/fault_probe.py --case resume-sigterm-epoch-2 --case empty-score
    python scripts/fault_probe.py --list

Each case runs the real command line in a subprocess (``python -m tagger.cli ...``,
``python recipes/ner.py ...``), offline, on a tiny random encoder with the packaged tokenizer and a
generated data set, all under a temporary folder. This checkout comes first on ``PYTHONPATH``, so
the subprocesses run its tagger. A case that needs what the machine cannot give (mounting a small
file system needs root) is skipped with the reason. The exit code is 0 only if no case failed.

The workspace, the subprocess runners and the verdict helpers the cases stand on are in
``_fault_harness`` (tests use them too).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its harness is a sibling script, not a package
from _fault_harness import (FAKE_TOKEN, Case, Verdict, Workspace, checkpoint_state, child_env,  # noqa: E402
                            launch_interrupted, no_leftovers, one_line_error, run_cli, run_fingerprint,
                            run_recipe, small_mount, write_text_input)


# ------------------------------------------------------------------------------------------------ the cases: launch


def _config_case(overrides: list[str], needle: str) -> Callable[[Workspace, Path], Verdict]:
    def check(ws: Workspace, here: Path) -> Verdict:
        out = here / "out"
        verdict = one_line_error(run_recipe(here, [*ws.recipe_args(out), *overrides]), 2, needle)
        return Verdict("FAIL", verdict.observed + "; the output folder was created") if out.exists() else verdict
    return check


def _billion_laughs(ws: Workspace, here: Path) -> Verdict:
    levels = "".join(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
    config = here / "laughs.yaml"
    config.write_text("loss:\n  name: ce\n  l0: &l0 [a, a, a, a, a, a, a, a, a]\n" + levels)
    start = time.perf_counter()
    proc = run_recipe(here, ["--config", str(config), f"output.output_dir={here / 'out'}"], timeout=120)
    verdict = one_line_error(proc, 2, "YAML aliases", "100,000")
    return Verdict(verdict.status, f"{verdict.observed} ({time.perf_counter() - start:.0f} s)")


def _bad_data_case(split: str, content: bytes, needle: str) -> Callable[[Workspace, Path], Verdict]:
    def check(ws: Workspace, here: Path) -> Verdict:
        for name in ("train", "validation", "test"):
            (here / f"{name}.conll").write_bytes((ws.data() / f"{name}.conll").read_bytes())
        (here / f"{split}.conll").write_bytes(content)
        proc = run_recipe(here, ws.recipe_args(here / "out", data=here))
        return one_line_error(proc, 2, f"{split}.conll", needle)
    return check


# ------------------------------------------------------------------------------------------------ the cases: models


def _edit_config(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps(change(config)))
    return damage


def _truncate(folder: Path) -> None:
    weights = folder / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)


def _pickle_only(folder: Path) -> None:
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()


#: a model folder broken one way -> (how, what the one error line says)
BROKEN_MODELS: dict[str, tuple[Callable[[Path], None], str]] = {
    "malformed-config": (lambda f: (f / "config.json").write_text('{"model_type": "bert",'), "not valid JSON"),
    "list-config": (lambda f: (f / "config.json").write_text("[1, 2]"), "JSON list, not an object"),
    "no-model-type": (_edit_config(lambda c: {k: v for k, v in c.items() if k != "model_type"}), "no model_type"),
    "label-count": (_edit_config(lambda c: {**c, "id2label": {str(i): f"L{i}" for i in range(5)},
                                            "label2id": {f"L{i}": i for i in range(5)}}), "not the 5 labels"),
    "no-weights": (lambda f: (f / "model.safetensors").unlink(), "no weights"),
    "truncated-weights": (_truncate, "truncated"),
    "remote-code": (_edit_config(lambda c: {**c, "model_type": "probe-custom", "auto_map": {
        "AutoConfig": "configuration_probe.ProbeConfig",
        "AutoModelForTokenClassification": "modeling_probe.ProbeModel"}}), "needs code shipped with the model"),
    "pickle-weights": (_pickle_only, "pickle"),
    "malformed-run-info": (lambda f: (f / "tagger_run.json").write_text("{oops"), "tagger_run.json is not valid JSON"),
}


def broken_model(ws: Workspace, name: str, where: Path) -> Path:
    """A copy of the workspace's model under ``where``, broken as :data:`BROKEN_MODELS` says."""
    folder = where / f"model-{name}"
    shutil.copytree(ws.model(), folder)
    BROKEN_MODELS[name][0](folder)
    return folder


def _predict_broken(name: str) -> Callable[[Workspace, Path], Verdict]:
    def check(ws: Workspace, here: Path) -> Verdict:
        folder = broken_model(ws, name, here)
        (here / "in.txt").write_text("Anna lives in Oslo\n")
        proc = run_cli(here, "predict", "--model", str(folder), "--input", "in.txt", "--output", "out.jsonl")
        verdict = one_line_error(proc, 2, str(folder), BROKEN_MODELS[name][1])
        return Verdict("FAIL", verdict.observed + "; out.jsonl written") if (here / "out.jsonl").exists() else verdict
    return check


def _recipe_broken_encoder(ws: Workspace, here: Path) -> Verdict:
    folder = broken_model(ws, "truncated-weights", here)
    out = here / "out"
    verdict = one_line_error(run_recipe(here, [*ws.recipe_args(out), f"model.name_or_path={folder}"]), 2,
                             str(folder), "truncated")
    return Verdict("FAIL", verdict.observed + "; a run folder was created") if (out / "runs").exists() else verdict


# ------------------------------------------------------------------------------------------------ the cases: outputs


def _predict_into(here: Path, ws: Workspace, output: Path, lines: int) -> subprocess.CompletedProcess:
    write_text_input(here / "in.txt", lines)
    return run_cli(here, "predict", "--model", str(ws.model()), "--input", "in.txt", "--output", str(output))



def _read_only_output(ws: Workspace, here: Path) -> Verdict:
    with small_mount(here / "ro", "ro,size=64k") as folder:
        if folder is None:
            return Verdict("skip", "cannot mount a read-only tmpfs here (needs root); chmod does not stop root")
        verdict = one_line_error(_predict_into(here, ws, folder / "out.jsonl", 10), 2, "read-only file system")
    return verdict


def _disk_full(ws: Workspace, here: Path) -> Verdict:
    with small_mount(here / "full", "size=64k") as folder:
        if folder is None:
            return Verdict("skip", "cannot mount a 64 KiB tmpfs here (needs root)")
        verdict = one_line_error(_predict_into(here, ws, folder / "out.jsonl", 3000), 2, "no space left on",
                                 str(folder / "out.jsonl"))
        left = sorted(p.name for p in folder.iterdir())
    if left:
        return Verdict("FAIL", f"{verdict.observed}; left behind: {', '.join(left)}")
    return verdict


def _file_as_folder_recipe(ws: Workspace, here: Path) -> Verdict:
    (here / "outputs").write_text("a file where the output folder should be\n")
    proc = run_recipe(here, ws.recipe_args(here / "outputs"))
    return one_line_error(proc, 2, str(here / "outputs"), "is a file, not a folder")


def _file_as_folder_predict(ws: Workspace, here: Path) -> Verdict:
    (here / "blocker").write_text("x\n")
    return one_line_error(_predict_into(here, ws, here / "blocker" / "out.jsonl", 10), 2, "is a file, not a folder")


def _user_files_in_output(ws: Workspace, here: Path) -> Verdict:
    import tagger.io

    if getattr(tagger.io, "OUTPUT_MARKER", None) is None:
        return Verdict("skip", "tagger.io has no output-folder marker (OUTPUT_MARKER)")
    out = here / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my own notes\n")
    verdict = one_line_error(run_recipe(here, ws.recipe_args(out)), 2, str(out))
    if (out / "notes.txt").read_text() != "my own notes\n" or sorted(p.name for p in out.iterdir()) != ["notes.txt"]:
        return Verdict("FAIL", verdict.observed + "; the folder was changed")
    return verdict


# ------------------------------------------------------------------------------------------------ the cases: inputs


def _empty_input(command: str, content: str, suffix: str = ".conll") -> Callable[[Workspace, Path], Verdict]:
    def check(ws: Workspace, here: Path) -> Verdict:
        path = here / f"input{suffix}"
        path.write_text(content)
        args = [command, path.name]
        if command == "predict":
            args = [command, "--model", str(ws.model()), "--input", path.name, "--output", "out.conll"]
        verdict = one_line_error(run_cli(here, *args), 2, path.name, "no sentences")
        return Verdict("FAIL", verdict.observed + "; out.conll written") if (here / "out.conll").exists() else verdict
    return check


def _empty_split(ws: Workspace, here: Path) -> Verdict:
    for name in ("train", "test"):
        (here / f"{name}.conll").write_bytes((ws.data() / f"{name}.conll").read_bytes())
    (here / "validation.conll").write_text("\n\n")
    return one_line_error(run_cli(here, "data-stats", str(here)), 2, "validation.conll", "no sentences")


def _folder_as_input(ws: Workspace, here: Path) -> Verdict:
    (here / "gold.conll").mkdir()
    return one_line_error(run_cli(here, "score", "gold.conll"), 2, "gold.conll")


def _token_in_push(ws: Workspace, here: Path) -> Verdict:
    from tagger.cards import write_model_card

    folder = here / "model"
    shutil.copytree(ws.model(), folder)
    pt = {"PER": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}}
    scores = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "accuracy": 0.9, "per_type": pt}
    info = {"base_model": "tiny", "dataset": {"name": "probe", "sources": {}}, "label_list": ["O", "B-PER", "I-PER"],
            "loss": {"name": "ce", "params": {}}, "hyperparameters": {"epochs": 1, "seed": 1}, "validation": scores,
            "test": scores, "train_seconds": 1.0, "hardware": "CPU", "tagger_version": "probe"}
    write_model_card(folder, info)
    (folder / "tagger_run.json").write_text(json.dumps(info))
    (folder / "notes.txt").write_text(f"token: {FAKE_TOKEN}\n")
    proc = run_cli(here, "push", "--model", str(folder), "--repo-id", "probe/tiny", timeout=120,
                   HF_TOKEN="hf_" + "ProbePushersOwnFakeToken01234567", HF_ENDPOINT="http://127.0.0.1:9")
    verdict = one_line_error(proc, 1, "notes.txt", "hf_...")
    if FAKE_TOKEN in proc.stderr + proc.stdout:
        return Verdict("FAIL", "the token-like string was echoed")
    return verdict


# ------------------------------------------------------------------------------------------------ the cases: stops


def _predict_sigterm(ws: Workspace, here: Path) -> Verdict:
    write_text_input(here / "in.txt", 20_000)
    proc = subprocess.Popen([sys.executable, "-m", "tagger.cli", "predict", "--model", str(ws.model()), "--input",
                             "in.txt", "--output", "out.jsonl"], cwd=here, env=child_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:  # mid-way: the temporary output holds a chunk
        if any(p.stat().st_size > 0 for p in here.glob(".out.jsonl.*.tmp")):
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=300)
    last = (err.strip().splitlines() or ["(no output)"])[-1]
    observed = f"exit {proc.returncode}: {last}"
    left = no_leftovers(here) + (["out.jsonl"] if (here / "out.jsonl").exists() else [])
    ok = proc.returncode == 128 + signal.SIGTERM and not left and "Traceback" not in err
    return Verdict("pass" if ok else "FAIL", observed + (f"; left behind: {', '.join(left)}" if left else ""))


def _diverging_run(ws: Workspace, here: Path) -> Verdict:
    out = here / "out"
    proc = run_recipe(here, ws.recipe_args(out, "training.learning_rate=1e30", "training.max_grad_norm=0",
                                           "training.max_nonfinite_steps=2"))
    verdict = one_line_error(proc, 3, "NaN/inf", "loss 'ce'")
    bad = []
    for log in out.glob("logs/**/*.jsonl"):
        for line in log.read_text().splitlines():
            try:
                json.loads(line, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
            except ValueError as err:
                bad.append(f"{log.name}: {err}")
    return Verdict("FAIL", f"{verdict.observed}; not strict JSON: {bad[0]}") if bad else verdict


def _reference(ws: Workspace) -> dict[str, Any]:
    """The uninterrupted run every resume case is compared with (trained once per workspace)."""
    if "reference" not in ws.built:
        out = ws.path("reference")
        proc = run_recipe(ws.root, ws.recipe_args(out))
        if proc.returncode != 0:
            raise RuntimeError(f"the uninterrupted run failed: {proc.stderr.strip().splitlines()[-1:]}")
        ws.built["reference"] = out
    return run_fingerprint(ws.built["reference"])


def _resume_case(signum: int, step: Callable[[int], int], state: Callable[[int], tuple[int, bool]]
                 ) -> Callable[[Workspace, Path], Verdict]:
    """Signal at optimizer step ``step(steps_per_epoch)``; the checkpoint must be in epoch ``state(...)[0]``
    (0-based), mid-epoch or not as ``state(...)[1]`` says; the resumed run must equal the reference."""
    def check(ws: Workspace, here: Path) -> Verdict:
        expected = _reference(ws)
        per_epoch = expected["epochs"][0][1]
        out = here / "out"
        stopped = launch_interrupted(ws.recipe_args(out), step(per_epoch), signum, here)
        saved = checkpoint_state(out)
        where = f"stopped with exit {stopped.returncode}, checkpoint at " + (
            f"epoch {saved['epoch'] + 1} batch {saved['batches_done']} (step {saved['global_step']})" if saved else "none")
        want_epoch, mid = state(per_epoch)
        if saved is None or saved["epoch"] != want_epoch or bool(saved["batches_done"]) != mid:
            return Verdict("FAIL", where)
        resumed = run_recipe(here, ws.recipe_args(out, "training.resume_from_checkpoint=latest"))
        if resumed.returncode != 0:
            return Verdict("FAIL", f"{where}; resume exit {resumed.returncode}")
        got = run_fingerprint(out)
        differ = [k for k in expected if got[k] != expected[k]]
        return Verdict("FAIL" if differ else "pass", f"{where}; resumed: " + (
            f"differs in {', '.join(differ)}" if differ else
            f"identical (F1 {got['validation']['f1']:.4f}/{got['test']['f1']:.4f}, best epoch {got['best_epoch']}, "
            f"weights {got['weights_sha256'][:12]})"))
    return check


# ------------------------------------------------------------------------------------------------ the cases: folders


def _set_run_info(folder: Path, **entries: Any) -> None:
    path = folder / "tagger_run.json"
    info = json.loads(path.read_text()) if path.is_file() else {}
    (folder / "tagger_run.json").write_text(json.dumps({**info, **entries}))


def _crf_files(scheme: str = "IOB2", transitions: Any = None) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        import numpy as np
        from safetensors.numpy import save_file

        labels = ["O", "B-PER", "I-PER"]
        (folder / "crf.json").write_text(json.dumps({"labels": labels, "scheme": scheme}))
        trans = np.zeros((3, 3), np.float32) if transitions is None else transitions
        save_file({"transitions": trans, "start": np.zeros(3, np.float32), "end": np.zeros(3, np.float32)},
                  str(folder / "crf.safetensors"))
    return damage


def _no_tokenizer(folder: Path) -> None:
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)


#: a model folder that would load silently wrong -> (how, what the one error line says)
WRONG_FOLDERS: dict[str, tuple[Callable[[Path], None], str]] = {
    "crf-weights-missing": (lambda f: (f / "crf.json").write_text('{"labels": ["O", "B-PER", "I-PER"], '
                                                                  '"scheme": "IOB2"}'), "no crf.safetensors"),
    "crf-nan": (lambda f: _crf_files(transitions=__import__("numpy").full((3, 3), float("nan"), "float32"))(f),
                "transitions: holds NaN"),
    "crf-scheme": (_crf_files(scheme="IOBES"), "scheme: IOBES does not match the labels"),
    "crf-not-json": (lambda f: (_crf_files()(f), (f / "crf.json").write_text("{x")), "crf.json: not valid JSON"),
    "crf-empty-weights": (lambda f: (_crf_files()(f), (f / "crf.safetensors").write_bytes(b"")), "truncated"),
    "o-bias-infinite": (lambda f: _set_run_info(f, decoding={"default": "argmax", "o_bias": {"argmax": float("inf")}}),
                        "decoding.o_bias.argmax: inf is not a finite number"),
    "decoding-string": (lambda f: _set_run_info(f, decoding="viterbi"), "decoding: a string where a mapping"),
    "no-tokenizer": (_no_tokenizer, "no tokenizer files"),
}


def _predict_wrong(name: str) -> Callable[[Workspace, Path], Verdict]:
    def check(ws: Workspace, here: Path) -> Verdict:
        folder = here / "model"
        shutil.copytree(ws.model(), folder)
        WRONG_FOLDERS[name][0](folder)
        (here / "in.txt").write_text("Anna lives in Oslo\n")
        proc = run_cli(here, "predict", "--model", str(folder), "--input", "in.txt", "--output", "out.jsonl")
        verdict = one_line_error(proc, 2, WRONG_FOLDERS[name][1])
        return Verdict("FAIL", verdict.observed + "; out.jsonl written") if (here / "out.jsonl").exists() else verdict
    return check


def _predict_args(*extra: str, needle: str) -> Callable[[Workspace, Path], Verdict]:
    def check(ws: Workspace, here: Path) -> Verdict:
        (here / "in.txt").write_text("Anna lives in Oslo\n")
        proc = run_cli(here, "predict", "--model", str(ws.model()), "--input", "in.txt", "--output", "o.jsonl", *extra)
        return one_line_error(proc, 2, needle)
    return check


def _export_into(where: Callable[[Path, Path], Path], needle: str) -> Callable[[Workspace, Path], Verdict]:
    """``tagger export`` into a folder that holds files it did not write: refused, every file kept."""
    def check(ws: Workspace, here: Path) -> Verdict:
        run = here / "run"
        shutil.copytree(ws.model(), run / "model")
        (run / "all_results.json").write_text("{}\n")
        mine = here / "mine"
        mine.mkdir()
        (mine / "notes.txt").write_text("my own notes\n")
        target = where(run, mine)
        before = sorted(str(p.relative_to(here)) for p in here.rglob("*"))
        verdict = one_line_error(run_cli(here, "export", str(run / "model"), "--onnx", "--out", str(target)), 2,
                                 needle)
        if sorted(str(p.relative_to(here)) for p in here.rglob("*")) != before:
            return Verdict("FAIL", verdict.observed + "; files were changed")
        return verdict
    return check


def _python_case(code: str, needle: str) -> Callable[[Workspace, Path], Verdict]:
    """A library call in a subprocess (``HERE`` is the case's folder): passes when its output holds ``needle``."""
    def check(ws: Workspace, here: Path) -> Verdict:
        proc = subprocess.run([sys.executable, "-c", f"HERE = {str(here)!r}\n" + code], cwd=here, env=child_env(),
                              capture_output=True, text=True, timeout=120)
        out = (proc.stdout + proc.stderr).strip()
        ok = proc.returncode == 0 and needle in out and "Traceback" not in out
        return Verdict("pass" if ok else "FAIL", f"exit {proc.returncode}: {out.splitlines()[-1][:300] if out else ''}")
    return check


_JOURNAL_CUT = """
import logging, optuna
from pathlib import Path
from tagger.search import open_storage
logging.basicConfig()
optuna.create_study(study_name="s", storage=open_storage(Path(HERE)))
with open(Path(HERE) / "search.journal", "ab") as fh:
    fh.write(b'{"op_code": 5, "wor')
for _ in range(2):
    optuna.load_study(study_name="s", storage=open_storage(Path(HERE))).set_user_attr("again", 1)
print("resumed")
"""
_JOURNAL_GARBAGE = """
from pathlib import Path
from tagger.errors import InputError
from tagger.search import open_storage
(Path(HERE) / "search.journal").write_bytes(b"garbage\\n")
try:
    open_storage(Path(HERE))
except InputError as err:
    print(err)
"""
_OWNERLESS_CLAIM = """
import os, time
from pathlib import Path
from tagger.train.claims import try_claim
run = Path(HERE) / "run"
(run / ".claim-1").mkdir(parents=True)
os.utime(run / ".claim-1", (time.time() - 3600,) * 2)
claim = try_claim(run)
print("taken over" if claim is not None else "still skipped")
"""
_UMASK = """
import os, stat
from pathlib import Path
from tagger.crf import CRF, save_crf
os.umask(0o022)
save_crf(CRF(["O", "B-PER", "I-PER"], "IOB2"), Path(HERE))
print(oct(stat.S_IMODE((Path(HERE) / "crf.safetensors").stat().st_mode)))
"""
_BEST_DISK_FULL = """
import errno, safetensors.torch, torch
from pathlib import Path
from tagger.errors import OutputError
from tagger.train.checkpoint import save_best
class One:
    is_main_process = True
    unwrap_model = staticmethod(lambda m: m)
    wait_for_everyone = staticmethod(lambda: None)
def full(*a, **k):
    raise OSError(errno.ENOSPC, "No space left on device")
safetensors.torch.save_model = full
try:
    save_best(One(), torch.nn.Linear(2, 2), Path(HERE))
except OutputError as err:
    print(err, sorted(p.name for p in Path(HERE).iterdir()))
"""


def _push_case(damage: Callable[[Path, Path], None], needle: str, *extra: str) -> Callable[[Workspace, Path], Verdict]:
    def check(ws: Workspace, here: Path) -> Verdict:
        from tagger.cards import write_model_card

        folder = here / "model"
        shutil.copytree(ws.model(), folder)
        pt = {"PER": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}}
        scores = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "accuracy": 0.9, "per_type": pt}
        info = {"base_model": "tiny", "dataset": {"name": "probe", "sources": {}}, "label_list": ["O", "B-PER"],
                "loss": {"name": "ce", "params": {}}, "hyperparameters": {"epochs": 1, "seed": 1},
                "validation": scores, "test": scores, "train_seconds": 1.0, "hardware": "CPU", "tagger_version": "p"}
        write_model_card(folder, info)
        (folder / "tagger_run.json").write_text(json.dumps(info))
        damage(folder, here)
        proc = run_cli(here, "push", "--model", str(folder), "--repo-id", "probe/tiny", *extra, timeout=120,
                       HF_TOKEN="hf_" + "ProbePushersOwnFakeToken01234567", HF_ENDPOINT="http://127.0.0.1:9")
        verdict = one_line_error(proc, 1, needle)
        return Verdict("FAIL", "the token-like string was echoed") if FAKE_TOKEN in proc.stderr else verdict
    return check


def _outward_link(folder: Path, here: Path) -> None:
    (here / "secret.env").write_text("password=hunter2\n")
    (folder / "extra.txt").symlink_to(here / "secret.env")


_FOLDERS = "tests/test_folder_checks.py"
_RECOVERY = "tests/test_sweep_folder_recovery.py"
FOLDER_CASES: list[Case] = [
    *[Case(f"folder-{name}", f"exit 2, one error line naming the file and key ({needle}), no traceback; no output",
           _predict_wrong(name), unit_test=_FOLDERS) for name, (_, needle) in WRONG_FOLDERS.items()],
    Case("predict-o-bias-nan", "exit 2, one line: argument --o-bias must be a finite number",
         _predict_args("--o-bias=nan", needle="--o-bias: must be a finite number"), unit_test=_FOLDERS),
    Case("predict-max-length-above-positions", "exit 2, one error line naming max_length and the limit 512",
         _predict_args("--max-length", "1024", needle="max_length 1024 is above the 512 positions"),
         unit_test=_FOLDERS),
    Case("export-user-folder", "exit 2, one line naming the folder; the user's files kept",
         _export_into(lambda run, mine: mine, "holds files tagger export did not write"),
         unit_test="tests/test_export_safety.py"),
    Case("export-model-folder", "exit 2, one line: the model folder is refused; model.safetensors kept",
         _export_into(lambda run, mine: run / "model", "is the model folder"),
         unit_test="tests/test_export_safety.py"),
    Case("export-run-folder", "exit 2, one line: the run folder is refused; all_results.json kept",
         _export_into(lambda run, mine: run, "holds the model folder"),
         unit_test="tests/test_export_safety.py"),
    Case("journal-cut-record", "a cut last record dropped with a warning; every later launch resumes",
         _python_case(_JOURNAL_CUT, "resumed"), unit_test=_RECOVERY),
    Case("journal-garbage", "one line naming search.journal and the line",
         _python_case(_JOURNAL_GARBAGE, "search.journal:1: not an Optuna journal record"),
         unit_test=_RECOVERY),
    Case("claim-without-owner", "a claim without owner.json is taken over once stale",
         _python_case(_OWNERLESS_CLAIM, "taken over"), unit_test=_RECOVERY),
    Case("weights-umask", "crf.safetensors 0644 under umask 022", _python_case(_UMASK, "0o644"),
         unit_test=_RECOVERY),
    Case("best-weights-disk-full", "one line: no space left on best_model.safetensors; no temporary file",
         _python_case(_BEST_DISK_FULL, "best_model.safetensors []"), unit_test=_RECOVERY),
    Case("push-outward-symlink", "exit 1 before any upload, one line naming the link",
         _push_case(_outward_link, "extra.txt is a symbolic link to a file outside"),
         unit_test="tests/test_push_safety.py"),
    Case("push-token-in-commit-message", "exit 1 before any upload, one line; the string not echoed",
         _push_case(lambda folder, here: None, "the commit message contains a Hugging Face token",
                    "--commit-message", f"upload {FAKE_TOKEN}"), unit_test="tests/test_push_safety.py"),
]


# ------------------------------------------------------------------------------------------------ the table

_ONE_LINE = "exit 2, one error line naming {what}, no traceback"
_RELIABILITY = "tests/test_reliability.py::"
_EMPTY_INPUTS = _RELIABILITY + "test_an_empty_input_is_refused_with_one_line"

CASES: list[Case] = [
    Case("config-bad-value", "exit 2, one line 'training.epochs: must be >= 1, got -1'; nothing written",
         _config_case(["training.epochs=-1"], "training.epochs: must be >= 1, got -1"),
         unit_test=_RELIABILITY + "test_bad_value_stops_the_recipe_before_anything_trains"),
    Case("config-unknown-key", "exit 2, one line naming training.epoch; nothing written",
         _config_case(["training.epoch=3"], "training.epoch"),
         unit_test="tests/test_recipe.py::test_bad_config_fails_fast_with_one_line"),
    Case("config-billion-laughs", "exit 2 at once, one line: aliases expand to more than 100,000 values",
         _billion_laughs, unit_test=_RELIABILITY + "test_billion_laughs_config_stops_the_recipe_at_once"),
    Case("data-one-column", _ONE_LINE.format(what="the file and line"),
         _bad_data_case("train", b"Anna B-PER\nlonely\n", ":2: expected a token and a tag")),
    Case("data-bad-tag", _ONE_LINE.format(what="the file, line and tag"),
         _bad_data_case("train", b"Anna X-PER\n", ":1: ")),
    Case("data-not-utf8", _ONE_LINE.format(what="the file, line and byte offset"),
         _bad_data_case("validation", b"Anna B-PER\nOslo\xff B-LOC\n", "byte offset")),
    Case("data-empty-split", _ONE_LINE.format(what="the empty split's file"),
         _bad_data_case("test", b"\n\n", "no sentences")),
    Case("data-no-entities", _ONE_LINE.format(what="the training file: nothing to learn"),
         _bad_data_case("train", b"a O\nb O\n", "no entities"),
         unit_test=_RELIABILITY + "test_data_without_entities_is_refused"),
    *[Case(f"model-{name}", _ONE_LINE.format(what=f"the folder ({needle})") + "; no output",
           _predict_broken(name),
           unit_test="tests/test_model_loading.py::test_a_broken_model_folder_is_one_line_naming_it")
      for name, (_, needle) in BROKEN_MODELS.items()],
    Case("recipe-broken-encoder", _ONE_LINE.format(what="the encoder folder (truncated weights)") + "; no run folder",
         _recipe_broken_encoder,
         unit_test="tests/test_model_loading.py::test_the_recipe_stops_at_launch_on_a_broken_encoder_folder"),
    Case("output-read-only", _ONE_LINE.format(what="the path (read-only file system)"), _read_only_output),
    Case("output-disk-full", _ONE_LINE.format(what="the file (no space left); no temporary file left"), _disk_full),
    Case("output-dir-is-a-file", _ONE_LINE.format(what="the file in the way"), _file_as_folder_recipe),
    Case("predict-output-under-a-file", _ONE_LINE.format(what="the file in the way"), _file_as_folder_predict),
    Case("output-user-files", "a folder of the user's own refused: exit 2, one line, the folder untouched",
         _user_files_in_output,
         unit_test="tests/test_shards.py::test_the_recipe_refuses_a_folder_of_the_users"),
    Case("empty-score", _ONE_LINE.format(what="the empty file"), _empty_input("score", ""),
         unit_test=_EMPTY_INPUTS),
    Case("blank-lines-score", _ONE_LINE.format(what="the file of blank lines"), _empty_input("score", "\n \n\t\n"),
         unit_test=_EMPTY_INPUTS),
    Case("empty-errors", _ONE_LINE.format(what="the empty file"), _empty_input("errors", ""),
         unit_test=_EMPTY_INPUTS),
    Case("empty-predict", _ONE_LINE.format(what="the empty input") + "; no output",
         _empty_input("predict", ""), unit_test=_EMPTY_INPUTS),
    Case("blank-lines-predict-text", _ONE_LINE.format(what="the input of blank lines") + "; no output",
         _empty_input("predict", "\n\n", suffix=".txt"), unit_test=_EMPTY_INPUTS),
    Case("empty-data-stats-file", _ONE_LINE.format(what="the empty file"), _empty_input("data-stats", ""),
         unit_test=_EMPTY_INPUTS),
    Case("empty-data-stats-split", _ONE_LINE.format(what="the empty split's file"), _empty_split,
         unit_test=_RELIABILITY + "test_an_empty_split_is_refused_by_data_stats"),
    Case("folder-as-input", _ONE_LINE.format(what="the path"), _folder_as_input,
         unit_test=_RELIABILITY + "test_an_unreadable_input_is_one_line"),
    Case("push-token-like-string", "exit 1 before any upload, one line naming the file; the string not echoed",
         _token_in_push),
    Case("predict-sigterm", "exit 143, no hidden temporary file and no output left", _predict_sigterm,
         unit_test=_RELIABILITY + "test_a_terminated_predict_leaves_no_temporary_file"),
    *FOLDER_CASES,
    Case("diverging-run", "exit 3, one line naming the loss; the JSON-lines log is strict JSON (NaN as null)",
         _diverging_run, fast=False),
    Case("resume-sigterm-epoch-1", "exit 143 mid-epoch 1; the resumed run equals the uninterrupted one bit for bit",
         _resume_case(signal.SIGTERM, lambda n: n // 3, lambda n: (0, True)), fast=False),
    Case("resume-sigterm-epoch-2", "exit 143 mid-epoch 2; the resumed run equals the uninterrupted one bit for bit",
         _resume_case(signal.SIGTERM, lambda n: n + n // 2, lambda n: (1, True)), fast=False),
    Case("resume-sigkill-after-checkpoint", "killed in epoch 2; resumed from the epoch-1 checkpoint, equal bit for bit",
         _resume_case(signal.SIGKILL, lambda n: n + 3, lambda n: (1, False)), fast=False),
]


def run_case(case: Case, ws: Workspace) -> Verdict:
    """The case in a fresh folder of its own; a probe that breaks is a failure, not a crash."""
    here = ws.path(f"case-{case.name}")
    here.mkdir()
    try:
        return case.check(ws, here)
    except Exception as err:  # noqa: BLE001 - reported as the case's failure
        return Verdict("FAIL", f"the probe broke: {type(err).__name__}: {str(err)[:300]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", action="store_true", help="only the cases that train nothing")
    parser.add_argument("--case", action="append", metavar="NAME", help="run this case (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = parser.parse_args(argv)
    if args.list:
        for case in CASES:
            sys.stdout.write(f"{case.name:34} {'fast' if case.fast else 'slow'}  {case.expected}\n")
        return 0
    unknown = set(args.case or ()) - {c.name for c in CASES}
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))} (see --list)")
    chosen = [c for c in CASES if (not args.case or c.name in args.case) and (c.fast or not args.fast)]
    counts = {"pass": 0, "FAIL": 0, "skip": 0}
    ws = Workspace(Path(tempfile.mkdtemp(prefix="fault-probe-")))
    start = time.perf_counter()
    try:
        for case in chosen:
            t0 = time.perf_counter()
            verdict = run_case(case, ws)
            counts[verdict.status] += 1
            sys.stdout.write(f"[{verdict.status}] {case.name} ({time.perf_counter() - t0:.0f} s)\n"
                             f"       expected: {case.expected}\n       observed: {verdict.observed}\n")
            sys.stdout.flush()
    finally:
        if args.keep:
            sys.stdout.write(f"workspace kept: {ws.root}\n")
        else:
            shutil.rmtree(ws.root, ignore_errors=True)
    sys.stdout.write(f"total: {len(chosen)} cases, {counts['pass']} passed, {counts['FAIL']} failed, "
                     f"{counts['skip']} skipped ({time.perf_counter() - start:.0f} s)\n")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
