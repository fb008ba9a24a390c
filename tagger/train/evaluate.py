"""Word-level prediction over windows, shared by validation, test scoring and ``tagger predict``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from tagger.data.align import words_from_windows


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


@torch.inference_mode()
def predict_windows(
    model: nn.Module, batches: Iterable[dict[str, Any]], device: torch.device
) -> list[tuple[int, list[int], list[int]]]:
    """Run the model and keep, per window, (sentence_id, word_index row, predicted label row).

    Only positions that carry a word (``word_index >= 0``) are kept, so the result is small.
    ``batches`` hold ``input_ids``/``attention_mask``/``word_index`` [B, T] and ``sentence_id`` [B].
    """
    was_training = model.training
    model.eval()
    out: list[tuple[int, list[int], list[int]]] = []
    for batch in batches:
        batch = _to_device(batch, device)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # [B, T, C]
        preds = logits.argmax(dim=-1).cpu()
        word_index = batch["word_index"].cpu()
        keep = word_index >= 0
        for row in range(preds.shape[0]):
            m = keep[row]
            out.append((int(batch["sentence_id"][row]), word_index[row][m].tolist(), preds[row][m].tolist()))
    if was_training:
        model.train()
    return out


def merge_window_predictions(
    num_words: Sequence[int], windows: Iterable[tuple[int, list[int], list[int]]]
) -> list[list[int]]:
    """One label id per word of every sentence (duplicated windows from several processes are fine)."""
    sentence_ids, word_rows, pred_rows = [], [], []
    for sid, words, preds in windows:
        sentence_ids.append(sid)
        word_rows.append(words)
        pred_rows.append(preds)
    return words_from_windows(num_words, sentence_ids, word_rows, pred_rows)
