"""The names of the decodings and the scheme's rules of a well-formed tag sequence, as a chain of scores."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from tagger.data.schemes import normalize_scheme, parse_tag

logger = logging.getLogger(__name__)


#: Decoding algorithms: ``training.decoding``, ``Tagger(decoding=...)``, ``tagger predict --decoding``.
DECODINGS: tuple[str, ...] = ("argmax", "viterbi")


#: Suffix of a scoring whose one O bias was tuned on validation.
THRESHOLD_SUFFIX = "+threshold"


#: Suffix of a scoring with a bias per entity type on top of that O bias, tuned on validation
#: (:mod:`tagger.decoding.type_bias`).
TYPE_THRESHOLDS_SUFFIX = "+type_thresholds"


#: The thresholds a scoring applies before its decoding: none, the one O bias, or the O bias and a bias
#: per entity type (the name's suffix: "", :data:`THRESHOLD_SUFFIX`, :data:`TYPE_THRESHOLDS_SUFFIX`).
THRESHOLDS: tuple[str, ...] = ("none", "threshold", "type_thresholds")


#: Scorings: how one trained model is scored, a decoding and the thresholds tuned for it on validation
#: (``sweep.decodings`` picks the summary's rows among them; a run's ``decodings`` holds their scores).
SCORINGS: tuple[str, ...] = ("argmax", "viterbi", "argmax+threshold", "viterbi+threshold",
                             "argmax+type_thresholds", "viterbi+type_thresholds")


#: The summary's rows unless ``sweep.decodings`` says otherwise.
DEFAULT_SWEEP_DECODINGS: tuple[str, ...] = ("argmax", "viterbi", "viterbi+threshold", "viterbi+type_thresholds")


#: Schemes whose chunks :func:`allowed_transitions` knows (IOB1 opens chunks with ``I-``: not these rules).
DECODABLE_SCHEMES: tuple[str, ...] = ("IOB2", "IOBES", "BILOU")


#: O biases tried on validation: 0 to 6 in steps of 0.25, as (start, stop inclusive, step).
O_BIAS_GRID: tuple[float, float, float] = (0.0, 6.0, 0.25)


CONTINUING_PREFIXES = frozenset("IEL")  # prefixes that continue a chunk opened before them


_OPEN = frozenset("BI")  # prefixes after which the chunk is still open


Allowed = tuple[np.ndarray, np.ndarray, np.ndarray]  # start [C], trans [C, C], end [C], bool


class ChainScores(NamedTuple):
    """Log-space scores of a linear chain over C labels, added to the words' emissions along a path:
    ``start [C]`` (first word), ``transitions [C, C]`` (row -> column), ``end [C]`` (last word), float64.
    The scheme's 0/1 rules are 0 / -inf (:func:`rule_scores`); a CRF's are learned, forbidden steps
    included (:meth:`tagger.crf.CRF.chain_scores`)."""

    start: np.ndarray
    transitions: np.ndarray
    end: np.ndarray


class Scoring(NamedTuple):
    """A scoring's parts: ``decoding`` (one of :data:`DECODINGS`) and ``thresholds`` (one of :data:`THRESHOLDS`)."""

    decoding: str
    thresholds: str


def split_scoring(name: str) -> Scoring:
    """``"viterbi+type_thresholds"`` -> ``Scoring("viterbi", "type_thresholds")``, ``"argmax"`` ->
    ``Scoring("argmax", "none")``; ValueError for a name outside :data:`SCORINGS`."""
    if name not in SCORINGS:
        raise ValueError(f"unknown decoding {name!r}: choose from {', '.join(SCORINGS)}")
    for suffix, thresholds in ((TYPE_THRESHOLDS_SUFFIX, "type_thresholds"), (THRESHOLD_SUFFIX, "threshold")):
        if name.endswith(suffix):
            return Scoring(name.removesuffix(suffix), thresholds)
    return Scoring(name, "none")


def check_decoding(name: str) -> str:
    """``name`` if it is one of :data:`DECODINGS`, else ValueError listing them."""
    if name not in DECODINGS:
        raise ValueError(f"unknown decoding {name!r}: choose from {', '.join(DECODINGS)}")
    return name


