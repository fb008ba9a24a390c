"""The training runs of ``scripts/bench_train.py``: the setups, (a) tagger's recipe in a subprocess, and
what is read off every finished run the same way (every word scored by ``tagger``, the fastest epoch).

The Trainer setups (b), (c), (d) are in ``_bench_reference.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import _bench_common as common

SETUPS = "abcd"
NAMES = {"a": "(a) tagger loop (recipes/ner.py)", "b": "(b) Trainer, run_ner.py defaults",
         "c": "(c) Trainer + group_by_length", "d": "(d) Trainer + group_by_length + bf16"}
NO_SENTENCE_CAP = 1_000_000  # with --tagger-batches tokens the budget alone decides, like fairseq's --max-tokens


def same_tokens_budget(tokenizer: Any, sents: list, max_length: int, batch_size: int) -> int:
    """Subwords per batch of (b) on average: all subwords of the split (truncated at ``max_length``, as
    (b) sees them) over (b)'s number of batches of ``batch_size`` sentences."""
    enc = tokenizer([w for w, _ in sents], is_split_into_words=True, truncation=True, max_length=max_length)
    total = sum(len(x) for x in enc["input_ids"])
    return max(max_length, round(total / -(-len(sents) // batch_size)))


def batch_overrides(args: argparse.Namespace) -> list[str]:
    if args.tagger_batches == "tokens":
        return [f"training.max_tokens_per_batch={args.token_budget}",
                f"training.max_sentences_per_batch={NO_SENTENCE_CAP}"]
    return [f"training.max_sentences_per_batch={args.batch_size}",
            f"training.max_tokens_per_batch={args.batch_size * args.max_length}"]


def recipe_overrides(args: argparse.Namespace, seed: int, out: Path) -> list[str]:
    # no data.data_dir: the recipe finds the named data set where this script did (common.child_env)
    o = [
        # every layer trained, as the Trainer does (the default sweep's config freezes 2 to fit its time)
        f"model.name_or_path={args.model}", "model.freeze_layers=0", f"data.name={args.data}",
        f"data.max_length={args.max_length}",
        f"training.epochs={args.epochs}", f"training.learning_rate={args.learning_rate}",
        *batch_overrides(args), f"training.mixed_precision={args.precision}",
        "training.warmup_ratio=0", "training.weight_decay=0", "training.max_grad_norm=1.0",
        "training.checkpointing='no'", f"training.seed={seed}",
        "sweep.losses=[]", "sweep.seeds=[]", "loss.name=ce",
        f"output.output_dir={out}", "output.report_to=none", "output.overwrite=true", "output.save_model=true",
    ]
    if args.train_sentences:
        o.append(f"data.max_train_sentences={args.train_sentences}")
    if args.eval_sentences:
        o.append(f"data.max_eval_sentences={args.eval_sentences}")
    return o


def run_tagger(seed: int, args: argparse.Namespace, work: Path) -> Any:
    """Start the recipe in its own subprocess; returns a function that waits and reads all_results.json."""
    out = work / f"tagger-seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(common.REPO / "recipes" / "ner.py"), *recipe_overrides(args, seed, out)]
    t0 = time.perf_counter()
    wait = common.start_logged(cmd, out / "log.txt", work, common.child_env(args.data),
                               f"recipe (seed {seed}) ({' '.join(cmd)})")

    def finish() -> dict[str, Any]:
        wait()
        found = sorted((out / "runs").glob("*/all_results.json"))
        if not found:
            raise SystemExit(f"recipe wrote no runs/*/all_results.json under {out}")
        res = json.loads(found[0].read_text())
        res["setup"], res["seed"], res["precision"] = "a", seed, args.tagger_precision
        res["model_dir"] = str(found[0].parent / "model")
        res["process_seconds"] = time.perf_counter() - t0
        res["command"] = " ".join(["python", "recipes/ner.py", *recipe_overrides(args, seed, Path("OUT"))])
        return res

    return finish


def fastest_epoch(r: dict[str, Any]) -> float | None:
    """Non-padding tokens/s of the fastest epoch: less sensitive than the total to bursts of load from others."""
    if r.get("history"):  # tagger: every epoch sees the same windows
        per_epoch = r["train_tokens"] / max(1, r["epochs_run"])
        return max(per_epoch / h["epoch_seconds"] for h in r["history"] if h.get("epoch_seconds"))
    if r.get("epochs"):
        return max(e["tokens"] / e["seconds"] for e in r["epochs"] if e["seconds"] > 0)
    return None


def score_all_words(model_dir: str, splits: dict[str, list[tuple[list[str], list[str]]]]) -> dict[str, dict[str, Any]]:
    """Every word of each split predicted by tagger.predict.Tagger (windows, no truncation); seqeval conlleval.

    Returns, per split, micro precision / recall / F1 and ``per_type`` {TYPE: precision, recall, f1,
    support} as fractions (types: those in the gold tags or the predictions of that split).
    """
    from tagger.metrics import score_sequences
    from tagger.predict import Tagger

    # argmax without O bias for every model, tagger's or the peer's: the scores compare training, not decoding
    tagger = Tagger.from_pretrained(model_dir, device="cpu", decoding="argmax", o_bias=0)
    out = {}
    for split, sentences in splits.items():
        pred = tagger.predict([w for w, _ in sentences])
        scores = score_sequences([t for _, t in sentences], pred, mode="conlleval")
        out[split] = {"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
                      "sentences": len(sentences), "gold_entities": scores["gold"], "max_length": tagger.max_length,
                      "per_type": {t: {k: v[k] for k in ("precision", "recall", "f1", "support")}
                                   for t, v in scores["per_type"].items()}}
    return out


def score_runs(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Add to every run its same-way scores on validation and test, and its fastest epoch."""
    splits = {split: common.read_split(args.data, split)[: args.eval_sentences] for split in ("validation", "test")}
    for r in runs:
        scores = score_all_words(r["model_dir"], splits)
        r["validation_all_words"], r["test_all_words"] = scores["validation"], scores["test"]
        r["validation_f1_all_words"] = scores["validation"]["f1"]
        r["test_f1_all_words"] = scores["test"]["f1"]
        r["fastest_epoch_tokens_per_second"] = fastest_epoch(r)
