"""Per-type decision thresholds (tagger.decoding.type_bias): a hand-built decision flipped by a type's bias with
hand-counted F1, the tuning against a brute-force search over the grid with the shrinkage re-implemented here,
a CRF's Viterbi on biased emissions against enumeration of every sequence on hand-shifted ones, the settings
saved with a model and read back, and Tagger, tagger predict, the pipeline and the ONNX path agreeing."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from tagger.decoding import (
    TYPE_BIAS_PRIOR_ENTITIES,
    ChainScores,
    Decoder,
    allowed_transitions,
    chain_viterbi,
    check_decoding_entry,
    decode_split,
    decoding_entry,
    label_biases,
    rule_scores,
    score_decodings,
    scorings_for,
    tune_type_bias,
    type_bias_grid,
)
from tagger.errors import InputError
from tagger.metrics import score_sequences

LABELS = ["O", "B-A", "I-A", "B-B", "I-B"]


def log_softmax(x: np.ndarray) -> np.ndarray:
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


# ------------------------------------------------------------------------------------------ hand-built


def test_a_type_bias_flips_a_decision_hand_counted():
    """Two sentences under argmax. Sentence 1 has a gold A that the model leaves O (0.3 against 0.5);
    sentence 2 a gold B it finds (0.45 against 0.4). Bias A +1: 0.3 e = 0.82 > 0.5 flips sentence 1's
    first word to B-A; word 2 of sentence 2 (B-A 0.05 against O 0.9) stays O. Bias B -1: 0.45 / e = 0.17
    < 0.4 loses sentence 2's entity."""
    p1 = np.array([[0.5, 0.3, 0.05, 0.1, 0.05], [0.9, 0.02, 0.04, 0.02, 0.02]])
    p2 = np.array([[0.4, 0.05, 0.05, 0.45, 0.05], [0.9, 0.05, 0.01, 0.02, 0.02]])
    lp, gold = [np.log(p1), np.log(p2)], [["B-A", "O"], ["B-B", "O"]]

    def f1(**type_bias: float) -> tuple[list[list[str]], float]:
        tags = decode_split(Decoder(LABELS, "argmax", type_bias=type_bias), lp)
        return tags, score_sequences(gold, tags)["f1"]

    assert f1() == ([["O", "O"], ["B-B", "O"]], 2 / 3)  # tp 1, predicted 1, gold 2: P 1, R 1/2
    assert f1(A=1.0) == ([["B-A", "O"], ["B-B", "O"]], 1.0)
    assert f1(A=1.0, B=-1.0) == ([["B-A", "O"], ["O", "O"]], 2 / 3)
    assert f1(B=-1.0)[1] == 0.0
    # the distribution each word is decoded from: the type's labels times e^d, O divided by e^b, renormalised
    q = p1 * np.exp([-0.5, 1.0, 1.0, -0.25, -0.25])
    q /= q.sum(axis=1, keepdims=True)
    adjusted = Decoder(LABELS, "argmax", o_bias=0.5, type_bias={"A": 1.0, "B": -0.25}).adjust(np.log(p1))
    assert np.allclose(np.exp(adjusted), q, atol=1e-15)
    assert label_biases(LABELS, 0.5, {"A": 1.0, "B": -0.25}).tolist() == [-0.5, 1.0, 1.0, -0.25, -0.25]
    assert label_biases(LABELS, 0.0, {"A": 0.0}) is None  # off: the log-probabilities pass unchanged
    # IOBES and BILOU: every label of the type, whatever its prefix
    assert label_biases(["O", "B-X", "I-X", "E-X", "S-X", "U-Y", "L-Y"], 1.0, {"X": 2.0, "Y": -1.0}).tolist() == [
        -1.0, 2.0, 2.0, 2.0, 2.0, -1.0, -1.0]
    with pytest.raises(ValueError, match="a bias for type 'C', which the labels do not have"):
        Decoder(LABELS, type_bias={"C": 1.0})
    with pytest.raises(ValueError, match="the bias of type A must be a finite number"):
        Decoder(LABELS, type_bias={"A": math.inf})


# ------------------------------------------------------------------------------------------ tuning


