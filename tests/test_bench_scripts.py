"""Smoke test: the benchmark scripts run end to end on tiny settings (the tiny random BERT, 64 sentences)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_bench_train_and_predict_smoke(tmp_path: Path, tiny_encoder_dir: str, data_dir: Path) -> None:
    work = tmp_path / "work"
    proc = _run([str(REPO / "scripts" / "bench_train.py"), "--smoke", "--model", tiny_encoder_dir,
                 "--work-dir", str(work), "--json", str(tmp_path / "train.json")], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "train.json").read_text())
    assert set(report["runs"]) == {"a", "b", "c"}
    for run in report["runs"].values():
        assert run["train_tokens_per_second"] > 0 and 0 <= run["padding_share"] < 1
        assert run["peak_rss_mb"] > 0 and 0 <= run["validation_f1_all_words"] <= 1
    # the Trainer with random batches pads more than tagger's length-sorted batches
    assert report["runs"]["b"]["padding_share"] > report["runs"]["a"]["padding_share"]
    assert report["efficiency"]["matmul_2048_fp32_flops"] > 0
    assert [r["loss"] for r in report["loss_costs"]][0] == "ce"
    for needle in ("(a) tagger loop", "(b) Trainer", "(c) Trainer + group_by_length", "tokens/s tagger / (b)",
                   "Loss cost", "utilisation"):
        assert needle in proc.stdout, needle

    model = next((work / "tagger" / "runs").glob("*/model"))
    proc = _run([str(REPO / "scripts" / "bench_predict.py"), "--smoke", "--no-strings", "--model", str(model),
                 "--json", str(tmp_path / "predict.json")], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    pred = json.loads((tmp_path / "predict.json").read_text())
    assert pred["sentences"] == 32 and pred["ratio"] > 0
    assert pred["same_on_clean"], proc.stdout[-2000:]
    assert "words/s tagger / pipeline" in proc.stdout


def test_gpu_check_without_cuda_exits_0(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        return  # the no-GPU path only
    proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "no CUDA device" in proc.stdout, proc.stdout + proc.stderr
