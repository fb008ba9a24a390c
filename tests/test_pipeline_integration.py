"""TaggerPipeline: transformers' pipeline() with tagger's windows and word decoding (tiny random BERT, WNUT-17)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from recipe_runner import run_cli

from tagger.integrations.pipeline import TASK, TaggerPipeline
from tagger.predict import Tagger

N_TEST = 1287


@pytest.fixture(scope="module")
def model_dir(tiny_wnut_model_dir: Path) -> Path:
    return tiny_wnut_model_dir


@pytest.fixture(scope="module")
def texts(data_dir) -> list[str]:
    from tagger.data import read_conll

    rows = read_conll(data_dir / "wnut17" / "test.conll")
    assert len(rows) == N_TEST
    return [" ".join(row.tokens) for row in rows]


def _spans(entities: list[list[dict]]) -> list[list[tuple[str, int, int]]]:
    return [[(e["entity_group"], e["start"], e["end"]) for e in ents] for ents in entities]


def test_pipeline_entities_equal_tagger_predict_on_every_sentence(model_dir, texts, tmp_path):
    """All 1,287 WNUT-17 test texts: the pipeline's entities are `tagger predict --pre-tokenizer tokenizer`'s."""
    from transformers import pipeline

    ner = pipeline("token-classification", model=str(model_dir), pipeline_class=TaggerPipeline, device="cpu")
    assert (ner.max_length, ner.stride) == (32, 8)  # from tagger_run.json
    ours = _spans(ner(texts, batch_size=16))

    src, out = tmp_path / "test.txt", tmp_path / "entities.jsonl"
    src.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    proc = run_cli(tmp_path, "predict", "--model", str(model_dir), "--input", str(src), "--output", str(out),
                   "--format", "text", "--pre-tokenizer", "tokenizer", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr[-3000:]
    cli = [[(e["type"], e["start"], e["end"]) for e in json.loads(line)["entities"]]
           for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(cli) == N_TEST
    mismatches = [i for i in range(N_TEST) if ours[i] != cli[i]]
    assert not mismatches, f"{len(mismatches)} texts differ, first: {texts[mismatches[0]]!r}"
    # not vacuous: many entities, many of several words, many texts longer than one window
    found = [(i, s, e) for i, ents in enumerate(cli) for _, s, e in ents]
    assert len(found) > 5000 and sum(" " in texts[i][s:e] for i, s, e in found) > 500
    tok = ner.tokenizer
    assert sum(len(tok(t)["input_ids"]) > 32 for t in texts) > 300


def test_registered_task_batching_and_scores(model_dir, texts):
    """pipeline("tagger-ner") finds the class; batch size changes nothing; scores are the words' tag probabilities."""
    from transformers import pipeline

    from tagger.data.align import encode_subwords
    from tagger.predict import encode_like_pipeline

    ner = pipeline(TASK, model=str(model_dir), device="cpu", max_length=512)
    assert isinstance(ner, TaggerPipeline) and ner.max_length == 512
    sample = texts[:40] + ["", "\ufe0f"]
    one = ner(sample, batch_size=1)
    assert ner(sample, batch_size=7) == one or _close(ner(sample, batch_size=7), one)
    assert one[-2:] == [[], []]
    assert _spans(one) == _spans([[{"entity_group": e["type"], **e} for e in ents]
                                  for ents in Tagger.from_pretrained(model_dir, device="cpu", max_length=512)
                                  .predict_text(sample, "tokenizer")])
    # reference scores from one forward pass per text (each fits one 512-subword window)
    tok, model = ner.tokenizer, ner.model
    for text, ents in zip(sample[:10], one[:10]):
        (enc,) = encode_like_pipeline([text], tok)
        win = encode_subwords([enc.subword_ids], [enc.word_ids], [len(enc.offsets)], tok, max_length=512, stride=32)
        with torch.no_grad():
            probs = model(input_ids=torch.tensor(win["input_ids"])).logits.softmax(-1)[0].numpy()
        pos = {w: j for j, w in enumerate(win["word_index"][0]) if w >= 0}
        starts = [s for s, _ in enc.offsets]
        for e in ents:
            first = starts.index(e["start"])
            last = max(i for i, (_, end) in enumerate(enc.offsets) if end == e["end"])
            want = np.mean([probs[pos[w]].max() for w in range(first, last + 1)])
            assert e["score"] == pytest.approx(want, rel=1e-5)
            assert e["word"] == text[e["start"] : e["end"]]


def _close(a: list, b: list) -> bool:
    return _spans(a) == _spans(b) and all(x["score"] == pytest.approx(y["score"], rel=1e-5)
                                          for xs, ys in zip(a, b) for x, y in zip(xs, ys))


def test_decoder_seam(model_dir):
    """A decoder given at construction replaces first-subword argmax (here: everything O, so no entity)."""
    from transformers import pipeline

    def all_o(word_probs: np.ndarray) -> list[int]:
        return [0] * word_probs.shape[0]

    ner = pipeline("token-classification", model=str(model_dir), pipeline_class=TaggerPipeline, decoder=all_o)
    assert ner("Paul Walker visited New York") == []
    with pytest.raises(ValueError, match="takes texts"):
        ner(["Paul", "Walker"], is_split_into_words=True)
