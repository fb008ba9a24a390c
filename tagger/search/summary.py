"""The searches as the sweep's summary shows them: per tuned loss its grid, every point's validation F1 and the
choice (summary.json's ``search``), the note under the table and summary.md's section."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tagger.losses.labels import current_params, current_spec
from tagger.run_files import run_folder_names
from tagger.search.space import SearchSpace, setting_label
from tagger.search.studies import (
    STUDY_KIND,
    best_point,
    open_storage,
    point_key,
    require_optuna,
    scored_points,
)


def _space_of(study: Any) -> SearchSpace:
    attrs = study.user_attrs
    spec = current_spec(attrs["spec"], study.study_name)  # a study started under earlier parameter names
    grid = dict(sorted(current_params(spec.get("name", ""), attrs["grid"], study.study_name).items()))
    return SearchSpace(spec=spec, grid=grid, seeds=attrs["seeds"], training=attrs["training"])


def study_summary(study: Any) -> dict[str, Any]:
    """One search for summary.json: the grid, every point's validation F1 (the curve) and the choice."""
    space = _space_of(study)
    scored = scored_points(study)
    points = []
    for point in space.points():
        trial = scored.get(point_key(point))
        f1 = trial.user_attrs.get("validation_f1", []) if trial else []
        points.append({"params": point, "validation_f1_mean": trial.value if trial else None,
                       "validation_f1_std": statistics.stdev(f1) if len(f1) > 1 else 0.0 if f1 else None,
                       "validation_f1": f1, "runs": trial.user_attrs.get("runs", []) if trial else []})
    complete = all(p["validation_f1_mean"] is not None for p in points)
    chosen = best_point(space, study) if complete else None
    spec, training = space.setting(chosen) if chosen else (None, None)
    return {"loss": space.label, "study": study.study_name, "spec": space.spec, "grid": space.grid,
            "seeds": space.seeds, "training": space.training, "over": space.describe(),
            "chosen_by": "mean validation F1 over the search seeds", "complete": complete, "chosen": chosen,
            "chosen_setting": {"spec": spec, "training": training} if chosen else None,
            "chosen_label": setting_label(spec, training) if chosen else None, "points": points}


def trains_choice(search: Mapping[str, Any], run: Mapping[str, Any]) -> bool:
    """Whether ``run`` (a run's all_results.json) is a final run of the setting ``search`` chose."""
    setting = search.get("chosen_setting")
    return bool(setting) and run["run"] in run_folder_names({**setting["spec"], **setting["training"]}, run["seed"])


def search_summary(out_dir: Path, studies: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The searches of ``out_dir``: those named (in that order), or every one in its journal."""
    optuna = require_optuna()
    storage = open_storage(out_dir)
    names = list(studies) if studies is not None else [s.study_name for s in optuna.get_all_study_summaries(storage)]
    found = []
    for name in names:
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:  # a search of this sweep that no process has started
            continue
        if study.user_attrs.get("kind") == STUDY_KIND:
            found.append(study_summary(study))
    return found


def _value_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def tuned_note(table: Sequence[Mapping[str, Any]]) -> str:
    """The lines under the summary table that say which rows were tuned, and over what."""
    first: dict[str, Mapping[str, Any]] = {}  # one line per loss, also where a loss has a row per decoding
    for row in table:
        if row.get("tuned"):
            first.setdefault(row["loss"], row)
    tuned = list(first.values())
    if not tuned:
        return ""
    lines = [f"Tuned on validation (grid search, chosen by mean validation F1 over seeds "
             f"{', '.join(map(str, tuned[0]['tuned']['seeds']))}; test never read):"]
    for row in tuned:
        t = row["tuned"]
        over = " × ".join(f"{k} ∈ {{{', '.join(_value_text(v) for v in vs)}}}" for k, vs in t["over"].items())
        chose = ", ".join(f"{k}={_value_text(v)}" for k, v in t["chosen"].items())
        lines.append(f"- {row['loss']}: {chose}, chosen over {over} ({t['points']} points)")
    untuned = list(dict.fromkeys(row["loss"] for row in table if not row.get("tuned")))
    if untuned:
        lines.append(f"- not tuned: {', '.join(untuned)}")
    return "\n".join(lines)


def search_markdown(searches: Sequence[Mapping[str, Any]]) -> str:
    """summary.md's section: per tuned loss, validation F1 per point of its grid, the choice in bold."""
    out = ["\n## Search\n"]
    for s in searches:
        out.append(f"### {s['loss']}: {s['over']}\n")
        out.append(f"Validation F1 (%), mean ± std over seeds {', '.join(map(str, s['seeds']))}"
                   + (f"; search runs: {', '.join(f'{k}={v}' for k, v in s['training'].items())}" if s["training"] else "")
                   + (f". Chosen: **{s['chosen_label']}**." if s["chosen"] else ". Not finished yet.") + "\n")
        keys = list(s["grid"])
        out.append("| " + " | ".join([*keys, "val F1"]) + " |")
        out.append("|" + "---|" * (len(keys) + 1))
        for p in s["points"]:
            mean, std = p["validation_f1_mean"], p["validation_f1_std"]
            cell = "-" if mean is None else f"{mean * 100:.1f} ± {std * 100:.1f}"
            if p["params"] == s["chosen"]:
                cell = f"**{cell}**"
            out.append("| " + " | ".join([*(_value_text(p["params"][k]) for k in keys), cell]) + " |")
        out.append("")
    return "\n".join(out) + "\n"
