"""Error analysis of predicted entities against gold: six classes per type, a type confusion matrix, examples.

Entities are spans ``(type, first word, last word)``, inclusive: exactly those that
:func:`tagger.metrics.score_sequences` counts, in either of its modes (``conlleval``, the default, or
``strict``; :func:`tagger.data.schemes.entities`). Two spans overlap when they share at least one word.

Every gold entity gets exactly one class, from the best prediction that overlaps it, tried in this order:

==========================  ====================================================================
``correct``                 a prediction with the same span and the same type
``wrong_type``              a prediction with the same span and another type
``wrong_boundary``          an overlapping prediction with another span and the same type
``wrong_boundary_type``     an overlapping prediction with another span and another type
``missed``                  no prediction overlaps it
==========================  ====================================================================

Every prediction that overlaps no gold entity is ``spurious``. The overlap rule: a prediction that
overlaps a gold entity is never spurious, even when another prediction was chosen for that entity; so
a gold entity split into two predictions counts once (``wrong_boundary`` if a piece has its type) and
neither piece is spurious, and a prediction that covers two gold entities is the match of both. Among
the candidates of the chosen class the match is the one sharing the most words with the gold entity,
then the leftmost.

Counts per type: the five gold classes count under the gold entity's type, ``spurious`` under the
predicted type. ``correct`` per type equals the true positives of :func:`tagger.metrics.score_sequences`
in the same mode. The confusion matrix has a row per gold type and a column per predicted type, plus
``O`` (no entity) for both: each gold entity adds one to (its type, its match's type), or to (its type,
``O``) when missed; each spurious prediction adds one to (``O``, its type); (``O``, ``O``) stays 0. Its total
is the number of gold entities plus the spurious predictions; its diagonal counts ``correct`` plus
``wrong_boundary``.

Worked example (one sentence)::

    words  Ann    Lee    saw  New    York   Times  today
    gold   B-PER  I-PER  O    B-ORG  I-ORG  I-ORG  O       PER(0,1)  ORG(3,5)
    pred   B-PER  O      O    B-LOC  I-LOC  O      B-LOC   PER(0,0)  LOC(3,4)  LOC(6,6)

    PER(0,1)  overlaps PER(0,0): same type, other span      -> wrong_boundary       (PER -> PER)
    ORG(3,5)  overlaps LOC(3,4): other type, other span     -> wrong_boundary_type  (ORG -> LOC)
    LOC(6,6)  overlaps no gold entity                       -> spurious             (O   -> LOC)
    confusion total 3 = 2 gold entities + 1 spurious
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tagger.metrics import MODES, sentence_entities

Span = tuple[str, int, int]

#: The classes in the order they are tried for a gold entity, then the class of unmatched predictions.
CLASSES: tuple[str, ...] = ("correct", "wrong_type", "wrong_boundary", "wrong_boundary_type", "missed", "spurious")
#: The classes that are errors: those ``examples`` collects sentences for.
ERROR_CLASSES: tuple[str, ...] = CLASSES[1:]
#: How tables and the report name each class.
CLASS_NAMES: dict[str, str] = {
    "correct": "correct",
    "wrong_type": "wrong type",
    "wrong_boundary": "wrong boundary",
    "wrong_boundary_type": "wrong boundary and type",
    "missed": "missed",
    "spurious": "spurious",
}
#: The row and column of the confusion matrix that stand for "no entity".
NONE_LABEL = "O"
_RANK = {c: i for i, c in enumerate(CLASSES)}


def _spans(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
           mode: str = "conlleval") -> list[tuple[list[Span], list[Span]]]:
    """Per sentence, the gold and predicted entities in word order: the one place entities are read.

    Through the metric's own reading (tagger.data.schemes.entities; strict mode with the scheme of the
    whole corpus), so ``correct`` is the metric's true positives by construction.
    """
    return [(sorted(g, key=lambda s: s[1]), sorted(p, key=lambda s: s[1]))
            for g, p in sentence_entities(gold, pred, mode)]


@dataclass(frozen=True)
class Outcome:
    """The class of one gold entity (``pred`` is its match, None when missed) or of one spurious prediction."""

    cls: str
    gold: Span | None
    pred: Span | None

    @property
    def type(self) -> str:
        """The type it counts under: the gold entity's, or the prediction's when spurious."""
        return (self.gold or self.pred)[0]  # type: ignore[index]

    def types(self) -> set[str]:
        """Every type it involves (both for a wrong type)."""
        return {s[0] for s in (self.gold, self.pred) if s is not None}


def _overlap(a: Span, b: Span) -> int:
    return max(0, min(a[2], b[2]) - max(a[1], b[1]) + 1)


def _class_of(gold: Span, pred: Span) -> str:
    same_span = gold[1:] == pred[1:]
    same_type = gold[0] == pred[0]
    if same_span:
        return "correct" if same_type else "wrong_type"
    return "wrong_boundary" if same_type else "wrong_boundary_type"


def classify_spans(gold: Sequence[Span], pred: Sequence[Span]) -> list[Outcome]:
    """The outcomes of one sentence's entities (module doc): gold entities in order, then spurious predictions."""
    out: list[Outcome] = []
    overlapped: set[Span] = set()
    for g in gold:
        candidates = [p for p in pred if _overlap(g, p)]
        overlapped.update(candidates)
        if not candidates:
            out.append(Outcome("missed", g, None))
            continue
        best = min(candidates, key=lambda p: (_RANK[_class_of(g, p)], -_overlap(g, p), p[1]))
        out.append(Outcome(_class_of(g, best), g, best))
    out += [Outcome("spurious", None, p) for p in pred if p not in overlapped]
    return out


