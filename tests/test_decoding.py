"""Decoding levers after the loss (tagger.decoding): allowed transitions, Viterbi and span marginals
against brute-force enumeration of every tag sequence, the O bias chosen on validation only, entity
scores and their calibration, on hand-worked cases, random log-probabilities and a tiny model."""

from __future__ import annotations

import inspect
import itertools
import math
import re

import numpy as np
import pytest

from tagger.data.schemes import convert_tags, entities
from tagger.decoding import (
    SCORINGS,
    Decoder,
    allowed_transitions,
    apply_o_bias,
    ChainScores,
    calibration,
    chain_forward_backward_many,
    chain_viterbi_many,
    rule_scores,
    decode_split,
    forward_backward,
    label_scheme,
    o_bias_grid,
    score_decodings,
    span_marginal,
    split_scoring,
    tune_o_bias,
    tune_type_bias,
    viterbi,
)
from tagger.metrics import score_sequences

# five labels per scheme: the brute force enumerates 5^T sequences
LABELS = {
    "IOB2": ["O", "B-A", "I-A", "B-B", "I-B"],
    "IOBES": ["O", "B-A", "I-A", "E-A", "S-A"],
    "BILOU": ["O", "B-A", "I-A", "L-A", "U-A"],
}


def well_formed(tags: tuple[str, ...], scheme: str) -> bool:
    """The reference rule, independent of allowed_transitions: a sequence is allowed when writing its
    conlleval chunks back in the scheme gives the same tags (no I- that opens, no unclosed chunk)."""
    return list(tags) == convert_tags(list(tags), scheme, scheme)


def allowed_by_masks(ids: tuple[int, ...], masks) -> bool:
    start, trans, end = masks
    return bool(start[ids[0]] and end[ids[-1]] and all(trans[a, b] for a, b in zip(ids, ids[1:])))


def random_log_probs(rng: np.random.Generator, length: int, num_labels: int, scale: float = 2.0) -> np.ndarray:
    logits = rng.normal(size=(length, num_labels)) * scale
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


# ------------------------------------------------------------------------------------------ transitions


@pytest.mark.parametrize("scheme", sorted(LABELS))
def test_masks_allow_exactly_the_well_formed_sequences(scheme: str):
    labels = LABELS[scheme]
    masks = allowed_transitions(labels, scheme)
    for length in range(1, 6):
        for ids in itertools.product(range(len(labels)), repeat=length):
            tags = tuple(labels[i] for i in ids)
            assert allowed_by_masks(ids, masks) == well_formed(tags, scheme), tags


def test_transition_rules_hand_checked():
    o, ba, ia, bb, ib = range(5)
    start, trans, end = allowed_transitions(LABELS["IOB2"], "IOB2")
    assert start.tolist() == [True, True, False, True, False]  # no I- first
    assert end.all()
    assert trans[o, ia] == trans[bb, ia] == trans[ib, ia] == False  # noqa: E712  no I-A after O or after B
    assert trans[ba, ia] and trans[ia, ia] and trans[ia, o] and trans[ia, bb] and trans[ba, ba]
    # IOBES: a chunk is closed by E-/S- before anything else; never end inside one
    o, b, i, e, s = range(5)
    start, trans, end = allowed_transitions(LABELS["IOBES"], "BIOES")
    assert start.tolist() == [True, True, False, False, True]
    assert end.tolist() == [True, False, False, True, True]
    assert trans[b].tolist() == [False, False, True, True, False]  # after B-A: I-A or E-A
    assert trans[i].tolist() == [False, False, True, True, False]
    assert trans[e].tolist() == trans[s].tolist() == trans[o].tolist() == [True, True, False, False, True]
    # BILOU: the same with L/U, two types: no L-B after I-A
    labels = ["O", "B-A", "I-A", "L-A", "U-A", "B-B", "I-B", "L-B", "U-B"]
    start, trans, end = allowed_transitions(labels, "BILOU")
    assert not trans[2, 7] and trans[2, 3] and trans[6, 7] and not trans[3, 6] and trans[3, 5]
    assert [labels[k] for k in np.flatnonzero(end)] == ["O", "L-A", "U-A", "L-B", "U-B"]
    assert label_scheme(labels) == "BILOU" and label_scheme(LABELS["IOBES"]) == "IOBES"
    assert label_scheme(LABELS["IOB2"]) == "IOB2"
    with pytest.raises(ValueError, match="not IOB1"):
        allowed_transitions(LABELS["IOB2"], "IOB1")


