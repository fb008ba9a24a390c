"""Decoding a model's per-word log-probabilities into tags, with the O bias tuned on validation, and scoring
one trained model under every decoding; the decoding settings a model folder keeps."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tagger.data.schemes import entities, normalize_scheme
from tagger.decoding.crf_files import json_type_name
from tagger.decoding.marginals import ScoredEntity, calibration, span_scores
from tagger.decoding.rules import (
    DECODINGS,
    O_BIAS_GRID,
    VARIANTS,
    ChainScores,
    allowed_transitions,
    check_decoding,
    label_scheme,
    o_bias_grid,
    rule_scores,
    split_variant,
)
from tagger.decoding.search import apply_o_bias, chain_viterbi, chain_viterbi_many
from tagger.errors import InputError
from tagger.metrics import chunk_counts, score_sequences

logger = logging.getLogger(__name__)


def finite_o_bias(value: Any) -> float | None:
    """``value`` as an O bias (a finite number), None when it is not one (a string, a list, NaN, an infinity:
    an infinite bias tags every word as an entity or none)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        return None
    return float(value)


def check_decoding_entry(entry: Any, path: str | Path) -> dict[str, Any]:
    """The ``decoding`` entry of a model folder's ``tagger_run.json`` (``path``), checked: a mapping whose
    ``default`` is one of :data:`DECODINGS`, ``o_bias`` a mapping of decoding -> finite number and
    ``scheme`` one that viterbi decodes; InputError naming the file and the key otherwise. ``{}`` for None."""
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        raise InputError(f"decoding: a {json_type_name(entry)} where a mapping of the decoding settings is expected",
                         path=path)
    default = entry.get("default", "argmax")
    if default not in DECODINGS:
        raise InputError(f"decoding.default: unknown decoding {default!r}: choose from {', '.join(DECODINGS)}",
                         path=path)
    biases = entry.get("o_bias") or {}
    if not isinstance(biases, dict):
        raise InputError(f"decoding.o_bias: a {json_type_name(biases)} where a mapping of decoding -> O bias is expected",
                         path=path)
    for name, bias in biases.items():
        if finite_o_bias(bias) is None:
            raise InputError(f"decoding.o_bias.{name}: {bias!r} is not a finite number", path=path)
    scheme = entry.get("scheme")
    if scheme is not None:
        try:
            normalize_scheme(scheme)
        except (ValueError, TypeError, AttributeError):
            raise InputError(f"decoding.scheme: {scheme!r} is not a tagging scheme", path=path) from None
    return entry


@dataclass
class Decoder:
    """Decodes one sentence's ``log_probs: [T, C]`` over ``labels`` with ``method`` and an O bias.

    ``scheme`` (viterbi only; None: :func:`label_scheme` of the labels) sets the allowed transitions.
    ``chain``: a CRF head's learned scores (:class:`ChainScores`), which viterbi then follows instead
    of the scheme's rules alone (``method`` must be viterbi).
    """

    labels: Sequence[str]
    method: str = "argmax"
    o_bias: float = 0.0
    scheme: str | None = None
    chain: ChainScores | None = None
    o_index: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        check_decoding(self.method)
        if finite_o_bias(self.o_bias) is None:
            raise ValueError(f"the O bias must be a finite number, got {self.o_bias!r}")
        self.labels = list(self.labels)
        self.o_index = self.labels.index("O") if "O" in self.labels else None
        if self.chain is not None and self.method != "viterbi":
            raise ValueError(f"a CRF head decodes by viterbi, not {self.method}")
        if self.method == "viterbi" and self.chain is None:
            self.scheme = normalize_scheme(self.scheme) if self.scheme else label_scheme(self.labels)
            self.chain = rule_scores(allowed_transitions(self.labels, self.scheme))

    def adjust(self, log_probs: np.ndarray) -> np.ndarray:
        """``log_probs: [T, C]`` after the O bias (renormalised float64): what decoding and scores see."""
        return apply_o_bias(log_probs, self.o_index, self.o_bias)

    def decode(self, log_probs: np.ndarray) -> list[int]:
        """One label id per word."""
        return self._path(self.adjust(log_probs))

    def _path(self, lp: np.ndarray) -> list[int]:
        """Label ids of ``lp: [T, C]``, the O bias already applied."""
        if self.chain is None:
            return [int(i) for i in lp.argmax(axis=1)] if lp.shape[0] else []
        return chain_viterbi(lp, self.chain)

    def tags(self, log_probs: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.decode(log_probs)]

    def scored(self, log_probs: np.ndarray) -> tuple[list[str], list[ScoredEntity]]:
        """Tags, and the entities they chunk into (conlleval reading) each with its probability:
        viterbi's span marginal, or under argmax the smallest probability of the span's predicted tags."""
        lp = self.adjust(log_probs)
        ids = self._path(lp)
        tags = [self.labels[i] for i in ids]
        if self.chain is not None:
            return tags, span_scores(lp, self.labels, ids, self.chain)
        word_p = np.exp(lp[np.arange(len(ids)), ids])
        return tags, [(t, s, e, float(word_p[s:e + 1].min())) for t, s, e in entities(tags)]