def classify(gold_tags: Sequence[str], pred_tags: Sequence[str], mode: str = "conlleval") -> list[Outcome]:
    """The outcomes of one tagged sentence (in strict mode read in this sentence's scheme; a corpus goes
    to :func:`analyse_errors`); ValueError on different lengths, a bad tag or an unknown mode."""
    if len(gold_tags) != len(pred_tags):
        raise ValueError(f"{len(gold_tags)} gold tags but {len(pred_tags)} predicted")
    ((gold, pred),) = _spans([gold_tags], [pred_tags], mode)
    return classify_spans(gold, pred)


def prediction_classes(outcomes: Iterable[Outcome], pred: Sequence[Span]) -> dict[Span, str]:
    """The class each prediction of a sentence stands in: that of the gold entity it is the match of, else
    that of the first gold entity it overlaps (a split entity's other piece), else ``spurious``."""
    outcomes = list(outcomes)
    out: dict[Span, str] = {o.pred: o.cls for o in outcomes if o.pred is not None and o.gold is not None}
    for p in pred:
        if p not in out:
            hit = next((o.cls for o in outcomes if o.gold is not None and _overlap(o.gold, p)), "spurious")
            out[p] = hit
    return out


@dataclass(frozen=True)
class Example:
    """A sentence holding at least one outcome of a class; ``index`` is its 0-based position in the input."""

    index: int
    tokens: list[str]
    gold: list[Span]
    pred: list[Span]
    outcomes: list[Outcome]

    def to_json(self) -> dict[str, Any]:
        # numbered from 1, like the text report and `tagger score`'s messages
        return {"sentence": self.index + 1, "tokens": self.tokens,
                "gold": [list(s) for s in self.gold], "pred": [list(s) for s in self.pred],
                "entities": [{"class": o.cls, "gold": None if o.gold is None else list(o.gold),
                              "pred": None if o.pred is None else list(o.pred)} for o in self.outcomes]}


@dataclass
class ErrorAnalysis:
    """Counts per type and class, the type confusion matrix and examples (module doc)."""

    sentences: int = 0
    gold_entities: int = 0
    predicted_entities: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # type -> class -> count
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)  # (gold label, predicted label) -> count
    examples: dict[str, list[Example]] = field(default_factory=dict)  # class -> sentences
    mode: str = "conlleval"

    @property
    def types(self) -> list[str]:
        return sorted(self.counts)

    @property
    def labels(self) -> list[str]:
        """Rows and columns of the confusion matrix: the types, then ``O``."""
        return [*self.types, NONE_LABEL]

    def totals(self) -> dict[str, int]:
        return {c: sum(per[c] for per in self.counts.values()) for c in CLASSES}

    def matrix(self) -> list[list[int]]:
        """Confusion counts, rows gold and columns predicted, both in :attr:`labels` order."""
        labels = self.labels
        return [[self.confusion.get((g, p), 0) for p in labels] for g in labels]

    def add(self, outcome: Outcome) -> None:
        self.counts.setdefault(outcome.type, dict.fromkeys(CLASSES, 0))[outcome.cls] += 1
        if outcome.pred is not None:
            self.counts.setdefault(outcome.pred[0], dict.fromkeys(CLASSES, 0))
        key = (outcome.gold[0] if outcome.gold else NONE_LABEL, outcome.pred[0] if outcome.pred else NONE_LABEL)
        self.confusion[key] = self.confusion.get(key, 0) + 1

    def to_json(self) -> dict[str, Any]:
        """``{"mode", "sentences", "gold", "predicted", "classes", "types", "totals": {class: n},
        "per_type": {type: {class: n}}, "confusion": {"labels", "matrix"}, "examples": {class: [{"sentence",
        "tokens", "gold", "pred", "entities"}]}}``: matrix rows are gold labels and columns predicted labels;
        an example's ``sentence`` counts from 1, its spans are ``[type, first, last]`` word positions from 0."""
        return {
            "mode": self.mode, "sentences": self.sentences,
            "gold": self.gold_entities, "predicted": self.predicted_entities,
            "classes": list(CLASSES), "types": self.types, "totals": self.totals(),
            "per_type": {t: dict(self.counts[t]) for t in self.types},
            "confusion": {"labels": self.labels, "matrix": self.matrix()},
            "examples": {c: [e.to_json() for e in self.examples[c]] for c in ERROR_CLASSES if self.examples.get(c)},
        }

    @classmethod
    def combine(cls, parts: Sequence[ErrorAnalysis]) -> ErrorAnalysis:
        """Counts and matrices summed (several seeds of one loss, say); examples are not carried over,
        their sentence numbers would mean nothing across inputs. ValueError when the modes differ."""
        modes = {part.mode for part in parts}
        if len(modes) > 1:
            raise ValueError(f"cannot add analyses of different modes: {', '.join(sorted(modes))}")
        out = cls(mode=modes.pop() if modes else "conlleval")
        for part in parts:
            out.sentences += part.sentences
            out.gold_entities += part.gold_entities
            out.predicted_entities += part.predicted_entities
            for typ, per in part.counts.items():
                mine = out.counts.setdefault(typ, dict.fromkeys(CLASSES, 0))
                for c, n in per.items():
                    mine[c] += n
            for key, n in part.confusion.items():
                out.confusion[key] = out.confusion.get(key, 0) + n
        return out