# ------------------------------------------------------------------------------------------ brute force


def enumerate_allowed(labels: list[str], scheme: str, length: int) -> list[tuple[int, ...]]:
    return [ids for ids in itertools.product(range(len(labels)), repeat=length)
            if well_formed(tuple(labels[i] for i in ids), scheme)]


@pytest.mark.parametrize("scheme", sorted(LABELS))
def test_viterbi_is_the_best_allowed_sequence(scheme: str):
    labels = LABELS[scheme]
    masks = allowed_transitions(labels, scheme)
    rng = np.random.default_rng(7)
    for length in range(1, 7):
        seqs = enumerate_allowed(labels, scheme, length)
        for _ in range(3 if length == 6 else 6):
            lp = random_log_probs(rng, length, len(labels))
            totals = [sum(lp[t, i] for t, i in enumerate(ids)) for ids in seqs]
            best = list(seqs[int(np.argmax(totals))])
            assert viterbi(lp, masks) == best
            assert Decoder(labels, "viterbi", scheme=scheme).decode(lp) == best


@pytest.mark.parametrize("scheme", sorted(LABELS))
def test_viterbi_of_many_sentences_is_each_sentences_viterbi(scheme: str):
    """Sentences decoded together (ragged lengths, empty ones, blocks smaller than the batch, values rounded
    so that ties occur) get exactly the paths of one-by-one decoding, under the rules and a learned chain;
    decode_split uses it and gives Decoder.tags."""
    labels = LABELS[scheme]
    rng = np.random.default_rng(11)
    rows = [random_log_probs(rng, int(n), len(labels)) for n in rng.integers(0, 30, size=300)]
    rows += [np.round(lp, 1) for lp in rows[:100]]
    learned = ChainScores(rng.normal(size=5), rng.normal(size=(5, 5)), rng.normal(size=5))
    for decoder in (Decoder(labels, "viterbi", scheme=scheme), Decoder(labels, "viterbi", chain=learned),
                    Decoder(labels, "viterbi", o_bias=1.5, scheme=scheme)):
        one_by_one = [decoder.decode(lp) for lp in rows]
        assert chain_viterbi_many([decoder.adjust(lp) for lp in rows], decoder.chain, block=37) == one_by_one
        assert decode_split(decoder, rows) == [decoder.tags(lp) for lp in rows]
        # tags and entity scores of a split decoded together: exactly each sentence's (the same float64 steps);
        # every fifth sentence keeps ragged lengths, empty ones and ties while sparing the forward-backward
        sample = rows[::5]
        assert decoder.scored_many(sample) == [decoder.scored(lp) for lp in sample]
    argmax = Decoder(labels, o_bias=0.7, type_bias={labels[1][2:]: 0.4})
    assert argmax.scored_many(rows) == [argmax.scored(lp) for lp in rows]
    assert argmax.split_tags(rows) == [argmax.tags(lp) for lp in rows]
    impossible = ChainScores(np.full(5, -np.inf), np.zeros((5, 5)), np.zeros(5))
    with pytest.raises(ValueError, match="allows no tag sequence of 3 words"):
        chain_viterbi_many([rows[0][:3]], impossible)


