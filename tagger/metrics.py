"""Word-level NER scores in two modes, computed by seqeval (:func:`score_sequences`); tagger's own chunker
(:func:`tagger.data.schemes.entities`) reads the same entities where seqeval has nothing to offer: the
per-sentence counts of the bootstrap, the error classes, the O bias grid. :func:`check_agreement` holds the
two to the same counts on every run's test split.

``mode="conlleval"`` (seqeval's default) reads chunks like the CoNLL-2000 ``conlleval`` script, the
official metric of CoNLL-2003 and WNUT-17: an ``I-X`` after ``O`` or after another type starts an
entity, and a type change inside a chunk splits it. ``E-``/``S-`` (IOBES) and ``L-``/``U-`` (BILOU)
close a chunk, so two ``U-X`` words are two entities (seqeval's default reader does not know
``L``/``U``: its numbers are those of the tags with ``L-`` -> ``E-``, ``U-`` -> ``S-``).

``mode="strict"`` is seqeval's strict mode: only well-formed chunks of the scheme count (IOB2,
or IOBES / BILOU when the tags use ``E-``/``S-`` / ``L-``/``U-``); an ``I-X`` that starts a chunk is no
entity. The scheme is detected once for the corpus, gold and predictions together
(:func:`tagger.data.schemes.strict_scheme`), and every sentence is read in it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from tagger.data.schemes import entities, parse_tag, strict_scheme

MODES = ("conlleval", "strict")

Entity = tuple[str, int, int]  # type, first word, last word (inclusive)


def _check(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")


def _prf(tp: int, predicted: int, gold: int) -> tuple[float, float, float]:
    p = tp / predicted if predicted else 0.0
    r = tp / gold if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def sentence_entities(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                      mode: str = "conlleval") -> list[tuple[set[Entity], set[Entity]]]:
    """Per sentence, the (gold, predicted) entity sets that :func:`score_sequences` counts.

    In strict mode the scheme is that of the whole corpus, gold and predictions together, so that a
    sentence is read as the scores read it. ValueError on different lengths, an unknown mode, a bad tag
    (:func:`tagger.data.schemes.parse_tag`, checked by the chunker) or, in strict mode, tags of two schemes.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    _check(gold, pred)
    scheme = strict_scheme([*gold, *pred]) if mode == "strict" else None
    return [(set(_entities(tuple(g), mode, scheme)), set(_entities(tuple(p), mode, scheme))) for g, p in zip(gold, pred)]


@functools.lru_cache(maxsize=1 << 16)
def _entities(tags: tuple[str, ...], mode: str, scheme: str | None) -> tuple[Entity, ...]:
    # Scoring the same gold sentences, and mostly the same predictions, again and again (every epoch, every
    # O bias of a grid) chunks the same tag sequences: chunk each distinct one once.
    return tuple(entities(list(tags), mode, scheme))


def chunk_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                 mode: str = "conlleval") -> dict[str, list[int]]:
    """``{type: [tp, predicted, gold]}`` counted with tagger's own chunker (:func:`sentence_entities`): fast
    and cached, for the loops that score the same sentences many times (the O bias grid) and for the check
    that seqeval and tagger read every entity alike (:func:`check_agreement`)."""
    counts: dict[str, list[int]] = {}  # type -> [tp, predicted, gold]
    for ge, pe in sentence_entities(gold, pred, mode):
        for typ, *_ in ge:
            counts.setdefault(typ, [0, 0, 0])[2] += 1
        for typ, *_ in pe:
            counts.setdefault(typ, [0, 0, 0])[1] += 1
        for typ, *_ in ge & pe:
            counts[typ][0] += 1
    return dict(sorted(counts.items()))


def _seqeval_tags(tags: Sequence[Sequence[str]], mode: str) -> list[list[str]]:
    # seqeval's default reader knows E-/S- but not BILOU's L-/U-, which close a chunk the same way
    if mode == "strict":
        return [list(t) for t in tags]
    return [[f"E{t[1:]}" if t.startswith("L-") else f"S{t[1:]}" if t.startswith("U-") else t for t in s] for s in tags]


def seqeval_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                   mode: str = "conlleval") -> dict[str, list[int]]:
    """``{type: [tp, predicted, gold]}`` as seqeval reads the entities: its default reader (``conlleval``) or
    its strict mode under the corpus's scheme (:func:`tagger.data.schemes.strict_scheme`)."""
    from seqeval.metrics.sequence_labeling import get_entities

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    _check(gold, pred)
    for tag in {t for tags in (*gold, *pred) for t in tags}:  # seqeval reads any string as a tag: check each
        parse_tag(tag)
    g, p = _seqeval_tags(gold, mode), _seqeval_tags(pred, mode)
    if mode == "strict":
        from seqeval import scheme as schemes

        cls = getattr(schemes, strict_scheme([*gold, *pred]))  # seqeval's IOB2, IOBES or BILOU class
        true_entities, found_entities = schemes.Entities(g, cls), schemes.Entities(p, cls)
        true = {t: set(true_entities.filter(t)) for t in true_entities.unique_tags}
        found = {t: set(found_entities.filter(t)) for t in found_entities.unique_tags}
    else:
        true, found = {}, {}
        for spans, tags in ((true, g), (found, p)):
            for typ, start, end in get_entities(tags):
                spans.setdefault(typ, set()).add((start, end))
    return {t: [len(true.get(t, set()) & found.get(t, set())), len(found.get(t, set())), len(true.get(t, set()))]
            for t in sorted(set(true) | set(found))}


