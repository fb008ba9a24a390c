#!/usr/bin/env python
"""Inference speed of ``tagger predict`` against transformers' token-classification pipeline, same entities.

    python scripts/bench_predict.py --model outputs/wnut17-minilm/runs/ce-seed1/model
    python scripts/bench_predict.py                  # trains a quick model with the recipe first (~3 min)
    python scripts/bench_predict.py --smoke          # tiny: 32 sentences, one round (the test)

Both predict the 1,287 WNUT-17 test sentences (given as word lists) on CPU:

  tagger    ``Tagger.from_pretrained(DIR).predict(words)``: sentences sorted by length, token-budget
            batches, inference_mode, one tag per data word (windows of the model's training length)
  pipeline  ``pipeline("token-classification", model=DIR, aggregation_strategy="first", batch_size=32)``
            called with ``is_split_into_words=True`` (and, for reference, on the space-joined strings)

Timings alternate between the two (median over rounds). The entity check compares, per sentence,
(type, char start, char end) in the space-joined sentence, and explains every sentence that differs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench_common as common  # noqa: E402

common.use_this_checkout()  # its tagger here, as child_env gives the recipe and the CLI
from tagger.catalog import PACKAGED_ENCODER  # noqa: E402

REPO = common.REPO
TARGET = 1.5


def train_quick_model(work: Path, smoke: bool) -> str:
    """A model folder from the recipe: the packaged MiniLM, CE, 2 epochs on WNUT-17 (1 epoch, 64 sentences if smoke)."""
    out = work / "quick"
    # no data.data_dir: the recipe finds WNUT-17 where this script did (common.child_env)
    args = [f"model.name_or_path={PACKAGED_ENCODER}", "data.name=wnut17", "sweep.losses=[]", "sweep.seeds=[]",
            "loss.name=ce", "training.checkpointing='no'", f"output.output_dir={out}", "output.report_to=none",
            "output.overwrite=true"]
    args += (["data.max_train_sentences=64", "data.max_eval_sentences=32", "training.epochs=1"] if smoke
             else ["training.epochs=2", "data.max_eval_sentences=200"])
    print(f"training a quick model: python recipes/ner.py {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, str(REPO / "recipes" / "ner.py"), *args], env=common.child_env("wnut17"),
                          cwd=work, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"recipe failed:\n{proc.stderr[-3000:]}")
    found = sorted((out / "runs").glob("*/model"))
    if not found:
        raise SystemExit(f"the recipe wrote no model under {out}/runs")
    return str(found[0])


def explain(tokenizer: Any, words: list[str], max_length: int) -> str:
    info = common.pipeline_words(tokenizer, words)
    if info["reasons"]:
        return "; ".join(sorted(info["reasons"]))
    if info["pieces"] > max_length - 2:
        return f"longer than a tagger window ({max_length} subwords): windowed"
    if info["pieces"] > tokenizer.model_max_length - 2:
        return "truncated by the pipeline"
    return "unexplained"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a model folder written by the recipe (runs/<run>/model); default: train one")
    p.add_argument("--sentences", type=int, help="first N test sentences (default: all 1,287)")
    p.add_argument("--batch-size", type=int, default=32, help="the pipeline's batch_size")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per variant (alternating)")
    p.add_argument("--no-strings", action="store_true", help="skip timing the pipeline on joined strings")
    p.add_argument("--cli", action="store_true", help="also time the `tagger predict` command (process start included)")
    p.add_argument("--smoke", action="store_true", help="tiny: 32 sentences, 1 round")
    p.add_argument("--json", help="write the figures to this JSON file")
    args = p.parse_args(argv)
    if args.smoke:
        args.sentences = args.sentences or 32
        args.rounds = 1
    with tempfile.TemporaryDirectory(prefix="bench_predict-") as tmp:
        return bench(args, Path(tmp))


def time_variants(tagger: Any, pipe: Any, words: list[list[str]], args: argparse.Namespace
                  ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Seconds per variant, alternating over the rounds (median), and each variant's last output."""
    strings = [" ".join(w) for w in words]
    n_words = sum(len(w) for w in words)
    tagger.predict(words[:32])  # warm-up
    pipe(words[:32], is_split_into_words=True, batch_size=args.batch_size)
    variants = {
        "tagger (Tagger.predict, word lists)": lambda: tagger.predict(words),
        f"pipeline (is_split_into_words, batch_size={args.batch_size})":
            lambda: pipe(words, is_split_into_words=True, batch_size=args.batch_size),
    }
    if not args.no_strings:
        variants[f"pipeline (joined strings, batch_size={args.batch_size})"] = \
            lambda: pipe(strings, batch_size=args.batch_size)
    times: dict[str, list[float]] = {k: [] for k in variants}
    outputs: dict[str, Any] = {}
    for _ in range(args.rounds):
        for k, fn in variants.items():
            t0 = time.perf_counter()
            outputs[k] = fn()
            times[k].append(time.perf_counter() - t0)
    rows = {k: {"seconds": statistics.median(t), "words_per_second": n_words / statistics.median(t),
                "sentences_per_second": len(words) / statistics.median(t), "all_seconds": t} for k, t in times.items()}
    return rows, outputs


