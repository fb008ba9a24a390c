"""The sweep's summary: mean +- std over seeds per loss, per-type F1, a paired bootstrap against CE, a plot."""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagger.losses.labels import loss_label
from tagger.io import atomic_open, atomic_write_json, atomic_write_text
from tagger.metrics import MODES, sentence_entities
from tagger.peer import PeerRecord

logger = logging.getLogger(__name__)

BASELINE = "ce"


def run_folder_name(spec: dict[str, Any], seed: int) -> str:
    """A safe folder name: only letters, digits and ``._=-``; never a path (``../x`` cannot escape)."""
    label = loss_label(spec).replace("(", "-").replace(")", "").replace(", ", "-")
    label = re.sub(r"[^A-Za-z0-9._=-]+", "_", label).strip("._-") or "loss"
    return f"{label}-seed{seed}"


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


def read_predictions(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    gold: list[list[str]] = []
    pred: list[list[str]] = []
    g: list[str] = []
    p: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if not parts:
                if g:
                    gold.append(g)
                    pred.append(p)
                    g, p = [], []
                continue
            g.append(parts[-2])
            p.append(parts[-1])
    if g:
        gold.append(g)
        pred.append(p)
    return gold, pred


def significance_against_baseline(
    runs: Sequence[dict[str, Any]], runs_dir: Path, samples: int = 1000, *, mode: str = "conlleval"
) -> dict[str, dict[str, Any]]:
    """For every loss label: paired bootstrap against CE run for run with the same seed, on test.

    Entities are counted in ``mode`` (``training.metric_mode``), as the test scores beside the verdict
    are: see :func:`sentence_counts`. A difference counts as real when p < 0.05 for every seed and all
    seeds agree in sign. ValueError on an unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    by_label_seed = {(r["label"], r["seed"]): r for r in runs}
    baseline_seeds = {seed for (label, seed) in by_label_seed if label == BASELINE}
    cache: dict[str, np.ndarray] = {}

    def counts(run: dict[str, Any]) -> np.ndarray | None:
        if run["run"] not in cache:
            path = runs_dir / run["run"] / "test_predictions.conll"
            if not path.is_file():
                return None
            cache[run["run"]] = sentence_counts(*read_predictions(path), mode=mode)
        return cache[run["run"]]

    out: dict[str, dict[str, Any]] = {}
    for label in dict.fromkeys(r["label"] for r in runs):
        if label == BASELINE:
            continue
        per_seed = []
        for seed in sorted(baseline_seeds):
            a, b = by_label_seed.get((label, seed)), by_label_seed.get((BASELINE, seed))
            if a is None or b is None:
                continue
            ca, cb = counts(a), counts(b)
            if ca is None or cb is None or ca.shape != cb.shape:
                continue
            per_seed.append({"seed": seed, **paired_bootstrap(ca, cb, samples=samples, seed=seed)})
        if not per_seed:
            continue
        signs = {math.copysign(1, s["delta_f1"]) for s in per_seed}
        real = len(signs) == 1 and all(s["p_value"] < 0.05 for s in per_seed)
        out[label] = {"per_seed": per_seed, "significant": real,
                      "verdict": ("better than ce" if per_seed[0]["delta_f1"] > 0 else "worse than ce") if real else "noise"}
    return out


# ----------------------------------------------------------------------------------------- summary


def _table_row(label: str, group: Sequence[dict[str, Any]], types: Sequence[str]) -> dict[str, Any]:
    """One table row: the runs of one loss (or of the peer), mean +- std over their seeds."""
    row: dict[str, Any] = {"loss": label, "name": group[0]["loss"], "params": group[0]["params"],
                           "seeds": [r["seed"] for r in group]}
    for split in ("validation", "test"):
        for metric in ("f1", "precision", "recall"):
            mean, std = _mean_std([r[split][metric] for r in group])
            row[f"{split}_{metric}_mean"], row[f"{split}_{metric}_std"] = mean, std
    row["precision_mean"], row["recall_mean"] = row["test_precision_mean"], row["test_recall_mean"]
    per_type = {t: _mean_std([r["test"]["per_type"].get(t, {}).get("f1", 0.0) for r in group]) for t in types}
    row["per_type_f1_mean"] = {t: m for t, (m, _) in per_type.items()}
    row["per_type_f1_std"] = {t: sd for t, (_, sd) in per_type.items()}
    row["train_seconds_mean"] = _mean_std([r["train_seconds"] for r in group])[0]
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
    row = _table_row(record.label, runs, summary["types"])
    row["peer"] = True
    row["description"] = record.description
    row["vs_ce"] = "peer (not bootstrapped)"
    out = {**summary, "runs": [*summary["runs"], *runs], "table": [*summary["table"], row]}
    out["peers"] = [*summary.get("peers", []), {k: v for k, v in record.to_json().items() if k != "runs"}]
    out["table_text"] = format_table(out)
    return out


def summarize(runs: Sequence[dict[str, Any]], label_list: Sequence[str] = (), runs_dir: Path | None = None,
              bootstrap_samples: int = 1000, *, mode: str = "conlleval") -> dict[str, Any]:
    """Group runs by loss label; mean +- std over seeds of validation and test metrics.

    With ``runs_dir``, the paired bootstrap against ce (:func:`significance_against_baseline`) counts
    entities in ``mode``: pass the mode the runs were scored in (``training.metric_mode``).
    """
    types = sorted({t for r in runs for t in r["test"].get("per_type", {})})
    table = [_table_row(label, [r for r in runs if r["label"] == label], types)
             for label in dict.fromkeys(r["label"] for r in runs)]
    best_row = max(table, key=lambda r: r["validation_f1_mean"]) if table else None
    best = best_row["loss"] if best_row else None
    best_run = None
    if best_row is not None:
        best_run = max((r for r in runs if r["label"] == best), key=lambda r: r["validation"]["f1"])["run"]
    significance = (significance_against_baseline(runs, runs_dir, bootstrap_samples, mode=mode)
                    if runs_dir is not None else {})
    for row in table:
        row["vs_ce"] = significance.get(row["loss"], {}).get("verdict", "")
    summary = {"runs": list(runs), "table": table, "types": types, "best": best, "best_run": best_run,
               "best_by": "mean validation F1 over seeds", "significance": significance, "metric_mode": mode}
    summary["table_text"] = format_table(summary)
    return summary


def _pm(mean: float, std: float, scale: float = 100.0) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean * scale:.1f} ± {std * scale:.1f}"


def format_table(summary: dict[str, Any]) -> str:
    """Markdown table: per loss, validation/test F1 mean ± std, precision, recall, per-type test F1, time."""
    types = summary["types"]
    head = ["loss", "seeds", "val F1", "test F1", "test P", "test R", *types, "train s", "vs ce"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in summary["table"]:
        mark = " **(best)**" if row["loss"] == summary["best"] else ""
        cells = [
            f"{row['loss']}{mark}",
            str(len(row["seeds"])),
            _pm(row["validation_f1_mean"], row["validation_f1_std"]),
            _pm(row["test_f1_mean"], row["test_f1_std"]),
            f"{row['test_precision_mean'] * 100:.1f}",
            f"{row['test_recall_mean'] * 100:.1f}",
            *[f"{row['per_type_f1_mean'][t] * 100:.1f}" for t in types],
            f"{row['train_seconds_mean']:.0f}",
            row.get("vs_ce", ""),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"F1 in %, mean ± std over seeds (seqeval, word level); best = highest {summary['best_by']}. "
                 "'vs ce': paired bootstrap over test sentences, per seed (p < 0.05 on every seed, same sign).")
    return "\n".join(lines)


def _csv_text(summary: dict[str, Any]) -> str:
    buf = io.StringIO()
    types = summary["types"]
    cols = ["loss", "seeds", "validation_f1_mean", "validation_f1_std", "test_f1_mean", "test_f1_std",
            "test_precision_mean", "test_recall_mean", *[f"test_f1_{t}" for t in types], "train_seconds_mean", "vs_ce"]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for row in summary["table"]:
        writer.writerow([row["loss"], " ".join(map(str, row["seeds"])), *(f"{row[c]:.6f}" for c in cols[2:8]),
                         *(f"{row['per_type_f1_mean'][t]:.6f}" for t in types), f"{row['train_seconds_mean']:.1f}",
                         row.get("vs_ce", "")])
    return buf.getvalue()


def plot_summary(summary: dict[str, Any], path: Path) -> None:
    """Left: test F1 per loss, every seed as a dot over the mean ± std bar. Right: per-type test F1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary["table"]
    labels = [r["loss"] for r in table]
    types = summary["types"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * max(4, len(labels)) + 2.6),
                             gridspec_kw={"width_ratios": [1, 1.4]})
    ax = axes[0]
    y = np.arange(len(labels))
    means = [r["test_f1_mean"] * 100 for r in table]
    stds = [r["test_f1_std"] * 100 for r in table]
    colors = ["tab:orange" if r["loss"] == summary["best"] else "tab:gray" if r.get("peer") else "tab:blue"
              for r in table]
    ax.barh(y, means, xerr=stds, color=colors, alpha=0.6, capsize=3)
    for i, label in enumerate(labels):
        vals = [r["test"]["f1"] * 100 for r in summary["runs"] if r["label"] == label]
        ax.scatter(vals, [i] * len(vals), color="black", s=12, zorder=3)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("test F1 (%)  bar: mean ± std over seeds, dots: seeds")
    lo = max(0.0, min((min(means) if means else 0) - 10, 100))
    ax.set_xlim(left=lo)
    ax.set_title("Test F1 per loss")
    ax = axes[1]
    if types:
        width = 0.8 / max(1, len(table))
        x = np.arange(len(types))
        for i, r in enumerate(table):
            ax.bar(x + i * width, [r["per_type_f1_mean"][t] * 100 for t in types], width,
                   yerr=[r["per_type_f1_std"][t] * 100 for t in types], label=r["loss"], capsize=1.5)
        ax.set_xticks(x + 0.4 - width / 2, types, rotation=20)
        ax.set_ylabel("test F1 (%)")
        ax.set_title("Per-type test F1 (mean ± std over seeds)")
        # below the axes: inside, it hid the bars and long loss names ran off the figure
        ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def summary_markdown(summary: dict[str, Any], png_name: str = "summary.png") -> str:
    """summary.md: the table, the plot, the peer's description and the paired bootstrap against ce."""
    sig_lines = []
    for label, sig in summary.get("significance", {}).items():
        per = "; ".join(f"seed {s['seed']}: ΔF1 {s['delta_f1'] * 100:+.1f} [{s['ci_low'] * 100:+.1f}, {s['ci_high'] * 100:+.1f}], "
                        f"p={s['p_value']:.3f}" for s in sig["per_seed"])
        sig_lines.append(f"- {label}: **{sig['verdict']}** ({per})")
    md = "# Sweep summary\n\n" + summary["table_text"] + f"\n\n![test F1 per loss]({png_name})\n"
    for row in summary["table"]:
        if row.get("peer") and row.get("description"):
            md += f"\n*{row['loss']}*: {row['description']}\n"
    if sig_lines:
        mode = summary.get("metric_mode", "conlleval")
        md += (f"\n## Paired bootstrap against ce (test sentences, {mode} entities)\n\n"
               + "\n".join(sig_lines) + "\n")
    return md


def write_summary(out_dir: Path, summary: dict[str, Any], **_: Any) -> None:
    """summary.json (every run in full), summary.csv, summary.md, summary.png."""
    out_dir = Path(out_dir)
    data = {k: v for k, v in summary.items() if k != "table_text"}
    atomic_write_json(out_dir / "summary.json", data)
    atomic_write_text(out_dir / "summary.csv", _csv_text(summary))
    atomic_write_text(out_dir / "summary.md", summary_markdown(summary))
    try:
        plot_summary(summary, out_dir / "summary.png")
    except Exception as err:  # a plot must never cost the numbers
        logger.warning("could not draw summary.png: %s", err)
