"""The report's sections: each builder turns the sweep into one template's context, or None when the
sweep has nothing for it (the section is then left out, never drawn empty)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from tagger.error_analysis import CLASS_NAMES, CLASSES, Span
from tagger.report.data import Sentence, SweepData
from tagger.report.svg import Bar, Point, grouped_chart, row_color, stacked_bar
from tagger.summary import is_baseline
from tagger.summary_files import lever_notes

#: Colours of the error classes, green for correct through red for missed.
CLASS_COLORS = {"correct": "#59a14f", "wrong_type": "#edc948", "wrong_boundary": "#f28e2b",
                "wrong_boundary_type": "#b07aa1", "missed": "#e15759", "spurious": "#9c755f"}
#: Entity type colours (displaCy's pastels), by the type's place in the summary's type list.
TYPE_COLORS = ("#7aecec", "#bfeeb7", "#feca74", "#ff9561", "#aa9cfc", "#c887fb", "#9cc9cc", "#ffeb80",
               "#ff8197", "#f0d0ff", "#bfe1d9", "#e4e7d2")


@dataclass
class Section:
    id: str
    title: str
    template: str
    ctx: dict[str, Any]


@dataclass
class ReportInput:
    sweep: SweepData
    sentences: list[Sentence]
    disagreeing: int  # sentences where the shown runs disagree, before the cap
    max_sentences: int


def pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{x * 100:.1f}"


def pm(mean: float, std: float) -> str:
    """Mean ± std in percent, like the summary table of ``tagger.summary``."""
    return "–" if math.isnan(mean) else f"{mean * 100:.1f} ± {std * 100:.1f}"


def _cell(value: float | None, text: str, title: str | None = None) -> dict[str, Any]:
    ok = value is not None and not (isinstance(value, float) and math.isnan(value))
    return {"value": repr(value) if ok else None, "text": text, "title": title}


# ---------------------------------------------------------------------------------------- summary


def _verdict_cell(sweep: SweepData, row: dict[str, Any], label: str) -> dict[str, Any]:
    sig = sweep.summary.get("significance", {}).get(label)
    if is_baseline(row) and not row.get("vs_ce"):
        return _cell(None, "baseline")
    title = None
    if sig:
        title = "; ".join(f"seed {s['seed']}: ΔF1 {s['delta_f1'] * 100:+.1f} [{s['ci_low'] * 100:+.1f}, "
                          f"{s['ci_high'] * 100:+.1f}], p={s['p_value']:.3f}" for s in sig["per_seed"])
    return _cell(None, row.get("vs_ce") or "–", title)


def _decoding_cells(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Test ECE of the entity scores and the O bias per seed, for a row with a decoding."""
    ece = r.get("test_ece_mean")
    biases = [b for b in r.get("o_bias") or [] if b is not None]
    return {"test_ece": _cell(ece, pm(ece, r.get("test_ece_std", 0.0)) if ece is not None else "–"),
            "o_bias": _cell(sum(biases) / len(biases) if biases else None,
                            " / ".join(f"{b:g}" for b in biases) or "–", "per seed" if biases else None)}


def summary_section(inp: ReportInput) -> Section | None:
    sweep = inp.sweep
    if not sweep.rows:
        return None
    types = sweep.types
    decoded = any(d.table.get("decoding") for d in sweep.rows)
    columns = [("loss", "row", "text"), ("seeds", "seeds", "num"), ("validation_f1", "val F1", "num"),
               ("test_f1", "test F1", "num"), ("test_precision", "test P", "num"), ("test_recall", "test R", "num"),
               *((f"f1:{t}", t, "num") for t in types),
               *([("test_ece", "test ECE", "num"), ("o_bias", "O bias", "num")] if decoded else []),
               ("train_seconds", "train s", "num"), ("vs_ce", "vs ce", "text")]
    rows = []
    for data in sweep.rows:
        r = data.table
        cells = {"loss": _cell(None, data.label, r.get("description") or None),
                 "seeds": _cell(len(r["seeds"]), str(len(r["seeds"])), "seeds " + ", ".join(map(str, r["seeds"])))}
        for key in ("validation_f1", "test_f1", "test_precision", "test_recall"):
            cells[key] = _cell(r[f"{key}_mean"], pm(r[f"{key}_mean"], r.get(f"{key}_std", 0.0)))
        for t in types:
            cells[f"f1:{t}"] = _cell(r["per_type_f1_mean"][t], pm(r["per_type_f1_mean"][t], r["per_type_f1_std"][t]))
        cells.update(_decoding_cells(r))
        cells["train_seconds"] = _cell(r["train_seconds_mean"], f"{r['train_seconds_mean']:.0f}")
        cells["vs_ce"] = _verdict_cell(sweep, r, data.label)
        rows.append({"label": data.label, "index": data.index, "color": row_color(data.index),
                     "best": data.label == sweep.summary.get("best"), "peer": bool(r.get("peer")),
                     "cells": [cells[k] for k, _, _ in columns]})
    return Section("summary", "Summary", "report_summary.html.j2",
                   {"columns": columns, "rows": rows, "best_by": sweep.summary.get("best_by", ""),
                    "decoded": decoded, "notes": lever_notes(sweep.summary.get("runs", []))})


