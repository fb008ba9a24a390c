"""Two rows of a finished sweep compared seed for seed: is lever A better than B, overall and per type?

The summary bootstraps every row against ``ce · argmax``; a lever's own question is usually another:
does adding it to the best stack help? :func:`compare_rows` answers it for any two rows of one sweep
folder's ``summary.json``, on the test predictions each run wrote, paired by seed and by sentence:

* overall: the paired bootstrap over test sentences of each seed (:func:`tagger.summary.paired_bootstrap`),
  with the summary's rule for a verdict (p < 0.05 on every seed, all seeds the same sign);
* per entity type: the same bootstrap on that type's entities alone, and the mean F1 of each row;
* precision and recall of each row (mean over the seeds), where a lever such as a threshold trades one
  for the other.

Entities are counted in the sweep's metric mode, as its scores are. The result is plain JSON
(``tagger compare --json``): a page that quotes a lever's effect renders it from that file.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagger.errors import InputError
from tagger.metrics import MODES, Entity, sentence_entities
from tagger.run_files import predictions_name, read_predictions
from tagger.summary import paired_bootstrap

#: The share of resamples below which a difference of one seed counts (two-sided), as in the summary.
SIGNIFICANCE_LEVEL = 0.05


def _counts(pairs: Sequence[tuple[set[Entity], set[Entity]]], entity_type: str | None) -> np.ndarray:
    """Per sentence (tp, predicted, gold) of the entities of ``entity_type`` (None: all): [N, 3]."""
    out = np.zeros((len(pairs), 3), dtype=np.int64)
    for i, (gold, pred) in enumerate(pairs):
        if entity_type is not None:
            gold = {e for e in gold if e[0] == entity_type}
            pred = {e for e in pred if e[0] == entity_type}
        out[i] = (len(gold & pred), len(pred), len(gold))
    return out


def _prf(counts: np.ndarray) -> dict[str, float]:
    """Micro precision, recall and F1 of summed ``counts: [N, 3]``."""
    tp, pred, gold = (int(x) for x in counts.sum(axis=0))
    p = tp / pred if pred else 0.0
    r = tp / gold if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def verdict(per_seed: Sequence[dict[str, float]], a: str, b: str) -> str:
    """``"better than B"`` / ``"worse than B"`` when every seed's p is below :data:`SIGNIFICANCE_LEVEL` and all
    seeds agree in sign, else ``"noise"``; a row compared on no seed is ``"no common seed"``."""
    if not per_seed:
        return "no common seed"
    signs = {math.copysign(1, s["delta_f1"]) for s in per_seed}
    if len(signs) == 1 and all(s["p_value"] < SIGNIFICANCE_LEVEL for s in per_seed):
        return f"{'better' if per_seed[0]['delta_f1'] > 0 else 'worse'} than {b}"
    return "noise"


def _row(summary: dict[str, Any], label: str, path: Path) -> dict[str, Any]:
    for row in summary.get("table", []):
        if row["label"] == label:
            return row
    known = ", ".join(repr(r["label"]) for r in summary.get("table", []))
    raise InputError(f"no row {label!r}; the summary's rows: {known}", path=path)


def _seed_pairs(out_dir: Path, row: dict[str, Any], mode: str) -> dict[int, list[tuple[set[Entity], set[Entity]]]]:
    """Per seed of ``row``, the (gold, predicted) entity sets of every test sentence of its run."""
    out = {}
    for seed, run in zip(row["seeds"], row["runs"]):
        path = out_dir / "runs" / str(run) / (row.get("predictions") or predictions_name(row.get("decoding")))
        if not path.is_file():
            raise InputError(f"row {row['label']!r}, seed {seed}: no predictions file", path=path)
        out[seed] = sentence_entities(*read_predictions(path), mode=mode)
    return out


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _summary(out_dir: Path) -> tuple[dict[str, Any], Path]:
    path = out_dir / "summary.json"
    if not path.is_file():
        raise InputError("no summary.json: run `tagger summarize` on the folder first", path=path)
    return json.loads(path.read_text(encoding="utf-8")), path


def compare_rows(out_dir: Path, a: str, b: str, samples: int = 1000, b_dir: Path | None = None) -> dict[str, Any]:
    """Row ``a`` against row ``b`` (labels as in the summary table) of the sweep in ``out_dir``; with
    ``b_dir``, row ``b`` is read from the sweep in that folder (the same test split: a setting that is
    not a lever of the run labels, such as ``model.freeze_layers``, compared across two sweeps).

    Returns ``{"a", "b", "mode", "seeds", "overall": {"per_seed": [...], "verdict", "a": {p, r, f1},
    "b": {...}}, "per_type": {type: {same keys}}}``; every ``a``/``b`` score is the mean over the common
    seeds, in [0, 1]; ``per_seed`` holds :func:`tagger.summary.paired_bootstrap`'s numbers with the seed.
    InputError when the folder has no summary, a row is missing, or their runs scored different sentences.
    """
    summary, path = _summary(out_dir)
    summary_b, path_b = _summary(b_dir) if b_dir is not None else (summary, path)
    mode = summary.get("metric_mode") or MODES[0]
    if (summary_b.get("metric_mode") or MODES[0]) != mode:
        raise InputError(f"the sweeps were scored in different seqeval modes ({mode} here)", path=path_b)
    row_a, row_b = _row(summary, a, path), _row(summary_b, b, path_b)
    pairs_a, pairs_b = _seed_pairs(out_dir, row_a, mode), _seed_pairs(b_dir or out_dir, row_b, mode)
    seeds = sorted(set(pairs_a) & set(pairs_b))
    for seed in seeds:
        golds_a = [g for g, _ in pairs_a[seed]]
        if golds_a != [g for g, _ in pairs_b[seed]]:
            raise InputError(f"seed {seed}: rows {a!r} and {b!r} were scored on different test sentences", path=path)
    types = sorted({e[0] for seed in seeds for gold, _ in pairs_a[seed] for e in gold})

    def side(entity_type: str | None) -> dict[str, Any]:
        per_seed, scores_a, scores_b = [], [], []
        for seed in seeds:
            ca, cb = _counts(pairs_a[seed], entity_type), _counts(pairs_b[seed], entity_type)
            per_seed.append({"seed": seed, **paired_bootstrap(ca, cb, samples=samples, seed=seed)})
            scores_a.append(_prf(ca))
            scores_b.append(_prf(cb))
        mean = {name: {k: _mean([s[k] for s in scores]) for k in ("precision", "recall", "f1")}
                for name, scores in (("a", scores_a), ("b", scores_b))}
        return {"per_seed": per_seed, "verdict": verdict(per_seed, a, b), **mean}

    folders = {"a_dir": out_dir.resolve().name, "b_dir": b_dir.resolve().name} if b_dir is not None else {}
    return {"a": a, "b": b, **folders, "mode": mode, "seeds": seeds, "samples": samples,
            "overall": side(None), "per_type": {t: side(t) for t in types}}


def format_comparison(result: dict[str, Any]) -> str:
    """The comparison as a markdown table: one line overall, one per type (F1 in %, Δ with its seeds' range)."""
    a, b = result["a"], result["b"]
    if result.get("b_dir"):  # rows of two sweeps: each named with its folder
        a, b = f"{a} ({result['a_dir']})", f"{b} ({result['b_dir']})"
    lines = [f"{a} vs {b} (test, {result['mode']}, seeds "
             f"{', '.join(map(str, result['seeds']))}; paired bootstrap, {result['samples']} resamples per seed)", "",
             "| entities | F1 a | F1 b | Δ F1 | Δ per seed | P a / b | R a / b | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for name, part in (("all", result["overall"]), *result["per_type"].items()):
        deltas = " / ".join(f"{s['delta_f1'] * 100:+.1f}" for s in part["per_seed"])
        lines.append(f"| {name} | {part['a']['f1'] * 100:.1f} | {part['b']['f1'] * 100:.1f} | "
                     f"{(part['a']['f1'] - part['b']['f1']) * 100:+.1f} | {deltas} | "
                     f"{part['a']['precision'] * 100:.1f} / {part['b']['precision'] * 100:.1f} | "
                     f"{part['a']['recall'] * 100:.1f} / {part['b']['recall'] * 100:.1f} | {part['verdict']} |")
    return "\n".join(lines)
