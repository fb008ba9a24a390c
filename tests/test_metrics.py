"""Metrics against hand-scored sequences and against seqeval's own report."""

from __future__ import annotations

import random

import pytest

from tagger.metrics import format_conlleval, score_sequences


def counts(res: dict) -> tuple[int, int, int]:
    return res["tp"], res["predicted"], res["gold"]


def test_i_tag_starting_an_entity():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["I-PER", "I-PER", "O", "I-LOC"]]
    c = score_sequences(gold, pred)  # conlleval: I- after O opens an entity
    assert counts(c) == (2, 2, 2) and c["f1"] == 1.0 and c["accuracy"] == 0.5
    s = score_sequences(gold, pred, mode="strict")  # strict IOB2: no entity starts with I-
    assert counts(s) == (0, 0, 2) and s["precision"] == 0.0 and s["f1"] == 0.0
    assert s["per_type"]["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "tp": 0, "predicted": 0, "gold": 1}


def test_type_change_inside_a_chunk():
    gold = [["B-ORG", "I-ORG", "I-ORG", "O"]]
    pred = [["B-ORG", "I-LOC", "I-ORG", "O"]]
    c = score_sequences(gold, pred)  # ORG(0) LOC(1) ORG(2): three wrong entities
    assert counts(c) == (0, 3, 1)
    assert c["per_type"]["ORG"]["predicted"] == 2 and c["per_type"]["LOC"]["predicted"] == 1
    assert c["macro_f1"] == 0.0 and c["accuracy"] == 0.75
    s = score_sequences(gold, pred, mode="strict")  # only B-ORG(0) is well formed
    assert counts(s) == (0, 1, 1)


def test_iobes_and_bilou():
    gold = [["B-PER", "E-PER", "S-LOC", "O"]]
    pred = [["B-PER", "I-PER", "S-LOC", "S-LOC"]]
    c = score_sequences(gold, pred)  # seqeval's reader: S- ends the open B-PER I-PER chunk; two S-LOC
    assert counts(c) == (2, 3, 2)
    assert c["precision"] == pytest.approx(2 / 3) and c["recall"] == 1.0 and c["f1"] == pytest.approx(0.8)
    s = score_sequences(gold, pred, mode="strict")  # IOBES detected: B-PER I-PER without E- is no entity
    assert counts(s) == (1, 2, 2) and s["f1"] == 0.5
    # BILOU: two adjacent U-X are two entities (seqeval's default reader alone would merge them)
    # and an unclosed B-Y I-Y at the end still reads as Y(2, 3) in conlleval mode, but not in strict mode
    b = score_sequences([["U-X", "U-X", "B-Y", "L-Y"]], [["U-X", "U-X", "B-Y", "I-Y"]])
    assert counts(b) == (3, 3, 3)
    assert counts(score_sequences([["U-X", "U-X", "B-Y", "L-Y"]], [["U-X", "U-X", "B-Y", "I-Y"]], mode="strict")) == (2, 2, 3)
    assert counts(score_sequences([["U-X", "U-X"]], [["U-X", "U-X"]], mode="strict")) == (2, 2, 2)


def test_empty_predictions_and_empty_input():
    r = score_sequences([["B-PER", "O"], ["O"]], [["O", "O"], ["O"]])
    assert counts(r) == (0, 0, 1)
    assert (r["precision"], r["recall"], r["f1"], r["macro_f1"]) == (0.0, 0.0, 0.0, 0.0)
    assert r["accuracy"] == pytest.approx(2 / 3)
    e = score_sequences([], [])
    assert counts(e) == (0, 0, 0) and e["per_type"] == {} and e["accuracy"] == 0.0


def test_hand_scored_mixed_types_and_macro():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG", "O"], ["B-ORG", "O", "O"]]
    r = score_sequences(gold, pred)
    # PER: 1 of 2 gold found, 1 predicted -> P 1, R .5, F 2/3; LOC: 0/1 -> 0; ORG: tp 1, pred 2, gold 1 -> P .5 R 1 F 2/3
    assert {t: (v["tp"], v["predicted"], v["gold"]) for t, v in r["per_type"].items()} == {
        "LOC": (0, 0, 1), "ORG": (1, 2, 1), "PER": (1, 1, 2)}
    assert counts(r) == (2, 3, 4)
    assert r["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert r["macro_f1"] == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)
    assert r["accuracy"] == pytest.approx(6 / 8)
    text = format_conlleval(r)
    assert text.splitlines()[0] == "processed 8 tokens with 4 phrases; found: 3 phrases; correct: 2."
    assert "ORG: precision:  50.00%; recall: 100.00%; FB1:  66.67  2 (correct 1, gold 1)" in text


def test_length_mismatch_and_bad_tags():
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        score_sequences([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        score_sequences([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="not O or PREFIX-TYPE"):
        score_sequences([["PER"]], [["O"]])
    with pytest.raises(ValueError, match="mode"):
        score_sequences([["O"]], [["O"]], mode="lenient")


@pytest.mark.parametrize("scheme", ["IOB2", "IOBES", "BILOU"])
@pytest.mark.parametrize("mode", ["conlleval", "strict"])
def test_agrees_with_seqeval_report_on_real_data(data_dir, mode, scheme):
    """WNUT-17 test in each scheme, 15% of the tags replaced by random labels of that scheme (ill-formed
    chunks included), against seqeval's report: default reader (BILOU as E-/S-, which it knows) or strict."""
    from seqeval import scheme as seqeval_schemes
    from seqeval.metrics import accuracy_score, classification_report

    from tagger.data.conll import read_conll
    from tagger.data.schemes import convert_tags

    gold = [convert_tags(tags, "IOB2", scheme) for _, tags, _, _ in read_conll(data_dir / "wnut17" / "test.conll")]
    rng = random.Random(1)
    prefixes = {"IOB2": "BI", "IOBES": "BIES", "BILOU": "BILU"}[scheme]
    labels = ["O"] + [f"{p}-{t}" for t in ("person", "location") for p in prefixes] + ["I-group"]
    pred = [[rng.choice(labels) if rng.random() < 0.15 else t for t in s] for s in gold]
    as_iobes = {"L": "E", "U": "S"}

    def seqeval_view(seqs: list[list[str]]) -> list[list[str]]:
        return [[as_iobes.get(t[0], t[0]) + t[1:] if t != "O" else t for t in s] for s in seqs] if mode == "conlleval" else seqs

    kwargs = {"mode": "strict", "scheme": getattr(seqeval_schemes, scheme)} if mode == "strict" else {}
    ref = classification_report(seqeval_view(gold), seqeval_view(pred), output_dict=True, zero_division=0, **kwargs)
    r = score_sequences(gold, pred, mode=mode)
    assert r["gold"] == ref["micro avg"]["support"] == 1079  # the published entities, in every scheme and mode
    for key, ours in (("precision", "precision"), ("recall", "recall"), ("f1-score", "f1")):
        assert r[ours] == pytest.approx(ref["micro avg"][key])
        assert r["macro_f1" if key == "f1-score" else ours] == pytest.approx(
            ref["macro avg"][key] if key == "f1-score" else ref["micro avg"][key])
        for typ, v in r["per_type"].items():
            assert v[ours] == pytest.approx(ref[typ][key])
            assert v["support"] == ref[typ]["support"]
    assert r["accuracy"] == pytest.approx(accuracy_score(gold, pred))


def test_reported_scores_are_seqevals_and_a_disagreeing_chunker_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """score_sequences reports seqeval's reading; check_agreement raises, naming the split and the type,
    as soon as tagger's chunker (behind the bootstrap and the error classes) counts otherwise."""
    import tagger.metrics as metrics
    from seqeval.metrics import classification_report

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["I-ORG", "I-ORG", "O", "B-MISC"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "I-ORG", "O", "I-MISC"]]
    ours = metrics.score_sequences(gold, pred)
    theirs = classification_report(gold, pred, output_dict=True, zero_division=0)
    for typ, row in ours["per_type"].items():
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (theirs[typ]["precision"], theirs[typ]["recall"], theirs[typ]["f1-score"], theirs[typ]["support"]))
    assert ours["f1"] == pytest.approx(theirs["micro avg"]["f1-score"])
    metrics.check_agreement(gold, pred, "conlleval", "run, test split, argmax")  # they agree

    real = metrics.chunk_counts
    monkeypatch.setattr(metrics, "chunk_counts", lambda g, p, m: {**real(g, p, m), "LOC": [0, 1, 1]})
    with pytest.raises(metrics.ScoreMismatch, match=r"run, test split, argmax: seqeval counts LOC as .* \[1, 1, 1\], "
                                                    r"tagger's chunker \[0, 1, 1\]"):
        metrics.check_agreement(gold, pred, "conlleval", "run, test split, argmax")
