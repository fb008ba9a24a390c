"""The training and loss figures of docs/performance.md, rendered by ``scripts/figures.py`` from the JSON the
benchmarks write: ``scripts/bench_train.py --json`` (``results/bench-train.json``, and the checks run on their
own, ``results/bench-train-checks.json``) and ``scripts/bench_losses.py --json`` (``results/bench-losses.json``).

The text blocks are the scripts' own printed text (one format, rendered by the scripts' functions); the
summaries pick figures out of the same records. A check that was not run renders nothing.
"""

from __future__ import annotations

from typing import Any

import _bench_text as text
import bench_losses
from _bench_report import TARGETS, loss_step_ok, verdict

#: The summary's rows: the check's key in ``report["checks"]`` and what the row says.
SUMMARY_ROWS = {
    "tokens_per_second_a_over_b": "training tokens/s, tagger's loop / (b) Trainer at `run_ner.py` defaults",
    "tokens_per_second_a_over_c": "... / (c) Trainer with `group_by_length`",
    "tokens_per_second_a_over_d": "... / (d) Trainer with `group_by_length` and `bf16=True` (equal precision)",
    "validation_f1_a_minus_b": "mean validation F1, tagger's loop − (b)",
    "peak_rss": "peak RSS, tagger's loop / (b) (the largest of their runs)",
    "utilisation_a": "tagger's loop: training FLOP/s / a 2048x2048 matmul of its precision",
}


def _code(body: str) -> str:
    """``body`` as a fenced block; nothing where there is nothing to show."""
    return f"```\n{body}```\n" if body else ""


def _excerpt(body: str, report: dict[str, Any]) -> str:
    """A part of bench_train's report as a fenced block, under the machine it ran on (the report's headline
    is not part of it)."""
    return _code(f"machine: {text.machine_text(report)}\n\n{body}") if body else ""


def train_table(report: dict[str, Any]) -> str:
    """The training benchmark as ``bench_train.py`` prints it: the runs, the means, the checks, the padding."""
    return _code(text.training_text(report))


def train_checks(report: dict[str, Any]) -> str:
    """The in-process A/B timings of the run that ran (threads, precision, dropout, the CRF head, compile)."""
    return _excerpt(text.step_check_text(report), report)


def train_processes(report: dict[str, Any]) -> str:
    """1 process x 2 threads against 2 processes x 1 thread (``--processes-check``)."""
    return _excerpt(text.processes_text(report), report)


def loss_steps(report: dict[str, Any]) -> str:
    """Each loss's training step against CE's, as ``bench_train.py`` prints it."""
    return _excerpt(text.loss_cost_text(report), report)


def losses_alone(record: dict[str, Any]) -> str:
    """``bench_losses.py``'s tables, as it prints them."""
    return _code(bench_losses.report_text(record))


def _measured(check: dict[str, Any], report: dict[str, Any]) -> str:
    key = check["key"]
    if key == "validation_f1_a_minus_b":
        return f"{check['points']:+.2f} points"
    if key == "peak_rss":
        return (f"{report['setups']['a']['peak_rss_mb_max']:,.0f} MB / "
                f"{report['setups']['b']['peak_rss_mb_max']:,.0f} MB")
    if key == "utilisation_a":
        return f"{100 * check['utilisation']:.1f}%"
    return f"**{check['ratio']:.2f}x**"


def _loss_row(report: dict[str, Any]) -> list[str]:
    """The per-loss timing as one row: the range of the paired medians, and how many passed."""
    rows = [r for r in report.get("loss_costs") or [] if r["loss"] != "ce"]
    if not rows:
        return []
    paired = [r["ratio_median_paired"] for r in rows]
    limit = 1 + TARGETS["loss_overhead"]
    failed = sum(not loss_step_ok(r) for r in rows)
    low, high = f"{min(paired):.3f}", f"{max(paired):.3f}"
    return [f"| every loss, one training step / CE's (paired median, {len(rows)} loss{'es' if len(rows) > 1 else ''}) | "
            f"{low if low == high else f'{low}-{high}'} | <= {limit:.2f} | "
            + ("PASS" if not failed else f"FAIL ({failed} of {len(rows)})") + " |"]


def train_summary(report: dict[str, Any]) -> str:
    """performance.md's summary of the training benchmark: tagger's loop against the Trainer setups that ran
    (tokens/s, validation F1, peak RSS, utilisation), the per-loss step cost, each with its target and verdict,
    then what ran on which machine."""
    checks = {c["key"]: c for c in report["checks"]}
    lines = ["| what | measured | target | verdict |", "|---|---|---|---|"]
    for key, what in SUMMARY_ROWS.items():
        if key in checks:
            c = checks[key]
            target = c["target"].replace("|", "\\|")  # a target holding "|" inside a Markdown table cell
            lines.append(f"| {what} | {_measured(c, report)} | {target} | "
                         f"{'' if c['ok'] is None else verdict(c['ok'])} |")
    lines += _loss_row(report)
    s, var = report["settings"], report["setups"]
    seeds = ", ".join(f"({v}) {' '.join(map(str, part['seeds']))}" for v, part in var.items())
    precision = "bf16 autocast" if s["tagger_precision"] == "bf16" else "fp32"
    return ("\n".join(lines) + f"\n\n{report['data']['title']} train ({s['train_sentences'] or 'all'} sentences), "
            f"{s['epochs']} epoch(s), seeds {seeds}; tagger's loop in {precision}; {text.machine_text(report)}.\n")


def losses_summary(record: dict[str, Any]) -> str:
    """One sentence: every loss alone against ``F.cross_entropy`` (best round), the verdict, and the largest
    share of a training step a loss takes (where that part ran)."""
    rows = [r for r in record["losses"] if r["pass"] is not None]
    ratios = [r["ratio_best"] for r in rows]
    verdict = "all PASS" if not record["failed"] else f"{record['failed']} of {len(rows)} FAIL"
    line = (f"Every loss alone, forward + backward on {record['tokens']:,} tokens x {record['classes']} classes "
            f"({record['dtype']}, {record['torch_threads']} threads): {min(ratios):.2f}-{max(ratios):.2f}x "
            f"`F.cross_entropy`'s time in the best round, target <= {record['target']}x: {verdict}")
    share = record.get("step_share")
    if share:
        line += (f"; at most {100 * max(r['share'] for r in share['losses']):.2f}% of a MiniLM training step "
                 f"({share['batch']} sentences x {share['length']} subwords)")
    return line + ".\n"


RENDERERS = {
    "train-summary": train_summary,
    "train-table": train_table,
    "train-checks": train_checks,
    "train-processes": train_processes,
    "loss-steps": loss_steps,
    "losses-summary": losses_summary,
    "losses-alone": losses_alone,
}
