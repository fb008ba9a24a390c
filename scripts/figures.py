#!/usr/bin/env python
"""Render the figures the docs show from the committed JSON they come from, and check the docs against them.

    python scripts/figures.py --check      # exit 1 and name every block that differs from its JSON
    python scripts/figures.py --write      # rewrite the blocks (after a new summary.json is committed)

A figure block in a Markdown page is delimited by two HTML comments, invisible on GitHub:

    <!-- figures: model_cards/wnut17-minilm.summary.json table=readme -->
    ...rendered text...
    <!-- /figures -->

``table`` names a renderer in :data:`RENDERERS`; it receives the JSON named in the opening comment (a
summary.json as ``recipes/ner.py`` and ``scripts/reference_card.py`` write it) and returns the block's text.
The reference cards are whole documents: each ``model_cards/<name>.md`` with a ``<name>.card.json`` is
compared with what ``scripts/reference_card.py --rerender <name>`` writes (its code, not a copy).

A page states a measured figure only inside a block rendered from the committed JSON of the command that
measured it. A block whose JSON is not committed yet stays empty, and only for the files in
:data:`AWAITED`; any other missing JSON is an error, and a file of :data:`AWAITED` that is committed must
leave the list (tests/test_figures.py fails until it does), so from then on its blocks must render.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))  # reference_card is a sibling script, not a package module

import _figures_bench  # noqa: E402
import reference_card  # noqa: E402

#: JSON files that pages have blocks for but that are not committed yet: their blocks stay empty until the
#: command above each block has run and its file is committed (then remove the file from here).
AWAITED = frozenset({"results/bench-train.json", "results/bench-train-checks.json", "results/bench-losses.json",
                     "results/int8-scan.json", "results/wnut17-neg-softmax.json"})

#: Pages that may hold figure blocks.
PAGES = ("README.md", "docs/levers.md", "docs/results.md", "docs/decoding.md", "docs/performance.md",
         "docs/integrations.md")

BLOCK = re.compile(r"(<!-- figures: (?P<json>\S+) table=(?P<table>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures -->)",
                   re.DOTALL)

BASELINE = "ce · argmax"
FOCAL = "focal(gamma=2.0)"
OVERSAMPLED = f"{FOCAL} + oversample_rare"
CRF = f"{OVERSAMPLED} + crf"  # a row without decoding in sweeps made before CRF runs were scored per decoding


def _crf(summary: dict[str, Any]) -> str:
    """The CRF run's plain row: ``CRF`` in older summaries, ``CRF · viterbi`` (its own Viterbi, no bias) since."""
    return CRF if any(r.get("label") == CRF for r in summary["table"]) else f"{CRF} · viterbi"


# ------------------------------------------------------------------------------------------ helpers


def _row(summary: dict[str, Any], label: str) -> dict[str, Any]:
    hits = [r for r in summary["table"] if r.get("label") == label]
    if len(hits) != 1:
        raise KeyError(f"summary.json has {len(hits)} rows labelled {label!r}")
    return hits[0]


def _pct(x: float) -> str:
    return f"{x * 100:.1f}"


def _pm(row: dict[str, Any], key: str) -> str:
    return f"{row[key + '_mean'] * 100:.1f} ± {row[key + '_std'] * 100:.1f}"


def _rare_types(summary: dict[str, Any]) -> list[str]:
    """The rare types oversample_rare chose (recorded by the oversampled runs), else every type."""
    for run in summary["runs"]:
        rare = (run.get("sampling") or {}).get("rare_types")
        if rare:
            return list(rare)
    return list(summary["types"])


def _verdict(summary: dict[str, Any], label: str) -> str:
    sig = summary.get("significance", {}).get(label)
    if sig is None:
        return ""
    return {"noise": "noise"}.get(sig["verdict"], sig["verdict"].replace(f"than {BASELINE}", "on every seed")
                                  .replace("better than ce", "better on every seed")
                                  .replace("worse than ce", "worse on every seed"))


def _short(label: str) -> str:
    """A row label as the docs write it: ``focal`` for ``focal(gamma=2.0)``."""
    return label.replace(FOCAL, "focal")


def _gap(a: dict[str, Any], b: dict[str, Any]) -> float:
    return (a["test_f1_mean"] - b["test_f1_mean"]) * 100


