"""The figures ``scripts/figures.py`` renders from a sweep's summary.json (as ``recipes/ner.py`` and
``scripts/reference_card.py`` write it) and from a ``tagger compare --json`` file: README's and
results.md's tables and sentences, levers.md's and decoding.md's tables, what document context cost, the
validation F1 per epoch, what each decoding gives ``ce``; and the row lookups and number formats that the
prose of levers.md and decoding.md (``_figures_levers``) shares.
"""

from __future__ import annotations

from typing import Any

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


def _span(values: list[float], unit: str = "") -> str:
    """``0.3 to 1.5`` (or one value) from unrounded values, each to one decimal."""
    low, high = f"{min(values):.1f}", f"{max(values):.1f}"
    return f"{low}{unit}" if low == high else f"{low} to {high}{unit}"


def _seeds_text(seeds: list[int]) -> str:
    """``1``, ``1 and 3``, ``1, 2 and 3``."""
    return str(seeds[0]) if len(seeds) == 1 else ", ".join(map(str, seeds[:-1])) + f" and {seeds[-1]}"


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
    from tagger.card_view import hardware_text

    hardware = sorted({hardware_text(r["hardware"]) for r in summary["runs"] if r.get("hardware")})
    where = f"on {' / '.join(hardware) or 'an unrecorded machine'}; installing and loading the data come on top.\n"
    if "span_seconds" in cost:  # runs that ran at once (sweep.workers): the wall time is the span
        return (f"Its {cost['runs']} runs took {format_duration(cost['span_seconds'])} from the first one's start to the "
                f"last one's end, {cost['most_at_once']} at a time ({format_duration(cost['run_seconds'])} of run time "
                f"together, {format_duration(cost['train_seconds'])} of it in the training loops; summary.json's "
                f"`cost`) {where}")
    return (f"Its {cost['runs']} runs took {format_duration(cost['run_seconds'])} together ({format_duration(cost['train_seconds'])} of "
            f"it in the training loops; summary.json's `cost`) {where}")


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
