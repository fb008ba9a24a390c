"""`tagger score`: score predicted tags against gold tags like conlleval, at word level."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from tagger.errors import InputError, missing_file
from tagger.metrics import MODES

logger = logging.getLogger(__name__)

# per sentence: first line, then one (token, tag, line) per word; with three columns the tag is (gold, pred)
Block = tuple[int, list[tuple[str, object, int]]]

#: what every command says about an input without a single sentence (exit code 2)
NO_SENTENCES = "no sentences: the file is empty or holds only blank lines"


def check_input_file(path: str) -> None:
    """InputError naming ``path`` unless it is a file (what is wrong: missing, or a folder)."""
    if not os.path.isfile(path):
        raise InputError(missing_file(path), path=path)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="score a prediction file against a gold file (conlleval-style)",
        description=(
            "Entity-level precision, recall and F1 (overall and per type, with the counts behind them) and\n"
            "token accuracy at word level, equal to seqeval's.\n\n"
            "GOLD and PRED are CoNLL column files: one word per line, the tag in the last column, columns\n"
            "split by tabs or spaces, a blank (or whitespace-only) line between sentences; CRLF, a missing\n"
            "final blank line and -DOCSTART- lines are fine. Sentences and words are matched by position: a\n"
            "different count is an error naming the first line where the files part; words whose text differs\n"
            "are scored and counted in a warning. With PRED omitted, GOLD holds 'token gold pred' columns\n"
            "(what `tagger predict` writes).\n\n"
            "Modes: conlleval (default; the official CoNLL-2003 / WNUT-17 metric: an I- tag after O starts an\n"
            "entity) or strict (seqeval strict: only well-formed IOB2 / IOBES / BILOU chunks count)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_gold_pred_arguments(p)
    p.add_argument("--json", action="store_true",
                   help='print JSON: {"overall": {precision, recall, f1, tp, predicted, gold}, "per_type": {...}, "accuracy": ...}')
    p.set_defaults(func=run)


def _check_tag(tag: str, path: str, line: int) -> str:
    from tagger.data.schemes import parse_tag

    try:
        parse_tag(tag)
    except ValueError as err:
        raise InputError(str(err), path=path, line=line) from None
    return tag


def read_tagged(path: str, columns: int = 1) -> list[Block]:
    """Sentences of a tagged file: the last ``columns`` columns are tags, the first is the token.

    With ``columns=1`` a line of one column is a tag alone (no token text to compare).
    """
    from tagger.data.conll import iter_conll_columns

    out: list[Block] = []
    for rows, first, _document in iter_conll_columns(path):
        words: list[tuple[str, object, int]] = []
        for j, cols in enumerate(rows):
            line = first + j
            if columns == 2:
                if len(cols) < 3:
                    raise InputError(f"expected 'token gold pred' columns, got {len(cols)} column(s)", path=path, line=line)
                words.append((cols[0], (_check_tag(cols[-2], path, line), _check_tag(cols[-1], path, line)), line))
            else:
                words.append((cols[0] if len(cols) > 1 else "", _check_tag(cols[-1], path, line), line))
        out.append((first, words))
    return out


def _pair(gold_path: str, pred_path: str) -> tuple[list[list[str]], list[list[str]]]:
    gold_blocks, pred_blocks = read_tagged(gold_path), read_tagged(pred_path)
    gold: list[list[str]] = []
    pred: list[list[str]] = []
    differ = 0
    first_diff = ""
    for k, ((_, gw), (_, pw)) in enumerate(zip(gold_blocks, pred_blocks)):
        if len(gw) != len(pw):
            n = min(len(gw), len(pw))
            g_line = gw[n][2] if n < len(gw) else gw[-1][2] + 1
            p_line = pw[n][2] if n < len(pw) else pw[-1][2] + 1
            raise InputError(f"sentence {k + 1} has {len(pw)} words here but {len(gw)} in the gold file; "
                             f"the files part here and at {gold_path}:{g_line}", path=pred_path, line=p_line)
        for (gt, gtag, gl), (pt, ptag, pl) in zip(gw, pw):
            if gt and pt and gt != pt:
                differ += 1
                if not first_diff:
                    first_diff = f"{pred_path}:{pl} {pt!r} vs {gold_path}:{gl} {gt!r}"
        gold.append([t for _, t, _ in gw])  # type: ignore[misc]
        pred.append([t for _, t, _ in pw])  # type: ignore[misc]
    if len(gold_blocks) != len(pred_blocks):
        n = min(len(gold_blocks), len(pred_blocks))
        if len(pred_blocks) > n:
            raise InputError(f"{len(pred_blocks)} sentences here but {len(gold_blocks)} in the gold file "
                             f"(which ends there)", path=pred_path, line=pred_blocks[n][0])
        raise InputError(f"{len(gold_blocks)} sentences but only {len(pred_blocks)} in the prediction file {pred_path} "
                         f"(which ends there)", path=gold_path, line=gold_blocks[n][0])
    if differ:
        logger.warning("%d word(s) differ in text between the files (first: %s); scored by position", differ, first_diff)
    return gold, pred


def run(args: argparse.Namespace) -> int:
    from tagger.metrics import format_conlleval, score_sequences

    for path in (args.gold, args.pred):
        if path is not None:
            check_input_file(path)
    if args.pred is None:
        blocks = read_tagged(args.gold, columns=2)
        gold = [[t[0] for _, t, _ in words] for _, words in blocks]  # type: ignore[index]
        pred = [[t[1] for _, t, _ in words] for _, words in blocks]  # type: ignore[index]
    else:
        gold, pred = _pair(args.gold, args.pred)
    if not gold:  # both files empty (when only one is, _pair has named it)
        raise InputError(NO_SENTENCES, path=args.gold)
    result = score_sequences(gold, pred, mode=args.mode)
    if args.json:
        keys = ("precision", "recall", "f1", "tp", "predicted", "gold")
        doc = {
            "overall": {k: result[k] for k in keys},
            "per_type": {t: {k: v[k] for k in keys} for t, v in result["per_type"].items()},
            "accuracy": result["accuracy"],
            "macro_f1": result["macro_f1"],
            "tokens": result["tokens"],
            "mode": args.mode,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write(format_conlleval(result))
    return 0


def add_gold_pred_arguments(p: argparse.ArgumentParser) -> None:
    """GOLD [PRED] and --mode, as `tagger score` and `tagger error-analysis` read them."""
    p.add_argument("gold", metavar="GOLD", help="gold file (or a 'token gold pred' file when PRED is omitted)")
    p.add_argument("pred", metavar="PRED", nargs="?", help="prediction file")
    p.add_argument("--mode", choices=MODES, default="conlleval", help="chunk reading (default: conlleval)")
