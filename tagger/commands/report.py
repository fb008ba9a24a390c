"""`tagger report`: one self-contained HTML page about a finished sweep folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="an HTML report of a finished sweep: table, per-type F1, error classes, disagreeing sentences",
        description=(
            "One self-contained HTML file (styles, scripts and figures inline; it loads nothing) built from a\n"
            "finished sweep folder: summary.json, and per run runs/<run>/all_results.json and\n"
            "the test predictions of each row's decoding (runs/<run>/test_predictions.<decoding>.conll).\n"
            "It holds the summary table (click a header to sort), per-type\n"
            "test F1 with every seed, the error classes of `tagger error-analysis` per row with a confusion matrix,\n"
            "test sentences where the rows disagree (filter by type and error class) and the settings and\n"
            "command of the sweep. errors.json (the error analysis per row) is written beside it."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("output_dir", metavar="OUTPUT_DIR", help="the sweep's output folder (holding summary.json)")
    p.add_argument("--out", metavar="FILE", help="where to write the page (default: OUTPUT_DIR/report.html)")
    p.add_argument("--max-sentences", type=int, default=None, metavar="N",
                   help="at most N disagreeing sentences in the page, the most disputed first "
                        "(default: tagger.report.DEFAULT_MAX_SENTENCES)")
    p.add_argument("--no-errors-json", action="store_true", help="do not write errors.json beside the page")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tagger.errors import InputError
    from tagger.report import DEFAULT_MAX_SENTENCES, write_report

    cap = DEFAULT_MAX_SENTENCES if args.max_sentences is None else args.max_sentences
    if cap < 0:
        raise InputError(f"--max-sentences must be 0 or more, got {cap}")
    out = write_report(Path(args.output_dir), Path(args.out) if args.out else None, max_sentences=cap,
                       errors_json=not args.no_errors_json)
    logger.info("report: %s (%.0f kB)", out, out.stat().st_size / 1024)
    return 0
