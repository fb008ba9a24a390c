"""Word-level prediction over windows, shared by validation, test scoring and ``tagger predict``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from tagger.data.align import words_from_windows

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn


class LogitsBackend(Protocol):
    """A model run by something other than torch (ONNX Runtime): padded windows in, logits out.

    ``collator(pad_token_id)`` pads window rows into the backend's arrays (``input_ids``,
    ``attention_mask``, ``word_index`` [B, T], ``sentence_id`` [B]); ``logits(batch)`` -> [B, T, C].
    """

    def collator(self, pad_token_id: int) -> Any: ...

    def logits(self, batch: dict[str, Any]) -> np.ndarray: ...


def is_logits_backend(model: Any) -> bool:
    """Whether ``model`` is a :class:`LogitsBackend` rather than a torch module."""
    return callable(getattr(model, "logits", None)) and callable(getattr(model, "collator", None))


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    import torch

    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def _keep_words(out: list[tuple[int, list[int], list[int]]], batch: dict[str, Any], preds: Any, word_index: Any) -> None:
    # preds, word_index: [B, T] on the host (torch or numpy); only word positions are kept
    keep = word_index >= 0
    for row in range(preds.shape[0]):
        m = keep[row]
        out.append((int(batch["sentence_id"][row]), word_index[row][m].tolist(), preds[row][m].tolist()))


def predict_windows(
    model: nn.Module | LogitsBackend, batches: Iterable[dict[str, Any]], device: torch.device | str | None = None
) -> list[tuple[int, list[int], list[int]]]:
    """Run the model and keep, per window, (sentence_id, word_index row, predicted label row).

    Only positions that carry a word (``word_index >= 0``) are kept, so the result is small.
    ``batches`` hold ``input_ids``/``attention_mask``/``word_index`` [B, T] and ``sentence_id`` [B].
    ``model``: a torch token classifier (run on ``device``) or a :class:`LogitsBackend`, whose
    batches its own ``collator`` made (no torch is imported for it).
    """
    out: list[tuple[int, list[int], list[int]]] = []
    if is_logits_backend(model):
        for batch in batches:
            _keep_words(out, batch, model.logits(batch).argmax(-1), batch["word_index"])
        return out
    import torch

    with torch.inference_mode():
        return _predict_torch(model, batches, torch.device(device or "cpu"), out)


def _predict_torch(model: nn.Module, batches: Iterable[dict[str, Any]], device: torch.device,
                   out: list[tuple[int, list[int], list[int]]]) -> list[tuple[int, list[int], list[int]]]:
    was_training = model.training
    model.eval()
    for batch in batches:
        batch = _to_device(batch, device)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # [B, T, C]
        _keep_words(out, batch, logits.argmax(dim=-1).cpu(), batch["word_index"].cpu())
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
