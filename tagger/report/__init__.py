"""An HTML report of a finished sweep: one self-contained file, readable offline and safe to mail.

:func:`write_report` reads a sweep folder (``summary.json`` from :func:`tagger.summary_files.write_summary`,
and per run ``all_results.json``, the test predictions each table row names (``predictions``:
``runs/<run>/test_predictions.<decoding>.conll``, or ``test_predictions.conll`` for a row without
decoding) and, when the model was saved, ``model/tagger_run.json``) and writes ``report.html`` with:

* the summary table, one row per (loss, decoding), sortable by a click on a header;
* test F1 per entity type per row, every seed a dot (an inline SVG, see :mod:`tagger.report.svg`);
* the error classes of :mod:`tagger.error_analysis` per row, and per-type counts and the type
  confusion matrix of the row chosen in a select box;
* test sentences where the rows disagree, gold and each row's entities highlighted, filterable by
  entity type and by error class (at most ``max_sentences``, the most disputed first);
* the settings and the command that reproduce the sweep.

Text stays text: the metrics shown come from ``summary.json`` and the error counts from
:meth:`tagger.error_analysis.ErrorAnalysis.to_json`, which the page also carries as JSON
(``<script id="report-data" type="application/json">``) and which is written to ``errors.json``
beside the page. Styles, script and figures are inline and a Content-Security-Policy forbids any
load, so the page cannot reach the network. A section whose data the sweep lacks is left out
(:data:`tagger.report.sections.SECTIONS` lists them).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from tagger.io import atomic_write_json, atomic_write_text
from tagger.report.data import SweepData, disagreements, errors_document, load_sweep
from tagger.report.sections import CLASS_COLORS, SECTIONS, ReportInput, type_colors
from tagger.report.svg import row_color

logger = logging.getLogger(__name__)

#: Disagreeing sentences shown by default: a page of the default WNUT-17 sweep's size (12 runs x 1,287
#: test sentences, made-up predictions) measured 0.78 MB with it, 1.8 MB with all 892 disagreeing sentences.
DEFAULT_MAX_SENTENCES = 300
#: The page's name beside summary.md, and in a published model's repository.
REPORT_NAME = "report.html"

__all__ = ["DEFAULT_MAX_SENTENCES", "REPORT_NAME", "render_report", "write_report"]


def _environment() -> Environment:
    return Environment(loader=PackageLoader("tagger", "templates"), autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _json_script(obj: object) -> Markup:
    # inside <script> only "</" can end the element early; "<\/" reads the same to JSON.parse
    return Markup(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/"))


def _title(sweep: SweepData) -> str:
    info = next((r.info for row in sweep.rows for r in row.runs if r.info), None) or {}
    about = [str(x) for x in ((info.get("dataset") or {}).get("name"), info.get("base_model")) if x]
    folder = Path(sweep.out_dir).resolve().name
    return f"Sweep report: {folder}" + (f" ({', '.join(about)})" if about else "")


def render_report(out_dir: Path, max_sentences: int = DEFAULT_MAX_SENTENCES) -> tuple[str, dict]:
    """The page's HTML and the error document (what errors.json holds) of the sweep in ``out_dir``."""
    sweep = load_sweep(out_dir)
    sentences, total = disagreements(sweep, max_sentences)
    inp = ReportInput(sweep=sweep, sentences=sentences, disagreeing=total, max_sentences=max_sentences)
    sections = [s for s in (build(inp) for build in SECTIONS) if s is not None]
    sentence_section = next((s for s in sections if s.id == "sentences"), None)
    errors = errors_document(sweep)
    html = _environment().get_template("report.html.j2").render(
        title=_title(sweep),
        summary=sweep.summary, sections=sections, class_colors=CLASS_COLORS,
        type_colors=type_colors(sweep, sentence_section), row_colors=[row_color(d.index) for d in sweep.rows],
        data=_json_script({"errors": errors}),
    )
    return html, errors


def write_report(out_dir: Path, out: Path | None = None, *, max_sentences: int = DEFAULT_MAX_SENTENCES,
                 errors_json: bool = True) -> Path:
    """Write the report of the finished sweep in ``out_dir`` to ``out`` (default ``out_dir/report.html``)
    and, with ``errors_json``, ``errors.json`` beside it; returns the page's path.

    InputError when ``out_dir`` holds no ``summary.json`` or a run's prediction file is malformed.
    """
    out_dir = Path(out_dir)
    out = Path(out) if out is not None else out_dir / REPORT_NAME
    html, errors = render_report(out_dir, max_sentences=max_sentences)
    atomic_write_text(out, html)
    if errors_json:
        atomic_write_json(out.parent / "errors.json", errors)
    logger.info("wrote %s (%d kB)", out, len(html.encode("utf-8")) // 1024)
    return out
