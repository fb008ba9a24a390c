"""Tagger's losses as ``transformers.Trainer(compute_loss_func=...)``.

>>> loss = tagger_loss("focal", gamma=2.0, alpha="inverse_frequency", train_dataset=ds["train"], label_list=labels)
>>> trainer = Trainer(model=model, args=args, train_dataset=ds["train"], compute_loss_func=loss, ...)

The Trainer calls ``compute_loss_func(outputs, labels, num_items_in_batch=N)`` where ``N`` counts the
labels that are not -100 over every micro-batch of one optimizer step (all gradient-accumulation
steps, all processes). The loss returned is then the *sum* of the per-token losses of this
micro-batch divided by ``N``, so that the accumulated gradient equals that of one batch holding all
the micro-batches, whatever their token counts (a mean per micro-batch would weight the tokens of a
short micro-batch more). Without ``num_items_in_batch`` it is the loss's own mean over kept tokens.
Positions labelled -100 (``DataCollatorForTokenClassification``'s padding, special tokens and
continuation subwords) are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tagger.data.align import encode_sentences
from tagger.errors import ConfigError
from tagger.losses import IGNORE_INDEX, build_loss
from tagger.losses.base import TokenLoss
from tagger.metrics import score_sequences
from tagger.train.evaluate import merge_window_predictions

#: label columns looked for in ``train_dataset``, in order: the subword labels the loss sees, then word tags
LABEL_COLUMNS = ("labels", "ner_tags")


def count_labels(rows: Iterable[Sequence[int]], num_labels: int) -> list[int]:
    """Tokens per label id over rows of label ids, -100 skipped: ``[C]`` counts."""
    counts = [0] * num_labels
    for row in rows:
        for y in row:
            if y == IGNORE_INDEX:
                continue
            if not 0 <= y < num_labels:
                raise ConfigError(f"label id {y} is outside 0..{num_labels - 1} (num_labels={num_labels})")
            counts[y] += 1
    return counts


def dataset_class_counts(dataset: Any, num_labels: int, label_column: str | None = None) -> list[int]:
    """Training tokens per label id in a ``datasets.Dataset`` split: ``[C]`` counts.

    ``label_column`` defaults to ``labels`` (subword labels after alignment, counted where the loss sees
    them, as the recipe does) when the split has it, else ``ner_tags`` (one tag id per word). With
    first-subword labelling the two give the same counts: each word is labelled once.
    """
    names = list(getattr(dataset, "column_names", None) or [])
    column = label_column or next((c for c in LABEL_COLUMNS if c in names), None)
    if column is None or column not in names:
        want = label_column or " or ".join(LABEL_COLUMNS)
        raise ConfigError(f"train_dataset has no {want} column (columns: {', '.join(names) or 'none'})")
    return count_labels(dataset[column], num_labels)


class TaggerTrainerLoss:
    """A registry loss with the ``compute_loss_func`` signature; see the module docstring.

    ``loss``: the per-token sum form (``reduction="sum"``) of a :class:`~tagger.losses.base.TokenLoss`.
    """

    def __init__(self, loss: TokenLoss) -> None:
        if loss.reduction != "sum":
            raise ConfigError(f"TaggerTrainerLoss needs a loss built with reduction='sum', got {loss.reduction!r}")
        self.loss = loss

    @property
    def name(self) -> str:
        return self.loss.name

    def __call__(self, outputs: Any, labels: torch.Tensor | None,
                 num_items_in_batch: torch.Tensor | int | float | None = None) -> torch.Tensor:
        """outputs: a model output with ``logits`` [B, T, C] (or a tuple, logits first); labels [B, T] -> scalar."""
        if labels is None:
            raise ValueError("tagger_loss needs labels: the batch has no 'labels' column")
        logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[0]
        total = self.loss(logits, labels.to(logits.device))
        if num_items_in_batch is None:
            # A tensor count keeps this free of host syncs; an all-ignored batch gives 0, not 0/0.
            kept = (labels != IGNORE_INDEX).sum().clamp_min(1)
            return total / kept.to(total.device, total.dtype)
        if torch.is_tensor(num_items_in_batch):
            return total / num_items_in_batch.to(total.device, total.dtype)
        return total / float(num_items_in_batch)

    def __repr__(self) -> str:
        return f"TaggerTrainerLoss({self.loss!r})"


def tagger_loss(
    name: str,
    *,
    label_list: Sequence[str] | None = None,
    num_labels: int | None = None,
    o_label: str = "O",
    train_dataset: Any = None,
    label_column: str | None = None,
    class_counts: Sequence[int] | None = None,
    **params: Any,
) -> TaggerTrainerLoss:
    """A ``compute_loss_func`` for ``transformers.Trainer`` from any loss of the registry.

    Args:
        name: registry name (``"ce"``, ``"focal"``, ``"soft_truncation"``, ...).
        label_list: id -> label (gives ``num_labels`` and the id of ``o_label``); or give ``num_labels``
            (the O label is then id 0).
        train_dataset: a ``datasets`` split whose label column gives the class counts that
            ``class_weights``/``alpha="inverse_frequency"`` or ``"effective_number"`` need; read only when
            ``class_counts`` is not given.
        label_column: the column to count (default: ``labels``, else ``ner_tags``).
        class_counts: C training-token counts per label id, instead of ``train_dataset``.
        **params: the loss's own parameters, e.g. ``gamma=2.0``.
    """
    if "reduction" in params:
        raise ConfigError("tagger_loss sets the reduction itself (a sum over tokens / num_items_in_batch)")
    if label_list is not None:
        if num_labels is not None and num_labels != len(label_list):
            raise ConfigError(f"num_labels={num_labels} but label_list has {len(label_list)} labels")
        num_labels = len(label_list)
        o_label_id = list(label_list).index(o_label) if o_label in label_list else 0
    elif num_labels is None:
        raise ConfigError("tagger_loss needs label_list= or num_labels=")
    else:
        o_label_id = 0
    if class_counts is None and train_dataset is not None:
        class_counts = dataset_class_counts(train_dataset, num_labels, label_column)
    loss = build_loss(name, num_labels=num_labels, o_label_id=o_label_id, class_counts=class_counts,
                      reduction="sum", **params)
    return TaggerTrainerLoss(loss)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- data in, words out


@dataclass
class TrainerSplit:
    """A split cut into tagger's windows for the Trainer, with what word-level scoring needs.

    ``dataset`` has ``input_ids`` and ``labels`` (first subword of each word labelled, the rest -100),
    the columns ``DataCollatorForTokenClassification`` pads; the other fields stay outside it because
    the Trainer drops columns the model does not take. One row per window, in window order.
    """

    dataset: Any  # datasets.Dataset
    word_index: list[list[int]]  # [W][T]: word of the first subword of each word the window owns, else -1
    sentence_id: list[int]  # [W]
    num_words: list[int]  # [S]
    gold_tags: list[list[str]]  # [S][words]


def encode_split(split: Any, tokenizer: Any, label_list: Sequence[str], *, max_length: int = 128,
                 stride: int = 32) -> TrainerSplit:
    """A ``datasets`` split with ``tokens`` and ``ner_tags`` (as :func:`tagger.data.load_ner_dataset` gives)
    -> :class:`TrainerSplit`, windowed by :func:`tagger.data.align.encode_sentences` like the recipe."""
    import datasets

    tokens = [list(t) for t in split["tokens"]]
    tag_ids = [list(t) for t in split["ner_tags"]]
    cols = encode_sentences(tokens, tokenizer, tag_ids=tag_ids, max_length=max_length, stride=stride)
    ds = datasets.Dataset.from_dict({"input_ids": cols["input_ids"], "labels": cols["labels"]})
    return TrainerSplit(dataset=ds, word_index=cols["word_index"], sentence_id=cols["sentence_id"],
                        num_words=[len(t) for t in tokens],
                        gold_tags=[[label_list[i] for i in row] for row in tag_ids])


def word_tags(split: TrainerSplit, predictions: np.ndarray, label_list: Sequence[str]) -> list[list[str]]:
    """Word-level tags from the Trainer's window predictions.

    predictions: logits [W, T', C] or label ids [W, T'] in window order (``T'`` >= each window's length;
    the Trainer pads across eval batches with -100). Each word takes the prediction at its first
    subword in the window that owns it, as in :mod:`tagger.data.align`.
    """
    ids = predictions.argmax(-1) if predictions.ndim == 3 else predictions
    if ids.shape[0] != len(split.sentence_id):
        raise ValueError(f"{ids.shape[0]} prediction rows for {len(split.sentence_id)} windows")
    windows = []
    for row, (sid, wi) in enumerate(zip(split.sentence_id, split.word_index)):
        keep = [j for j, w in enumerate(wi) if w >= 0]
        windows.append((sid, [wi[j] for j in keep], ids[row, keep].tolist()))
    merged = merge_window_predictions(split.num_words, windows)
    return [[label_list[k] for k in row] for row in merged]


def word_level_metrics(split: TrainerSplit, label_list: Sequence[str],
                       mode: str = "conlleval") -> Callable[[Any], dict[str, float]]:
    """A ``compute_metrics`` for the Trainer: entity precision/recall/F1 of words, as ``tagger score``.

    Scores :func:`tagger.metrics.score_sequences` on the words of ``split`` (evaluate on
    ``split.dataset``: the Trainer keeps its order).
    """

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        preds = eval_pred.predictions
        preds = preds[0] if isinstance(preds, tuple) else preds
        result = score_sequences(split.gold_tags, word_tags(split, np.asarray(preds), label_list), mode=mode)
        return {k: float(result[k]) for k in ("precision", "recall", "f1", "macro_f1", "accuracy")}

    return compute_metrics


__all__ = ["LABEL_COLUMNS", "TaggerTrainerLoss", "TrainerSplit", "count_labels", "dataset_class_counts",
           "encode_split", "tagger_loss", "word_level_metrics", "word_tags"]
