"""The decoder: one sentence's per-word log-probabilities, after the O bias and the per-type biases, into tags
and scored entities; and a whole split decoded at once."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from tagger.data.schemes import entities, normalize_scheme, parse_tag
from tagger.decoding.marginals import ScoredEntity, span_scores, span_scores_many
from tagger.decoding.rules import ChainScores, allowed_transitions, check_decoding, label_scheme, rule_scores
from tagger.decoding.search import apply_label_bias, chain_viterbi, chain_viterbi_many

logger = logging.getLogger(__name__)


def finite_o_bias(value: Any) -> float | None:
    """``value`` as an O bias (a finite number), None when it is not one (a string, a list, NaN, an infinity:
    an infinite bias tags every word as an entity or none)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        return None
    return float(value)


def entity_types(labels: Sequence[str]) -> list[str]:
    """The entity types of ``labels``, in the order they first appear (``B-X``, ``I-X``, ... all give ``X``)."""
    return list(dict.fromkeys(t for t in (parse_tag(label)[1] for label in labels) if t is not None))


def label_biases(labels: Sequence[str], o_bias: float = 0.0,
                 type_bias: Mapping[str, float] | None = None) -> np.ndarray | None:
    """What is added to every word's log-probabilities ``[C]`` before it is renormalised: ``-o_bias`` at
    ``O``, ``type_bias[X]`` at every label of type ``X`` (``B-``/``I-``/``E-``/``S-``/``L-``/``U-`` alike);
    None when both are off. ValueError for a bias that is not a finite number or a type ``labels`` lacks."""
    if finite_o_bias(o_bias) is None:
        raise ValueError(f"the O bias must be a finite number, got {o_bias!r}")
    type_bias = dict(type_bias or {})
    # labels that are not O / PREFIX-TYPE (a model's LABEL_0 ...) can still take an O bias, never a type's
    known = entity_types(labels) if type_bias else []
    for typ, bias in type_bias.items():
        if typ not in known:
            raise ValueError(f"a bias for type {typ!r}, which the labels do not have ({', '.join(known)})")
        if finite_o_bias(bias) is None:
            raise ValueError(f"the bias of type {typ} must be a finite number, got {bias!r}")
    if not o_bias and not any(type_bias.values()):
        return None
    out = np.zeros(len(labels))
    for i, label in enumerate(labels):
        typ = parse_tag(label)[1] if type_bias and label != "O" else None
        out[i] = -o_bias if label == "O" else float(type_bias.get(typ, 0.0)) if typ is not None else 0.0
    return out


@dataclass
class Decoder:
    """Decodes one sentence's ``log_probs: [T, C]`` over ``labels`` with ``method``, an O bias and a bias
    per entity type (:func:`label_biases`).

    ``scheme`` (viterbi only; None: :func:`label_scheme` of the labels) sets the allowed transitions.
    ``chain``: a CRF head's learned scores (:class:`ChainScores`), which viterbi then follows instead
    of the scheme's rules alone (``method`` must be viterbi); the biases then shift its emissions.
    """

    labels: Sequence[str]
    method: str = "argmax"
    o_bias: float = 0.0
    scheme: str | None = None
    chain: ChainScores | None = None
    type_bias: Mapping[str, float] | None = None
    bias: np.ndarray | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        check_decoding(self.method)
        self.labels = list(self.labels)
        self.bias = label_biases(self.labels, self.o_bias, self.type_bias)
        if self.chain is not None and self.method != "viterbi":
            raise ValueError(f"a CRF head decodes by viterbi, not {self.method}")
        if self.method == "viterbi" and self.chain is None:
            self.scheme = normalize_scheme(self.scheme) if self.scheme else label_scheme(self.labels)
            self.chain = rule_scores(allowed_transitions(self.labels, self.scheme))

    def adjust(self, log_probs: np.ndarray) -> np.ndarray:
        """``log_probs: [T, C]`` after the biases (renormalised float64): what decoding and scores see."""
        return apply_label_bias(log_probs, self.bias)

    def decode(self, log_probs: np.ndarray) -> list[int]:
        """One label id per word."""
        return self._path(self.adjust(log_probs))

    def _path(self, lp: np.ndarray) -> list[int]:
        """Label ids of ``lp: [T, C]``, the biases already applied."""
        if self.chain is None:
            return [int(i) for i in lp.argmax(axis=1)] if lp.shape[0] else []
        return chain_viterbi(lp, self.chain)

    def tags(self, log_probs: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.decode(log_probs)]

    def split_tags(self, log_probs: Sequence[np.ndarray]) -> list[list[str]]:
        """:meth:`tags` of every sentence (``log_probs``: one ``[T_s, C]`` array each), decoded together
        (:func:`decode_split`)."""
        return decode_split(self, log_probs)

    def scored(self, log_probs: np.ndarray) -> tuple[list[str], list[ScoredEntity]]:
        """Tags, and the entities they chunk into (conlleval reading) each with its probability:
        viterbi's span marginal, or under argmax the smallest probability of the span's predicted tags."""
        lp = self.adjust(log_probs)
        return self._scored(lp, self._path(lp))

    def scored_many(self, log_probs: Sequence[np.ndarray]) -> list[tuple[list[str], list[ScoredEntity]]]:
        """:meth:`scored` of every sentence (``log_probs``: one ``[T_s, C]`` array each) with the paths found
        together (:func:`chain_viterbi_many`, one pass per block of sentences): the same tags and entities."""
        adjusted = adjust_split(self, log_probs)
        if self.chain is None:  # argmax: already one array op per sentence
            return [self._scored(lp, self._path(lp)) for lp in adjusted]
        paths = chain_viterbi_many(adjusted, self.chain)
        scored = span_scores_many(adjusted, self.labels, paths, self.chain)
        return [([self.labels[i] for i in ids], ents) for ids, ents in zip(paths, scored)]

    def _scored(self, lp: np.ndarray, ids: Sequence[int]) -> tuple[list[str], list[ScoredEntity]]:
        """Tags and scored entities of the path ``ids`` over ``lp: [T, C]`` (the biases already applied)."""
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
    if decoder.chain is None:  # every word's argmax at once, then cut into sentences
        ends = np.cumsum([len(lp) for lp in log_probs])[:-1]
        paths = [p.tolist() for p in np.split(decoder.adjust(_stack(log_probs)).argmax(axis=1), ends)]
    else:
        paths = chain_viterbi_many(adjust_split(decoder, log_probs), decoder.chain)
    labels = decoder.labels
    return [[labels[i] for i in path] for path in paths]


def _stack(log_probs: Sequence[np.ndarray]) -> np.ndarray:
    """Every sentence's ``[T_s, C]`` rows one after another, float64: ``[sum T_s, C]``."""
    return np.concatenate([np.asarray(lp, dtype=np.float64) for lp in log_probs])


class Adjusts(Protocol):
    """A decoder's bias step: ``[T, C]`` log-probabilities in, the biased and renormalised ones out."""

    def adjust(self, log_probs: np.ndarray) -> np.ndarray: ...


def adjust_split(decoder: Adjusts, log_probs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``decoder.adjust`` of every sentence (``log_probs``: one ``[T_s, C]`` array each), the biases of every
    word applied in one array op (row by row, so each sentence's values are those of its own call)."""
    if not log_probs:
        return []
    ends = np.cumsum([len(lp) for lp in log_probs])[:-1]
    return np.split(decoder.adjust(_stack(log_probs)), ends)