def reference_forward_backward(lp: np.ndarray, chain: ChainScores) -> tuple[np.ndarray, np.ndarray, float]:
    """One sentence's tables by the textbook recursion, one word and one label at a time (float64)."""
    start, trans, end = chain
    steps, labels = lp.shape
    alpha, beta = np.full((steps, labels), -np.inf), np.full((steps, labels), -np.inf)
    alpha[0] = start + lp[0]
    for t in range(1, steps):
        for c in range(labels):
            alpha[t, c] = np.logaddexp.reduce(alpha[t - 1] + trans[:, c]) + lp[t, c]
    beta[-1] = end
    for t in range(steps - 2, -1, -1):
        for c in range(labels):
            beta[t, c] = np.logaddexp.reduce(trans[c] + lp[t + 1] + beta[t + 1])
    return alpha, beta, float(np.logaddexp.reduce(alpha[-1] + end))


@pytest.mark.parametrize("scheme", sorted(LABELS))
def test_forward_backward_of_many_sentences_is_each_sentences(scheme: str):
    """Sentences of ragged lengths computed together (blocks smaller than the batch, the rules' -inf and a
    learned chain) give each sentence's textbook tables, in the order given; an empty sentence is refused."""
    labels = LABELS[scheme]
    rng = np.random.default_rng(5)
    rows = [random_log_probs(rng, int(n), len(labels)) for n in rng.integers(1, 25, size=60)]
    learned = ChainScores(rng.normal(size=5), rng.normal(size=(5, 5)), rng.normal(size=5))
    for chain in (rule_scores(allowed_transitions(labels, scheme)), learned):
        for (alpha, beta, log_z), lp in zip(chain_forward_backward_many(rows, chain, block=7), rows):
            ref_alpha, ref_beta, ref_z = reference_forward_backward(lp, chain)
            np.testing.assert_allclose(alpha, ref_alpha, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(beta, ref_beta, rtol=1e-12, atol=1e-12)
            assert log_z == pytest.approx(ref_z, rel=1e-12)
    with pytest.raises(ValueError, match="at least one word"):
        chain_forward_backward_many([rows[0], rows[0][:0]], learned)


@pytest.mark.parametrize("scheme", sorted(LABELS))
def test_span_marginals_are_brute_force_ratios(scheme: str):
    """P(span) = Σ over allowed sequences whose entities hold the span / Σ over all allowed sequences."""
    labels = LABELS[scheme]
    rng = np.random.default_rng(11)
    for length in (1, 2, 4, 5):
        seqs = enumerate_allowed(labels, scheme, length)
        lp = random_log_probs(rng, length, len(labels))
        weights = np.exp([sum(lp[t, i] for t, i in enumerate(ids)) for ids in seqs])
        z = weights.sum()
        _, _, log_z = forward_backward(lp, allowed_transitions(labels, scheme))
        assert log_z == pytest.approx(math.log(z), abs=1e-12)
        held: dict[tuple[str, int, int], float] = {}
        for ids, w in zip(seqs, weights):
            for ent in entities([labels[i] for i in ids]):
                held[ent] = held.get(ent, 0.0) + w
        types = sorted({t[2:] for t in labels if t != "O"})
        for typ in types:
            for first in range(length):
                for last in range(first, length):
                    want = held.get((typ, first, last), 0.0) / z
                    assert span_marginal(lp, labels, scheme, typ, first, last) == pytest.approx(want, abs=1e-12)
        # the decoder's scores are these marginals for the spans it predicts
        tags, scored = Decoder(labels, "viterbi", scheme=scheme).scored(lp)
        assert [(t, s, e) for t, s, e, _ in scored] == entities(tags)
        for typ, s, e, p in scored:
            assert p == pytest.approx(held[(typ, s, e)] / z, abs=1e-12)


def test_iob2_span_must_not_continue_into_the_next_word():
    """B-A at 0 with I-A at 1 is not the one-word span (A, 0, 0): its marginal excludes those sequences."""
    labels = LABELS["IOB2"]
    lp = np.log(np.array([[0.1, 0.8, 0.05, 0.03, 0.02], [0.3, 0.1, 0.5, 0.05, 0.05]]))
    seqs = enumerate_allowed(labels, "IOB2", 2)
    w = {ids: math.exp(lp[0, ids[0]] + lp[1, ids[1]]) for ids in seqs}
    z = sum(w.values())
    one_word = sum(v for ids, v in w.items() if ids[0] == 1 and ids[1] != 2)
    assert span_marginal(lp, labels, "IOB2", "A", 0, 0) == pytest.approx(one_word / z, abs=1e-15)
    assert span_marginal(lp, labels, "IOB2", "A", 0, 1) == pytest.approx(w[(1, 2)] / z, abs=1e-15)


# ------------------------------------------------------------------------------------------ well-formed output


@pytest.mark.parametrize("scheme", sorted(LABELS))
def test_viterbi_output_strict_equals_conlleval(scheme: str):
    """Random log-probs: argmax gives ill-formed sequences, viterbi none, so strict = conlleval under viterbi."""
    labels = LABELS[scheme] if scheme != "IOB2" else ["O", "B-A", "I-A", "B-B", "I-B", "B-C", "I-C"]
    rng = np.random.default_rng(3)
    lps = [random_log_probs(rng, int(rng.integers(1, 12)), len(labels), scale=1.5) for _ in range(300)]
    gold = [Decoder(labels, "viterbi", scheme=scheme).tags(random_log_probs(rng, len(lp), len(labels)))
            for lp in lps]
    arg = decode_split(Decoder(labels, "argmax"), lps)
    vit = decode_split(Decoder(labels, "viterbi", scheme=scheme), lps)
    assert sum(not well_formed(tuple(t), scheme) for t in arg) > 50
    assert sum(not well_formed(tuple(t), scheme) for t in vit) == 0
    strict, conll = score_sequences(gold, vit, "strict"), score_sequences(gold, vit, "conlleval")
    assert strict["f1"] == conll["f1"] and strict["tp"] == conll["tp"] and strict["predicted"] == conll["predicted"]
    assert score_sequences(gold, arg, "strict")["predicted"] != score_sequences(gold, arg, "conlleval")["predicted"]


# ------------------------------------------------------------------------------------------ argmax and bias


def test_argmax_scores_and_o_bias_hand_worked():
    labels = ["O", "B-A", "I-A"]
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.1, 0.7], [0.5, 0.1, 0.4]])
    tags, scored = Decoder(labels).scored(np.log(p))
    assert tags == ["O", "I-A", "O"] and scored == [("A", 1, 1, pytest.approx(0.7))]
    # bias 1: O's weight divided by e, each word renormalised
    q = p * np.array([math.exp(-1), 1, 1])
    q /= q.sum(axis=1, keepdims=True)
    assert np.allclose(np.exp(apply_o_bias(np.log(p), 0, 1.0)), q, atol=1e-15)
    tags, scored = Decoder(labels, o_bias=1.0).scored(np.log(p))
    assert tags == ["B-A", "I-A", "I-A"]  # word 0: 0.3 > 0.6/e = 0.22; word 2: 0.4 > 0.5/e
    assert scored == [("A", 0, 2, pytest.approx(min(q[0, 1], q[1, 2], q[2, 2]), abs=1e-15))]


