"""Entity scores: the marginal probability of a predicted span under the chain (forward-backward), and how
well such scores are calibrated."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tagger.data.schemes import entities, normalize_scheme, parse_tag
from tagger.decoding.rules import CONTINUING_PREFIXES, ChainScores, allowed_transitions, rule_scores
from tagger.decoding.search import chain_forward_backward_many, logsumexp

logger = logging.getLogger(__name__)


#: Equal-width bins of :func:`calibration` over [0, 1].
CALIBRATION_BINS = 10


ScoredEntity = tuple[str, int, int, float]  # type, first word, last word (inclusive), probability


def span_tags(typ: str, length: int, scheme: str) -> list[str]:
    """The only tags an allowed sequence can give a span of ``length`` words of type ``typ``:
    ``B I .. I`` (IOB2), ``S`` or ``B I .. E`` (IOBES), ``U`` or ``B I .. L`` (BILOU)."""
    name = normalize_scheme(scheme)
    if name in ("IOBES", "BILOU"):
        single, last = ("S", "E") if name == "IOBES" else ("U", "L")
        if length == 1:
            return [f"{single}-{typ}"]
        return [f"B-{typ}"] + [f"I-{typ}"] * (length - 2) + [f"{last}-{typ}"]
    return [f"B-{typ}"] + [f"I-{typ}"] * (length - 1)


@dataclass
class _Chain:
    """One sentence's constrained chain with its forward-backward tables (computed for many sentences at once
    by :func:`tagger.decoding.search.chain_forward_backward_many`), shared by all its spans."""

    lp: np.ndarray  # [T, C]
    chain: ChainScores
    alpha: np.ndarray  # [T, C]
    beta: np.ndarray  # [T, C]
    log_z: float

    @property
    def log_trans(self) -> np.ndarray:
        return self.chain[1]

    @property
    def log_end(self) -> np.ndarray:
        return self.chain[2]

    def span_log_prob(self, first: int, ids: Sequence[int], after: np.ndarray) -> float:
        """log P(words first.. carry ``ids`` and the next word's label is not in ``after`` [C] bool)."""
        trans, end = self.log_trans, self.log_end
        value = self.alpha[first, ids[0]]
        for k in range(1, len(ids)):
            value += trans[ids[k - 1], ids[k]] + self.lp[first + k, ids[k]]
        last = first + len(ids) - 1
        if last == self.lp.shape[0] - 1:
            value += end[ids[-1]]
        else:
            nxt = trans[ids[-1]] + self.lp[last + 1] + self.beta[last + 1]
            value += float(logsumexp(np.where(after, -np.inf, nxt), axis=0))
        return float(value - self.log_z)


def _continues(labels: Sequence[str], typ: str) -> np.ndarray:
    """[C] bool: the labels that would extend a chunk of ``typ`` (``I-``/``E-``/``L-`` of that type)."""
    return np.array([parse_tag(label)[0] in CONTINUING_PREFIXES and parse_tag(label)[1] == typ for label in labels])


def span_marginal(log_probs: np.ndarray, labels: Sequence[str], scheme: str, typ: str, first: int,
                  last: int) -> float:
    """P(words ``first..last`` are exactly one entity of type ``typ``) under the constrained chain:
    the span's tags (:func:`span_tags`) and a next word that does not continue it, summed over every
    allowed sequence and divided by the sum over all of them. 0 when a needed label does not exist."""
    index = {label: i for i, label in enumerate(labels)}
    tags = span_tags(typ, last - first + 1, scheme)
    if any(t not in index for t in tags):
        return 0.0
    lp, chain = np.asarray(log_probs, dtype=np.float64), rule_scores(allowed_transitions(labels, scheme))
    table = _Chain(lp, chain, *chain_forward_backward_many([lp], chain)[0])
    return float(np.exp(table.span_log_prob(first, [index[t] for t in tags], _continues(labels, typ))))


def span_scores(log_probs: np.ndarray, labels: Sequence[str], ids: Sequence[int],
                chain: ChainScores) -> list[ScoredEntity]:
    """The entities of the path ``ids`` over ``log_probs: [T, C]`` (conlleval reading), each with its
    marginal probability under ``chain``: the span carries exactly these tags and the next word does
    not continue it, summed over every path and divided by the sum over all of them."""
    return span_scores_many([log_probs], labels, [ids], chain)[0]


def span_scores_many(log_probs: Sequence[np.ndarray], labels: Sequence[str], paths: Sequence[Sequence[int]],
                     chain: ChainScores) -> list[list[ScoredEntity]]:
    """:func:`span_scores` of every sentence (``log_probs``: one ``[T_s, C]`` array each, ``paths`` their label
    ids), the forward-backward tables of the sentences holding an entity computed together."""
    spans = [entities([labels[i] for i in ids]) for ids in paths]
    holding = [k for k, found in enumerate(spans) if found]
    rows = [np.asarray(log_probs[k], dtype=np.float64) for k in holding]
    continues: dict[str, np.ndarray] = {}
    out: list[list[ScoredEntity]] = [[] for _ in paths]
    for k, lp, tables in zip(holding, rows, chain_forward_backward_many(rows, chain)):
        table, ids = _Chain(lp, chain, *tables), paths[k]
        for typ, _, _ in spans[k]:
            if typ not in continues:
                continues[typ] = _continues(labels, typ)
        out[k] = [(t, s, e, float(np.exp(table.span_log_prob(s, list(ids[s:e + 1]), continues[t]))))
                  for t, s, e in spans[k]]
    return out


def calibration(gold: Sequence[Sequence[str]], scored: Sequence[Sequence[ScoredEntity]],
                bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Expected calibration error of entity scores: ``Σ_b n_b / N · |accuracy_b - confidence_b|``.

    An entity is correct when a gold entity (conlleval reading) has its type and both boundaries;
    bins are ``bins`` equal-width intervals of [0, 1] (the last one closed). Returns ``{"ece",
    "entities", "bins": [{"low", "high", "count", "confidence", "accuracy"}]}``; ``ece`` None
    without predicted entities.
    """
    scores, correct = [], []
    for tags, ents in zip(gold, scored):
        truth = set(entities(tags))
        for typ, s, e, p in ents:
            scores.append(p)
            correct.append((typ, s, e) in truth)
    score_arr, correct_arr = np.asarray(scores, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    which = np.minimum((score_arr * bins).astype(np.int64), bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        members = which == b
        n = int(members.sum())
        conf = float(score_arr[members].mean()) if n else None
        acc = float(correct_arr[members].mean()) if n else None
        if n:
            ece += n / len(score_arr) * abs(acc - conf)  # type: ignore[operator]
        table.append({"low": b / bins, "high": (b + 1) / bins, "count": n, "confidence": conf, "accuracy": acc})
    return {"ece": ece if len(score_arr) else None, "entities": len(score_arr), "bins": table}
