"""A bias per entity type on top of the one O bias, tuned on validation by coordinate ascent and shrunk toward
the shared bias by the type's number of validation entities (docs/decoding.md, "Per-type thresholds").

The shared O bias ``b`` (:func:`tagger.decoding.tune_o_bias`) is subtracted from every word's ``O``
log-probability; a type's offset ``d_X`` is added to each of its labels (:func:`label_biases`), then every
word is renormalised. ``b`` stays as tuned: moving it equals moving every type's offset together.

Tuning, on validation only:

1. Coordinate ascent from ``d = 0``: for each type in label order, every offset of :data:`TYPE_BIAS_GRID`
   is tried with the others held, and the one with the highest F1 is kept (ties: the smallest ``|d|``, then
   the lower value); rounds repeat until none moves, at most :data:`TYPE_BIAS_ROUNDS`. Only types with a
   validation entity move (the others' offsets stay 0, as step 2 would make them).
2. Shrinkage, the guard rail against a validation split that holds a few dozen entities of a type: each
   offset is multiplied by ``n / (n + n0)``, ``n`` the type's gold entities on validation and ``n0`` =
   :data:`TYPE_BIAS_PRIOR_ENTITIES`: a type with ``n0`` entities keeps half of the offset validation chose,
   a type with thousands nearly all of it, a type with none nothing (:func:`shrink_type_bias`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tagger.decoding.decoder import Decoder, decode_split, entity_types
from tagger.decoding.rules import ChainScores
from tagger.metrics import chunk_counts, score_sequences

logger = logging.getLogger(__name__)


#: Offsets tried per type: -3 to 3 in steps of 1, as (start, stop inclusive, step). Coarse on purpose:
#: 7 choices per type, each judged on a few dozen validation entities for the rarest types, and each
#: a decoding of the whole validation split.
TYPE_BIAS_GRID: tuple[float, float, float] = (-3.0, 3.0, 1.0)


#: ``n0`` of the shrinkage ``d * n / (n + n0)``: the number of validation entities at which a type keeps
#: half the offset validation chose (WNUT-17's rarest types have 34-39, so they keep about 40%).
TYPE_BIAS_PRIOR_ENTITIES: int = 50


#: Rounds of coordinate ascent at most (a round tries every offset of every type once).
TYPE_BIAS_ROUNDS: int = 3


def type_bias_grid(start: float = TYPE_BIAS_GRID[0], stop: float = TYPE_BIAS_GRID[1],
                   step: float = TYPE_BIAS_GRID[2]) -> list[float]:
    """The offsets ``start, start + step, ..., stop`` (computed as ``start + i * step``: no drift)."""
    if step <= 0 or stop < start:
        raise ValueError(f"a type bias grid needs step > 0 and stop >= start, got {start}, {stop}, {step}")
    return [start + i * step for i in range(int(round((stop - start) / step)) + 1)]


def shrink_type_bias(offset: float, entities: int, prior: float = TYPE_BIAS_PRIOR_ENTITIES) -> float:
    """The guard rail: ``offset * n / (n + n0)`` for a type with ``n = entities`` gold entities on
    validation and ``n0 = prior``; 0 for a type without any."""
    return offset * entities / (entities + prior) if entities > 0 else 0.0


@dataclass
class TypeBiasFit:
    """Per-type offsets tuned on validation: ``type_bias`` (shrunk, what is applied and saved), ``raw``
    (the ascent's choice before shrinking), ``entities`` (validation gold entities per type), ``rounds``
    (rounds of ascent run) and ``validation`` (the scores under ``type_bias``)."""

    type_bias: dict[str, float]
    raw: dict[str, float]
    entities: dict[str, int]
    rounds: int
    validation: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """What ``all_results.json`` keeps of the tuning (``type_bias_tuning`` of a scoring)."""
        return {"raw": self.raw, "validation_entities": self.entities, "rounds": self.rounds}


def _ascend(f1: Any, types: Sequence[str], grid: Sequence[float], rounds: int) -> tuple[dict[str, float], int]:
    """Coordinate ascent of ``f1(offsets) -> float`` over ``grid`` per type, from all 0 (module doc, step 1)."""
    raw = {t: 0.0 for t in types}
    order = sorted(grid, key=lambda v: (abs(v), v))  # first among equal F1: the smallest |d|, then the lower
    done = 0
    for done in range(1, rounds + 1):
        moved = False
        for typ in types:
            best, best_f1 = raw[typ], None
            for value in order:
                score = f1({**raw, typ: value})
                if best_f1 is None or score > best_f1:
                    best, best_f1 = value, score
            if best != raw[typ]:
                raw[typ], moved = best, True
        if not moved:
            break
    return raw, done


def tune_type_bias(log_probs: Sequence[np.ndarray], gold: Sequence[Sequence[str]], labels: Sequence[str],
                   method: str, *, o_bias: float = 0.0, scheme: str | None = None, chain: ChainScores | None = None,
                   mode: str = "conlleval", grid: Sequence[float] | None = None,
                   prior: float = TYPE_BIAS_PRIOR_ENTITIES, rounds: int = TYPE_BIAS_ROUNDS) -> TypeBiasFit:
    """Per-type offsets on top of ``o_bias`` for ``method`` (``chain``: a CRF head's, viterbi only), by
    coordinate ascent over ``grid`` (default :func:`type_bias_grid`) and shrinkage with ``prior`` (module doc).

    Pass validation data only: whatever split this sees is the one the offsets are fitted to.
    """
    grid = type_bias_grid() if grid is None else list(grid)
    if not grid:
        raise ValueError("the type bias grid is empty")
    gold_counts = chunk_counts(gold, gold, mode)
    entities = {t: gold_counts.get(t, [0, 0, 0])[2] for t in entity_types(labels)}
    seen: dict[tuple[float, ...], float] = {}

    def scores(offsets: Mapping[str, float]) -> dict[str, Any]:
        decoder = Decoder(labels, method, o_bias=o_bias, scheme=scheme, chain=chain, type_bias=offsets)
        tags = decode_split(decoder, log_probs)
        return score_sequences(gold, tags, mode=mode, counts=chunk_counts(gold, tags, mode))

    def f1(offsets: Mapping[str, float]) -> float:
        key = tuple(offsets[t] for t in sorted(offsets))
        if key not in seen:
            seen[key] = scores(offsets)["f1"]
        return seen[key]

    raw, done = _ascend(f1, [t for t, n in entities.items() if n > 0], grid, rounds)
    raw = {t: raw.get(t, 0.0) for t in entities}
    shrunk = {t: shrink_type_bias(raw[t], entities[t], prior) for t in entities}
    logger.debug("type biases (%s, O bias %g): %d points tried, raw %s, shrunk %s", method, o_bias, len(seen), raw, shrunk)
    return TypeBiasFit(shrunk, raw, entities, done, scores(shrunk))
