"""`tagger compare`: two rows of a finished sweep, seed for seed, overall and per entity type."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="paired bootstrap of one row of a sweep against another, overall and per entity type",
        description=(
            "Compares row A with row B of OUTPUT_DIR/summary.json (labels as in its table, e.g.\n"
            "'focal(gamma=2.0) + oversample_rare + crf' or 'ce · viterbi+threshold') on the test predictions\n"
            "their runs wrote: per seed the paired bootstrap over test sentences of F1(A) - F1(B), for all\n"
            "entities and for each type alone, and the mean precision, recall and F1 of each row. A\n"
            "difference counts when p < 0.05 on every seed and all seeds agree in sign (the summary's rule).\n"
            "Prints a markdown table; --json writes the numbers."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("output_dir", metavar="OUTPUT_DIR", help="a sweep folder with summary.json and runs/")
    p.add_argument("a", metavar="A", help="the row tested (e.g. the stack with a lever added)")
    p.add_argument("b", metavar="B", help="the row it is compared with (e.g. the stack without it)")
    p.add_argument("--against", metavar="DIR",
                   help="read row B from the sweep in DIR instead (the same data; e.g. the same sweep with another "
                        "model.freeze_layers)")
    p.add_argument("--samples", type=int, default=1000, help="bootstrap resamples per seed (default 1000)")
    p.add_argument("--json", metavar="FILE", help="also write the comparison as JSON to FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tagger.comparison import compare_rows, format_comparison
    from tagger.errors import InputError
    from tagger.io import atomic_write_json

    if args.samples < 1:
        raise InputError(f"--samples must be at least 1, not {args.samples}")
    result = compare_rows(Path(args.output_dir), args.a, args.b, samples=args.samples,
                          b_dir=Path(args.against) if args.against else None)
    sys.stdout.write(format_comparison(result) + "\n")
    if args.json:
        atomic_write_json(Path(args.json), result)
        logger.info("comparison: %s", args.json)
    return 0
