"""The sweep's summary: one row per (loss, decoding), mean +- std over seeds, per-type F1, a paired bootstrap
against ``ce`` with ``argmax`` decoding (the files a person reads: :mod:`tagger.summary_files`).

A run (one loss, one seed) is scored with every decoding (:mod:`tagger.decoding`): all_results.json
holds them under ``decodings`` and each one's test tags in :func:`tagger.run_files.predictions_name`. Runs written
before decodings existed (and peers) have one set of scores: their rows have no decoding (``None``),
their label is the loss and their predictions are ``test_predictions.conll``.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagger.decoding import DEFAULT_SWEEP_DECODINGS
from tagger.metrics import MODES, sentence_entities
from tagger.peer import PeerRecord
from tagger.run_files import predictions_name, read_predictions

logger = logging.getLogger(__name__)

BASELINE = "ce"
BASELINE_DECODING = "argmax"


def row_label(loss: str, decoding: str | None) -> str:
    """A table row's name: ``"focal(gamma=2.0) · viterbi"``, or the loss alone for a row without decoding."""
    return loss if decoding is None else f"{loss} · {decoding}"


def run_decodings(run: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    """A run's scores per decoding (``{"validation", "test", ...}``); ``{None: run}`` for a run without them."""
    return dict(run["decodings"]) if run.get("decodings") else {None: run}


def is_baseline(row: dict[str, Any]) -> bool:
    """The row every other is bootstrapped against: ``ce`` with ``argmax`` (or without decodings)."""
    return row.get("loss") == BASELINE and row.get("decoding") in (None, BASELINE_DECODING) and not row.get("peer")


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


# ----------------------------------------------------------------------------------------- bootstrap


def sentence_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                    mode: str = "conlleval") -> np.ndarray:
    """Per sentence (true positives, predicted, gold) entity counts, [N, 3]: the entities that
    ``score_sequences(gold, pred, mode=mode)`` counts (:func:`tagger.metrics.sentence_entities`), so the
    columns sum to its ``tp``, ``predicted`` and ``gold``."""
    out = np.zeros((len(gold), 3), dtype=np.int64)
    for i, (ge, pe) in enumerate(sentence_entities(gold, pred, mode)):
        out[i] = (len(ge & pe), len(pe), len(ge))
    return out


