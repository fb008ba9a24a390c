"""Sampling against the imbalance from the data side: fewer sentences without entities, more with rare types.

Both methods act on whole training sentences (all windows of a sentence go or stay together), are
seeded by the run's seed, and report the tag counts before and after, so a run says exactly what it
trained on. Validation and test are never resampled.

``drop_empty``       keeps a fraction ``keep_empty`` of the sentences without any entity (chosen at
                     random) and every sentence with one.
``oversample_rare``  repeats sentences holding an entity of the rarest types until they make up
                     ``rare_share`` of the training sentences. The rarest types are the half of the
                     types (rounded up) with the fewest training entities.

A method that keeps every sentence once (the rare types already make up ``rare_share``, or there is
no sentence without entities to drop) says so: its report's ``no_op`` gives the reason, the log warns
and the sweep's summary notes it under the table.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tagger.data.schemes import entities

if TYPE_CHECKING:
    from tagger.train.features import SplitFeatures

logger = logging.getLogger(__name__)

SAMPLING: tuple[str, ...] = ("none", "drop_empty", "oversample_rare")


def no_op_note(method: str, reason: str) -> str:
    """How a data lever that changed nothing is named in the log and the summary: ``"drop_empty: no-op, <reason>"``."""
    return f"{method}: no-op, {reason}"


@dataclass(frozen=True)
class SamplingReport:
    """What a resampling did, for the log and all_results.json."""

    method: str
    sentences_before: int
    sentences_after: int
    tag_counts_before: dict[str, int]
    tag_counts_after: dict[str, int]
    rare_types: tuple[str, ...] = ()
    no_op: str = ""  # why the method kept every sentence once; empty when it changed the sample

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "sentences_before": self.sentences_before,
                "sentences_after": self.sentences_after, "tag_counts_before": self.tag_counts_before,
                "tag_counts_after": self.tag_counts_after, "rare_types": list(self.rare_types),
                "no_op": self.no_op or None}

    @property
    def note(self) -> str:
        """``"oversample_rare: no-op, rare types already 31% of sentences"`` for a run it left as it was, else empty."""
        return no_op_note(self.method, self.no_op) if self.no_op else ""


def rarest_types(gold_tags: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The half of the entity types (rounded up) with the fewest entities; ties broken by name."""
    counts = Counter(t for tags in gold_tags for t, _, _ in entities(tags))
    ranked = sorted(counts, key=lambda t: (counts[t], t))
    return tuple(sorted(ranked[: math.ceil(len(ranked) / 2)]))


def choose_sentences(gold_tags: Sequence[Sequence[str]], method: str, seed: int, keep_empty: float = 0.5,
                     rare_share: float = 0.2) -> list[int]:
    """Training sentence indices after sampling, in order, a repeated sentence listed again at the end."""
    if method not in SAMPLING:
        raise ValueError(f"sampling must be one of {', '.join(SAMPLING)}, not {method!r}")
    everything = list(range(len(gold_tags)))
    rng = random.Random(seed)
    if method == "drop_empty":
        empty = [i for i in everything if not any(t != "O" for t in gold_tags[i])]
        drop = set(rng.sample(empty, len(empty) - round(keep_empty * len(empty))))
        return [i for i in everything if i not in drop]
    if method == "oversample_rare":
        rare = set(rarest_types(gold_tags))
        holders = [i for i in everything if any(t in rare for t, _, _ in entities(gold_tags[i]))]
        if not holders:
            return everything
        # r repeats raise the share to (h + r) / (n + r); solve for the smallest r reaching rare_share
        n, h = len(everything), len(holders)
        repeats = max(0, math.ceil((rare_share * n - h) / (1 - rare_share)))
        rng.shuffle(holders)
        return everything + [holders[k % h] for k in range(repeats)]
    return everything


def tag_counts(gold_tags: Sequence[Sequence[str]], sentences: Sequence[int]) -> dict[str, int]:
    """How often each tag occurs in ``sentences`` (indices into ``gold_tags``, a repeat counted again), by tag."""
    counts = Counter(t for i in sentences for t in gold_tags[i])
    return dict(sorted(counts.items()))


def no_op_reason(gold_tags: Sequence[Sequence[str]], method: str, keep_empty: float, rare_share: float) -> str:
    """Why ``method`` keeps every one of these training sentences once, for a sample that did."""
    n = len(gold_tags)
    if method == "oversample_rare":
        rare = set(rarest_types(gold_tags))
        holders = sum(any(t in rare for t, _, _ in entities(tags)) for tags in gold_tags)
        if not holders:
            return "no training sentence holds an entity"
        return f"rare types already {holders / n:.0%} of sentences (data.rare_share {rare_share:g})"
    empty = sum(not any(t != "O" for t in tags) for tags in gold_tags)
    if not empty:
        return "every training sentence holds an entity"
    return f"keep_empty {keep_empty:g} keeps all {empty} sentences without entities"


def resample(train: SplitFeatures, method: str, seed: int, keep_empty: float = 0.5,
             rare_share: float = 0.2) -> tuple[SplitFeatures, SamplingReport]:
    """The training windows of the chosen sentences (every window of a sentence, repeats included; a repeat
    keeps the document context its windows were encoded with)."""
    from tagger.train.features import SplitFeatures
    chosen = choose_sentences(train.gold_tags, method, seed, keep_empty, rare_share)
    windows_of: dict[int, list[int]] = {}
    for w, s in enumerate(train.columns["sentence_id"]):
        windows_of.setdefault(s, []).append(w)
    rows = [w for s in chosen for w in windows_of.get(s, [])]
    columns = {k: [v[w] for w in rows] for k, v in train.columns.items()}
    resampled = SplitFeatures(name=train.name, columns=columns, num_words=train.num_words, tokens=train.tokens,
                              gold_tags=train.gold_tags, documents=train.documents)
    report = SamplingReport(method=method, sentences_before=len(train.gold_tags), sentences_after=len(chosen),
                            tag_counts_before=tag_counts(train.gold_tags, range(len(train.gold_tags))),
                            tag_counts_after=tag_counts(train.gold_tags, chosen),
                            rare_types=rarest_types(train.gold_tags) if method == "oversample_rare" else (),
                            no_op="" if chosen != list(range(len(train.gold_tags))) or method == "none"
                            else no_op_reason(train.gold_tags, method, keep_empty, rare_share))
    if report.no_op:
        logger.warning("%s (seed %d)", report.note, seed)
    logger.info("sampling %s (seed %d): %d -> %d training sentences, %d -> %d windows; tags %s -> %s", method, seed,
                report.sentences_before, report.sentences_after, len(train), len(rows), report.tag_counts_before,
                report.tag_counts_after)
    return resampled, report