# ---------------------------------------------------------------------------------------- per type


def _bars(sweep: SweepData, f1_of: Callable[[dict[str, Any]], float], mean_std: Callable[[dict[str, Any]], tuple],
          group: str) -> list[Bar]:
    bars = []
    for data in sweep.rows:
        mean, std = mean_std(data.table)
        points = [Point(f1_of(r.result), r.seed) for r in data.runs]
        seeds = ", ".join(f"{p.seed}: {pct(p.value)}" for p in points)
        bars.append(Bar(data.index, mean, std, points, f"{data.label} · {group}: {pm(mean, std)} (seeds {seeds})"))
    return bars


def per_type_section(inp: ReportInput) -> Section | None:
    sweep = inp.sweep
    if not sweep.rows:
        return None
    groups = [("all types", _bars(sweep, lambda r: r["test"]["f1"],
                                  lambda t: (t["test_f1_mean"], t["test_f1_std"]), "all types"))]
    for typ in sweep.types:
        # a type a run never saw scores 0, as in tagger.summary's table
        groups.append((typ, _bars(sweep, lambda r, t=typ: r["test"].get("per_type", {}).get(t, {}).get("f1", 0.0),
                                  lambda row, t=typ: (row["per_type_f1_mean"][t], row["per_type_f1_std"][t]), typ)))
    svg = grouped_chart(groups, "test F1 per entity type and row, every seed a dot")
    legend = [{"label": d.label, "color": row_color(d.index)} for d in sweep.rows]
    return Section("per-type", "Test F1 per entity type", "report_per_type.html.j2",
                   {"svg": Markup(svg), "legend": legend})


# ---------------------------------------------------------------------------------------- errors


def _confusion(doc: dict[str, Any]) -> dict[str, Any]:
    labels = doc["confusion"]["labels"]
    return {"labels": labels, "rows": list(zip(labels, doc["confusion"]["matrix"]))}


def errors_section(inp: ReportInput) -> Section | None:
    rows = [d for d in inp.sweep.rows if d.errors is not None]
    if not rows:
        return None
    classes = [{"id": c, "name": CLASS_NAMES[c], "color": CLASS_COLORS[c]} for c in CLASSES]
    docs = {d.index: d.errors.to_json() for d in rows}  # type: ignore[union-attr]
    scale = max(sum(doc["totals"].values()) for doc in docs.values())
    out = []
    for d in rows:
        doc = docs[d.index]
        per_seed = [(r.seed, r.errors.to_json()["totals"]) for r in d.analysed]  # type: ignore[union-attr]
        parts = [(c, doc["totals"][c], CLASS_COLORS[c], f"{CLASS_NAMES[c]}: {doc['totals'][c]}") for c in CLASSES]
        out.append({"label": d.label, "index": d.index, "color": row_color(d.index), "doc": doc,
                    "seeds": [s for s, _ in per_seed], "per_seed": {c: [t[c] for _, t in per_seed] for c in CLASSES},
                    "stack": Markup(stacked_bar(parts, scale)), "confusion": _confusion(doc)})
    return Section("errors", "Error classes", "report_errors.html.j2",
                   {"classes": classes, "rows": out, "mode": inp.sweep.mode})


# ---------------------------------------------------------------------------------------- sentences


def _segments(tokens: Sequence[str], spans: Sequence[Span], classes: dict[Span, str] | None,
              type_index: dict[str, int], missed: Sequence[Span] = ()) -> list[dict[str, Any]]:
    """Plain runs of words, entity spans and missed gold spans (which overlap no prediction), left to right."""
    out: list[dict[str, Any]] = []
    pos = 0
    marked = [(s, False) for s in spans] + [(s, True) for s in missed]
    for span, is_missed in sorted(marked, key=lambda m: m[0][1]):
        typ, first, last = span
        if first > pos:
            out.append({"text": " ".join(tokens[pos:first])})
        text = " ".join(tokens[first:last + 1])
        if is_missed:
            out.append({"text": text, "missed": typ})
        else:
            out.append({"text": text, "type": typ, "t": type_index.setdefault(typ, len(type_index)),
                        "cls": classes.get(span) if classes else None})
        pos = last + 1
    if pos < len(tokens):
        out.append({"text": " ".join(tokens[pos:])})
    return out


