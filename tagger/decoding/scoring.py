"""Scoring one trained model under every scoring (a decoding, alone or after the O bias or the per-type biases
tuned on validation); the decoding settings a model folder keeps."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tagger.data.schemes import normalize_scheme
from tagger.decoding.crf_files import json_type_name
from tagger.decoding.decoder import Decoder, decode_split, entity_types, finite_o_bias
from tagger.decoding.marginals import calibration
from tagger.decoding.rules import (
    DECODINGS,
    O_BIAS_GRID,
    SCORINGS,
    ChainScores,
    check_decoding,
    o_bias_grid,
    split_scoring,
)
from tagger.decoding.type_bias import (
    TYPE_BIAS_GRID,
    TYPE_BIAS_PRIOR_ENTITIES,
    TYPE_BIAS_ROUNDS,
    TypeBiasFit,
    tune_type_bias,
)
from tagger.errors import InputError
from tagger.metrics import chunk_counts, score_sequences

logger = logging.getLogger(__name__)


def _check_bias_map(biases: Any, key: str, what: str, path: str | Path) -> dict[str, Any]:
    """``biases`` (``decoding.<key>`` of ``path``) checked as a mapping of names to finite numbers."""
    if not isinstance(biases, dict):
        raise InputError(f"decoding.{key}: a {json_type_name(biases)} where a mapping of {what} is expected", path=path)
    for name, bias in biases.items():
        if finite_o_bias(bias) is None:
            raise InputError(f"decoding.{key}.{name}: {bias!r} is not a finite number", path=path)
    return biases


def check_decoding_entry(entry: Any, path: str | Path, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """The ``decoding`` entry of a model folder's ``tagger_run.json`` (``path``), checked: a mapping whose
    ``default`` is one of :data:`DECODINGS`, ``o_bias`` a mapping of decoding -> finite number, ``type_bias``
    (absent in folders saved before per-type biases) a mapping of decoding -> {type: finite number}, each
    type one of ``labels``' where given, and ``scheme`` one that viterbi decodes; InputError naming the file
    and the key otherwise. ``{}`` for None."""
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        raise InputError(f"decoding: a {json_type_name(entry)} where a mapping of the decoding settings is expected",
                         path=path)
    default = entry.get("default", "argmax")
    if default not in DECODINGS:
        raise InputError(f"decoding.default: unknown decoding {default!r}: choose from {', '.join(DECODINGS)}",
                         path=path)
    _check_bias_map(entry.get("o_bias") or {}, "o_bias", "decoding -> O bias", path)
    type_biases = entry.get("type_bias") or {}
    if not isinstance(type_biases, dict):
        raise InputError(f"decoding.type_bias: a {json_type_name(type_biases)} where a mapping of decoding -> "
                         "{type: bias} is expected", path=path)
    known = entity_types(labels) if labels else None
    for name, biases in type_biases.items():
        for typ in _check_bias_map(biases, f"type_bias.{name}", "type -> bias", path):
            if known is not None and typ not in known:
                raise InputError(f"decoding.type_bias.{name}.{typ}: not a type of the model's labels "
                                 f"({', '.join(known)})", path=path)
    scheme = entry.get("scheme")
    if scheme is not None:
        try:
            normalize_scheme(scheme)
        except (ValueError, TypeError, AttributeError):
            raise InputError(f"decoding.scheme: {scheme!r} is not a tagging scheme", path=path) from None
    return entry


def tune_o_bias(log_probs: Sequence[np.ndarray], gold: Sequence[Sequence[str]], labels: Sequence[str],
                method: str, *, scheme: str | None = None, mode: str = "conlleval",
                grid: Sequence[float] | None = None, chain: ChainScores | None = None) -> tuple[float, dict[str, Any]]:
    """The O bias of ``grid`` (default :func:`o_bias_grid`) with the highest F1 on these sentences,
    ties to the smallest ``|b|``, and its scores (:func:`tagger.metrics.score_sequences` in ``mode``).
    ``chain``: a CRF head's scores (``method`` viterbi), whose emissions the bias then shifts.

    Pass validation data only: whatever split this sees is the one the bias is fitted to.
    """
    best: tuple[float, dict[str, Any]] | None = None
    for bias in sorted(o_bias_grid() if grid is None else grid, key=abs):
        decoder = Decoder(labels, method, o_bias=bias, scheme=scheme, chain=chain)
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
    """One scoring of one trained model: its scores, test tags and calibration, its tuned biases."""

    name: str
    o_bias: float | None  # None: no bias (a scoring without thresholds)
    validation: dict[str, Any]
    test: dict[str, Any]
    test_tags: list[list[str]]
    calibration: dict[str, Any]
    type_bias: TypeBiasFit | None = None  # the +type_thresholds scorings' offsets and their tuning

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"validation": self.validation, "test": self.test, "calibration": self.calibration}
        if self.o_bias is not None:
            out["o_bias"] = self.o_bias
        if self.type_bias is not None:
            out["type_bias"], out["type_bias_tuning"] = self.type_bias.type_bias, self.type_bias.to_json()
        return out


def _tune(labels: Sequence[str], validation: tuple[Sequence[Sequence[str]], Sequence[np.ndarray]],
          scorings: Sequence[str], grid: Sequence[float] | None,
          **kw: Any) -> dict[str, tuple[float, dict[str, Any], TypeBiasFit | None]]:
    """Per scoring with thresholds: (O bias, validation scores, per-type fit or None), every one tuned on
    ``validation`` alone; the O bias once per decoding (over ``grid``), the per-type offsets on top of it.
    ``kw``: ``scheme``, ``mode``, ``chain``."""
    o_biases: dict[str, tuple[float, dict[str, Any]]] = {}
    fits: dict[str, TypeBiasFit] = {}
    out = {}
    for name in scorings:
        method, thresholds = split_scoring(name)
        if thresholds == "none":
            continue
        if method not in o_biases:
            o_biases[method] = tune_o_bias(validation[1], validation[0], labels, method, grid=grid, **kw)
        bias, val = o_biases[method]
        if thresholds == "type_thresholds":
            if method not in fits:
                fits[method] = tune_type_bias(validation[1], validation[0], labels, method, o_bias=bias, **kw)
            out[name] = (bias, fits[method].validation, fits[method])
        else:
            out[name] = (bias, val, None)
    return out


def score_decodings(labels: Sequence[str], validation: tuple[Sequence[Sequence[str]], Sequence[np.ndarray]],
                    test: tuple[Sequence[Sequence[str]], Sequence[np.ndarray]], *, scheme: str | None = None,
                    mode: str = "conlleval", scorings: Sequence[str] = SCORINGS,
                    grid: Sequence[float] | None = None, chain: ChainScores | None = None) -> dict[str, DecodingScores]:
    """Every scoring of ``scorings`` on one trained model: validation and test scores, test tags with
    calibration of their entity scores (:func:`calibration`), the O bias of ``+threshold`` and
    ``+type_thresholds`` scorings and the per-type offsets of the latter. ``chain``: a CRF head's scores
    (viterbi scorings only), whose emissions the biases shift.

    ``validation`` and ``test`` are (gold tags, per-word log-probabilities) per sentence. The biases
    are tuned on validation (:func:`tune_o_bias`, :func:`tagger.decoding.tune_type_bias`) before test
    is decoded; test never reaches the choice. ``grid``: the O biases tried.
    """
    tuned = _tune(labels, validation, scorings, scheme=scheme, mode=mode, grid=grid, chain=chain)
    out = {}
    for name in scorings:
        method = split_scoring(name).decoding
        bias, val, fit = tuned.get(name, (None, None, None))
        decoder = Decoder(labels, method, o_bias=bias or 0.0, scheme=scheme, chain=chain,
                          type_bias=fit.type_bias if fit is not None else None)
        if val is None:
            val = score_sequences(validation[0], decode_split(decoder, validation[1]), mode=mode)
        tags, ents = zip(*decoder.scored_many(test[1])) if test[1] else ((), ())
        out[name] = DecodingScores(name, bias, val, score_sequences(test[0], list(tags), mode=mode),
                                   [list(t) for t in tags], calibration(test[0], ents), fit)
    return out


def decoding_entry(default: str, scheme: str, scored: dict[str, DecodingScores]) -> dict[str, Any]:
    """The ``decoding`` entry of a model's ``tagger_run.json``: what :class:`tagger.predict.Tagger`
    applies by default (``default`` with its tuned O bias and, where tuned, its per-type offsets) and, for
    the card, each scoring's scores.

    ``{"default", "scheme", "o_bias": {method: b}, "type_bias": {method: {type: d}}, "o_bias_grid":
    [start, stop, step], "type_bias_tuning": {"grid", "prior_entities", "rounds"}, "tuned_on",
    "scorings": {name: {"validation_f1", "test_f1", "test_precision", "test_recall", "ece", "o_bias",
    "type_bias"}}}`` (folders saved before per-type biases call ``scorings`` ``variants``)
    """
    scorings = {}
    for name, s in scored.items():
        scorings[name] = {"validation_f1": s.validation["f1"], "test_f1": s.test["f1"],
                          "test_precision": s.test["precision"], "test_recall": s.test["recall"],
                          "ece": s.calibration["ece"], "o_bias": s.o_bias,
                          "type_bias": s.type_bias.type_bias if s.type_bias is not None else None}
    biases = {split_scoring(name).decoding: s.o_bias for name, s in scored.items() if s.o_bias is not None}
    type_biases = {split_scoring(name).decoding: s.type_bias.type_bias for name, s in scored.items()
                   if s.type_bias is not None}
    return {"default": check_decoding(default), "scheme": normalize_scheme(scheme), "o_bias": biases,
            "type_bias": type_biases, "o_bias_grid": list(O_BIAS_GRID),
            "type_bias_tuning": {"grid": list(TYPE_BIAS_GRID), "prior_entities": TYPE_BIAS_PRIOR_ENTITIES,
                                 "rounds": TYPE_BIAS_ROUNDS},
            "tuned_on": "validation", "scorings": scorings}