def _validation(seed: int, n: int) -> tuple[list[list[str]], list[np.ndarray]]:
    """Gold IOB2 tags over types A and B, and log-probabilities that favour them, A over-predicted and B
    under-predicted (their labels 1 higher and 2 lower). Type C is in the labels but never in gold."""
    rng = np.random.default_rng(seed)
    labels = [*LABELS, "B-C", "I-C"]
    rules = Decoder(LABELS, "viterbi")
    gold = [rules.tags(log_softmax(rng.normal(size=(5, 5)) * 2)) for _ in range(n)]
    lp = [log_softmax(np.eye(7)[[labels.index(t) for t in g]] * 2.5 + rng.normal(size=(5, 7))
                      + [0, 1, 1, -2, -2, -1, -1]) for g in gold]
    return gold, lp


def _shrunk(raw: float, entities: int, prior: float) -> float:
    """The guard rail, written out again: the offset scaled by n / (n + n0)."""
    return raw * (entities / (entities + prior)) if entities else 0.0


@pytest.mark.parametrize("method", ["argmax", "viterbi"])
def test_tuning_finds_the_brute_force_optimum_then_shrinks(method: str):
    """Every pair of offsets of a 5-point grid for A and B, decoded and scored: the best pair (here unique)
    is the ascent's raw choice; the applied offsets are it times n / (n + n0), n counted from gold's B- tags."""
    labels = [*LABELS, "B-C", "I-C"]
    gold, lp = _validation(11, 40)
    grid, o_bias, prior = [-2.0, -1.0, 0.0, 1.0, 2.0], 0.25, 30
    f1 = {}
    for a, b in itertools.product(grid, grid):
        tags = decode_split(Decoder(labels, method, o_bias=o_bias, type_bias={"A": a, "B": b}), lp)
        f1[a, b] = score_sequences(gold, tags)["f1"]
    best = max(f1.values())
    (optimum,) = [k for k, v in f1.items() if v == best]  # unique: the ascent's ties never matter
    assert optimum != (0.0, 0.0)
    fit = tune_type_bias(lp, gold, labels, method, o_bias=o_bias, grid=grid, prior=prior)
    assert (fit.raw["A"], fit.raw["B"]) == optimum and fit.raw["C"] == 0.0
    counts = {t: sum(tag == f"B-{t}" for g in gold for tag in g) for t in "ABC"}
    assert fit.entities == counts and counts["C"] == 0
    assert fit.type_bias == pytest.approx({t: _shrunk(fit.raw[t], counts[t], prior) for t in "ABC"}, abs=1e-15)
    shrunk_tags = decode_split(Decoder(labels, method, o_bias=o_bias, type_bias=fit.type_bias), lp)
    assert fit.validation == score_sequences(gold, shrunk_tags)  # the scores of what is applied
    assert 1 <= fit.rounds <= 3


def test_tuning_defaults_and_ties():
    assert type_bias_grid() == [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0] and TYPE_BIAS_PRIOR_ENTITIES == 50
    gold, lp = _validation(3, 12)
    # gold without any entity: no type moves, every offset stays 0
    fit = tune_type_bias(lp, [["O"] * 5 for _ in gold], [*LABELS, "B-C", "I-C"], "argmax")
    assert set(fit.raw.values()) == {0.0} and set(fit.type_bias.values()) == {0.0} and fit.rounds == 1
    # log-probabilities that already give the gold tags: nothing to gain, ties go to 0
    exact = [np.log(np.eye(5)[[LABELS.index(t) for t in g]] * 0.9 + 0.02) for g in gold]
    assert set(tune_type_bias(exact, gold, LABELS, "viterbi").raw.values()) == {0.0}


# ------------------------------------------------------------------------------------------ CRF


