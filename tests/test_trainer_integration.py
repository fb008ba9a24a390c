"""tagger's losses inside a real ``transformers.Trainer`` run (tiny random BERT, WNUT-17 sentences)."""

from __future__ import annotations

import collections
import copy
from typing import Any

import pytest
import torch

from tagger.data import load_ner_dataset
from tagger.errors import ConfigError
from tagger.integrations.trainer import dataset_class_counts, encode_split, tagger_loss, word_level_metrics, word_tags
from tagger.losses import build_loss

transformers = pytest.importorskip("transformers")

LOSSES = {"ce": {}, "focal": {"gamma": 2.0, "alpha": "inverse_frequency"}, "soft_truncation": {}}


@pytest.fixture(scope="module")
def wnut(data_dir):
    return load_ner_dataset("wnut17", data_dir=str(data_dir))


def _model(tiny_encoder_dir: str, labels: list[str], dtype: torch.dtype = torch.float32) -> Any:
    torch.manual_seed(0)
    # no dropout: the Trainer's forward (train mode) and the reference forward must see the same network
    model = transformers.AutoModelForTokenClassification.from_pretrained(
        tiny_encoder_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return model.to(dtype)


class Recorder:
    """Wraps the collator and the loss: what the Trainer fed and what the loss returned, in order."""

    def __init__(self, collator: Any, loss: Any) -> None:
        self.collator, self.loss = collator, loss
        self._collated: list[dict[str, torch.Tensor]] = []
        self.losses: list[torch.Tensor] = []
        self.items: list[Any] = []

    def collate(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.collator(features)
        self._collated.append({k: v.clone() for k, v in batch.items()})
        return batch

    @property
    def batches(self) -> list[dict[str, torch.Tensor]]:
        # the data loader collates one batch ahead (to know where the epoch ends): keep those trained on
        return self._collated[: len(self.losses)]

    def compute_loss(self, outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        value = self.loss(outputs, labels, num_items_in_batch=num_items_in_batch)
        self.losses.append(value.detach().clone())
        self.items.append(num_items_in_batch)
        return value


class GradCapture(transformers.TrainerCallback):
    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.grads: list[dict[str, torch.Tensor]] = []

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.grads.append({n: p.grad.detach().clone() for n, p in self.model.named_parameters() if p.grad is not None})


def _train(model: Any, train: Any, recorder: Recorder, tmp_path: Any, *, batch: int, accum: int, steps: int,
           lr: float = 0.0, callbacks: list[Any] | None = None) -> Any:
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=batch, gradient_accumulation_steps=accum,
        max_steps=steps, learning_rate=lr, logging_steps=1, report_to=[], save_strategy="no", use_cpu=True,
        dataloader_num_workers=0, seed=0, max_grad_norm=0.0, disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=train, data_collator=recorder.collate,
                                   compute_loss_func=recorder.compute_loss, callbacks=callbacks)
    trainer.train()
    return trainer


@pytest.mark.parametrize("name", list(LOSSES))
def test_trainer_loss_equals_tagger_loss(name, wnut, tokenizer, tiny_encoder_dir, tmp_path):
    labels = wnut.label_list
    train = encode_split(wnut.splits["train"].select(range(24)), tokenizer, labels, max_length=32, stride=8)
    loss = tagger_loss(name, label_list=labels, train_dataset=train.dataset, **LOSSES[name])
    model = _model(tiny_encoder_dir, labels)
    recorder = Recorder(transformers.DataCollatorForTokenClassification(tokenizer), loss)
    trainer = _train(model, train.dataset, recorder, tmp_path, batch=4, accum=1, steps=3)

    counts = dataset_class_counts(train.dataset, len(labels))
    reference = build_loss(name, num_labels=len(labels), o_label_id=labels.index("O"), class_counts=counts,
                           **LOSSES[name])
    logged = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(recorder.batches) == len(recorder.losses) == len(logged) == 3
    model.eval()
    with torch.no_grad():
        for batch, got, items, log in zip(recorder.batches, recorder.losses, recorder.items, logged):
            assert int(items) == int((batch["labels"] != -100).sum())
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            want = reference(logits, batch["labels"])
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
            assert log == pytest.approx(float(want), rel=1e-4)


def test_class_counts_from_a_split(wnut, tokenizer):
    """First-subword labels count each word once: the counts of ``labels`` are those of the word tags."""
    labels = wnut.label_list
    split = wnut.splits["train"].select(range(200))
    enc = encode_split(split, tokenizer, labels, max_length=16, stride=4)  # many sentences windowed
    words = collections.Counter(t for row in split["ner_tags"] for t in row)
    want = [words.get(i, 0) for i in range(len(labels))]
    assert dataset_class_counts(enc.dataset, len(labels)) == want
    assert dataset_class_counts(split, len(labels)) == want  # ner_tags when there is no labels column
    with pytest.raises(ConfigError, match="needs the training label counts"):
        tagger_loss("ce", label_list=labels, class_weights="inverse_frequency")
    with pytest.raises(ConfigError, match="sets the reduction itself"):
        tagger_loss("ce", label_list=labels, reduction="mean")
    with pytest.raises(ConfigError, match="no tags column"):
        dataset_class_counts(split, len(labels), label_column="tags")


def test_gradient_accumulation_equals_one_batch(wnut, tokenizer, tiny_encoder_dir, tmp_path):
    """2 micro-batches of 2 accumulate to the gradient of one batch of 4 (float64), token counts unequal."""
    labels = wnut.label_list
    rows = wnut.splits["train"]
    lengths = [len(t) for t in rows["tokens"]]
    # lengths 3, 9, 20, 41 words: whatever the shuffle, the two micro-batches hold unequal token counts
    picks = [next(i for i, n in enumerate(lengths) if n == want) for want in (3, 9, 20, 41)]
    train = encode_split(rows.select(picks), tokenizer, labels, max_length=128, stride=32)
    loss = tagger_loss("focal", label_list=labels, gamma=2.0)
    base = _model(tiny_encoder_dir, labels, torch.float64)
    runs = {}
    for batch, accum in ((2, 2), (4, 1)):
        model = copy.deepcopy(base)
        recorder = Recorder(transformers.DataCollatorForTokenClassification(tokenizer), loss)
        grads = GradCapture(model)
        trainer = _train(model, train.dataset, recorder, tmp_path / f"b{batch}", batch=batch, accum=accum, steps=1,
                         callbacks=[grads])
        runs[accum] = (recorder, grads.grads[0], trainer.state.log_history[0]["loss"])
    (small, g_small, loss_small), (big, g_big, loss_big) = runs[2], runs[1]
    assert len(small.batches) == 2 and len(big.batches) == 1
    kept = [int((b["labels"] != -100).sum()) for b in small.batches]
    assert kept[0] != kept[1]
    assert all(int(n) == sum(kept) for n in small.items)  # the Trainer counts over both micro-batches
    assert loss_small == pytest.approx(loss_big, rel=1e-12)
    assert g_small.keys() == g_big.keys() and len(g_big) > 0
    for k in g_big:
        torch.testing.assert_close(g_small[k], g_big[k], rtol=1e-9, atol=1e-12)

    # the check has teeth: averaging per-micro-batch means gives a different gradient
    mean_loss = build_loss("focal", num_labels=len(labels), o_label_id=labels.index("O"), gamma=2.0)
    naive = copy.deepcopy(base)
    for b in small.batches:
        out = naive(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        (mean_loss(out, b["labels"]) / 2).backward()
    diff = max(float((p.grad - g_big[n]).abs().max()) for n, p in naive.named_parameters() if n in g_big)
    assert diff > 1e-6


def test_word_level_metrics_score_words(wnut, tokenizer):
    """compute_metrics reads windows back to words: gold labels as predictions score F1 = 1."""
    labels = wnut.label_list
    split = encode_split(wnut.splits["validation"].select(range(50)), tokenizer, labels, max_length=16, stride=4)
    width = max(len(r) for r in split.dataset["labels"])
    gold = torch.full((len(split.sentence_id), width), -100, dtype=torch.long)
    for i, row in enumerate(split.dataset["labels"]):
        gold[i, : len(row)] = torch.tensor(row)
    logits = torch.nn.functional.one_hot(gold.clamp_min(0), len(labels)).float().numpy()
    assert word_tags(split, logits, labels) == split.gold_tags
    metrics = word_level_metrics(split, labels)(transformers.EvalPrediction(predictions=logits, label_ids=gold.numpy()))
    assert metrics["f1"] == 1.0 and metrics["accuracy"] == 1.0