def o_bias_grid(start: float = O_BIAS_GRID[0], stop: float = O_BIAS_GRID[1],
                step: float = O_BIAS_GRID[2]) -> list[float]:
    """The biases ``start, start + step, ..., stop`` (computed as ``start + i * step``: no drift)."""
    if step <= 0 or stop < start:
        raise ValueError(f"an O bias grid needs step > 0 and stop >= start, got {start}, {stop}, {step}")
    return [start + i * step for i in range(int(round((stop - start) / step)) + 1)]


def label_scheme(labels: Sequence[str]) -> str:
    """The scheme a label list is decoded in: BILOU with ``L-``/``U-`` labels, IOBES with ``E-``/``S-``,
    else IOB2. (IOB1 labels look like IOB2 ones: a model trained on IOB1 says so in its run file.)"""
    prefixes = {parse_tag(label)[0] for label in labels}
    if prefixes & {"L", "U"}:
        return "BILOU"
    if prefixes & {"E", "S"}:
        return "IOBES"
    return "IOB2"


def allowed_transitions(labels: Sequence[str], scheme: str) -> Allowed:
    """Which tag sequences ``scheme`` allows over ``labels``: ``start [C]``, ``trans [C, C]``
    (``trans[a, b]``: label ``b`` may follow label ``a``) and ``end [C]``, all bool.

    Every scheme: a continuing tag (``I-X``, and IOBES's ``E-X`` / BILOU's ``L-X``) only right after
    ``B-X`` or ``I-X`` of its own type, never first. IOBES and BILOU also close every chunk: after
    ``B-X`` or ``I-X`` only ``I-X`` or the closing ``E-X``/``L-X`` may follow, and a sentence may not
    end there. Labels are read by their prefix, also one outside ``scheme`` (kept from data).
    ValueError for IOB1 (its ``I-X`` opens chunks) or an unknown scheme or label.
    """
    name = normalize_scheme(scheme)
    if name not in DECODABLE_SCHEMES:
        raise ValueError(f"viterbi decodes {', '.join(DECODABLE_SCHEMES)} tags, not {name} (train on IOB2)")
    parsed = [parse_tag(label) for label in labels]
    closes = name != "IOB2"  # IOBES/BILOU: a chunk must be closed by its own last tag
    prefix = np.array([p for p, _ in parsed])
    types = [t for _, t in parsed]
    continuing = np.isin(prefix, list(CONTINUING_PREFIXES))
    still_open = np.isin(prefix, list(_OPEN))
    same_type = np.array([[a == b and a is not None for b in types] for a in types])
    start = ~continuing
    # a continuing tag needs an open chunk of its type before it; any other tag needs (in IOBES/BILOU) none
    trans = np.where(continuing[None, :], still_open[:, None] & same_type,
                     ~still_open[:, None] if closes else np.ones_like(same_type))
    end = ~still_open if closes else np.ones(len(labels), dtype=bool)
    return start, trans.astype(bool), end


def rule_scores(allowed: Allowed) -> ChainScores:
    """The scheme's rules as chain scores: 0 where a step is allowed, -inf where it is not."""
    start, trans, end = (np.where(m, 0.0, -np.inf) for m in allowed)
    return ChainScores(start, trans, end)


def scorings_for(scheme: str, crf: bool = False, shown: Sequence[str] | None = None,
                 default: str | None = None) -> tuple[str, ...]:
    """The scorings a model trained on ``scheme`` is scored with: those of :data:`SCORINGS` its decodings
    allow (argmax ones only for IOB1; for a CRF head (``crf``) the viterbi ones, its Viterbi being its only
    decoding). With ``shown`` (``sweep.decodings``), a ``+type_thresholds`` scoring, the costly one to tune,
    only where ``shown`` names it or its decoding is ``default`` (the one a saved model applies)."""
    keep = {"viterbi"} if crf else {"argmax", "viterbi"} if normalize_scheme(scheme) in DECODABLE_SCHEMES else {"argmax"}
    out = []
    for name in SCORINGS:
        method, thresholds = split_scoring(name)
        wanted = shown is None or thresholds != "type_thresholds" or name in shown or method == default
        if method in keep and wanted:
            out.append(name)
    return tuple(out)
