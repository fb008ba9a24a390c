"""Augmentation against the imbalance: new training sentences made from those holding the types that need them.

Three of the simple methods of Dai and Adel (2020), "An Analysis of Simple Data Augmentation for Named
Entity Recognition", act on words and tags; the new sentences are then encoded into windows with the
sweep's tokenizer and added to the training split. Validation and test are never augmented.

``mention_replacement``           swaps a mention of a target type for another mention of the same type
                                  from the training split (its words as they were written there); the
                                  tags are written again in the data's scheme, so a two-word mention
                                  replaced by a one-word one gets ``S-``/``U-`` in IOBES/BILOU, and back.
``label_wise_token_replacement``  swaps a word for a training word with the same tag (``B-LOC`` for
                                  ``B-LOC``, ``O`` for ``O``); the tags stay.
``shuffle_within_segments``       shuffles the words inside a segment (a mention, or a run of ``O``
                                  words) of two words or more; the tags stay.

Which sentences: those holding an entity of the target types (``data.augment_types``, else the rarest
types as ``oversample_rare`` picks them: :func:`tagger.train.sampling.rarest_types`). Each gives
``copies`` candidates; in each candidate every unit (mention of a target type, word, segment) is changed
with probability ``rate`` and, when none was drawn, one unit chosen at random, so that a candidate
differs from its sentence where the training split allows it. A candidate identical to its sentence is
not added. Everything is drawn from ``random.Random(seed)`` with the run's seed. With document context
(``data.context``) a new sentence gets the context of the sentence it was made from: it is encoded between
that sentence's neighbours, as if it stood in its place (:func:`tagger.train.features.extend_split`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tagger.data.schemes import entities, parse_tag, tags_for_entities
from tagger.errors import ConfigError
from tagger.train.sampling import no_op_note, rarest_types, tag_counts

if TYPE_CHECKING:
    from tagger.train.features import SplitFeatures

logger = logging.getLogger(__name__)

AUGMENTATION: tuple[str, ...] = ("none", "mention_replacement", "label_wise_token_replacement",
                                 "shuffle_within_segments")


@dataclass(frozen=True)
class Augmented:
    """One new training sentence: its words and tags (N each) and the training sentence it was made from."""

    source: int
    tokens: list[str]
    tags: list[str]


@dataclass(frozen=True)
class AugmentReport:
    """What an augmentation did, for the log and all_results.json; ``no_op`` says why nothing was added."""

    method: str
    types: tuple[str, ...]
    copies: int
    rate: float
    sentences_before: int
    sentences_used: int  # training sentences holding a target type
    sentences_added: int
    windows_added: int
    tag_counts_before: dict[str, int]
    tag_counts_after: dict[str, int]
    no_op: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "types": list(self.types), "copies": self.copies, "rate": self.rate,
                "sentences_before": self.sentences_before, "sentences_used": self.sentences_used,
                "sentences_added": self.sentences_added, "windows_added": self.windows_added,
                "tag_counts_before": self.tag_counts_before, "tag_counts_after": self.tag_counts_after,
                "no_op": self.no_op or None}

    @property
    def note(self) -> str:
        """``"mention_replacement: no-op, ..."`` for a run that added nothing, else empty."""
        return no_op_note(self.method, self.no_op) if self.no_op else ""


@dataclass(frozen=True)
class _Pools:
    """What replacements are drawn from, over the whole training split (repeats kept: frequent ones weigh more)."""

    mentions: dict[str, list[tuple[str, ...]]]  # type -> the words of each of its mentions
    words: dict[str, list[str]]  # tag -> every word tagged so


def _pools(tokens: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]]) -> _Pools:
    mentions: dict[str, list[tuple[str, ...]]] = {}
    words: dict[str, list[str]] = {}
    for words_of, tags in zip(tokens, gold_tags):
        for typ, start, end in entities(tags):
            mentions.setdefault(typ, []).append(tuple(words_of[start : end + 1]))
        for word, tag in zip(words_of, tags):
            words.setdefault(tag, []).append(word)
    return _Pools(mentions, words)


def _pick(rng: random.Random, n: int, rate: float) -> list[bool]:
    """Which of n units change: each with probability ``rate``, one at random when none was drawn."""
    flags = [rng.random() < rate for _ in range(n)]
    if n and not any(flags):
        flags[rng.randrange(n)] = True
    return flags


def _replace_mentions(rng: random.Random, words: list[str], tags: list[str], targets: frozenset[str],
                      pools: _Pools, rate: float, scheme: str) -> tuple[list[str], list[str]]:
    spans = entities(tags)
    swappable = [k for k, (typ, _, _) in enumerate(spans) if typ in targets]
    chosen = {k for k, flag in zip(swappable, _pick(rng, len(swappable), rate)) if flag}
    out_words: list[str] = []
    out_spans: list[tuple[str, int, int]] = []
    at = 0  # next word of the sentence not yet copied
    for k, (typ, start, end) in enumerate(spans):
        out_words += words[at:start]
        mention = tuple(words[start : end + 1])
        others = [m for m in pools.mentions.get(typ, []) if m != mention] if k in chosen else []
        new = list(rng.choice(others)) if others else list(mention)
        out_spans.append((typ, len(out_words), len(out_words) + len(new) - 1))
        out_words += new
        at = end + 1
    out_words += words[at:]
    return out_words, tags_for_entities(len(out_words), out_spans, scheme)


def _replace_words(rng: random.Random, words: list[str], tags: list[str], targets: frozenset[str],
                   pools: _Pools, rate: float, scheme: str) -> tuple[list[str], list[str]]:
    out = list(words)
    for i, flag in enumerate(_pick(rng, len(words), rate)):
        if flag:
            out[i] = rng.choice(pools.words[tags[i]])
    return out, list(tags)


def _segments(tags: Sequence[str]) -> list[tuple[int, int]]:
    """(first, last inclusive) of every mention and every run of ``O`` words, in word order."""
    out: list[tuple[int, int]] = []
    at = 0
    for _, start, end in entities(tags):
        if start > at:
            out.append((at, start - 1))
        out.append((start, end))
        at = end + 1
    if at < len(tags):
        out.append((at, len(tags) - 1))
    return out


def _shuffle_segments(rng: random.Random, words: list[str], tags: list[str], targets: frozenset[str],
                      pools: _Pools, rate: float, scheme: str) -> tuple[list[str], list[str]]:
    out = list(words)
    segments = [(a, b) for a, b in _segments(tags) if b > a]  # one word has one order
    for (a, b), flag in zip(segments, _pick(rng, len(segments), rate)):
        if flag:
            part = out[a : b + 1]
            rng.shuffle(part)
            out[a : b + 1] = part
    return out, list(tags)


_METHODS: dict[str, Callable[..., tuple[list[str], list[str]]]] = {
    "mention_replacement": _replace_mentions,
    "label_wise_token_replacement": _replace_words,
    "shuffle_within_segments": _shuffle_segments,
}


def target_types(gold_tags: Sequence[Sequence[str]], types: Sequence[str] = (),
                 known: Sequence[str] | None = None) -> tuple[str, ...]:
    """The types to augment: ``types``, else the rarest types of the training split (``gold_tags``).

    ``known``: the data set's types (of its label list); a named type outside them is a ConfigError, while
    one that only the training split lacks (cut by ``data.max_train_sentences``) is kept and augments nothing.
    """
    if not types:
        return rarest_types(gold_tags)
    unknown = [t for t in types if known is not None and t not in known]
    if unknown:
        raise ConfigError(f"data.augment_types: {', '.join(unknown)} is not a type of the data set "
                          f"(its types: {', '.join(sorted(known or ()))})")
    return tuple(sorted(types))


def augment_sentences(tokens: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]], method: str, seed: int, *,
                      scheme: str, types: Sequence[str], copies: int, rate: float) -> list[Augmented]:
    """New sentences made from the S training sentences (``tokens``, ``gold_tags``: S lists of N_s
    words and tags) that hold an entity of ``types``, sentence by sentence, ``copies`` candidates each;
    a candidate identical to its sentence is left out. Tags are written in ``scheme``."""
    if method not in _METHODS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTATION)}, not {method!r}")
    make, pools, targets = _METHODS[method], _pools(tokens, gold_tags), frozenset(types)
    rng = random.Random(seed)
    out: list[Augmented] = []
    for i, (words, tags) in enumerate(zip(tokens, gold_tags)):
        if not any(t in targets for t, _, _ in entities(tags)):
            continue
        for _ in range(copies):
            new_words, new_tags = make(rng, list(words), list(tags), targets, pools, rate, scheme)
            if new_words != list(words) or new_tags != list(tags):
                out.append(Augmented(i, new_words, new_tags))
    return out


def _no_op_reason(method: str, types: Sequence[str], used: int) -> str:
    names = ", ".join(types) or "no type"
    if not used:
        return f"no training sentence holds {names}"
    if method == "mention_replacement":
        return f"no other mention of {names} in the training split to swap in"
    return f"none of the {used} sentences holding {names} gave a different copy"


def augment_split(train: SplitFeatures, method: str, seed: int, tokenizer: Any, *, label_list: list[str],
                  scheme: str, max_length: int, stride: int, label_all_subwords: bool,
                  types: Sequence[str], copies: int, rate: float,
                  context: int = 0) -> tuple[SplitFeatures, AugmentReport]:
    """The training split with the augmented sentences appended, encoded into windows as the split was
    (``max_length``, ``stride``, ``label_all_subwords``, ``context``, ``tokenizer``), and the report of what
    was added.

    ``types``, ``copies`` and ``rate`` are ``data.augment_types``, ``data.augment_copies`` and
    ``data.augment_rate`` (their defaults live in :class:`tagger.config_schema.DataConfig`)."""
    from tagger.train.features import extend_split

    known = sorted({t for t in (parse_tag(label)[1] for label in label_list) if t is not None})
    targets = target_types(train.gold_tags, types, known)
    new = augment_sentences(train.tokens, train.gold_tags, method, seed, scheme=scheme, types=targets,
                            copies=copies, rate=rate)
    extended = extend_split(train, [a.tokens for a in new], [a.tags for a in new], tokenizer,
                            label_list=label_list, max_length=max_length, stride=stride,
                            label_all_subwords=label_all_subwords, context=context, sources=[a.source for a in new])
    used = sum(any(t in targets for t, _, _ in entities(tags)) for tags in train.gold_tags)
    n = len(train.gold_tags)
    report = AugmentReport(method=method, types=targets, copies=copies, rate=rate, sentences_before=n,
                           sentences_used=used, sentences_added=len(new), windows_added=len(extended) - len(train),
                           tag_counts_before=tag_counts(train.gold_tags, range(n)),
                           tag_counts_after=tag_counts(extended.gold_tags, range(len(extended.gold_tags))),
                           no_op="" if new else _no_op_reason(method, targets, used))
    if report.no_op:
        logger.warning("%s (seed %d)", report.note, seed)
    logger.info("augment %s (seed %d, types %s): %d training sentences hold them, %d sentences added (%d "
                "windows); tags %s -> %s", method, seed, ", ".join(targets), used, len(new), report.windows_added,
                report.tag_counts_before, report.tag_counts_after)
    return extended, report