def test_crf_emission_bias_is_viterbi_on_hand_shifted_emissions():
    """A CRF chain with random learned scores: the decoder's path with the biases is the best of every
    sequence on the hand-shifted emissions (enumerated, no renormalisation), and the torch head's decoder
    gives the same."""
    import torch

    from tagger.crf import CRF, CRFDecoder

    rng = np.random.default_rng(4)
    rules = rule_scores(allowed_transitions(LABELS, "IOB2"))
    chain = ChainScores(*(r + rng.normal(size=r.shape) for r in rules))
    for _ in range(20):
        lp = log_softmax(rng.normal(size=(4, 5)) * 2)
        shifted = lp + [-0.75, 1.5, 1.5, -0.5, -0.5]
        score = {seq: chain.start[seq[0]] + chain.end[seq[-1]] + sum(shifted[t, c] for t, c in enumerate(seq))
                 + sum(chain.transitions[a, b] for a, b in itertools.pairwise(seq))
                 for seq in itertools.product(range(5), repeat=4)}
        best = max(score, key=score.get)
        decoder = Decoder(LABELS, "viterbi", o_bias=0.75, chain=chain, type_bias={"A": 1.5, "B": -0.5})
        assert decoder.decode(lp) == list(best) == chain_viterbi(shifted, chain)
    crf = CRF(LABELS, "IOB2")
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(torch.from_numpy(rng.normal(size=tuple(p.shape))))
    lps = [log_softmax(rng.normal(size=(int(rng.integers(1, 9)), 5)) * 2) for _ in range(30)]
    ours = CRFDecoder(crf, o_bias=0.5, type_bias={"B": 2.0})
    numpy_chain = Decoder(LABELS, "viterbi", o_bias=0.5, chain=crf.chain_scores(), type_bias={"B": 2.0})
    assert ours.split_tags(lps) == decode_split(numpy_chain, lps)
    assert ours.split_tags(lps) != CRFDecoder(crf, o_bias=0.5).split_tags(lps)  # the type bias mattered


def test_a_crf_run_is_scored_with_and_without_the_biases_on_its_emissions():
    gold, lp = _validation(7, 30)
    labels = [*LABELS, "B-C", "I-C"]
    rng = np.random.default_rng(1)
    rules = rule_scores(allowed_transitions(labels, "IOB2"))
    chain = ChainScores(*(r + rng.normal(size=r.shape) * 0.3 for r in rules))
    scorings = scorings_for("IOB2", crf=True)
    assert scorings == ("viterbi", "viterbi+threshold", "viterbi+type_thresholds")
    scored = score_decodings(labels, (gold, lp), (gold[:10], lp[:10]), scorings=scorings, chain=chain)
    plain = Decoder(labels, "viterbi", chain=chain)
    assert scored["viterbi"].test_tags == [plain.tags(x) for x in lp[:10]]
    typed = scored["viterbi+type_thresholds"]
    assert typed.type_bias == tune_type_bias(lp, gold, labels, "viterbi", o_bias=typed.o_bias, chain=chain)
    assert typed.test_tags == decode_split(Decoder(labels, "viterbi", o_bias=typed.o_bias, chain=chain,
                                                   type_bias=typed.type_bias.type_bias), lp[:10])
    with pytest.raises(ValueError, match="a CRF head decodes by viterbi"):
        score_decodings(labels, (gold, lp), (gold, lp), scorings=["argmax"], chain=chain)
    # the run's scorings: the costly +type_thresholds only where shown or for the default decoding
    assert scorings_for("IOB2", shown=["argmax", "viterbi+threshold"], default="viterbi") == (
        "argmax", "viterbi", "argmax+threshold", "viterbi+threshold", "viterbi+type_thresholds")
    assert scorings_for("IOB1") == ("argmax", "argmax+threshold", "argmax+type_thresholds")


# ------------------------------------------------------------------------------------------ saved, loaded, applied


def _entry(labels: list[str]) -> dict:
    """A decoding entry as the recipe saves it, from score_decodings on a random split over ``labels``."""
    rng = np.random.default_rng(2)
    types = sorted({label[2:] for label in labels if label != "O"})
    gold = [[f"B-{types[i % len(types)]}", "O", "O"] for i in range(12)]
    lp = [log_softmax(rng.normal(size=(3, len(labels)))) for _ in gold]
    entry = decoding_entry("viterbi", "IOB2", score_decodings(labels, (gold, lp), (gold, lp)))
    return json.loads(json.dumps(entry))  # through JSON, as the folder keeps it


def _with_decoding(src: Path, dst: Path, decoding: dict) -> Path:
    shutil.copytree(src, dst)
    run = json.loads((dst / "tagger_run.json").read_text())
    (dst / "tagger_run.json").write_text(json.dumps({**run, "decoding": decoding}))
    return dst


