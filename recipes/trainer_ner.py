#!/usr/bin/env python
"""WNUT-17 with ``transformers.Trainer`` and a tagger loss, scored at word level like ``tagger score``.

    python recipes/trainer_ner.py --loss focal --param gamma=2.0 --param alpha=inverse_frequency
    python recipes/trainer_ner.py --max-steps 20 --max-sentences 200     # a quick look

Data: ``tagger.data.load_ner_dataset("wnut17")`` cut into tagger's windows; loss:
``tagger_loss(...)`` as ``compute_loss_func`` (sum over tokens / ``num_items_in_batch``, so gradient
accumulation equals one big batch); metrics: entity F1 of words (``tagger.metrics.score_sequences``).
"""

from __future__ import annotations

import argparse
import json

import yaml
from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                          Trainer, TrainingArguments)

from tagger.catalog import PACKAGED_ENCODER
from tagger.data import load_ner_dataset
from tagger.integrations.trainer import encode_split, tagger_loss, word_level_metrics
from tagger.train.features import resolve_encoder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loss", default="focal", help="registry loss name (default focal)")
    p.add_argument("--param", action="append", default=[], help="loss parameter KEY=VALUE (YAML value), repeatable")
    p.add_argument("--encoder", default=PACKAGED_ENCODER, help="encoder (default: the packaged MiniLM)")
    p.add_argument("--output-dir", default="runs/trainer-wnut17")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--max-sentences", type=int, help="use only the first N sentences of each split")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--grad-accum", type=int, default=1)
    args = p.parse_args()
    params = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.param)}

    data = load_ner_dataset("wnut17")
    labels = data.label_list
    path, _ = resolve_encoder(args.encoder)
    tokenizer = AutoTokenizer.from_pretrained(path)
    splits = {}
    for name in ("train", "validation", "test"):
        ds = data.splits[name]
        ds = ds.select(range(min(args.max_sentences, len(ds)))) if args.max_sentences else ds
        splits[name] = encode_split(ds, tokenizer, labels, max_length=128, stride=32)

    model = AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    trainer = Trainer(
        model=model,
        args=TrainingArguments(output_dir=args.output_dir, num_train_epochs=args.epochs, max_steps=args.max_steps,
                               per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=args.grad_accum,
                               learning_rate=5e-5, eval_strategy="epoch", save_strategy="no", report_to=[]),
        train_dataset=splits["train"].dataset,
        eval_dataset=splits["validation"].dataset,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_loss_func=tagger_loss(args.loss, label_list=labels, train_dataset=splits["train"].dataset, **params),
        compute_metrics=word_level_metrics(splits["validation"], labels),
    )
    trainer.train()
    # compute_metrics reads word positions from the split it was built for: a new one for the test split
    trainer.compute_metrics = word_level_metrics(splits["test"], labels)
    test = trainer.evaluate(splits["test"].dataset, metric_key_prefix="test")
    print(json.dumps({k: round(v, 4) for k, v in test.items() if isinstance(v, float)}, indent=1))
    trainer.save_model(args.output_dir)
    tokenizer.save_pretrained(args.output_dir)


if __name__ == "__main__":
    main()