def test_tune_o_bias_hand_worked():
    """Entities at 0.3 against O at 0.7 need b > ln(0.7/0.3) = 0.847: the grid's 1.0, not a larger tie."""
    labels = ["O", "B-A", "I-A"]
    lp = [np.log(np.array([[0.7, 0.3, 0.0001], [0.9, 0.05, 0.05]]) + 1e-300)] * 4
    gold = [["B-A", "O"]] * 4
    bias, scores = tune_o_bias(lp, gold, labels, "argmax")
    assert bias == 1.0 and scores["f1"] == 1.0
    assert tune_o_bias(lp, gold, labels, "viterbi")[0] == 1.0
    # nothing to gain: ties go to 0
    assert tune_o_bias(lp, [["O", "O"]] * 4, labels, "argmax")[0] == 0.0
    assert o_bias_grid() == [i / 4 for i in range(25)]
    assert list(inspect.signature(tune_o_bias).parameters)[:3] == ["log_probs", "gold", "labels"]


def test_the_bias_never_sees_test():
    """A poisoned test split (its best O bias and per-type biases differ) leaves the chosen biases, their
    tuning and the validation scores of every scoring unchanged."""
    labels = ["O", "B-A", "I-A", "B-B", "I-B"]
    rng = np.random.default_rng(5)

    def split(n: int) -> tuple[list[list[str]], list[np.ndarray]]:
        """Gold tags and log-probabilities that favour them, type B's labels 2.5 lower (under-predicted)."""
        gold = [Decoder(labels, "viterbi").tags(random_log_probs(rng, 6, 5)) for _ in range(n)]
        logits = [np.eye(5)[[labels.index(t) for t in g]] * 3 + rng.normal(size=(6, 5)) - [0, 0, 0, 2.5, 2.5]
                  for g in gold]
        return gold, [x - np.log(np.exp(x).sum(axis=1, keepdims=True)) for x in logits]

    val_gold, val_lp = split(40)
    clean, test_lp = split(30)
    poisoned = [["O"] * 6 for _ in test_lp]  # its best biases: 0 for O, the lowest offsets for A and B
    a = score_decodings(labels, (val_gold, val_lp), (clean, test_lp))
    b = score_decodings(labels, (val_gold, val_lp), (poisoned, test_lp))
    # validation wants type B's under-predicted labels up; the poison would move the choice if it reached
    # it: tuned on test, the biases differ
    assert a["viterbi+type_thresholds"].type_bias.raw["B"] > 0
    assert tune_o_bias(test_lp, poisoned, labels, "viterbi")[0] != a["viterbi+threshold"].o_bias
    assert tune_type_bias(test_lp, poisoned, labels, "viterbi", o_bias=a["viterbi+threshold"].o_bias).raw != \
        a["viterbi+type_thresholds"].type_bias.raw
    assert set(a) == set(SCORINGS)
    for name in SCORINGS:
        assert a[name].o_bias == b[name].o_bias and a[name].validation == b[name].validation
        assert a[name].to_json().get("type_bias") == b[name].to_json().get("type_bias")
        assert a[name].to_json().get("type_bias_tuning") == b[name].to_json().get("type_bias_tuning")
        assert a[name].test_tags == b[name].test_tags
    assert a["viterbi"].o_bias is None and a["viterbi+threshold"].o_bias is not None
    assert a["viterbi+threshold"].type_bias is None and a["viterbi+type_thresholds"].type_bias is not None
    # the threshold rows are the biases the validation split chose
    for method in ("argmax", "viterbi"):
        bias, scores = tune_o_bias(val_lp, val_gold, labels, method)
        assert a[f"{method}+threshold"].o_bias == bias and a[f"{method}+threshold"].validation == scores
        fit = tune_type_bias(val_lp, val_gold, labels, method, o_bias=bias)
        typed = a[f"{method}+type_thresholds"]
        assert typed.o_bias == bias and typed.type_bias == fit and typed.validation == fit.validation
    assert split_scoring("viterbi+threshold") == ("viterbi", "threshold")
    assert split_scoring("argmax+type_thresholds") == ("argmax", "type_thresholds")
    assert split_scoring("viterbi") == ("viterbi", "none")
    with pytest.raises(ValueError, match="unknown decoding"):
        split_scoring("beam")


