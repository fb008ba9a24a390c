"""`tagger predict`: word-level predictions for CoNLL, JSON-lines or raw-text input, streamed."""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

from tagger.data.formats import PREDICT_FORMATS, describe, file_format
from tagger.errors import InputError

PRE_TOKENIZERS = ("words", "tokenizer")  # tagger.text_words.PRE_TOKENIZERS (it loads numpy)
DECODINGS = ("argmax", "viterbi")  # tagger.decoding.DECODINGS (not imported here: it loads numpy)


def finite_float(text: str) -> float:
    """An O bias from the command line: a finite number (nan decodes nothing, inf tags every word)."""
    value = float(text)  # argparse reports a ValueError as "invalid finite_float value"
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def type_bias_item(text: str) -> tuple[str, float] | None:
    """One ``--type-bias`` item: ``TYPE=B`` (B a finite number), or ``none`` (no per-type bias: None)."""
    if text == "none":
        return None
    typ, sep, value = text.rpartition("=")
    if not sep or not typ:
        raise argparse.ArgumentTypeError(f"TYPE=B or none, got {text!r}")
    return typ, finite_float(value)


def _type_biases(items: list[tuple[str, float] | None] | None) -> dict[str, float] | None:
    """``--type-bias`` as Tagger's ``type_bias``: None (the folder's), ``{}`` for ``none``, else the mapping."""
    if items is None:
        return None
    if None in items and len(items) > 1:
        raise InputError("--type-bias: 'none' stands alone")
    return dict(i for i in items if i is not None)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="tag words with a trained model",
        description=(
            "Predict one tag per word with a trained model folder. Input formats:\n"
            "  conll  token per line (tag in the last column if present), blank line between sentences,\n"
            "         -DOCSTART- lines between documents; output 'token gold pred' when gold tags are present\n"
            "         (scorable by `tagger score`), else 'token pred'\n"
            "  jsonl  one {\"tokens\": [...]} object per line, \"document_id\" optional; output adds \"tags\" and\n"
            "         \"entities\"\n"
            "  text   one sentence per line, a blank line between documents, split into words by --pre-tokenizer;\n"
            "         output JSON lines with entities and character offsets into the line\n"
            "\n"
            "Format by suffix (--format overrides it):\n" + describe("predict") + "\n"
            "\n"
            "Pre-tokenizers for text input:\n"
            "  words      (default) runs of letters/digits kept whole with inner - ' . (U.S, don't,\n"
            "             state-of-the-art), any other non-space character alone (@user -> @ user)\n"
            "  tokenizer  the model tokenizer's own words, as pipeline(\"token-classification\",\n"
            "             aggregation_strategy=\"first\") sees them (BERT: split at every punctuation mark);\n"
            "             gives the pipeline's entities exactly (up to its truncation at 512 subwords)\n"
            "\n"
            "Decoding (docs/decoding.md): a model folder the recipe saved names its decoding, the O bias and\n"
            "the per-type biases tuned on validation in tagger_run.json, and they apply unless --decoding /\n"
            "--o-bias / --type-bias say otherwise (--o-bias alone drops the saved per-type biases, which were\n"
            "tuned on top of the saved O bias); other folders: argmax, no bias. The pipeline's tags:\n"
            "--decoding argmax --o-bias 0\n"
            "\n"
            "Document context (docs/predict.md): a model trained with data.context > 0 reads each sentence\n"
            "with its neighbours in the same document, as in its evaluation; input without documents (conll\n"
            "without -DOCSTART-, jsonl without document_id) is read sentence by sentence, and the log says so"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="model folder (save_pretrained format)")
    p.add_argument("--input", required=True, help="input file")
    p.add_argument("--output", required=True, help="output file (written atomically)")
    p.add_argument("--format", choices=PREDICT_FORMATS,
                   help="input format (default: from the suffix, as in the table above)")
    p.add_argument("--pre-tokenizer", choices=PRE_TOKENIZERS, default=None,
                   help="how --format text splits lines into words (default: words; see above)")
    p.add_argument("--decoding", choices=DECODINGS, default=None,
                   help="argmax (each word its most probable tag, as the pipeline) or viterbi (the best tag "
                        "sequence the scheme allows); default: the model's, else argmax")
    p.add_argument("--o-bias", type=finite_float, default=None, metavar="B",
                   help="subtract B from every word's O log-probability before decoding (B > 0: more entities); "
                        "default: the bias tuned on validation for the decoding, else 0; 0 turns it off")
    p.add_argument("--type-bias", type=type_bias_item, nargs="+", default=None, metavar="TYPE=B",
                   help="add B to every log-probability of the labels of TYPE (B-/I-/E-/S-/L-/U-) before decoding, "
                        "for each TYPE=B given; 'none': no per-type bias; default: the biases tuned on validation "
                        "with the saved O bias (none with --o-bias)")
    p.add_argument("--scores", action="store_true",
                   help="add each entity's probability (\"score\") to jsonl and text output")
    p.add_argument("--batch-tokens", type=int, default=None,
                   help="subword budget of a batch (default: tagger.predict.PREDICT_BATCH_TOKENS, 1024)")
    p.add_argument("--max-length", type=int, help="window length in subwords (default: the model's training value)")
    p.add_argument("--stride", type=int, help="window overlap in subwords (default: the model's training value)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--allow-pickle", action="store_true", help="allow pickle (.bin) weights, which can run code")
    p.add_argument("--trust-remote-code", action="store_true", help="run model code shipped with the model folder")
    p.set_defaults(func=run)


