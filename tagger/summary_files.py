"""The sweep's summary as files a person reads: the table (Markdown, printed), CSV, the plot and summary.md;
:func:`write_summary` writes them with summary.json. The summary itself is :func:`tagger.summary.summarize`'s."""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagger.io import atomic_open, atomic_write_json, atomic_write_text
from tagger.summary import BASELINE, BASELINE_DECODING, row_label
from tagger.train.sampling import no_op_note

logger = logging.getLogger(__name__)


def _pm(mean: float, std: float, scale: float = 100.0) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean * scale:.1f} ± {std * scale:.1f}"


def _has_decodings(summary: dict[str, Any]) -> bool:
    return any(row.get("decoding") for row in summary["table"])


def _o_bias_text(row: dict[str, Any]) -> str:
    biases = [b for b in row.get("o_bias") or [] if b is not None]
    return " / ".join(f"{b:g}" for b in biases) if biases else ""


def _ece_text(row: dict[str, Any]) -> str:
    return f"{row['test_ece_mean'] * 100:.1f}" if "test_ece_mean" in row else ""


#: the all_results.json keys of the data levers' reports, whose ``no_op`` says a run trained on the data unchanged
LEVER_REPORTS: tuple[str, ...] = ("augment", "sampling", "context")


def lever_notes(runs: Sequence[dict[str, Any]]) -> list[str]:
    """One line per (run label, lever) whose report says it changed nothing, with the seeds it held on:
    ``"ce + oversample_rare (seeds 1, 2): oversample_rare: no-op, rare types already 31% of sentences"``."""
    seeds: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        for key in LEVER_REPORTS:
            report = run.get(key) or {}
            if report.get("no_op"):
                note = no_op_note(str(report.get("method", key)), str(report["no_op"]))
                seeds.setdefault((run["label"], note), []).append(str(run.get("seed", "?")))
    return [f"{label} (seed{'s' if len(s) > 1 else ''} {', '.join(s)}): {note}" for (label, note), s in seeds.items()]


def format_table(summary: dict[str, Any]) -> str:
    """Markdown table: per (loss, decoding) row, validation/test F1 mean ± std, precision, recall,
    per-type test F1, (with decodings) the test ECE of entity scores and the O bias per seed, time."""
    types = summary["types"]
    decoded = _has_decodings(summary)
    extra = ["test ECE", "O bias"] if decoded else []
    head = ["loss · decoding" if decoded else "loss", "seeds", "val F1", "test F1", "test P", "test R", *types,
            *extra, "train s", "vs ce"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in summary["table"]:
        label = row.get("label", row["loss"])
        mark = " **(best)**" if label == summary["best"] else ""
        cells = [
            f"{label}{mark}",
            str(len(row["seeds"])),
            _pm(row["validation_f1_mean"], row["validation_f1_std"]),
            _pm(row["test_f1_mean"], row["test_f1_std"]),
            f"{row['test_precision_mean'] * 100:.1f}",
            f"{row['test_recall_mean'] * 100:.1f}",
            *[f"{row['per_type_f1_mean'][t] * 100:.1f}" for t in types],
            *([_ece_text(row), _o_bias_text(row)] if decoded else []),
            f"{row['train_seconds_mean']:.0f}",
            row.get("vs_ce", ""),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"F1 in %, mean ± std over seeds (seqeval at word level, {summary.get('metric_mode', 'conlleval')} mode); best = highest {summary['best_by']}. "
                 "'vs ce': paired bootstrap over test sentences, per seed (p < 0.05 on every seed, same sign)"
                 + (" against ce · argmax, run for run. Decodings (docs/decoding.md): argmax, viterbi (a CRF "
                    "head's own), '+threshold' with the O bias tuned on validation, '+type_thresholds' with a "
                    "bias per entity type on top (so their validation F1 is the one they were tuned on); test "
                    "ECE: expected calibration error of the entity scores, in %."
                    if decoded else "."))
    notes = lever_notes(summary.get("runs", []))
    if notes:
        # a row identical to the lever-less one would otherwise look like a finding about the lever
        lines += ["", "Data levers that changed nothing (the run trained on what it would have without them):",
                  *(f"- {n}" for n in notes)]
    return "\n".join(lines)


def _csv_text(summary: dict[str, Any]) -> str:
    buf = io.StringIO()
    types = summary["types"]
    cols = ["loss", "seeds", "validation_f1_mean", "validation_f1_std", "test_f1_mean", "test_f1_std",
            "test_precision_mean", "test_recall_mean", *[f"test_f1_{t}" for t in types], "train_seconds_mean", "vs_ce",
            "decoding", "label", "test_ece_mean", "o_bias"]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for row in summary["table"]:
        writer.writerow([row["loss"], " ".join(map(str, row["seeds"])), *(f"{row[c]:.6f}" for c in cols[2:8]),
                         *(f"{row['per_type_f1_mean'][t]:.6f}" for t in types), f"{row['train_seconds_mean']:.1f}",
                         row.get("vs_ce", ""), row.get("decoding") or "", row.get("label", row["loss"]),
                         f"{row['test_ece_mean']:.6f}" if "test_ece_mean" in row else "",
                         " ".join(f"{b:g}" for b in row.get("o_bias") or [] if b is not None)])
    return buf.getvalue()


def plot_summary(summary: dict[str, Any], path: Path) -> None:
    """Left: test F1 per loss, every seed as a dot over the mean ± std bar. Right: per-type test F1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary["table"]
    labels = [r.get("label", r["loss"]) for r in table]
    types = summary["types"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * max(4, len(labels)) + 2.6),
                             gridspec_kw={"width_ratios": [1, 1.4]})
    ax = axes[0]
    y = np.arange(len(labels))
    means = [r["test_f1_mean"] * 100 for r in table]
    stds = [r["test_f1_std"] * 100 for r in table]
    colors = ["tab:orange" if label == summary["best"] else "tab:gray" if r.get("peer") else "tab:blue"
              for label, r in zip(labels, table)]
    ax.barh(y, means, xerr=stds, color=colors, alpha=0.6, capsize=3)
    for i, r in enumerate(table):
        vals = [v * 100 for v in r.get("test_f1_seeds") or
                [x["test"]["f1"] for x in summary["runs"] if x["label"] == r["loss"]]]
        ax.scatter(vals, [i] * len(vals), color="black", s=12, zorder=3)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("test F1 (%)  bar: mean ± std over seeds, dots: seeds")
    lo = max(0.0, min((min(means) if means else 0) - 10, 100))
    ax.set_xlim(left=lo)
    ax.set_title("Test F1 per loss and decoding" if _has_decodings(summary) else "Test F1 per loss")
    ax = axes[1]
    if types:
        width = 0.8 / max(1, len(table))
        x = np.arange(len(types))
        for i, r in enumerate(table):
            ax.bar(x + i * width, [r["per_type_f1_mean"][t] * 100 for t in types], width,
                   yerr=[r["per_type_f1_std"][t] * 100 for t in types], label=labels[i], capsize=1.5)
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
    md = "# Sweep summary\n\n" + summary["table_text"] + f"\n\n![test F1 per row]({png_name})\n"
    for row in summary["table"]:
        if row.get("peer") and row.get("description"):
            md += f"\n*{row['loss']}*: {row['description']}\n"
    if sig_lines:
        mode = summary.get("metric_mode", "conlleval")
        against = row_label(BASELINE, BASELINE_DECODING if _has_decodings(summary) else None)
        md += (f"\n## Paired bootstrap against {against} (test sentences, {mode} entities)\n\n"
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
