"""ONNX export and serving: same tags as PyTorch through tagger's own windowing, and no torch import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def onnx_deps(onnx_extra: None) -> None:
    """Every test here needs the ``onnx`` extra (tests/conftest.py: skipped without it, failed under CI=true)."""


@pytest.fixture(scope="module")
def model_dir(tiny_wnut_model_dir: Path) -> Path:
    return tiny_wnut_model_dir


@pytest.fixture(scope="module")
def onnx_dir(tiny_wnut_onnx_export) -> Path:
    """``model_dir`` exported by ``tagger export --onnx`` (once per session, tests/conftest.py)."""
    done, out = tiny_wnut_onnx_export
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def test_sentences(data_dir) -> list[list[str]]:
    from tagger.data import read_conll

    return [row.tokens for row in read_conll(data_dir / "wnut17" / "test.conll")]


def test_export_folder_describes_itself(onnx_dir, model_dir):
    import onnx

    names = {p.name for p in onnx_dir.iterdir()}
    assert {"model.onnx", "config.json", "tokenizer.json", "tokenizer_config.json", "tagger_run.json"} <= names
    run = json.loads((onnx_dir / "tagger_run.json").read_text())
    assert run["hyperparameters"] == {"max_length": 32, "stride": 8}  # the training settings travel along
    assert run["export"]["file"] == "model.onnx" and run["export"]["quantization"] is None
    assert run["export"]["max_abs_logit_diff_vs_torch"] < 1e-4
    graph = onnx.load(str(onnx_dir / "model.onnx")).graph
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param and dims[1].dim_param, f"{value.name}: batch and sequence axes must be dynamic"
    assert json.loads((onnx_dir / "config.json").read_text())["id2label"]["7"] == "B-location"


def test_onnx_logits_and_tags_equal_pytorch(model_dir, onnx_dir, test_sentences):
    """300 WNUT-17 test sentences: logits within 1e-4 on every window, the same tag for every word."""
    import torch

    from tagger.data.align import encode_sentences
    from tagger.predict import Tagger
    from tagger.train.batching import WindowCollator

    sents = test_sentences[:300]
    pt = Tagger.from_pretrained(model_dir, device="cpu")
    ox = Tagger.from_pretrained(onnx_dir)
    assert type(ox.model).__name__ == "OnnxBackend" and (ox.max_length, ox.stride) == (32, 8)
    enc = encode_sentences(sents, pt.tokenizer, max_length=32, stride=8)
    rows = [{k: enc[k][i] for k in ("input_ids", "word_index", "sentence_id")} for i in range(len(enc["input_ids"]))]
    assert max(enc["sentence_id"]) == 299 and len(rows) > 300  # long sentences gave several windows
    worst = 0.0
    for start in range(0, len(rows), 64):
        chunk = rows[start : start + 64]
        tb = WindowCollator(0)(chunk)
        with torch.inference_mode():
            want = pt.model(input_ids=tb["input_ids"], attention_mask=tb["attention_mask"]).logits.numpy()
        got = ox.model.logits(ox.model.collator(0)(chunk))
        mask = tb["attention_mask"].numpy().astype(bool)
        worst = max(worst, float(np.abs(got - want)[mask].max()))
    assert worst < 1e-4
    tags = pt.predict(sents)
    assert len({t for row in tags for t in row}) > 3  # a random model, but not a constant one
    assert ox.predict(sents) == tags


def test_onnx_with_document_context_equals_pytorch(model_dir, onnx_dir, test_sentences):
    """Context is built before the model runs, so the ONNX path gives PyTorch's tags with documents too."""
    from tagger.predict import Tagger

    sents = test_sentences[:120]
    documents = [k // 5 for k in range(len(sents))]  # documents of five sentences
    pt = Tagger.from_pretrained(model_dir, device="cpu", context=8)
    ox = Tagger.from_pretrained(onnx_dir, context=8)
    assert ox.context == 8
    tags = pt.predict(sents, documents=documents)
    assert ox.predict(sents, documents=documents) == tags
    texts = [" ".join(s) for s in sents]
    for mode in ("words", "tokenizer"):
        assert (ox.predict_text(texts, pre_tokenizer=mode, documents=documents)
                == pt.predict_text(texts, pre_tokenizer=mode, documents=documents))


def test_onnx_text_modes_equal_pytorch(model_dir, onnx_dir, test_sentences):
    from tagger.predict import Tagger

    texts = [" ".join(s) for s in test_sentences[:300]]
    pt = Tagger.from_pretrained(model_dir, device="cpu")
    ox = Tagger.from_pretrained(onnx_dir)
    for mode in ("words", "tokenizer"):
        assert ox.predict_text(texts, mode) == pt.predict_text(texts, mode)


def test_tokenizer_file_encodes_like_transformers(onnx_dir, tokenizer, test_sentences):
    """tokenizers.Tokenizer.from_file behind tagger's windowing gives transformers' windows exactly."""
    from tagger.data.align import encode_sentences
    from tagger.predict import encode_like_pipeline
    from tagger.runtime import TokenizerFile

    fast = TokenizerFile.from_dir(onnx_dir)
    assert (fast.pad_token_id, fast.unk_token_id, fast.unk_token) == (tokenizer.pad_token_id, tokenizer.unk_token_id,
                                                                      tokenizer.unk_token)
    sents = test_sentences + [["\ufe0f", "a", ""], ["x" * 300]]  # words that vanish, a very long word
    assert encode_sentences(sents, fast, max_length=32, stride=8) == encode_sentences(sents, tokenizer, max_length=32,
                                                                                     stride=8)
    texts = [" ".join(s) for s in test_sentences] + ["Cafe\u0301 \ufe0f don't @x", ""]
    assert encode_like_pipeline(texts, fast) == encode_like_pipeline(texts, tokenizer)


def test_int8_export(model_dir, onnx_dir, tmp_path, test_sentences):
    from tagger.export import QUANTIZATION, export_onnx, fp32_matmuls
    from tagger.predict import Tagger

    out = export_onnx(model_dir, tmp_path / "int8", int8=True)
    assert {p.name for p in out.glob("*.onnx")} == {"model.int8.onnx"}
    assert (out / "model.int8.onnx").stat().st_size < 0.5 * (onnx_dir / "model.onnx").stat().st_size
    run = json.loads((out / "tagger_run.json").read_text())["export"]
    assert run["quantization"] == QUANTIZATION and run["max_abs_logit_diff_vs_torch"] < 0.1
    # what stays fp32: per layer the feed-forward down-projection [64 -> 32], and the classifier [32 -> 13]
    kept = fp32_matmuls(onnx_dir / "model.onnx")
    assert run["fp32_matmuls"] == len(kept) == 2 + 1
    import onnx

    graph = onnx.load(str(out / "model.int8.onnx")).graph
    weights = {init.name: list(init.dims) for init in graph.initializer}
    fp32_left = sorted(tuple(weights[n.input[1]]) for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights)
    assert fp32_left == [(32, 13), (64, 32), (64, 32)]
    assert sum(n.op_type == "MatMulInteger" for n in graph.node) == 2 * 5  # q, k, v, attention out, ffn in
    sents = test_sentences[:200]
    fp32 = Tagger.from_pretrained(onnx_dir).predict(sents)
    int8 = Tagger.from_pretrained(out).predict(sents)
    agree = sum(a == b for r, s in zip(fp32, int8) for a, b in zip(r, s)) / sum(map(len, fp32))
    assert agree > 0.9  # tiny random model: small margins, so a few flips


def _run(*code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", "\n".join(code)], capture_output=True, text=True, env=env, timeout=600)


def test_cli_export_then_predict_without_torch(tiny_wnut_onnx_export, tmp_path):
    """`tagger export` writes the folder; `tagger predict` on it never imports torch or transformers."""
    done, out = tiny_wnut_onnx_export  # in this process: the export needs torch
    assert done.returncode == 0, done.stderr
    (tmp_path / "in.conll").write_text("Paul\nWalker\nvisited\nNew\nYork\n\nhello\n", encoding="utf-8")
    (tmp_path / "in.txt").write_text("Paul Walker visited New York\n", encoding="utf-8")
    for name in ("in.conll", "in.txt"):
        done = _run("import sys", "from tagger.cli import main",
                    f"rc = main(['predict', '--model', {str(out)!r}, '--input', {str(tmp_path / name)!r}, "
                    f"'--output', {str(tmp_path / (name + '.out'))!r}])",
                    "print(rc, 'torch' in sys.modules, 'transformers' in sys.modules)")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["0", "False", "False"]
    lines = (tmp_path / "in.conll.out").read_text().split("\n")
    assert [ln.split()[0] for ln in lines if ln] == ["Paul", "Walker", "visited", "New", "York", "hello"]
    assert json.loads((tmp_path / "in.txt.out").read_text())["text"] == "Paul Walker visited New York"


def test_export_refuses_a_tokenizer_json_that_encodes_differently(onnx_dir, tokenizer, tmp_path):
    """Serving reads tokenizer.json alone: an export whose file would tokenize otherwise is an error."""
    import shutil

    from tagger.errors import InputError
    from tagger.export import _check_tokenizer

    _check_tokenizer(tokenizer, onnx_dir)  # the real export passes
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(onnx_dir / name, tmp_path / name)
    spec = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    assert spec["normalizer"]["lowercase"] is True  # the packaged tokenizer is uncased
    spec["normalizer"]["lowercase"] = False
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(InputError, match="encodes differently"):
        _check_tokenizer(tokenizer, tmp_path)


def test_export_errors_are_one_line(tmp_path):
    from tagger.cli import main

    assert main(["export", str(tmp_path / "missing"), "--onnx"]) == 2
    (tmp_path / "a.onnx").write_text("x")
    (tmp_path / "b.onnx").write_text("x")
    from tagger.errors import InputError
    from tagger.runtime import find_onnx_file

    with pytest.raises(InputError, match="several .onnx files"):
        find_onnx_file(tmp_path)