# ---------------------------------------------------------------------------------------- renderers


def _setting_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Per trained setting (a loss with its levers), its row with the highest mean validation F1: what a
    user of that setting would pick without looking at test."""
    best: dict[str, dict[str, Any]] = {}
    for row in summary["table"]:
        if row.get("peer"):
            continue
        held = best.get(row["loss"])
        if held is None or row["validation_f1_mean"] > held["validation_f1_mean"]:
            best[row["loss"]] = row
    return list(best.values())


def _shown(label: str) -> str:
    """A row label as the README writes it: ``soft_truncation(form=one_minus_softmax, k=1.0)`` stays whole
    (it names the loss), ``focal(gamma=2.0)`` becomes ``focal``, the decoding after a dot."""
    setting, _, scoring = label.partition(" · ")
    text = "`" + _short(setting).replace(" + ", "` + `") + "`"
    return text + (f" · {scoring}" if scoring else "")


def readme_table(summary: dict[str, Any]) -> str:
    """README's WNUT-17 table (:func:`settings_table`)."""
    return settings_table(summary, "WNUT-17")


def conll_table(summary: dict[str, Any]) -> str:
    """docs/results.md's CoNLL-2003 table (:func:`settings_table`)."""
    return settings_table(summary, "CoNLL-2003")