def sentences_section(inp: ReportInput) -> Section | None:
    if not inp.sentences:
        return None
    sweep = inp.sweep
    type_index = {t: i for i, t in enumerate(sweep.types)}
    labels = {d.index: d.label for d in sweep.rows}
    sentences = []
    for s in inp.sentences:
        tokens = [t or "_" for t in s.tokens]
        lines = [{"label": "gold", "gold": True, "segments": _segments(tokens, s.gold, None, type_index)}]
        tc: set[str] = set()
        for line in s.lines:
            lines.append({"label": labels[line.row], "seed": line.seed, "color": row_color(line.row), "gold": False,
                          "segments": _segments(tokens, line.spans, line.classes, type_index,
                                                [o.gold for o in line.outcomes if o.cls == "missed" and o.gold])})
            tc.update(f"{type_index.setdefault(t, len(type_index))}:{o.cls}" for o in line.outcomes for t in o.types())
        types = {type_index[sp[0]] for sp in s.gold} | {type_index[sp[0]] for ln in s.lines for sp in ln.spans}
        sentences.append({"index": s.index, "lines": lines, "types": " ".join(map(str, sorted(types))),
                          "tc": " ".join(sorted(tc)), "classes": " ".join(sorted({x.split(":")[1] for x in tc}))})
    seeds = sorted({ln.seed for s in inp.sentences for ln in s.lines})
    return Section("sentences", "Sentences where the rows disagree", "report_sentences.html.j2",
                   {"sentences": sentences, "types": list(type_index), "total": inp.disagreeing,
                    "cap": inp.max_sentences, "seeds": seeds,
                    "classes": [{"id": c, "name": CLASS_NAMES[c]} for c in CLASSES]})


def type_colors(sweep: SweepData, sentences: Section | None) -> list[str]:
    """One colour per entity type of the sentence view (types beyond the palette reuse it)."""
    n = len(sentences.ctx["types"]) if sentences else len(sweep.types)
    return [TYPE_COLORS[i % len(TYPE_COLORS)] for i in range(n)]


# ---------------------------------------------------------------------------------------- settings

# What the run description holds that is a setting of the whole sweep (the rest is per run).
_SETTING_KEYS = ("base_model", "base_model_note", "dataset", "metric_mode", "hyperparameters", "tagger_version")
_RUN_COLUMNS = (("best_epoch", "best epoch"), ("epochs_run", "epochs"), ("optimizer_steps", "steps"),
                ("train_seconds", "train s"), ("train_tokens_per_second", "tokens/s"), ("peak_rss_mb", "peak RSS MB"),
                ("nonfinite_steps_skipped", "non-finite steps"), ("num_processes", "processes"), ("hardware", "hardware"))


def _flat(info: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in _SETTING_KEYS:
        value = info.get(key)
        if key == "dataset" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k in ("name", "hub_id")}
        if isinstance(value, dict):
            out.update({f"{key}.{k}": json.dumps(v) if not isinstance(v, str) else v
                        for k, v in value.items() if k != "seed"})
        elif value is not None:
            out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


def _grouped(values: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """Setting -> its values, each with the runs that had it when the runs differ."""
    keys = list(dict.fromkeys(k for v in values.values() for k in v))
    out = []
    for key in keys:
        by_value: dict[str, list[str]] = {}
        for run, flat in values.items():
            by_value.setdefault(flat.get(key, "(not recorded)"), []).append(run)
        out.append({"key": key, "options": [{"value": v, "runs": runs if len(by_value) > 1 else []}
                                           for v, runs in by_value.items()]})
    return out


def settings_section(inp: ReportInput) -> Section | None:
    runs = [r for d in inp.sweep.rows for r in d.runs if r.name]
    infos = {r.name: r.info for r in runs if r.info}
    commands = _grouped({name: {"command": i["command"]} for name, i in infos.items() if i.get("command")})
    settings = _grouped({name: _flat(i) for name, i in infos.items()})
    table = [{"run": r.name, "seed": r.seed,
              "cells": [_cell(v if isinstance(v, (int, float)) else None,
                              "" if v is None else (f"{v:.0f}" if isinstance(v, float) else str(v)))
                        for v in (r.result.get(k) for k, _ in _RUN_COLUMNS)]} for r in runs]
    if not (commands or settings or table):
        return None
    return Section("settings", "Settings and how to reproduce", "report_settings.html.j2",
                   {"commands": commands[0]["options"] if commands else [], "settings": settings, "runs": table,
                    "columns": [name for _, name in _RUN_COLUMNS]})


#: The report's sections in page order. A new kind of sweep data (entity-score calibration, once
#: summary.json carries it) becomes a section by adding a builder here and its template.
SECTIONS: tuple[Callable[[ReportInput], Section | None], ...] = (
    summary_section, per_type_section, errors_section, sentences_section, settings_section)
