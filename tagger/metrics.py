"""Word-level NER scores in two modes, equal to seqeval's; entities from :func:`tagger.data.schemes.entities`.

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

from tagger.data.schemes import entities, strict_scheme

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


def score_sequences(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str = "conlleval") -> dict:
    """Entity-level micro and per-type scores, macro F1 and token accuracy over word-level tags.

    Args:
        gold, pred: S sentences of tags each, sentence for sentence of equal length.
        mode: "conlleval" or "strict" (module doc).

    Returns:
        ``{"precision", "recall", "f1", "macro_f1", "accuracy", "tp", "predicted", "gold", "tokens",
        "mode", "per_type": {TYPE: {"precision", "recall", "f1", "support", "tp", "predicted", "gold"}}}``;
        fractions in [0, 1] (0 where undefined, like seqeval), ``support == gold``. Types are those in gold or
        predictions; macro F1 is their unweighted mean (seqeval's macro average). ValueError on
        different lengths, a bad tag or an unknown mode.
    """
    pairs = sentence_entities(gold, pred, mode)
    counts: dict[str, list[int]] = {}  # type -> [tp, predicted, gold]
    for ge, pe in pairs:
        for typ, *_ in ge:
            counts.setdefault(typ, [0, 0, 0])[2] += 1
        for typ, *_ in pe:
            counts.setdefault(typ, [0, 0, 0])[1] += 1
        for typ, *_ in ge & pe:
            counts[typ][0] += 1
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