def settings_table(summary: dict[str, Any], data: str) -> str:
    """``ce · argmax`` (the pipeline's rule), then each setting of the sweep under its scoring chosen on
    validation: test F1, precision, recall, every type's F1, the verdict."""
    types = list(summary["types"])
    head = [data, "test F1", "P", "R", *types, "vs `ce` · argmax"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in [_row(summary, BASELINE), *_setting_rows(summary)]:
        shown, f1 = _shown(row["label"]), _pm(row, "test_f1")
        if row["label"] == summary["best"]:
            shown, f1 = f"{shown} (**best by validation**)", f"**{f1}**"
        cells = [shown, f1, _pct(row["test_precision_mean"]), _pct(row["test_recall_mean"]),
                 *[_pct(row["per_type_f1_mean"][t]) for t in types], _verdict(summary, row["label"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def readme_cost(summary: dict[str, Any]) -> str:
    """README's sentence on what the main job costs: its runs' wall time summed (summary.json's ``cost``)."""
    from tagger.train.clock import format_duration

    cost = summary["cost"]["final"]
    hardware = sorted({str(r.get("hardware")) for r in summary["runs"] if r.get("hardware")})
    return (f"Its {cost['runs']} runs took {format_duration(cost['run_seconds'])} together ({format_duration(cost['train_seconds'])} of "
            f"it in the training loops; summary.json's `cost`) on {' / '.join(hardware) or 'an unrecorded machine'}; "
            f"installing and loading the data come on top.\n")


def readme_levers(summary: dict[str, Any]) -> str:
    """README's sentence on what each lever adds on WNUT-17, every number from the summary."""
    decodings = ("argmax", "viterbi", "viterbi+threshold")
    focal_gain = [_gap(_row(summary, f"{FOCAL} · {d}"), _row(summary, f"ce · {d}")) for d in decodings]
    ce, focal, over = _row(summary, BASELINE), _row(summary, f"{FOCAL} · argmax"), _row(summary, f"{OVERSAMPLED} · argmax")
    rare = _rare_types(summary)
    lifts = ", ".join(f"`{t}` {_pct(focal['per_type_f1_mean'][t])} -> {_pct(over['per_type_f1_mean'][t])}" for t in rare)
    viterbi_gain = [_gap(_row(summary, f"{base} · viterbi"), _row(summary, f"{base} · argmax"))
                    for base in ("ce", FOCAL, OVERSAMPLED)]
    best = _row(summary, _crf(summary))
    crf_gain = _gap(best, _row(summary, f"{OVERSAMPLED} · viterbi"))
    return (f"On WNUT-17 the levers add up: focal loss gains {min(focal_gain):.1f}-{max(focal_gain):.1f} test F1 over "
            f"`ce` (argmax, Viterbi, threshold), oversampling the sentences with the rarest types moves them "
            f"under focal loss and argmax ({lifts}), Viterbi decoding adds {min(viterbi_gain):.1f}-"
            f"{max(viterbi_gain):.1f} points over argmax for free while making every output well-formed, and "
            f"a CRF head on top adds {crf_gain:.1f} more: {_pm(best, 'test_f1')} against {_pm(ce, 'test_f1')} "
            f"for `ce` · argmax.\n")


def best_line(summary: dict[str, Any]) -> str:
    """docs/results.md's sentence on the default sweep's best setting."""
    best, ce = _row(summary, summary["best"]), _row(summary, BASELINE)
    return (f"The best setting by validation F1 is `{summary['best']}`: test F1 {_pm(best, 'test_f1')} against "
            f"{_pm(ce, 'test_f1')} for `{BASELINE}`, {_verdict(summary, summary['best']) or 'the baseline'}.\n")


def _table(summary: dict[str, Any], labels: list[str], columns: list[str], dagger: bool) -> str:
    types = [t for t in columns if t in summary["types"]]
    head = ["run · decoding", "val F1", "test F1", "test P", "test R", *types, "test ECE"]
    head += ["train s", "vs ce · argmax"] if dagger else []
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for label in labels:
        row = _row(summary, label)
        name = _short(label) + (" †" if dagger else "") + (" **(best)**" if label == summary["best"] else "")
        verdict = (summary.get("significance", {}).get(label) or {}).get("verdict", "")
        cells = [name, _pm(row, "validation_f1"), _pm(row, "test_f1"), _pct(row["test_precision_mean"]),
                 _pct(row["test_recall_mean"]), *[_pct(row["per_type_f1_mean"][t]) for t in types],
                 _pct(row["test_ece_mean"])]
        if dagger:
            cells += [f"{row['train_seconds_mean']:.0f}",
                      "**better**" if verdict.startswith("better") else ("**worse**" if verdict.startswith("worse") else verdict)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def levers_table(summary: dict[str, Any]) -> str:
    """docs/levers.md: every row of the default sweep, the lever table's columns."""
    return _table(summary, [r["label"] for r in summary["table"] if not r.get("peer")], list(summary["types"]), True)


def decoding_crf_table(summary: dict[str, Any]) -> str:
    """docs/decoding.md: the CRF head against Viterbi with fixed rules, from the default sweep."""
    labels = ["ce · viterbi", f"{OVERSAMPLED} · viterbi", _crf(summary)]
    types = [t for t in summary["types"] if t not in ("location", "person")]
    return _table(summary, labels, types, False)


# ------------------------------------------------------------------------- levers.md and decoding.md prose


def _rows(summary: dict[str, Any], base: str) -> dict[str, dict[str, Any]]:
    """``base``'s rows by decoding: argmax, viterbi, viterbi+threshold."""
    return {d: _row(summary, f"{base} · {d}") for d in ("argmax", "viterbi", "viterbi+threshold")}


def _span(values: list[float], unit: str = "") -> str:
    """``0.3 to 1.5`` (or one value) from unrounded values, each to one decimal."""
    low, high = f"{min(values):.1f}", f"{max(values):.1f}"
    return f"{low}{unit}" if low == high else f"{low} to {high}{unit}"


def _seeds_text(seeds: list[int]) -> str:
    """``1``, ``1 and 3``, ``1, 2 and 3``."""
    return str(seeds[0]) if len(seeds) == 1 else ", ".join(map(str, seeds[:-1])) + f" and {seeds[-1]}"


def _loss_note(summary: dict[str, Any]) -> str:
    ce, focal = _rows(summary, "ce"), _rows(summary, FOCAL)
    gains = {d: _gap(focal[d], ce[d]) for d in ce}
    per_seed = summary["significance"][f"{FOCAL} · argmax"]["per_seed"]
    found = [s["seed"] for s in per_seed if s["p_value"] < 0.05]
    missed = [s for s in per_seed if s["p_value"] >= 0.05]
    ce_f1 = {r["seed"]: r["decodings"]["argmax"]["test"]["f1"] for r in summary["runs"] if r["label"] == "ce"}
    text = (f"- **The loss**: `focal` is {gains['argmax']:.1f} test F1 above `ce` under argmax "
            f"({_pct(focal['argmax']['test_f1_mean'])} against {_pct(ce['argmax']['test_f1_mean'])}), "
            f"{gains['viterbi']:.1f} under Viterbi and {gains['viterbi+threshold']:.1f} with the threshold.")
    if found and missed:
        worst = missed[0]["seed"]
        text += (f" The bootstrap finds the argmax gain on seed{'s' if len(found) > 1 else ''} {_seeds_text(found)} "
                 f"(p < 0.05) but not on seed {worst} (p = {missed[0]['p_value']:.2f}), where `ce` scored "
                 f"{_pct(ce_f1[worst])}" + (", its best run." if ce_f1[worst] == max(ce_f1.values()) else "."))
    return text + "\n"


def _sampling_note(summary: dict[str, Any]) -> str:
    focal, over = _rows(summary, FOCAL), _rows(summary, OVERSAMPLED)
    rare = _rare_types(summary)
    lifts = ", ".join(f"`{t}` {_pct(focal['argmax']['per_type_f1_mean'][t])} -> "
                      f"{_pct(over['argmax']['per_type_f1_mean'][t])}" for t in rare)
    record = next(r["sampling"] for r in summary["runs"] if r.get("sampling"))
    before, after = record["sentences_before"], record["sentences_after"]
    cost = focal["argmax"]["train_seconds_mean"], over["argmax"]["train_seconds_mean"]
    return (f"- **Sampling** (`oversample_rare`) with `focal` moves the rare types most (argmax: {lifts}) and "
            f"steadies the runs: the standard deviation of the test F1 is {_span([r['test_f1_std'] * 100 for r in over.values()])} "
            f"with it and {_span([r['test_f1_std'] * 100 for r in focal.values()])} without. It costs "
            f"{100 * (after / before - 1):.0f}% more training ({after:,} sentences per epoch instead of {before:,}; "
            f"{cost[1]:.0f} s against {cost[0]:.0f} s).\n")


def _decoding_notes(summary: dict[str, Any]) -> str:
    bases = ("ce", FOCAL, OVERSAMPLED)
    viterbi = [_gap(_row(summary, f"{b} · viterbi"), _row(summary, f"{b} · argmax")) for b in bases]
    threshold = {b: _gap(_row(summary, f"{b} · viterbi+threshold"), _row(summary, f"{b} · viterbi")) for b in bases}
    biases = [b for b in _row(summary, f"{OVERSAMPLED} · viterbi+threshold")["o_bias"] if b is not None]
    return (f"- **Viterbi** adds {_span(viterbi)} test F1 over argmax at no cost. It is also the only decoding of "
            f"the token classifier whose output is always well-formed: argmax leaves sentences with an "
            f"ill-formed tag sequence (`O I-X`, `B-X I-Y`), Viterbi none, and its strict and conlleval F1 are "
            f"equal.\n"
            f"- **The O threshold** helps the runs that predict `O` too often: {threshold[FOCAL]:+.1f} test F1 for "
            f"`focal`, {threshold['ce']:+.1f} for `ce`. After oversampling the grid keeps small biases "
            f"({min(biases):g}-{max(biases):g}), and the threshold changes test F1 by {threshold[OVERSAMPLED]:+.1f}: "
            f"oversampling has already moved the model toward recall.\n")


def _crf_notes(summary: dict[str, Any]) -> str:
    crf, under = _row(summary, CRF), _row(summary, f"{OVERSAMPLED} · viterbi")
    ce = _row(summary, BASELINE)
    eces = [r["test_ece_mean"] * 100 for r in summary["table"] if not r.get("peer") and r["label"] != CRF]
    return (f"- **The CRF head**: on top of `focal + "
            f"oversample_rare` it adds {_gap(crf, under):.1f} test and "
            f"{(crf['validation_f1_mean'] - under['validation_f1_mean']) * 100:.1f} validation F1. Its entity scores "
            f"are the best calibrated of the sweep (test ECE {_pct(crf['test_ece_mean'])}%). It costs "
            f"{100 * (crf['train_seconds_mean'] / under['train_seconds_mean'] - 1):.0f}% more training time here.\n"
            f"- **Together**: `{_short(CRF)}`, {'the best setting by validation F1, ' if summary['best'] == CRF else ''}"
            f"reaches {_pm(crf, 'test_f1')} test F1, {_gap(crf, ce):.1f} points above `ce · argmax`"
            f"{' and better on every seed' if _verdict(summary, CRF).startswith('better') else ''}. It puts "
            + ", ".join(f"`{t}` at {_pct(crf['per_type_f1_mean'][t])}" for t in _rare_types(summary))
            + " F1, against " + ", ".join(_pct(ce["per_type_f1_mean"][t]) for t in _rare_types(summary))
            + " for `ce · argmax`.\n"
            f"- **Entity scores** of the token classifier are calibrated to within {_span(eces, '%')} (test ECE) "
            f"whatever the row; the threshold and oversampling move them by a point or two.\n")


def levers_notes(summary: dict[str, Any]) -> str:
    """docs/levers.md's reading of its table, lever by lever, every figure from the summary."""
    return _loss_note(summary) + _sampling_note(summary) + _decoding_notes(summary) + _crf_notes(summary)


def rare_types_line(summary: dict[str, Any]) -> str:
    """docs/levers.md's sentence on WNUT-17's rare types, from the oversampled runs' sampling record."""
    record = next(r["sampling"] for r in summary["runs"] if r.get("sampling"))
    counts = record["tag_counts_before"]
    rare = sorted(_rare_types(summary), key=lambda t: counts[f"B-{t}"])
    named = [f"`{t}` ({counts[f'B-{t}']:,}{' training entities' if i == 0 else ''})" for i, t in enumerate(rare)]
    names = named[0] if len(named) == 1 else ", ".join(named[:-1]) + f" and {named[-1]}"
    return (f"On WNUT-17 the rarest types are {names}; reaching the default share repeats "
            f"{record['sentences_after'] - record['sentences_before']:,} of the {record['sentences_before']:,} "
            f"training sentences.\n")


def runs_line(summary: dict[str, Any]) -> str:
    """The runs a summary holds and the machine they ran on, from its runs' own records (seeds, epochs,
    ``hardware``)."""
    runs = summary["runs"]
    settings = sorted({r["label"] for r in runs})
    epochs = sorted({r["epochs_run"] for r in runs})
    hardware = sorted({str(r.get("hardware")) for r in runs if r.get("hardware")})
    span = str(epochs[0]) if epochs[0] == epochs[-1] else f"{epochs[0]}-{epochs[-1]}"
    return (f"The committed summary's {len(runs)} runs ({len(settings)} settings, seeds "
            f"{_seeds_text(sorted({r['seed'] for r in runs}))}, {span} epoch{'s' if epochs[-1] > 1 else ''} "
            f"each) ran on {' / '.join(hardware) or 'an unrecorded machine'}.\n")


def decoding_crf_notes(summary: dict[str, Any]) -> str:
    """docs/decoding.md's sentences under its CRF table."""
    crf, under = _row(summary, CRF), _row(summary, f"{OVERSAMPLED} · viterbi")
    linear = [r["test_ece_mean"] * 100 for r in summary["table"] if not r.get("peer") and r["label"] != CRF]
    return (f"On top of focal loss and oversampling the CRF head adds {_gap(crf, under):.1f} test and "
            f"{(crf['validation_f1_mean'] - under['validation_f1_mean']) * 100:.1f} validation F1 over Viterbi with "
            f"the fixed rules{'; that setting is the lever sweep' + chr(39) + 's best' if summary['best'] == CRF else ''}. "
            f"The CRF's entity marginals are the best calibrated of the sweep (test ECE {_pct(crf['test_ece_mean'])}% "
            f"against {_span(linear, '%')} for the token classifier's decodings).\n")


def comparison_table(result: dict[str, Any]) -> str:
    """A ``tagger compare --json`` file as ``tagger compare`` prints it (one format, tagger.comparison's)."""
    from tagger.comparison import format_comparison

    return format_comparison(result) + "\n"


def comparison_line(result: dict[str, Any]) -> str:
    """One sentence: the overall verdict, and the types whose F1 rose (fell) on every seed."""
    overall = result["overall"]

    def moved(sign: int) -> list[str]:
        return [t for t, part in result["per_type"].items() if all(sign * s["delta_f1"] > 0 for s in part["per_seed"])]

    up, down = moved(1), moved(-1)
    seeds = len(result["seeds"])
    text = (f"Over {seeds} seeds the difference in test F1 is {(overall['a']['f1'] - overall['b']['f1']) * 100:+.1f} "
            f"({overall['verdict']} by the paired bootstrap), recall {(overall['a']['recall'] - overall['b']['recall']) * 100:+.1f} "
            f"and precision {(overall['a']['precision'] - overall['b']['precision']) * 100:+.1f}")
    if up:
        text += f"; F1 rose on every seed for {', '.join(f'`{t}`' for t in up)}"
    if down:
        text += f"; it fell on every seed for {', '.join(f'`{t}`' for t in down)}"
    return text + ".\n"


def _runs_of(summary: dict[str, Any], setting: str) -> list[dict[str, Any]]:
    """summary.json's runs of one trained setting (a row label without its decoding)."""
    runs = [r for r in summary["runs"] if r.get("label") == setting]
    if not runs:
        raise KeyError(f"summary.json has no runs labelled {setting!r}")
    return runs


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def context_cost(summary: dict[str, Any]) -> str:
    """docs/levers.md's sentence on what document context cost in a sweep with ``ce`` and ``ce + context=N``:
    subwords per epoch, training and whole-run wall time, throughput, from the runs' own records."""
    from tagger.train.clock import format_duration

    plain = _runs_of(summary, "ce")
    settings = sorted({r["label"] for r in summary["runs"] if (r.get("context") or {}).get("context")})
    parts = []
    for setting in settings:
        runs = _runs_of(summary, setting)
        report = runs[0]["context"]
        share = report["context_subwords"] / report["subwords"]
        ratio = _mean([r["train_tokens"] for r in runs]) / _mean([r["train_tokens"] for r in plain])
        train = _mean([r["train_seconds"] for r in runs]) / _mean([r["train_seconds"] for r in plain])
        whole = _mean([r["run_seconds"] for r in runs]) / _mean([r["run_seconds"] for r in plain])
        speed = _mean([r["train_tokens_per_second"] for r in runs]) / _mean([r["train_tokens_per_second"] for r in plain])
        steps, plain_steps = _mean([r["optimizer_steps"] for r in runs]), _mean([r["optimizer_steps"] for r in plain])
        per_step = _mean([r["train_tokens"] / r["optimizer_steps"] for r in runs])
        plain_per_step = _mean([r["train_tokens"] / r["optimizer_steps"] for r in plain])
        parts.append(
            f"`{setting}` gave context to {report['windows_with_context']:,} of {report['windows']:,} training "
            f"windows; {share * 100:.0f}% of the subwords it trained on were context, {ratio:.2f}x the subwords of "
            f"`ce`, in {steps:,.0f} optimizer steps against {plain_steps:,.0f} ({per_step:,.0f} subwords a step "
            f"against {plain_per_step:,.0f}: batches are cut by a token budget), so its training loop "
            f"took {train:.2f}x as long "
            f"({format_duration(_mean([r['train_seconds'] for r in runs]))} a run against "
            f"{format_duration(_mean([r['train_seconds'] for r in plain]))}, at {speed:.2f}x the subwords per "
            f"second) and a whole run, evaluation with context included, {whole:.2f}x")
    hardware = sorted({str(r.get("hardware")) for r in summary["runs"] if r.get("hardware")})
    return "; ".join(parts) + f" (means over seeds, {' / '.join(hardware) or 'an unrecorded machine'}).\n"


def epochs_line(summary: dict[str, Any]) -> str:
    """docs/results.md's sentence on ``ce``'s validation F1 per epoch (did it reach its plateau?)."""
    runs = _runs_of(summary, "ce")
    epochs = max(len(r["history"]) for r in runs)
    per_epoch = [[h["validation_f1"] * 100 for r in runs for h in r["history"] if h["epoch"] == e]
                 for e in range(1, epochs + 1)]
    text = ", ".join(f"{_mean(v):.1f} after epoch {e}" for e, v in enumerate(per_epoch, 1))
    return (f"`ce`'s validation F1 (its training decoding, mean over {len(runs)} seeds): {text}; the best epoch "
            f"was the last in {sum(r['best_epoch'] == epochs for r in runs)} of {len(runs)} runs.\n")


def ce_decodings(summary: dict[str, Any]) -> str:
    """docs/decoding.md's sentence on what each decoding gives ``ce`` (a sweep where ``ce`` was scored with each)."""
    names = {"argmax": "argmax", "viterbi": "Viterbi", "viterbi+threshold": "Viterbi with the O threshold",
             "viterbi+type_thresholds": "Viterbi with per-type thresholds"}
    rows = [(name, _row(summary, f"ce · {d}")) for d, name in names.items()
            if any(r.get("label") == f"ce · {d}" for r in summary["table"])]
    seeds = len(rows[0][1]["seeds"])
    test = ", ".join(f"{_pm(row, 'test_f1')} under {name}" for name, row in rows)
    val = ", ".join(f"{_pct(row['validation_f1_mean'])}" for _, row in rows)
    return f"`ce` over {seeds} seeds: test F1 {test} (validation {val}, in the same order).\n"


def _bench_predict() -> Any:
    import bench_predict  # a sibling script, imported only where a page renders its JSON

    return bench_predict


def _predict_report(bench: dict[str, Any], data: str) -> str:
    """One data set's tables of ``scripts/bench_predict.py --json``, as the script prints them."""
    meta = {k: bench[k] for k in ("rounds", "batch_size", "torch", "torch_threads", "onnxruntime")}
    return "```\n" + _bench_predict().report_text(bench["results"][data], meta) + "```\n"


def predict_wnut17(bench: dict[str, Any]) -> str:
    return _predict_report(bench, "wnut17")


def predict_conll2003(bench: dict[str, Any]) -> str:
    return _predict_report(bench, "conll2003")


def predict_summary(bench: dict[str, Any]) -> str:
    """performance.md's summary of prediction speed: per data set, tagger and int8 against the pipeline,
    Viterbi's cost over argmax, int8's test F1 change, and the one-line start-up."""
    bp = _bench_predict()
    parts, starts = [], {}
    for data, res in bench["results"].items():
        rows, quality = res["rows"], res["quality"]
        text = (f"{bp.common.DATA_SETS[data]}: `Tagger.predict` **{rows[bp.TORCH]['ratio_to_pipeline']:.2f}x** the "
                f"pipeline's words per second, Viterbi {rows[bp.VITERBI]['seconds'] / rows[bp.TORCH]['seconds']:.2f}x "
                f"argmax's time")
        if bp.INT8 in rows:
            text += f", ONNX int8 {rows[bp.INT8]['ratio_to_pipeline']:.2f}x the pipeline"
            if quality["f1_change_int8_points"] is not None:
                text += f" at {quality['f1_change_int8_points']:+.2f} test F1 points against PyTorch"
        parts.append(text)
        for key, start in ((res.get("cli") or {}).get("one_line") or {}).items():
            starts.setdefault(key, []).append(start["seconds"])
    line = "; ".join(parts) + f" (median of {bench['rounds']} rounds, {bench['torch_threads']} threads)."
    if starts:
        line += (" A one-line `tagger predict`, process start included, takes "
                 + " and ".join(f"{_span(v, ' s')} with {'an ONNX int8 export' if k == bp.INT8 else 'a PyTorch folder'}"
                                for k, v in starts.items()) + ".")
    return line + "\n"


def predict_table(bench: dict[str, Any]) -> str:
    """integrations.md's table: words per second, ratio to the pipeline and test F1 of each setup, one
    column group per data set of the run."""
    bp = _bench_predict()
    names = {bp.PIPELINE: f"`pipeline(batch_size={bench['batch_size']})`", bp.TORCH: "tagger PyTorch",
             bp.VITERBI: "tagger PyTorch, Viterbi", bp.ONNX: "tagger ONNX fp32", bp.INT8: "tagger ONNX int8",
             bp.CLI_INT8: "`tagger predict` CLI, ONNX int8 (start included)"}
    results = bench["results"]
    head = ["setup"] + [f"{bp.common.DATA_SETS[d]} {c}" if c == "words/s" else c
                        for d in results for c in ("words/s", "x pipeline", "test F1")]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for key, name in names.items():
        if not any(key in res["rows"] for res in results.values()):
            continue
        cells = [name]
        for res in results.values():
            row, f1 = res["rows"].get(key), (res["quality"]["setups"].get(key) or {}).get("test_f1")
            cells += [f"{row['words_per_second']:,.0f}" if row else "", f"{row['ratio_to_pipeline']:.2f}x" if row else "",
                      f"{f1 * 100:.2f}" if f1 is not None else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def int8_scan(record: dict[str, Any]) -> str:
    """integrations.md's table of ``scripts/scan_int8.py --json``, as the script prints it."""
    import scan_int8  # a sibling script, imported only where a page renders its JSON

    return scan_int8.scan_table(record)


def int8_scan_line(record: dict[str, Any]) -> str:
    """integrations.md's sentence on the scan: tagger's int8 against fp32, and the down-projections quantized too."""
    import scan_int8

    return scan_int8.scan_line(record)


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "int8-scan": int8_scan,
    "int8-scan-line": int8_scan_line,
    "predict-table": predict_table,
    "predict-wnut17": predict_wnut17,
    "predict-conll2003": predict_conll2003,
    "predict-summary": predict_summary,
    "ce-decodings": ce_decodings,
    "conll": conll_table,
    "context-cost": context_cost,
    "epochs-line": epochs_line,
    "comparison": comparison_table,
    "comparison-line": comparison_line,
    "readme": readme_table,
    "readme-cost": readme_cost,
    "readme-levers": readme_levers,
    "best-line": best_line,
    "levers": levers_table,
    "decoding-crf": decoding_crf_table,
    "levers-notes": levers_notes,
    "rare-types": rare_types_line,
    "runs-line": runs_line,
    "decoding-crf-notes": decoding_crf_notes,
    **_figures_bench.RENDERERS,
}


# ------------------------------------------------------------------------------------------ the docs


def load(path: str, root: Path = REPO) -> dict[str, Any] | None:
    """The JSON a block names; None for a file of :data:`AWAITED` that is not committed yet (its block
    renders empty)."""
    file = root / path
    if not file.is_file() and path in AWAITED:
        return None
    if not file.is_file():
        raise FileNotFoundError(f"{path}: a figure block names it, but it is not committed (nor in figures.AWAITED)")
    return json.loads(file.read_text(encoding="utf-8"))


def render_page(text: str, root: Path = REPO) -> str:
    """``text`` with every figure block rendered from its JSON."""
    cache: dict[str, dict[str, Any] | None] = {}

    def fill(m: re.Match[str]) -> str:
        path = m.group("json")
        if path not in cache:
            cache[path] = load(path, root)
        data = cache[path]
        return m.group(1) + ("" if data is None else RENDERERS[m.group("table")](data)) + m.group(5)

    return BLOCK.sub(fill, text)


def blocks(text: str) -> list[tuple[str, str, str]]:
    """``(json, table, body)`` of every figure block of a page."""
    return [(m.group("json"), m.group("table"), m.group("body")) for m in BLOCK.finditer(text)]


def reference_cards(root: Path = REPO) -> list[str]:
    """The reference cards that are rendered from committed JSON (those with a ``.card.json``)."""
    return sorted(p.name.removesuffix(".card.json") for p in (root / "model_cards").glob("*.card.json"))


def stale(root: Path = REPO) -> list[str]:
    """What differs from its JSON: ``page (table=...)`` per block, ``model_cards/<name>.md`` per card."""
    out = []
    for page in PAGES:
        text = (root / page).read_text(encoding="utf-8")
        rendered = dict(((j, t), b) for j, t, b in blocks(render_page(text, root)))
        out += [f"{page} (table={t})" for j, t, b in blocks(text) if rendered[(j, t)] != b]
    for name in reference_cards(root):
        card = (root / "model_cards" / f"{name}.md").read_text(encoding="utf-8")
        if card != reference_card.render_committed(name, root / "model_cards"):
            out.append(f"model_cards/{name}.md")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when a block or card differs from its JSON")
    mode.add_argument("--write", action="store_true", help="render every block and card from its JSON")
    args = p.parse_args(argv)
    if args.check:
        bad = stale()
        for item in bad:
            sys.stderr.write(f"{item} differs from its JSON: python scripts/figures.py --write\n")
        return 1 if bad else 0
    for page in PAGES:
        path = REPO / page
        text = path.read_text(encoding="utf-8")
        new = render_page(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            sys.stdout.write(f"wrote {page}\n")
    for name in reference_cards():
        reference_card.main(["--rerender", name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
