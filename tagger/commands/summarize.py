"""`tagger summarize`: the summary of a sweep folder, rebuilt from the runs that are finished."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summarize",
        help="rebuild summary.{json,csv,md,png} and report.html of a sweep folder from its finished runs",
        description=(
            "Rebuilds OUTPUT_DIR/summary.{json,csv,md,png} and report.html from every finished run under\n"
            "OUTPUT_DIR/runs/*/all_results.json, whichever launch or shard trained it: after shards on several\n"
            "machines, or to look at a sweep before it ends. The labels come from the runs (class counts, else\n"
            "a saved model's config), the metric mode from their scores, and a search (OUTPUT_DIR/search.journal)\n"
            "adds its section. The table is printed."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("output_dir", metavar="OUTPUT_DIR", help="the sweep's output folder (holding runs/)")
    p.add_argument("--no-report", action="store_true", help="do not write report.html (nor errors.json)")
    p.add_argument("--decodings", nargs="+", metavar="DECODING",
                   help="the rows per loss, as sweep.decodings: argmax, viterbi, argmax+threshold, "
                        "viterbi+threshold, argmax+type_thresholds, viterbi+type_thresholds (default: "
                        "sweep.decodings' default, argmax viterbi viterbi+threshold viterbi+type_thresholds)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tagger.errors import InputError
    from tagger.sweep_folder import summarize_folder

    out_dir = Path(args.output_dir)
    if not out_dir.is_dir():
        raise InputError("no such folder", path=out_dir)
    if args.decodings:
        from tagger.decoding import split_scoring

        for name in args.decodings:
            try:
                split_scoring(name)
            except ValueError as err:
                raise InputError(f"--decodings: {err}") from None
    summary = summarize_folder(out_dir, decodings=args.decodings, report=not args.no_report)
    sys.stdout.write(summary["table_text"] + "\n")
    logger.info("summary: %s (%d runs; json, csv, png beside it)", out_dir / "summary.md", len(summary["runs"]))
    if "report_path" in summary:
        logger.info("report: %s", summary["report_path"])
    return 0