# ------------------------------------------------------------------------------------------ calibration


def test_calibration_hand_worked():
    gold = [["B-A", "I-A", "O", "B-A"], ["O", "B-A"]]
    scored = [[("A", 0, 1, 0.95), ("A", 3, 3, 0.92), ("A", 2, 2, 0.15)], [("A", 1, 1, 1.0), ("A", 0, 0, 0.05)]]
    out = calibration(gold, scored)
    # bin [0.9, 1]: 0.95, 0.92, 1.0, all correct; bin [0.1, 0.2): 0.15 wrong; bin [0, 0.1): 0.05 wrong
    want = (3 / 5) * abs(1 - (0.95 + 0.92 + 1.0) / 3) + (1 / 5) * 0.15 + (1 / 5) * 0.05
    assert out["ece"] == pytest.approx(want, abs=1e-15) and out["entities"] == 5
    assert [b["count"] for b in out["bins"]] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    assert out["bins"][9]["accuracy"] == 1.0 and out["bins"][2]["confidence"] is None
    assert calibration([["O"]], [[]])["ece"] is None


# ------------------------------------------------------------------------------------------ config


def test_config_keys_and_rules():
    from tagger.config import help_text, load_config
    from tagger.errors import ConfigError

    cfg = load_config(None)
    assert cfg.training.decoding == "viterbi"
    assert cfg.sweep.decodings == ["argmax", "viterbi", "viterbi+threshold", "viterbi+type_thresholds"]
    assert load_config(None, ["sweep.decodings=[]", "training.decoding=argmax"]).sweep_decodings() == ["argmax"]
    for override, message in [
        ("training.decoding=beam", "training.decoding: 'beam' is not one of argmax, viterbi"),
        ("sweep.decodings=[viterbi, crf]", "sweep.decodings[1]: 'crf' is not one of argmax, viterbi, argmax+threshold"),
        ("sweep.decodings=[viterbi, viterbi]", "sweep.decodings: items 0 and 1 are the same"),
        ("data.scheme=IOB1", "training.decoding: viterbi decodes IOB2, IOBES, BILOU tags, not data.scheme IOB1"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config(None, [override])
    with pytest.raises(ConfigError, match=r"sweep.decodings\[1\]: viterbi decodes"):
        load_config(None, ["data.scheme=IOB1", "training.decoding=argmax"])
    iob1 = load_config(None, ["data.scheme=IOB1", "training.decoding=argmax", "sweep.decodings=[argmax, argmax+threshold]"])
    assert iob1.sweep_decodings() == ["argmax", "argmax+threshold"]
    text = help_text()
    assert "training.decoding (str, default 'viterbi') [one of argmax, viterbi]" in text
    assert ("sweep.decodings (list, default ['argmax', 'viterbi', 'viterbi+threshold', 'viterbi+type_thresholds']) "
            "[each one of argmax") in text


# ------------------------------------------------------------------------------------------ windows


def test_backend_windows_carry_log_probs_and_merge_like_labels():
    """A LogitsBackend (numpy logits, as ONNX Runtime gives): each word's merged row is its owning
    window's log-softmax, float64, whose argmax is the merged label."""
    from tagger.train.evaluate import merge_window_log_probs, merge_window_predictions, predict_windows

    rng = np.random.default_rng(0)

    class Backend:
        def collator(self, pad_token_id: int):
            raise NotImplementedError

        def logits(self, batch):
            return batch["logits"]

    # sentence 0 (5 words) in two overlapping windows that own words 0-2 and 3-4; sentence 1 (2 words) in one
    batches = []
    for sid, owned in ((0, [0, 1, 2, -1, -1]), (0, [-1, -1, 3, 4, -1]), (1, [-1, 0, 1, -1, -1])):
        batches.append({"sentence_id": np.array([sid]), "word_index": np.array([owned]),
                        "logits": rng.normal(size=(1, 5, 4)).astype(np.float32)})
    windows = predict_windows(Backend(), batches, log_probs=True)
    lps = merge_window_log_probs([5, 2], windows)
    assert [lp.argmax(axis=1).tolist() for lp in lps] == merge_window_predictions([5, 2], windows)
    x = batches[1]["logits"][0].astype(np.float64)
    want = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    assert np.allclose(lps[0][3:], want[2:4], atol=1e-12) and lps[0].dtype == np.float64
    assert np.allclose(lps[1], (batches[2]["logits"][0].astype(np.float64)
                                - np.log(np.exp(batches[2]["logits"][0].astype(np.float64)).sum(1, keepdims=True)))[1:3])
