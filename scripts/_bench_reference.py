"""The reference runs of ``scripts/bench_train.py``: transformers' Trainer, written as run_ner.py does it.

  (b) Trainer + DataCollatorForTokenClassification, random batches, truncation at max length, first subword labelled
  (c) the same with ``train_sampling_strategy="group_by_length"``
  (d) (c) with ``bf16=True`` (CPU autocast)

Each run is its own process (``bench_train.py --reference-worker V``, started by :func:`run_reference`)
and writes a JSON result. Transformers only: nothing here trains, reads or scores with ``tagger``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import _bench_common as common

ENTRY = Path(__file__).resolve().with_name("bench_train.py")  # its --reference-worker runs one Trainer run


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


def epoch_timer(collator: CountingCollator) -> Any:
    """A TrainerCallback recording seconds and non-padding tokens of each epoch (the fastest epoch is
    robust to load from other processes)."""
    from transformers import TrainerCallback

    class EpochTimer(TrainerCallback):
        def __init__(self) -> None:
            self.epochs: list[dict[str, float]] = []

        def on_epoch_begin(self, *a: Any, **k: Any) -> None:
            self.t0, self.r0 = time.perf_counter(), collator.real

        def on_epoch_end(self, *a: Any, **k: Any) -> None:
            self.epochs.append({"seconds": time.perf_counter() - self.t0, "tokens": collator.real - self.r0})

    return EpochTimer()


def to_dataset(tokenizer: Any, sents: list, label2id: dict[str, int], max_length: int) -> Any:
    """run_ner.py's ``tokenize_and_align_labels`` over a ``datasets.Dataset`` of (words, tags)."""
    import datasets

    def tokenize_and_align_labels(examples: dict[str, list]) -> dict[str, list]:
        enc = tokenizer(examples["tokens"], padding=False, truncation=True, max_length=max_length,
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

    ds = datasets.Dataset.from_dict({"tokens": [w for w, _ in sents], "ner_tags": [t for _, t in sents]})
    return ds.map(tokenize_and_align_labels, batched=True, remove_columns=ds.column_names)


def f1_metric(label_list: list[str]) -> Any:
    """run_ner.py's ``compute_metrics``, F1 only (seqeval, default mode)."""
    import numpy as np
    from seqeval.metrics import f1_score

    def compute_metrics(p: Any) -> dict[str, float]:
        preds = np.argmax(p.predictions, axis=2)
        true_p = [[label_list[q] for q, l in zip(pr, la) if l != -100] for pr, la in zip(preds, p.label_ids)]
        true_l = [[label_list[l] for q, l in zip(pr, la) if l != -100] for pr, la in zip(preds, p.label_ids)]
        return {"f1": f1_score(true_l, true_p)}

    return compute_metrics


def training_arguments(args: argparse.Namespace, out_dir: Path) -> Any:
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(out_dir / "trainer"),
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        num_train_epochs=args.epochs,
        train_sampling_strategy="group_by_length" if args.setup in ("c", "d") else "random",
        # Trainer's CPU autocast, the setting a user would flip to match (a)'s precision (it insists on use_cpu)
        bf16=args.setup == "d", use_cpu=args.setup == "d" and not torch.cuda.is_available(),
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        logging_strategy="no",
        seed=args.seed,
    )


def build_trainer(args: argparse.Namespace, out_dir: Path) -> tuple[Any, CountingCollator, Any]:
    """The Trainer as run_ner.py builds it, its counting collator and its epoch timer."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification, Trainer

    path = common.encoder_path(args.model)
    train = common.read_split(args.data, "train")[: args.train_sentences]
    val = common.read_split(args.data, "validation")[: args.eval_sentences]
    # run_ner's get_label_list, over validation too (a subset of the sentences may miss a label)
    label_list = sorted({t for _, tags in train + val for t in tags})
    label2id = {label: i for i, label in enumerate(label_list)}
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(label_list), id2label=dict(enumerate(label_list)), label2id=label2id)
    collator = CountingCollator(DataCollatorForTokenClassification(tokenizer))
    timer = epoch_timer(collator)
    trainer = Trainer(model=model, args=training_arguments(args, out_dir),
                      train_dataset=to_dataset(tokenizer, train, label2id, args.max_length),
                      eval_dataset=to_dataset(tokenizer, val, label2id, args.max_length),
                      processing_class=tokenizer, data_collator=collator, compute_metrics=f1_metric(label_list),
                      callbacks=[timer])
    return trainer, collator, timer


def reference_worker(args: argparse.Namespace) -> int:
    """One Trainer run (setup ``args.setup``); writes its figures to ``args.result`` as JSON."""
    t_start = time.perf_counter()
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_warning()
    out_dir = Path(args.out_dir)
    trainer, collator, timer = build_trainer(args, out_dir)
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
        "setup": args.setup,
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
        "optim": str(trainer.args.optim),
        "precision": "bf16" if trainer.args.bf16 else "no",
        "setup_seconds": setup_seconds,
        "epochs": timer.epochs,
    }
    Path(args.result).write_text(json.dumps(out, indent=1))
    return 0


def worker_command(setup: str, seed: int, args: argparse.Namespace, out_dir: Path, result: Path) -> list[str]:
    cmd = [sys.executable, str(ENTRY), "--reference-worker", setup, "--out-dir", str(out_dir), "--result",
           str(result), "--data", args.data, "--model", args.model, "--epochs", str(args.epochs),
           "--learning-rate", str(args.learning_rate), "--batch-size", str(args.batch_size),
           "--max-length", str(args.max_length), "--seed", str(seed)]
    if args.train_sentences:
        cmd += ["--train-sentences", str(args.train_sentences)]
    if args.eval_sentences:
        cmd += ["--eval-sentences", str(args.eval_sentences)]
    return cmd


def run_reference(setup: str, seed: int, args: argparse.Namespace, work: Path) -> Any:
    """Start one Trainer run in its own subprocess; returns a function that waits and reads its result."""
    out_dir = work / f"trainer-{setup}-seed{seed}"
    out_dir.mkdir(parents=True, exist_ok=True)
    result = out_dir / "result.json"
    t0 = time.perf_counter()
    wait = common.start_logged(worker_command(setup, seed, args, out_dir, result), out_dir / "log.txt", out_dir,
                               common.child_env(args.data), f"reference ({setup}), seed {seed}")

    def finish() -> dict[str, Any]:
        wait()
        res = json.loads(result.read_text())
        res["process_seconds"] = time.perf_counter() - t0
        return res

    return finish
