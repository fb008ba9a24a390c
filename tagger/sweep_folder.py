"""A sweep's summary from its folder: what ``tagger summarize`` and the end of a sweep both write.

Whatever runs are finished (``runs/*/all_results.json``) are summarized by
:func:`tagger.summary.summarize` and written by :func:`tagger.summary_files.write_summary`; the labels come
from the runs' class counts (else a saved model's config), the metric mode from their scores. On top
of the table the summary gets:

* ``search``: per tuned loss its grid, the validation F1 of every point and the choice
  (:func:`tagger.search.search_summary`), when the folder holds a search;
* ``tuned`` in each row of ``table``: what the row's setting was chosen over, or None;
* ``cost``: the training time of the search runs and of the sweep's runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tagger.errors import InputError
from tagger.io import atomic_write_text
from tagger.losses.labels import current_result
from tagger.summary import BASELINE, summarize
from tagger.summary_files import write_summary
from tagger.train.clock import span
from tagger.train.shards import RESULTS

logger = logging.getLogger(__name__)


#: the keys of a run's all_results.json that a summary reads, and the JSON type each must have
_RESULT_TYPES: dict[str, tuple[type, ...]] = {"label": (str,), "seed": (int,), "validation": (dict,), "test": (dict,),
                                               "train_seconds": (int, float)}


def _read(path: Path) -> dict[str, Any]:
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read: {err}", path=path) from None
    if not isinstance(result, dict):
        raise InputError("not the all_results.json of a tagger run (not a JSON object)", path=path)
    missing = [key for key in _RESULT_TYPES if key not in result]
    if missing:
        raise InputError(f"no {', '.join(missing)}: not the all_results.json of a finished tagger run", path=path)
    for key, types in _RESULT_TYPES.items():
        if not isinstance(result[key], types) or isinstance(result[key], bool):
            name = types[0].__name__
            raise InputError(f"{key}: a JSON {type(result[key]).__name__} where {'an' if name[0] in 'aeiou' else 'a'} "
                             f"{name} is expected", path=path)
    for split in ("validation", "test"):
        f1 = result[split].get("f1")
        if f1 is not None and (isinstance(f1, bool) or not isinstance(f1, (int, float))):
            raise InputError(f"{split}.f1: a JSON {type(f1).__name__} where a number is expected", path=path)
    return current_result(result)  # a run saved under earlier loss parameter names joins its row


def unfinished_runs(out_dir: Path) -> list[dict[str, str]]:
    """The run folders of a sweep folder (``runs/*``, ``runs/search/*``) without results, each
    ``{"run", "state", "detail"}``: ``running`` (a live process holds its claim), ``dead`` (its claim's
    process is gone or silent: it is taken over by the next launch) or ``unfinished`` (no claim in
    force: never trained to the end, failed or interrupted)."""
    from tagger.search import SEARCH_RUNS
    from tagger.train.claims import current_claim

    runs_dir = out_dir / "runs"
    folders = [p for p in sorted(runs_dir.glob("*")) if p.is_dir() and p.name != SEARCH_RUNS]
    folders += [p for p in sorted((runs_dir / SEARCH_RUNS).glob("*")) if p.is_dir()]
    found = []
    for folder in folders:
        if (folder / RESULTS).is_file():
            continue
        claim = current_claim(folder)
        if claim is not None and claim.live:
            state, detail = "running", f"claimed by {claim.describe()}"
        elif claim is not None and claim.why != "released":
            state, detail = "dead", f"{claim.why}: {claim.describe()}"
        else:
            state, detail = "unfinished", "no process holds it (failed, interrupted or not trained to the end)"
        found.append({"run": folder.relative_to(runs_dir).as_posix(), "state": state, "detail": detail})
    return found


def warn_unfinished(out_dir: Path) -> list[dict[str, str]]:
    """:func:`unfinished_runs`, each logged as a warning: a summary of part of a sweep says so."""
    found = unfinished_runs(out_dir)
    for run in found:
        logger.warning("%s: %s, not in the summary (%s)", run["run"], run["state"], run["detail"])
    return found


def unfinished_markdown(found: Sequence[dict[str, str]]) -> str:
    if not found:
        return ""
    lines = ["\n## Runs not finished\n", "| run | state | detail |", "|---|---|---|"]
    lines += [f"| {r['run']} | {r['state']} | {r['detail']} |" for r in found]
    return "\n".join(lines) + "\n"


def finished_runs(runs_dir: Path, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The results of the finished runs under ``runs_dir``: of ``names`` in that order (those not
    finished left out), or of every run folder, ``ce`` first, then by label and seed."""
    if names is not None:
        return [_read(runs_dir / name / RESULTS) for name in names if (runs_dir / name / RESULTS).is_file()]
    found = [_read(path) for path in sorted(runs_dir.glob(f"*/{RESULTS}"))]
    return sorted(found, key=lambda r: (r["label"] != BASELINE, r["label"], r["seed"]))


def label_list_of(runs: Sequence[dict[str, Any]], runs_dir: Path) -> list[str]:
    """The data set's labels, in id order: a run's class counts (every label, written in id order),
    else a saved model's ``id2label``; empty if neither is there."""
    for r in runs:
        if r.get("class_counts"):
            return list(r["class_counts"])
    for r in runs:
        config = runs_dir / r["run"] / "model" / "config.json"
        if config.is_file():
            id2label = json.loads(config.read_text(encoding="utf-8")).get("id2label", {})
            return [id2label[k] for k in sorted(id2label, key=int)]
    return []


def metric_mode_of(runs: Sequence[dict[str, Any]], runs_dir: Path) -> str:
    """The seqeval mode the runs were scored in; InputError when they disagree."""
    modes = {r["test"].get("mode", "conlleval") for r in runs}
    if len(modes) > 1:
        raise InputError(f"the runs were scored in different modes ({', '.join(sorted(modes))}): they do not "
                         "compare", path=runs_dir)
    return modes.pop() if modes else "conlleval"


def part_cost(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Time of some runs: their training loops' wall seconds summed, times the processes each used (CPU or GPU
    time), and the runs' whole wall time (set-up, training, evaluation, files; runs written before it was
    recorded add nothing, and ``runs_timed`` counts those that did)."""
    timed = [r["run_seconds"] for r in runs if isinstance(r.get("run_seconds"), (int, float))]
    cost = {"runs": len(runs), "train_seconds": round(sum(r.get("train_seconds", 0.0) for r in runs), 2),
            "process_seconds": round(sum(r.get("train_seconds", 0.0) * r.get("num_processes", 1) for r in runs), 2),
            "run_seconds": round(sum(timed), 2), "runs_timed": len(timed)}
    # the wall time from the first run's start to the last one's end, when every run says when it ran
    intervals = [(r["started_at"], r["finished_at"]) for r in runs if r.get("started_at") and r.get("finished_at")]
    if runs and len(intervals) == len(runs):
        cost["span_seconds"], cost["most_at_once"] = span(intervals)
    return cost


def summarize_folder(out_dir: str | Path, *, runs: Sequence[str] | None = None, studies: Sequence[str] | None = None,
                     label_list: Sequence[str] | None = None, mode: str | None = None,
                     decodings: Sequence[str] | None = None, report: bool = True,
                     **write_options: Any) -> dict[str, Any]:
    """Summarize the finished runs of ``out_dir`` and write summary.{json,csv,md,png} (and report.html).

    ``runs``: the run folders to summarize, in the table's order (default: every finished one);
    ``studies``: the searches to report (default: every study in the folder); ``label_list`` and
    ``mode``: as the sweep knows them (default: read from the runs); ``decodings``: the rows per loss
    (``sweep.decodings``; default: that key's default); ``write_options`` go to
    :func:`tagger.summary_files.write_summary`. Returns the summary. InputError when no run is finished.
    """
    out_dir = Path(out_dir)
    runs_dir = out_dir / "runs"
    results = finished_runs(runs_dir, runs)
    if not results:
        raise InputError(f"no finished run under {runs_dir} (runs/<run>/{RESULTS})")
    mode = mode or metric_mode_of(results, runs_dir)
    summary = summarize(results, label_list=list(label_list or label_list_of(results, runs_dir)), runs_dir=runs_dir,
                        mode=mode, decodings=decodings)
    extra_md = add_search(summary, out_dir, studies)
    summary["cost"] = {**summary.get("cost", {}), "final": part_cost(results)}
    extra_md.append(cost_markdown(summary["cost"]))
    summary["unfinished"] = warn_unfinished(out_dir)
    extra_md.append(unfinished_markdown(summary["unfinished"]))
    write_summary(out_dir, summary, **write_options)
    md_path = out_dir / "summary.md"
    atomic_write_text(md_path, md_path.read_text(encoding="utf-8").rstrip("\n") + "\n" + "".join(extra_md))
    if report:
        from tagger.report import write_report  # jinja2 and the error analysis, only when a page is asked for

        summary["report_path"] = str(write_report(out_dir))
    return summary


def add_search(summary: dict[str, Any], out_dir: Path, studies: Sequence[str] | None) -> list[str]:
    """Put the folder's searches into ``summary`` (``search``, rows' ``tuned``, the search's cost, a
    note under the table); returns the Markdown sections for summary.md."""
    from tagger.search import (
        SEARCH_RUNS,
        STORAGE_NAME,
        search_markdown,
        search_summary,
        trains_choice,
        tuned_note,
    )

    for row in summary["table"]:
        row.setdefault("tuned", None)
    searches = search_summary(out_dir, studies) if (out_dir / STORAGE_NAME).is_file() else []
    if not searches:
        return []
    summary["search"] = searches
    for row in summary["table"]:
        runs = [r for r in summary["runs"] if r["label"] == row["loss"]]
        s = next((s for s in searches if runs and all(trains_choice(s, r) for r in runs)), None)
        if s is not None:
            row["tuned"] = {"over": s["grid"], "seeds": s["seeds"], "points": len(s["points"]), "chosen": s["chosen"]}
    if any(row["tuned"] for row in summary["table"]):
        summary["table_text"] += "\n\n" + tuned_note(summary["table"])
    names = list(dict.fromkeys(name for s in searches for p in s["points"] for name in p["runs"]))
    summary["cost"] = {"search": part_cost(finished_runs(out_dir / "runs" / SEARCH_RUNS, names))}
    return [search_markdown(searches)]


def cost_markdown(cost: dict[str, Any]) -> str:
    lines = ["\n## Cost\n", "| part | runs | training wall time (s) | process time (s) | run wall time (s) |",
             "|---|---|---|---|---|"]
    for part in ("search", "final"):
        if part in cost:
            c = cost[part]
            whole = f"{c['run_seconds']:.1f}" if c.get("runs_timed") == c["runs"] else "–"
            lines.append(f"| {part} | {c['runs']} | {c['train_seconds']:.1f} | {c['process_seconds']:.1f} | {whole} |")
    spans = [(part, cost[part]) for part in ("search", "final") if "span_seconds" in cost.get(part, {})]
    lines += [""] * bool(spans) + [f"{part}: {c['span_seconds']:.0f} s from the first run's start to the last one's "
                                   f"end, at most {c['most_at_once']} at once" for part, c in spans]
    lines.append("\nTraining wall time: the training loops (the runs' train_seconds summed); process time: that times "
                 "the processes of each run, the CPU or GPU time it held; run wall time: each run from its set-up "
                 "to its last file (evaluation and scoring included), summed, shown when every run recorded it. "
                 "Loading the data set once per launch is not counted.")
    return "\n".join(lines) + "\n"
