"""docs/levers.md's and docs/decoding.md's reading of the default sweep, lever by lever, and the runs and
rare types of a summary.json, rendered by ``scripts/figures.py``: every figure from the summary (its rows by
``_figures_sweeps``'s lookups).
"""

from __future__ import annotations

from typing import Any

from _figures_sweeps import (BASELINE, CRF, FOCAL, OVERSAMPLED, _gap, _pct, _pm, _rare_types, _row,
                             _seeds_text, _short, _span, _verdict)


# ------------------------------------------------------------------------- levers.md and decoding.md prose


def _rows(summary: dict[str, Any], base: str) -> dict[str, dict[str, Any]]:
    """``base``'s rows by decoding: argmax, viterbi, viterbi+threshold."""
    return {d: _row(summary, f"{base} · {d}") for d in ("argmax", "viterbi", "viterbi+threshold")}


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