def _iter_jsonl(path: str) -> Iterator[tuple[dict[str, Any], list[str], int | None]]:
    """Each object, its tokens and its document number (None without ``document_id``; checked as the reader
    checks it: the sentences of a document on consecutive lines)."""
    from tagger.data.documents import DOCUMENT_COLUMN, DocumentIds
    from tagger.data.jsonl import iter_json_lines

    documents = DocumentIds(path)
    for obj, lineno in iter_json_lines(path):
        tokens = obj.get("tokens") if isinstance(obj, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise InputError("expected an object with \"tokens\": a list of strings", path=path, line=lineno)
        yield obj, tokens, documents.number(obj.get(DOCUMENT_COLUMN), lineno, DOCUMENT_COLUMN in obj)


def _iter_text(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            yield line.rstrip("\r\n")


def text_documents(lines: Iterator[str]) -> Iterator[int]:
    """The document of each line of text input: one per block of lines between blank lines (a blank line is a
    document of its own, and has no words)."""
    block, blank = 0, True
    for k, line in enumerate(lines):
        if not line.strip():
            blank = True
            yield -1 - k
            continue
        if blank:
            block, blank = block + 1, False
        yield block


def _document_ids(numbers: Iterator[int | None]) -> Iterator[int]:
    """Document ids for ``predict_stream`` from each sentence's document number (None: a document of its own,
    given its sentence's negative index)."""
    return (n if n is not None else -1 - k for k, n in enumerate(numbers))


def _conll_has_documents(path: str) -> bool:
    """Whether a CoNLL file has a ``-DOCSTART-`` line (read line by line, nothing kept)."""
    from tagger.data.conll import utf8_lines

    return any(re.split(r"[ \t]+", line.strip(" \t\r\n"), maxsplit=1)[0] == "-DOCSTART-" for _, line in utf8_lines(path))


def _write_conll(out: Any, path: str, tagger: Any, bar: Any) -> int:
    from tagger.data.conll import iter_conll, write_conll

    def sentences() -> Iterator[list[list[str]]]:
        with_documents = bool(tagger.context) and _conll_has_documents(path)
        first, second, *third = itertools.tee(iter_conll(path, require_tags=False), 3 if with_documents else 2)
        documents = _document_ids(s.document for s in third[0]) if third else None
        for (tokens, gold, _line, _doc), pred in zip(first, tagger.predict_stream((s[0] for s in second),
                                                                                   documents=documents)):
            bar.update(1)
            yield [tokens, pred] if gold is None else [tokens, gold, pred]

    return write_conll(out, sentences())


def _write_jsonl(out: Any, path: str, tagger: Any, bar: Any, scores: bool) -> int:
    from tagger.data.schemes import entities
    from tagger.predict import word_entities

    n = 0
    # DocumentIds makes document_id all or nothing: the first object tells
    first_row = next(iter(_iter_jsonl(path)), None) if tagger.context else None
    with_documents = first_row is not None and first_row[2] is not None
    first, second, *third = itertools.tee(_iter_jsonl(path), 3 if with_documents else 2)
    documents = _document_ids(row[2] for row in third[0]) if third else None
    for (obj, _tokens, _doc), pred in zip(first, tagger.predict_stream((t for _, t, _ in second), scores=scores,
                                                                        documents=documents)):
        obj = dict(obj)
        if scores:
            obj["tags"], obj["entities"] = pred["tags"], pred["entities"]
        else:
            obj["tags"], obj["entities"] = pred, word_entities(entities(pred))
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        n += 1
        bar.update(1)
    return n


def _has_sentence(path: str, fmt: str) -> bool:
    """Whether the input holds a sentence, read up to the first one (a large input is not read twice)."""
    from tagger.data.conll import iter_conll, utf8_lines
    from tagger.data.jsonl import iter_json_lines

    if fmt == "conll":
        return next(iter_conll(path, require_tags=False), None) is not None
    if fmt == "jsonl":
        return next(iter_json_lines(path), None) is not None
    return any(line.strip() for _, line in utf8_lines(path))


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from tagger.commands.score import NO_SENTENCES, check_input_file
    from tagger.io import atomic_open
    from tagger.predict import Tagger

    check_input_file(args.input)
    if not os.path.isdir(args.model):
        raise InputError("model folder not found", path=args.model)
    fmt = args.format or file_format(args.input, "predict")
    if args.pre_tokenizer is not None and fmt != "text":
        raise InputError(f"--pre-tokenizer applies to text input only, not to {fmt} (its words are given)",
                         path=args.input)
    if args.scores and fmt == "conll":
        raise InputError("--scores applies to jsonl and text output, not to conll (its columns stay scorable)",
                         path=args.input)
    if not _has_sentence(args.input, fmt):  # refused before the model loads and before an output is written
        raise InputError(NO_SENTENCES, path=args.input)
    tagger = Tagger.from_pretrained(args.model, device=args.device, allow_pickle_weights=args.allow_pickle,
                                    trust_remote_code=args.trust_remote_code, max_length=args.max_length,
                                    stride=args.stride, batch_tokens=args.batch_tokens,
                                    pre_tokenizer=args.pre_tokenizer or "words", decoding=args.decoding,
                                    o_bias=args.o_bias, type_bias=_type_biases(args.type_bias))
    bar = tqdm(unit="sent", desc="predict", disable=None, file=sys.stderr)
    with atomic_open(args.output) as out:
        if fmt == "conll":
            n = _write_conll(out, args.input, tagger, bar)
        elif fmt == "jsonl":
            n = _write_jsonl(out, args.input, tagger, bar, args.scores)
        else:
            n = 0
            first, second, *third = itertools.tee(_iter_text(args.input), 3 if tagger.context else 2)
            documents = text_documents(third[0]) if third else None
            for text, ents in zip(first, tagger.predict_text_stream(second, scores=args.scores, documents=documents)):
                out.write(json.dumps({"text": text, "entities": ents}, ensure_ascii=False) + "\n")
                n += 1
                bar.update(1)
    bar.close()
    decoding = ("CRF head" if tagger.crf is not None else tagger.decoding) + (
        f", O bias {tagger.o_bias:g}" if tagger.o_bias else "") + "".join(
        f", {t} bias {b:+.3g}" for t, b in (tagger.type_bias or {}).items() if b)
    sys.stderr.write(f"tagger predict: {n} sentences -> {args.output} ({decoding})\n")
    return 0
