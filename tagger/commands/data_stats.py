"""`tagger data-stats`: sentences, tokens, entities and lengths per split, and what truncation would cut."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap

from tagger.data.formats import DATA_SUFFIXES, describe
from tagger.data.splits import SPLIT_NAMING_RULE


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data-stats",
        help="counts per split of a data set (sentences, tokens, entities, lengths)",
        description=(
            "Per split: sentences, tokens, entities per type, share of O tags and sentence length in words.\n"
            "With --tokenizer also the length in subwords, the words that tokenize to nothing and, with\n"
            "--max-length, how many words and entities a plain truncation at that length would cut\n"
            "(tagger itself predicts every word with overlapping windows).\n\n"
            "PATH_OR_NAME: conll2003 | wnut17 (a local folder first: $TAGGER_DATA_DIR, data/, ../shared/data/;\n"
            "then the Hub), a folder of split files, a saved DatasetDict, a single data file (shown as the\n"
            "split 'data'), or a Hub data set id.\n\n"
            + textwrap.fill(f"Split files: {SPLIT_NAMING_RULE}. The closest name wins (test.conll over "
                            "test_predictions.conll); two equally close files for one split are an error.",
                            100)
            + "\n\nFormats by suffix:\n" + describe("data")
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", metavar="PATH_OR_NAME", help="data set name, folder, file or Hub id")
    p.add_argument("--tokenizer", metavar="DIR", help="tokenizer folder or Hub id (a fast tokenizer)")
    p.add_argument("--max-length", type=int, metavar="N", help="subwords per sequence, special tokens included (needs --tokenizer)")
    p.add_argument("--data-dir", help="where named data sets live (default: $TAGGER_DATA_DIR, data/, ../shared/data/)")
    p.add_argument("--json", action="store_true", help='print JSON: {"splits": {SPLIT: {"sentences", "tokens", "entities", ...}}}')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tagger.data.readers import load_ner_dataset
    from tagger.data.stats import dataset_stats, format_stats
    from tagger.errors import InputError

    if args.max_length is not None and args.tokenizer is None:
        raise InputError("--max-length needs --tokenizer (lengths are counted in subwords)")
    if args.max_length is not None and args.max_length < 1:
        raise InputError(f"--max-length must be positive, got {args.max_length}")
    if not os.path.exists(args.data) and os.path.splitext(args.data)[1].lower() in DATA_SUFFIXES:
        raise InputError("file not found", path=args.data)
    if os.path.isfile(args.data):
        try:
            data = load_ner_dataset(test_file=args.data)
        except InputError as err:  # the file is read as the split 'test', which this command shows as 'data'
            if err.path == args.data and err.line is None and err.message.endswith("split has no sentences"):
                from tagger.commands.score import NO_SENTENCES

                raise InputError(NO_SENTENCES, path=args.data) from None
            raise
        data.splits = type(data.splits)({"data": data.splits["test"]})
        data.sources = {"data": data.sources["test"]}
    else:
        data = load_ner_dataset(args.data, data_dir=args.data_dir)
    tokenizer = None
    if args.tokenizer is not None:
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        except (OSError, ValueError) as err:
            raise InputError(f"cannot load a tokenizer: {str(err).splitlines()[0]}", path=args.tokenizer) from None
        if not getattr(tokenizer, "is_fast", False):
            raise InputError("not a fast tokenizer (word_ids() is needed)", path=args.tokenizer)
    stats = dataset_stats(data, tokenizer=tokenizer, max_length=args.max_length)
    if args.json:
        sys.stdout.write(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(format_stats(stats))
    return 0