def test_saved_type_biases_round_trip_and_old_folders_load_as_before(tmp_path, tiny_wnut_model_dir):
    from tagger.card_view import _decoding_view
    from tagger.predict import Tagger, saved_decoding

    labels = [json.loads((tiny_wnut_model_dir / "config.json").read_text())["id2label"][str(i)] for i in range(13)]
    entry = _entry(labels)
    assert set(entry["type_bias"]) == {"argmax", "viterbi"} and set(entry["type_bias"]["viterbi"]) == {
        "corporation", "creative-work", "group", "location", "person", "product"}
    assert entry["scorings"]["viterbi+type_thresholds"]["type_bias"] == entry["type_bias"]["viterbi"]
    assert entry["type_bias_tuning"] == {"grid": [-3.0, 3.0, 1.0], "prior_entities": 50, "rounds": 3}
    folder = _with_decoding(tiny_wnut_model_dir, tmp_path / "m", {**entry, "type_bias": {
        "viterbi": {"person": 2.5, "location": -1.0}, "argmax": {"group": 1.0}}})
    saved = Tagger.from_pretrained(folder, device="cpu")
    assert (saved.decoding, saved.o_bias, saved.type_bias) == ("viterbi", entry["o_bias"]["viterbi"],
                                                              {"person": 2.5, "location": -1.0})
    assert Tagger.from_pretrained(folder, device="cpu", decoding="argmax").type_bias == {"group": 1.0}
    assert Tagger.from_pretrained(folder, device="cpu", o_bias=0.5).type_bias is None  # tuned on the saved O bias
    assert Tagger.from_pretrained(folder, device="cpu", type_bias={}).type_bias is None
    assert saved_decoding(folder, o_bias=0.5, type_bias={"group": 1}).type_bias == {"group": 1.0}
    # what it predicts: the Decoder with those biases on its own log-probabilities
    sents = [["Anna", "met", "Bob", "in", "Paris", "today"], [f"w{i}" for i in range(40)]]
    lps = saved._predict_chunk(sents)
    want = [Decoder(labels, "viterbi", o_bias=saved.o_bias, type_bias={"person": 2.5, "location": -1.0}).tags(x)
            for x in lps]
    assert saved.predict(sents) == want != Tagger.from_pretrained(folder, device="cpu", type_bias={}).predict(sents)
    # a folder saved before per-type biases: its decoding and O bias as before, no type bias, its card renders
    old = {k: v for k, v in entry.items() if k not in ("type_bias", "type_bias_tuning", "scorings")}
    old["variants"] = {k: {kk: vv for kk, vv in v.items() if kk != "type_bias"} for k, v in entry["scorings"].items()
                       if "type_thresholds" not in k}
    before = Tagger.from_pretrained(_with_decoding(tiny_wnut_model_dir, tmp_path / "old", old), device="cpu")
    assert (before.decoding, before.o_bias, before.type_bias) == ("viterbi", old["o_bias"]["viterbi"], None)
    assert before.predict(sents) == [Decoder(labels, "viterbi", o_bias=before.o_bias).tags(x) for x in lps]
    view = _decoding_view({"decoding": old})
    assert view["scoring"] == "viterbi+threshold" and len(view["rows"]) == 4 and not view["typed"]
    assert _decoding_view({"decoding": entry})["scoring"] == "viterbi+type_thresholds"


@pytest.mark.parametrize(("type_bias", "message"), [
    ({"viterbi": {"person": "high"}}, "decoding.type_bias.viterbi.person: 'high' is not a finite number"),
    ({"viterbi": {"person": float("nan")}}, "decoding.type_bias.viterbi.person: nan is not a finite number"),
    ({"viterbi": [1.0]}, "decoding.type_bias.viterbi: a list where a mapping of type -> bias"),
    ([1.0], "decoding.type_bias: a list where a mapping of decoding"),
    ({"viterbi": {"animal": 1.0}}, "decoding.type_bias.viterbi.animal: not a type of the model's labels"),
])
def test_bad_saved_type_biases_are_refused_naming_the_key(type_bias, message, tmp_path):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_decoding_entry({"default": "viterbi", "type_bias": type_bias}, tmp_path / "tagger_run.json",
                             ["O", "B-person", "I-person"])