def analyse_errors(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                   tokens: Sequence[Sequence[str]] | None = None, examples: int = 0,
                   mode: str = "conlleval") -> ErrorAnalysis:
    """Classify every entity of S tagged sentences (module doc); keep up to ``examples`` sentences per error
    class. ``mode``: how entities are read, one of :data:`tagger.metrics.MODES`.

    ValueError on a different number of sentences or words, a bad tag or an unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    for i, (g_tags, p_tags) in enumerate(zip(gold, pred)):
        if len(g_tags) != len(p_tags):
            raise ValueError(f"sentence {i + 1}: {len(g_tags)} gold tags but {len(p_tags)} predicted")
    result = ErrorAnalysis(sentences=len(gold), examples={c: [] for c in ERROR_CLASSES}, mode=mode)
    for i, ((g_spans, p_spans), g_tags) in enumerate(zip(_spans(gold, pred, mode), gold)):
        outcomes = classify_spans(g_spans, p_spans)
        result.gold_entities += len(g_spans)
        result.predicted_entities += len(p_spans)
        for o in outcomes:
            result.add(o)
        for c in dict.fromkeys(o.cls for o in outcomes if o.cls in result.examples):
            if len(result.examples[c]) < examples:
                words = list(tokens[i]) if tokens is not None else [""] * len(g_tags)
                result.examples[c].append(Example(i, words, g_spans, p_spans, [o for o in outcomes if o.cls == c]))
    return result


def bracketed(tokens: Sequence[str], spans: Sequence[Span]) -> str:
    """A sentence with its entities in brackets: ``[Ann Lee]PER saw [New York]LOC``."""
    words = [t or "_" for t in tokens]
    for typ, first, last in sorted(spans, key=lambda s: -s[1]):
        words[first:last + 1] = ["[" + " ".join(words[first:last + 1]) + "]" + typ]
    return " ".join(words)


def _grid(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def format_errors(result: ErrorAnalysis) -> str:
    """A plain-text report of :func:`analyse_errors`: counts per type, the confusion matrix, the examples."""
    lines = [f"{result.sentences} sentences, {result.gold_entities} gold entities, {result.predicted_entities} "
             f"predicted ({result.mode} entities)", ""]
    head = ["type", *(CLASS_NAMES[c] for c in CLASSES)]
    totals = result.totals()
    body = [[t, *(str(result.counts[t][c]) for c in CLASSES)] for t in result.types]
    lines += _grid([head, *body, ["total", *(str(totals[c]) for c in CLASSES)]])
    labels = result.labels
    lines += ["", f"confusion: rows gold, columns predicted, {NONE_LABEL} = no entity"]
    lines += _grid([["gold \\ pred", *labels], *([g, *map(str, row)] for g, row in zip(labels, result.matrix()))])
    for c in ERROR_CLASSES:
        for ex in result.examples.get(c, []):
            lines += ["", f"{CLASS_NAMES[c]}: sentence {ex.index + 1}",
                      f"  gold: {bracketed(ex.tokens, ex.gold)}", f"  pred: {bracketed(ex.tokens, ex.pred)}"]
    return "\n".join(lines) + "\n"