def decode_split(decoder: Decoder, log_probs: Sequence[np.ndarray]) -> list[list[str]]:
    """Tags of every sentence of a split (``log_probs``: one ``[T_s, C]`` array per sentence); the
    sentences are decoded together (:func:`chain_viterbi_many`), with the tags of :meth:`Decoder.tags`."""
    if not log_probs:
        return []
    # the O bias of every word at once: one array op instead of one per sentence
    ends = np.cumsum([len(lp) for lp in log_probs])[:-1]
    adjusted = np.split(decoder.adjust(np.concatenate([np.asarray(lp, dtype=np.float64) for lp in log_probs])), ends)
    if decoder.chain is None:
        paths = [[int(i) for i in lp.argmax(axis=1)] if len(lp) else [] for lp in adjusted]
    else:
        paths = chain_viterbi_many(adjusted, decoder.chain)
    return [[decoder.labels[i] for i in path] for path in paths]


def tune_o_bias(log_probs: Sequence[np.ndarray], gold: Sequence[Sequence[str]], labels: Sequence[str],
                method: str, *, scheme: str | None = None, mode: str = "conlleval",
                grid: Sequence[float] | None = None) -> tuple[float, dict[str, Any]]:
    """The O bias of ``grid`` (default :func:`o_bias_grid`) with the highest F1 on these sentences,
    ties to the smallest ``|b|``, and its scores (:func:`tagger.metrics.score_sequences` in ``mode``).

    Pass validation data only: whatever split this sees is the one the bias is fitted to.
    """
    best: tuple[float, dict[str, Any]] | None = None
    for bias in sorted(o_bias_grid() if grid is None else grid, key=abs):
        decoder = Decoder(labels, method, o_bias=bias, scheme=scheme)
        tags = decode_split(decoder, log_probs)
        # 25 points a decoding: counted by tagger's cached chunker, which check_agreement holds to seqeval's
        scores = score_sequences(gold, tags, mode=mode, counts=chunk_counts(gold, tags, mode))
        if best is None or scores["f1"] > best[1]["f1"]:
            best = (bias, scores)
    if best is None:
        raise ValueError("the O bias grid is empty")
    return best


@dataclass
class DecodingScores:
    """One decoding variant of one trained model: its scores, test tags and calibration."""

    name: str
    o_bias: float | None  # None: no bias (a variant without threshold)
    validation: dict[str, Any]
    test: dict[str, Any]
    test_tags: list[list[str]]
    calibration: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"validation": self.validation, "test": self.test, "calibration": self.calibration}
        if self.o_bias is not None:
            out["o_bias"] = self.o_bias
        return out


def score_decodings(labels: Sequence[str], validation: tuple[Sequence[Sequence[str]], Sequence[np.ndarray]],
                    test: tuple[Sequence[Sequence[str]], Sequence[np.ndarray]], *, scheme: str | None = None,
                    mode: str = "conlleval", variants: Sequence[str] = VARIANTS,
                    grid: Sequence[float] | None = None) -> dict[str, DecodingScores]:
    """Every variant of ``variants`` on one trained model: validation and test scores, test tags with
    calibration of their entity scores (:func:`calibration`), and for ``+threshold`` variants the O bias.

    ``validation`` and ``test`` are (gold tags, per-word log-probabilities) per sentence. The biases
    are tuned on validation (:func:`tune_o_bias`) before test is decoded; test never reaches the choice.
    """
    tuned_on_validation: dict[str, tuple[float, dict[str, Any]]] = {}
    for name in variants:
        method, tuned = split_variant(name)
        if tuned and method not in tuned_on_validation:
            tuned_on_validation[method] = tune_o_bias(validation[1], validation[0], labels, method, scheme=scheme,
                                                      mode=mode, grid=grid)
    out = {}
    for name in variants:
        method, tuned = split_variant(name)
        bias, val = tuned_on_validation[method] if tuned else (None, None)
        decoder = Decoder(labels, method, o_bias=bias or 0.0, scheme=scheme)
        if val is None:
            val = score_sequences(validation[0], decode_split(decoder, validation[1]), mode=mode)
        tags, ents = zip(*(decoder.scored(lp) for lp in test[1])) if test[1] else ((), ())
        out[name] = DecodingScores(name, bias, val, score_sequences(test[0], list(tags), mode=mode),
                           [list(t) for t in tags], calibration(test[0], ents))
    return out


def decoding_entry(default: str, scheme: str, scored: dict[str, DecodingScores]) -> dict[str, Any]:
    """The ``decoding`` entry of a model's ``tagger_run.json``: what :class:`tagger.predict.Tagger`
    applies by default (``default`` with its tuned O bias) and, for the card, each variant's scores.

    ``{"default", "scheme", "o_bias": {method: b}, "o_bias_grid": [start, stop, step], "tuned_on",
    "variants": {name: {"validation_f1", "test_f1", "test_precision", "test_recall", "ece", "o_bias"}}}``
    """
    variants = {}
    for name, s in scored.items():
        variants[name] = {"validation_f1": s.validation["f1"], "test_f1": s.test["f1"],
                          "test_precision": s.test["precision"], "test_recall": s.test["recall"],
                          "ece": s.calibration["ece"], "o_bias": s.o_bias}
    biases = {split_variant(name)[0]: s.o_bias for name, s in scored.items() if s.o_bias is not None}
    return {"default": check_decoding(default), "scheme": normalize_scheme(scheme), "o_bias": biases,
            "o_bias_grid": list(O_BIAS_GRID), "tuned_on": "validation", "variants": variants}