@pytest.mark.parametrize("head", ["linear", "crf"])
def test_tagger_pipeline_cli_and_onnx_apply_the_same_type_biases(head, tmp_path, tiny_wnut_model_dir, onnx_extra):
    """One folder with a saved O bias and per-type biases (and a CRF head with random scores): Tagger
    (torch), the ONNX export, TaggerPipeline and ``tagger predict`` find the same entities, and without
    the type biases different ones."""
    from recipe_runner import run_cli
    from transformers import pipeline

    from tagger.decoding import write_crf
    from tagger.export import export_onnx
    from tagger.integrations.pipeline import TaggerPipeline
    from tagger.predict import Tagger

    decoding = {"default": "viterbi", "scheme": "IOB2", "o_bias": {"viterbi": 1.0},
                "type_bias": {"viterbi": {"person": 3.0, "location": 2.0, "group": -2.0}}}
    folder = _with_decoding(tiny_wnut_model_dir, tmp_path / "m", decoding)
    if head == "crf":
        labels = [json.loads((folder / "config.json").read_text())["id2label"][str(i)] for i in range(13)]
        rng = np.random.default_rng(0)
        write_crf(folder, labels, "IOB2", {"transitions": rng.normal(size=(13, 13)), "start": rng.normal(size=13),
                                           "end": rng.normal(size=13)})
    onnx_dir = export_onnx(folder, tmp_path / "onnx")
    texts = ["Anna met Bob in Paris today", "the new iPhone from Apple is out", " ".join(f"w{i}" for i in range(40))]
    torch_tagger = Tagger.from_pretrained(folder, device="cpu")
    want = [[(e["type"], e["start"], e["end"]) for e in ents] for ents in torch_tagger.predict_text(texts, "tokenizer")]
    onnx_tagger = Tagger.from_pretrained(onnx_dir)
    assert onnx_tagger.type_bias == torch_tagger.type_bias == decoding["type_bias"]["viterbi"]
    assert (torch_tagger.crf is not None) == (onnx_tagger.crf is not None) == (head == "crf")
    assert [[(e["type"], e["start"], e["end"]) for e in ents]
            for ents in onnx_tagger.predict_text(texts, "tokenizer")] == want
    ner = pipeline("token-classification", model=str(folder), pipeline_class=TaggerPipeline, device="cpu")
    assert [[(e["entity_group"], e["start"], e["end"]) for e in ents] for ents in ner(texts)] == want
    text_in = tmp_path / "in.txt"
    text_in.write_text("\n".join(texts) + "\n")
    for model in (folder, onnx_dir):
        out = tmp_path / f"{model.name}.jsonl"
        proc = run_cli(tmp_path, "predict", "--model", str(model), "--input", str(text_in), "--output", str(out),
                       "--pre-tokenizer", "tokenizer")
        assert proc.returncode == 0, proc.stderr
        assert "person bias +3" in proc.stderr and ("CRF head" in proc.stderr) == (head == "crf")
        got = [json.loads(line)["entities"] for line in out.read_text().splitlines()]
        assert [[(e["type"], e["start"], e["end"]) for e in ents] for ents in got] == want
    plain = Tagger.from_pretrained(folder, device="cpu", type_bias={}).predict_text(texts, "tokenizer")
    assert want != [[(e["type"], e["start"], e["end"]) for e in ents] for ents in plain]  # the biases mattered
    assert any(t == "person" for ents in want for t, *_ in ents)


def test_predict_cli_type_bias_option(tmp_path, tiny_wnut_model_dir):
    from recipe_runner import run_cli

    from tagger.predict import Tagger

    js = tmp_path / "in.jsonl"
    js.write_text(json.dumps({"tokens": ["Anna", "met", "Bob", "in", "Paris"]}) + "\n")
    out = tmp_path / "o.jsonl"
    proc = run_cli(tmp_path, "predict", "--model", str(tiny_wnut_model_dir), "--input", str(js), "--output", str(out),
                   "--decoding", "viterbi", "--type-bias", "person=2.5", "group=-1")
    assert proc.returncode == 0, proc.stderr
    assert "(viterbi, person bias +2.5, group bias -1)" in proc.stderr
    want = Tagger.from_pretrained(tiny_wnut_model_dir, device="cpu", decoding="viterbi",
                                  type_bias={"person": 2.5, "group": -1.0}).predict([["Anna", "met", "Bob", "in", "Paris"]])
    assert json.loads(out.read_text())["tags"] == want[0]
    for args, message in [(["--type-bias", "animal=1"], "a bias for type 'animal', which the labels do not have"),
                          (["--type-bias", "none", "person=1"], "--type-bias: 'none' stands alone"),
                          (["--type-bias", "person"], "TYPE=B or none"),
                          (["--type-bias", "person=inf"], "must be a finite number")]:
        bad = run_cli(tmp_path, "predict", "--model", str(tiny_wnut_model_dir), "--input", str(js), "--output",
                      str(tmp_path / "bad.jsonl"), *args)
        assert bad.returncode != 0 and message in bad.stderr, bad.stderr
