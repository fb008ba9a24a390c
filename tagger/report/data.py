"""What the report is made of: a finished sweep folder read once, the error analysis per run and per row,
and the test sentences where the rows disagree."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tagger.error_analysis import (
    ErrorAnalysis,
    Outcome,
    Span,
    _spans,
    analyse_errors,
    classify_spans,
    prediction_classes,
)
from tagger.errors import InputError
from tagger.losses.labels import current_result
from tagger.run_files import PREDICTIONS
from tagger.summary import row_label, run_decodings

logger = logging.getLogger(__name__)

# a row's predictions file is a bare name in the run's folder (summary.json could name anything)
_PREDICTIONS_NAME = re.compile(r"test_predictions(\.[A-Za-z0-9+_-]+)?\.conll")
RESULTS = "all_results.json"
# where the recipe leaves a run's description (with the command), in the saved model's folder
RUN_INFO_PLACES = ("model/tagger_run.json", "tagger_run.json")


@dataclass
class RunData:
    """One run of the sweep under one row's decoding: its entry of summary.json with that decoding's scores
    at the top level and, where the file exists, that decoding's test predictions."""

    name: str
    seed: int
    result: dict[str, Any]
    info: dict[str, Any] | None = None
    tokens: list[list[str]] | None = None
    gold: list[list[str]] | None = None
    pred: list[list[str]] | None = None
    spans: list[tuple[list[Span], list[Span]]] | None = None  # per sentence, gold and predicted entities
    errors: ErrorAnalysis | None = None


@dataclass
class RowData:
    """One row of the summary table (a loss and a decoding, or a peer) and its runs, seeds in order."""

    index: int
    table: dict[str, Any]
    runs: list[RunData]
    errors: ErrorAnalysis | None = None  # summed over the runs that have predictions

    @property
    def label(self) -> str:
        return str(self.table.get("label") or row_label(self.table["loss"], self.table.get("decoding")))

    @property
    def analysed(self) -> list[RunData]:
        return [r for r in self.runs if r.errors is not None]


@dataclass
class SentenceLine:
    """One row's prediction of a sentence: entities with the error class each stands in."""

    row: int
    seed: int
    spans: list[Span]
    classes: dict[Span, str]
    outcomes: list[Outcome]


@dataclass
class Sentence:
    index: int  # 0-based position in the test split
    tokens: list[str]
    gold: list[Span]
    lines: list[SentenceLine] = field(default_factory=list)


@dataclass
class SweepData:
    out_dir: Path
    summary: dict[str, Any]
    rows: list[RowData]
    mode: str = "conlleval"

    @property
    def types(self) -> list[str]:
        return list(self.summary.get("types", []))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON: {err.msg}", path=path, line=err.lineno) from None


def _run_info(run_dir: Path) -> dict[str, Any] | None:
    from tagger.cards import sanitize_info

    for place in RUN_INFO_PLACES:
        if (run_dir / place).is_file():
            # the recipe already strips local paths; a report gets shared, so make sure
            return sanitize_info(_read_json(run_dir / place))
    return None


def _predictions_file(table_row: dict[str, Any]) -> str:
    name = table_row.get("predictions") or PREDICTIONS
    if not _PREDICTIONS_NAME.fullmatch(name):
        raise InputError(f"summary row {table_row.get('label', table_row['loss'])!r} names predictions {name!r}, "
                         "not a test_predictions*.conll file of its run")
    return name


def _load_run(out_dir: Path, entry: dict[str, Any], mode: str, table_row: dict[str, Any]) -> RunData:
    from tagger.commands.error_analysis import read_pair

    decoding = table_row.get("decoding")
    scores = run_decodings(entry)[decoding] if decoding is not None else {}
    run = RunData(name=str(entry.get("run", "")), seed=int(entry.get("seed", 0)), result={**entry, **scores})
    if not run.name or entry.get("peer"):
        return run  # a peer's predictions come from another program: nothing on disk
    run_dir = out_dir / "runs" / run.name
    if (run_dir / RESULTS).is_file() and current_result(_read_json(run_dir / RESULTS)) != entry:
        logger.warning("%s differs from its copy in summary.json; the report shows summary.json",
                       run_dir / RESULTS)
    run.info = _run_info(run_dir)
    predictions = run_dir / _predictions_file(table_row)
    if predictions.is_file():
        _check_complete(predictions)
        # read exactly like `tagger error-analysis` reads one 'token gold pred' file, so the counts agree
        run.gold, run.pred, run.tokens = read_pair(str(predictions), None, with_tokens=True)
        try:
            run.spans = _spans(run.gold, run.pred, mode)
            run.errors = analyse_errors(run.gold, run.pred, mode=mode)
        except ValueError as err:  # strict mode: tags of two schemes
            raise InputError(str(err), path=predictions) from None
    else:
        logger.warning("%s: no %s, left out of the error analysis", run.name, predictions.name)
    return run


