"""`tagger error-analysis` (also `tagger errors`): classify every gold and predicted entity (correct, wrong type, wrong boundary, ...) per type."""

from __future__ import annotations

import argparse
import json
import sys

from tagger.commands.score import add_gold_pred_arguments
from tagger.errors import InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "error-analysis",
        aliases=["errors"],  # the command's first name, still accepted
        help="error analysis of a prediction file: error classes per type, confusion matrix, examples",
        description=(
            "Every gold entity gets one class from the best prediction overlapping it: correct (same span and\n"
            "type), wrong type (same span), wrong boundary (overlapping, same type), wrong boundary and type\n"
            "(overlapping, other type) or missed (no overlapping prediction); every prediction overlapping no\n"
            "gold entity is spurious. A prediction overlapping a gold entity is never spurious, so an entity\n"
            "split in two predictions counts once. Also an entity-type confusion matrix with O (no entity) as\n"
            "a row and a column: its total is the gold entities plus the spurious predictions. Entities are\n"
            "those `tagger score` counts in the same --mode, so 'correct' is its true positives.\n\n"
            "GOLD and PRED are read like `tagger score` reads them: CoNLL column files matched by position, or\n"
            "GOLD alone holding 'token gold pred' columns (what `tagger predict` and the recipe write)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_gold_pred_arguments(p)
    p.add_argument("--json", action="store_true",
                   help='print JSON: {"totals": {class: n}, "per_type": {type: {class: n}}, "confusion": '
                        '{"labels", "matrix"}, "examples": {class: [...]}, ...}')
    p.add_argument("--examples", type=int, default=0, metavar="N", help="show up to N sentences per error class")
    p.set_defaults(func=run)


def read_pair(gold_path: str, pred_path: str | None,
              with_tokens: bool = False) -> tuple[list[list[str]], list[list[str]], list[list[str]] | None]:
    """(gold tags, predicted tags, tokens or None) read exactly like `tagger score` reads its inputs."""
    from tagger.commands.score import _pair, check_input_file, read_tagged

    for path in (gold_path, pred_path):
        if path is not None:
            check_input_file(path)
    if pred_path is None:
        blocks = read_tagged(gold_path, columns=2)
        gold = [[t[0] for _, t, _ in words] for _, words in blocks]  # type: ignore[index]
        pred = [[t[1] for _, t, _ in words] for _, words in blocks]  # type: ignore[index]
        tokens = [[w for w, _, _ in words] for _, words in blocks]
        return gold, pred, tokens if with_tokens else None
    gold, pred = _pair(gold_path, pred_path)
    if not with_tokens:
        return gold, pred, None
    # the gold file's words (score's pairing keeps tags only); a tag-only gold file shows blanks
    tokens = [[w for w, _, _ in words] for _, words in read_tagged(gold_path)]
    return gold, pred, tokens


def run(args: argparse.Namespace) -> int:
    from tagger.error_analysis import analyse_errors, format_errors

    if args.examples < 0:
        raise InputError(f"--examples must be 0 or more, got {args.examples}")
    gold, pred, tokens = read_pair(args.gold, args.pred, with_tokens=args.examples > 0)
    if not gold:  # both files empty (when only one is, the pairing has named it)
        from tagger.commands.score import NO_SENTENCES

        raise InputError(NO_SENTENCES, path=args.gold)
    try:
        result = analyse_errors(gold, pred, tokens=tokens, examples=args.examples, mode=args.mode)
    except ValueError as err:  # strict mode: tags of two schemes
        raise InputError(str(err), path=args.pred or args.gold) from None
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(format_errors(result))
    return 0