def score_sequences(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str = "conlleval",
                    counts: dict[str, list[int]] | None = None) -> dict:
    """Entity-level micro and per-type scores, macro F1 and token accuracy over word-level tags, by seqeval.

    Args:
        gold, pred: S sentences of tags each, sentence for sentence of equal length.
        mode: "conlleval" or "strict" (module doc).
        counts: ``{type: [tp, predicted, gold]}`` already counted (:func:`chunk_counts`, where a loop scores
            the same sentences many times); None: seqeval counts them (:func:`seqeval_counts`).

    Returns:
        ``{"precision", "recall", "f1", "macro_f1", "accuracy", "tp", "predicted", "gold", "tokens",
        "mode", "per_type": {TYPE: {"precision", "recall", "f1", "support", "tp", "predicted", "gold"}}}``;
        fractions in [0, 1] (0 where undefined, seqeval's ``zero_division=0``), ``support == gold``. Types are
        those in gold or predictions; macro F1 is their unweighted mean (seqeval's macro average).
        ValueError on different lengths, a bad tag or an unknown mode.
    """
    if counts is None:
        counts = seqeval_counts(gold, pred, mode)
    per_type: dict[str, dict[str, Any]] = {}
    for typ in sorted(counts):
        tp, npred, ngold = counts[typ]
        p, r, f = _prf(tp, npred, ngold)
        per_type[typ] = {"precision": p, "recall": r, "f1": f, "support": ngold, "tp": tp, "predicted": npred, "gold": ngold}
    tp = sum(c[0] for c in counts.values())
    npred = sum(c[1] for c in counts.values())
    ngold = sum(c[2] for c in counts.values())
    p, r, f = _prf(tp, npred, ngold)
    n_tokens = sum(len(s) for s in gold)
    correct = sum(a == b for gs, ps in zip(gold, pred) for a, b in zip(gs, ps))
    return {
        "precision": p, "recall": r, "f1": f,
        "macro_f1": sum(v["f1"] for v in per_type.values()) / len(per_type) if per_type else 0.0,
        "accuracy": correct / n_tokens if n_tokens else 0.0,
        "tp": tp, "predicted": npred, "gold": ngold, "tokens": n_tokens, "mode": mode,
        "per_type": per_type,
    }


class ScoreMismatch(RuntimeError):
    """seqeval and tagger's chunker read the entities of the same tags differently: a bug, never noise."""


def check_agreement(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str, where: str) -> None:
    """Raise :class:`ScoreMismatch` naming ``where`` (a run's test split) and the first type whose counts differ
    when seqeval (the reported scores) and tagger's chunker (the bootstrap, the error classes, the O bias grid)
    do not read the same entities in these tags."""
    ours, theirs = chunk_counts(gold, pred, mode), seqeval_counts(gold, pred, mode)
    if ours != theirs:
        typ = next(t for t in sorted(set(ours) | set(theirs)) if ours.get(t) != theirs.get(t))
        raise ScoreMismatch(f"{where}: seqeval counts {typ} as [tp, predicted, gold] {theirs.get(typ)}, tagger's "
                            f"chunker {ours.get(typ)} ({mode} mode): the reported scores and the per-sentence "
                            "counts behind the bootstrap and the error classes would disagree")


def format_conlleval(result: dict) -> str:
    """A conlleval-style report of :func:`score_sequences` output, percentages, with the counts.

    ::

        processed 9 tokens with 3 phrases; found: 2 phrases; correct: 1.
        accuracy:  77.78%; precision:  50.00%; recall:  33.33%; FB1:  40.00
                      LOC: precision: 100.00%; recall: 100.00%; FB1: 100.00  1 (correct 1, gold 1)
    """
    lines = [
        f"processed {result.get('tokens', 0)} tokens with {result['gold']} phrases; "
        f"found: {result['predicted']} phrases; correct: {result['tp']}.",
        f"accuracy: {100 * result['accuracy']:6.2f}%; precision: {100 * result['precision']:6.2f}%; "
        f"recall: {100 * result['recall']:6.2f}%; FB1: {100 * result['f1']:6.2f}",
    ]
    width = max([17] + [len(t) for t in result["per_type"]])
    for typ, v in result["per_type"].items():
        lines.append(f"{typ:>{width}}: precision: {100 * v['precision']:6.2f}%; recall: {100 * v['recall']:6.2f}%; "
                     f"FB1: {100 * v['f1']:6.2f}  {v['predicted']} (correct {v['tp']}, gold {v['gold']})")
    lines.append(f"macro FB1: {100 * result['macro_f1']:6.2f} (mode: {result.get('mode', 'conlleval')})")
    return "\n".join(lines) + "\n"