def _check_complete(path: Path) -> None:
    """InputError naming the file and its last line when a predictions file does not end with the blank
    line that closes every sentence: it was cut short (a kill or a full disk while it was copied)."""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - 2))
        end = fh.read()
    if end and not end.endswith(b"\n\n") and end != b"\n":
        lines = path.read_bytes().count(b"\n") + (not end.endswith(b"\n"))
        raise InputError("ends in the middle of a sentence (no blank line after its last word): the file was cut "
                         "short; restore it or rerun the run", path=path, line=lines)


def _scored_mode(summary: dict[str, Any]) -> str:
    """The mode the runs' test scores were computed in (score_sequences records it beside them), so that
    'correct' is the true positives behind the F1 shown; else the summary's metric_mode."""
    modes = {r["test"].get("mode") for r in summary.get("runs", []) if not r.get("peer") and "test" in r}
    if len(modes) == 1 and None not in modes:
        return str(modes.pop())
    if len(modes) > 1 and None not in modes:
        logger.warning("the runs were scored in different modes (%s); the error analysis uses the summary's",
                       ", ".join(sorted(map(str, modes))))
    return str(summary.get("metric_mode") or "conlleval")


def load_sweep(out_dir: Path) -> SweepData:
    """summary.json and every run's files; InputError when the folder holds no finished sweep."""
    out_dir = Path(out_dir)
    path = out_dir / "summary.json"
    if not path.is_file():
        raise InputError("no summary.json here: not a finished sweep folder", path=out_dir)
    summary = _read_json(path)
    if not isinstance(summary, dict) or not isinstance(summary.get("table"), list):
        raise InputError("no summary table (written by tagger.summary_files.write_summary?)", path=path)
    mode = _scored_mode(summary)
    from tagger.sweep_folder import warn_unfinished

    warn_unfinished(out_dir)
    rows = []
    for i, table_row in enumerate(summary["table"]):
        entries = [r for r in summary.get("runs", []) if r.get("label") == table_row["loss"]
                   and table_row.get("decoding") in run_decodings(r)]
        runs = [_load_run(out_dir, e, mode, table_row) for e in sorted(entries, key=lambda r: r.get("seed", 0))]
        row = RowData(index=i, table=table_row, runs=runs)
        if row.analysed:
            row.errors = ErrorAnalysis.combine([r.errors for r in row.analysed])  # type: ignore[misc]
        rows.append(row)
    return SweepData(out_dir=out_dir, summary=summary, rows=rows, mode=mode)


def errors_document(sweep: SweepData) -> dict[str, Any]:
    """errors.json: per row the error analysis of each run and their sum (``ErrorAnalysis.to_json()``)."""
    rows = []
    for row in sweep.rows:
        if row.errors is None:
            continue
        rows.append({"loss": row.label, "seeds": [r.seed for r in row.analysed],
                     "runs": {r.name: r.errors.to_json() for r in row.analysed},  # type: ignore[union-attr]
                     "total": row.errors.to_json()})
    return {"mode": sweep.mode, "rows": rows}


# ------------------------------------------------------------------------------------ disagreement


def shown_runs(sweep: SweepData) -> list[tuple[RowData, RunData]]:
    """One run per analysed row for the sentence view: the same seed for every row (the smallest they
    share), so rows are compared under one seed as the bootstrap compares them; else each row's first."""
    rows = [row for row in sweep.rows if row.analysed]
    shared = set.intersection(*({r.seed for r in row.analysed} for row in rows)) if rows else set()
    out = []
    for row in rows:
        pick = [r for r in row.analysed if r.seed == min(shared)] if shared else row.analysed
        out.append((row, pick[0]))
    return out


def _same_gold(runs: Sequence[RunData]) -> bool:
    first = runs[0].gold
    return all(r.gold == first for r in runs[1:])


def disagreements(sweep: SweepData, limit: int) -> tuple[list[Sentence], int]:
    """Up to ``limit`` test sentences where the shown runs predict different entities, the most disputed
    first (most distinct predictions, then most errors), and how many such sentences there are."""
    shown = shown_runs(sweep)
    if len(shown) < 2:
        return [], 0
    runs = [run for _, run in shown]
    if not _same_gold(runs):
        logger.warning("the runs were scored on different test sentences; no sentence comparison")
        return [], 0
    ranked = []
    for i, (gold, _) in enumerate(runs[0].spans or []):
        preds = [run.spans[i][1] for run in runs]  # type: ignore[index]
        distinct = len({tuple(p) for p in preds})
        if distinct < 2:
            continue
        outcomes = [classify_spans(gold, p) for p in preds]
        errors = sum(o.cls != "correct" for per in outcomes for o in per)
        ranked.append((-distinct, -errors, i, gold, preds, outcomes))
    ranked.sort(key=lambda t: t[:3])
    out = []
    for _, _, i, gold, preds, outcomes in ranked[:limit]:
        sent = Sentence(index=i, tokens=runs[0].tokens[i], gold=gold)  # type: ignore[index]
        for (row, run), spans, per in zip(shown, preds, outcomes):
            sent.lines.append(SentenceLine(row.index, run.seed, spans, prediction_classes(per, spans), per))
        out.append(sent)
    return out, len(ranked)