def _f1(counts: np.ndarray) -> np.ndarray:
    """Micro F1 from summed counts; counts [..., 3]."""
    tp, pred, gold = counts[..., 0], counts[..., 1], counts[..., 2]
    denom = pred + gold
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def paired_bootstrap(
    counts_a: np.ndarray, counts_b: np.ndarray, samples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Paired bootstrap over sentences of F1(a) - F1(b).

    ``counts_*``: [N, 3] per-sentence (tp, predicted, gold) of two systems on the same sentences.
    Returns the observed difference, a 95% interval, and p: the share of resamples where the
    difference has the opposite sign of the observed one (two-sided: doubled, capped at 1).
    """
    rng = np.random.default_rng(seed)
    n = counts_a.shape[0]
    idx = rng.integers(0, n, size=(samples, n))
    diff = _f1(counts_a[idx].sum(axis=1)) - _f1(counts_b[idx].sum(axis=1))
    observed = float(_f1(counts_a.sum(axis=0)) - _f1(counts_b.sum(axis=0)))
    if observed >= 0:
        p = float(np.mean(diff <= 0))
    else:
        p = float(np.mean(diff >= 0))
    return {"delta_f1": observed, "ci_low": float(np.percentile(diff, 2.5)),
            "ci_high": float(np.percentile(diff, 97.5)), "p_value": min(1.0, 2 * p)}


def _baseline_decoding(run: dict[str, Any]) -> str | None:
    return BASELINE_DECODING if BASELINE_DECODING in run_decodings(run) else None


def significance_against_baseline(
    runs: Sequence[dict[str, Any]], runs_dir: Path, samples: int = 1000, *, mode: str = "conlleval",
    rows: Sequence[tuple[str, str | None]] | None = None,
) -> dict[str, dict[str, Any]]:
    """For every (loss label, decoding) row: paired bootstrap against ``ce`` with ``argmax`` decoding
    (a run without decodings: its only predictions), run for run with the same seed, on test.

    ``rows`` default to every run's label without decoding. Entities are counted in ``mode``
    (``training.metric_mode``), as the test scores beside the verdict are: see :func:`sentence_counts`.
    A difference counts as real when p < 0.05 for every seed and all seeds agree in sign. Keys are
    :func:`row_label`. ValueError on an unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    by_label_seed = {(r["label"], r["seed"]): r for r in runs}
    baseline_seeds = sorted({seed for (label, seed) in by_label_seed if label == BASELINE})
    cache: dict[tuple[str, str | None], np.ndarray | None] = {}

    def counts(run: dict[str, Any], decoding: str | None) -> np.ndarray | None:
        key = (run["run"], decoding)
        if key not in cache:
            path = runs_dir / run["run"] / predictions_name(decoding)
            cache[key] = sentence_counts(*read_predictions(path), mode=mode) if path.is_file() else None
        return cache[key]

    out: dict[str, dict[str, Any]] = {}
    if rows is None:
        rows = [(label, None) for label in dict.fromkeys(r["label"] for r in runs)]
    for label, decoding in rows:
        if is_baseline({"loss": label, "decoding": decoding}):
            continue
        per_seed, against = [], None
        for seed in baseline_seeds:
            a, b = by_label_seed.get((label, seed)), by_label_seed.get((BASELINE, seed))
            if a is None or b is None:
                continue
            against = row_label(BASELINE, _baseline_decoding(b))
            ca, cb = counts(a, decoding), counts(b, _baseline_decoding(b))
            if ca is None or cb is None or ca.shape != cb.shape:
                continue
            per_seed.append({"seed": seed, **paired_bootstrap(ca, cb, samples=samples, seed=seed)})
        if not per_seed:
            continue
        signs = {math.copysign(1, s["delta_f1"]) for s in per_seed}
        real = len(signs) == 1 and all(s["p_value"] < 0.05 for s in per_seed)
        verdict = "noise"
        if real:
            verdict = f"better than {against}" if per_seed[0]["delta_f1"] > 0 else f"worse than {against}"
        out[row_label(label, decoding)] = {"per_seed": per_seed, "significant": real, "verdict": verdict,
                                           "baseline": against}
    return out


# ----------------------------------------------------------------------------------------- summary


def _scores(run: dict[str, Any], decoding: str | None) -> dict[str, Any]:
    """The run with its top-level scores those of ``decoding`` (None: the run as it is)."""
    return run if decoding is None else {**run, **run_decodings(run)[decoding]}


def _table_row(label: str, decoding: str | None, group: Sequence[dict[str, Any]],
               types: Sequence[str]) -> dict[str, Any]:
    """One table row: the runs of one loss (or of the peer) under one decoding, mean +- std over their seeds."""
    views = [_scores(r, decoding) for r in group]
    row: dict[str, Any] = {"loss": label, "decoding": decoding, "label": row_label(label, decoding),
                           "name": group[0]["loss"], "params": group[0]["params"], "seeds": [r["seed"] for r in group],
                           "runs": [r.get("run") for r in group], "predictions": predictions_name(decoding)}
    for split in ("validation", "test"):
        for metric in ("f1", "precision", "recall"):
            mean, std = _mean_std([r[split][metric] for r in views])
            row[f"{split}_{metric}_mean"], row[f"{split}_{metric}_std"] = mean, std
    row["precision_mean"], row["recall_mean"] = row["test_precision_mean"], row["test_recall_mean"]
    row["test_f1_seeds"] = [r["test"]["f1"] for r in views]
    per_type = {t: _mean_std([r["test"]["per_type"].get(t, {}).get("f1", 0.0) for r in views]) for t in types}
    row["per_type_f1_mean"] = {t: m for t, (m, _) in per_type.items()}
    row["per_type_f1_std"] = {t: sd for t, (_, sd) in per_type.items()}
    row["train_seconds_mean"] = _mean_std([r["train_seconds"] for r in group])[0]
    eces = [r["calibration"]["ece"] for r in views if (r.get("calibration") or {}).get("ece") is not None]
    if eces:
        row["test_ece_mean"], row["test_ece_std"] = _mean_std(eces)
    if any("o_bias" in r for r in views):
        row["o_bias"] = [r.get("o_bias") for r in views]
    if any("type_bias" in r for r in views):
        row["type_bias"] = [r.get("type_bias") for r in views]
    return row


def add_peer(summary: dict[str, Any], peer: PeerRecord | dict[str, Any]) -> dict[str, Any]:
    """The summary with the peer's row added (after the losses): the same table, plot and CSV columns.

    ``peer``: a :class:`~tagger.peer.PeerRecord` (what ``scripts/bench_train.py --peer-json`` writes), or
    the file's JSON object, read with :meth:`PeerRecord.from_json`. The peer takes no part in choosing
    the best loss and is not bootstrapped (its predictions come from another program); its 'vs ce'
    cell says so.
    """
    record = peer if isinstance(peer, PeerRecord) else PeerRecord.from_json(peer)
    runs = [{**r.to_json(), "label": record.label, "loss": "peer", "params": {}, "peer": True} for r in record.runs]
    row = _table_row(record.label, None, runs, summary["types"])
    row.update(peer=True, description=record.description, vs_ce="peer (not bootstrapped)", runs=[], predictions=None)
    out = {**summary, "runs": [*summary["runs"], *runs], "table": [*summary["table"], row]}
    out["peers"] = [*summary.get("peers", []), {k: v for k, v in record.to_json().items() if k != "runs"}]
    from tagger.summary_files import format_table  # the files module reads this one's names

    out["table_text"] = format_table(out)
    return out


def _rows(runs: Sequence[dict[str, Any]], decodings: Sequence[str]) -> list[tuple[str, str | None]]:
    """(loss label, decoding) of every row, losses in run order, decodings in ``decodings`` order
    (those the runs have). A run without decodings gives one row without decoding."""
    out = []
    for label in dict.fromkeys(r["label"] for r in runs):
        have: dict[str | None, None] = {}
        for r in runs:
            if r["label"] == label:
                have.update(dict.fromkeys(run_decodings(r)))
        wanted = [d for d in decodings if d in have]
        out += [(label, d) for d in ([None] if None in have else []) + [d for d in wanted if d is not None]]
    return out


def summarize(runs: Sequence[dict[str, Any]], label_list: Sequence[str] = (), runs_dir: Path | None = None,
              bootstrap_samples: int = 1000, *, mode: str = "conlleval",
              decodings: Sequence[str] | None = None) -> dict[str, Any]:
    """One row per (loss label, decoding): mean +- std over seeds of validation and test metrics.

    ``decodings`` (``sweep.decodings``) picks and orders the decodings shown (default: the config's
    default, :data:`tagger.decoding.DEFAULT_SWEEP_DECODINGS`). The best row has the highest mean validation F1 (test plays no part); ``best_run`` is its
    run with the highest validation F1 under that decoding. With ``runs_dir``, the paired bootstrap
    against ``ce`` + ``argmax`` (:func:`significance_against_baseline`) counts entities in ``mode``:
    pass the mode the runs were scored in (``training.metric_mode``).
    """
    types = sorted({t for r in runs for d in run_decodings(r).values() for t in d["test"].get("per_type", {})})
    pairs = _rows(runs, DEFAULT_SWEEP_DECODINGS if decodings is None else decodings)

    def group(label: str, decoding: str | None) -> list[dict[str, Any]]:
        return [r for r in runs if r["label"] == label and decoding in run_decodings(r)]

    table = [_table_row(label, d, group(label, d), types) for label, d in pairs]
    best_row = max(table, key=lambda r: r["validation_f1_mean"]) if table else None
    best_run = None
    if best_row is not None:
        best_run = max(group(best_row["loss"], best_row["decoding"]),
                       key=lambda r: _scores(r, best_row["decoding"])["validation"]["f1"])["run"]
    significance = (significance_against_baseline(runs, runs_dir, bootstrap_samples, mode=mode, rows=pairs)
                    if runs_dir is not None else {})
    for row in table:
        row["vs_ce"] = significance.get(row["label"], {}).get("verdict", "")
    summary = {"runs": list(runs), "table": table, "types": types,
               "best": best_row["label"] if best_row else None,
               "best_loss": best_row["loss"] if best_row else None,
               "best_decoding": best_row["decoding"] if best_row else None, "best_run": best_run,
               "best_by": "mean validation F1 over seeds", "significance": significance, "metric_mode": mode,
               "decodings": list(dict.fromkeys(d for _, d in pairs if d is not None))}
    from tagger.summary_files import format_table  # the files module reads this one's names

    summary["table_text"] = format_table(summary)
    return summary