def time_cli(model_dir: str, test: list[tuple[list[str], list[str]]], work: Path) -> dict[str, Any]:
    """The `tagger predict` command on the same sentences, process start and model load included."""
    n_words = sum(len(w) for w, _ in test)
    conll = work / "test.conll"
    conll.write_text("".join("".join(f"{w}\t{t}\n" for w, t in zip(ws, ts)) + "\n" for ws, ts in test))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tagger.cli", "predict", "--model", model_dir, "--input", str(conll),
                           "--output", str(work / "pred.conll"), "--device", "cpu"],
                          env=common.child_env(), capture_output=True, text=True)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "words_per_second": n_words / dt, "returncode": proc.returncode,
            "stderr_tail": proc.stderr[-500:]}


def entity_check(words: list[list[str]], tag_seqs: list[list[str]], pipe_out: list, tokenizer: Any,
                 max_length: int) -> dict[str, Any]:
    """tagger's entities (at its default window) against the pipeline's on word lists, sentence by sentence;
    every differing sentence explained."""
    differ: dict[str, int] = {}
    n_diff = 0
    examples = []
    ent_tagger = ent_pipe = 0
    for ws, tags, po in zip(words, tag_seqs, pipe_out):
        a = common.word_entities_to_chars(ws, tags)
        b = common.pipeline_entities(po)
        ent_tagger += len(a)
        ent_pipe += len(b)
        if a != b:
            n_diff += 1
            why = explain(tokenizer, ws, max_length)
            differ[why] = differ.get(why, 0) + 1
            if len(examples) < 3 and why == "unexplained":
                examples.append({"words": ws, "tagger": a, "pipeline": b})
    clean = [common.pipeline_words(tokenizer, ws)["one_word_each"] for ws in words]
    same_on_clean = all(common.word_entities_to_chars(ws, t) == common.pipeline_entities(po)
                        for ws, t, po, c in zip(words, tag_seqs, pipe_out, clean) if c)
    return {"entities_tagger": ent_tagger, "entities_pipeline": ent_pipe, "differing_sentences": n_diff,
            "differ_by_cause": differ, "one_word_each": sum(clean), "same_on_clean": same_on_clean,
            "examples": examples}


def print_results(rows: dict[str, dict[str, Any]], cli: dict[str, Any] | None, check: dict[str, Any],
                  words: list[list[str]], model_dir: str, args: argparse.Namespace) -> float:
    """The table, the verdict and the entity check; returns words/s tagger / pipeline."""
    import torch

    n_words = sum(len(w) for w in words)
    print(f"\nbench_predict: {len(words):,} WNUT-17 test sentences, {n_words:,} words, model {model_dir}; CPU, "
          f"torch {torch.__version__.split('+')[0]}, {torch.get_num_threads()} threads; median of {args.rounds} round(s)")
    head = f"{'variant':<52} {'seconds':>8} {'words/s':>9} {'sent/s':>8} {'x pipeline':>10}"
    print(head)
    print("-" * len(head))
    keys = list(rows)
    base = rows[keys[1]]["words_per_second"]
    for k, r in rows.items():
        print(f"{k:<52} {r['seconds']:>8.2f} {r['words_per_second']:>9,.0f} {r['sentences_per_second']:>8,.1f} "
              f"{r['words_per_second'] / base:>9.2f}x")
    if cli:
        print(f"{'tagger predict CLI (process start + model load incl.)':<52} {cli['seconds']:>8.2f} "
              f"{cli['words_per_second']:>9,.0f} {len(words) / cli['seconds']:>8,.1f} {cli['words_per_second'] / base:>9.2f}x"
              + ("" if cli["returncode"] == 0 else f"  FAILED rc={cli['returncode']}"))
    ratio = rows[keys[0]]["words_per_second"] / base
    print(f"\n  words/s tagger / pipeline = {ratio:.2f}x   target >= {TARGET}x   {'PASS' if ratio >= TARGET else 'FAIL'}")
    print(f"\nEntities: tagger {check['entities_tagger']:,}, pipeline {check['entities_pipeline']:,}; sentences with "
          f"identical entities {len(words) - check['differing_sentences']:,} / {len(words):,}")
    print(f"  sentences where every data word is one pipeline word: {check['one_word_each']:,}; differing sentences "
          "by cause:")
    for why, n in sorted(check["differ_by_cause"].items(), key=lambda kv: -kv[1]):
        print(f"    {n:>5}  {why}")
    print("  identical on every sentence where each data word is one pipeline word: "
          f"{'yes' if check['same_on_clean'] else 'NO'}")
    for ex in check["examples"]:
        print(f"  unexplained: {ex}")
    return ratio


def bench(args: argparse.Namespace, work: Path) -> int:
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    from tagger.predict import Tagger

    hf_logging.set_verbosity_error()
    model_dir = args.model or train_quick_model(work, args.smoke)
    test = common.wnut("test")[: args.sentences]
    words = [w for w, _ in test]
    tagger = Tagger.from_pretrained(model_dir, device="cpu")
    pipe = pipeline("token-classification", model=model_dir, aggregation_strategy="first", device="cpu")
    rows, outputs = time_variants(tagger, pipe, words, args)
    cli = time_cli(model_dir, test, work) if args.cli else None
    keys = list(rows)
    check = entity_check(words, outputs[keys[0]], outputs[keys[1]], pipe.tokenizer, tagger.max_length)
    ratio = print_results(rows, cli, check, words, model_dir, args)
    if args.json:
        figures = {k: v for k, v in check.items() if k != "examples"}
        Path(args.json).write_text(json.dumps({"rows": rows, "ratio": ratio, "cli": cli, **figures,
                                               "sentences": len(words), "words": sum(len(w) for w in words),
                                               "model": model_dir}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
