"""Word-level prediction over windows, shared by validation, test scoring and ``tagger predict``; the
scoring of a split during training (:func:`evaluate_split`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tagger.data.align import words_from_windows

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator
    from torch import nn

    from tagger.crf import CRF
    from tagger.train.features import SplitFeatures

# One window's words: (sentence_id, word index row, predicted label row), and with log_probs=True also
# the words' log-probabilities [n, C] (float64: argmax over them is argmax over the logits, ties included).
Window = tuple[int, list[int], list[int]] | tuple[int, list[int], list[int], np.ndarray]


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


def _keep_words(out: list[Window], batch: dict[str, Any], preds: Any, word_index: Any,
                log_probs: np.ndarray | None = None) -> None:
    # preds, word_index: [B, T] on the host (torch or numpy), log_probs [B, T, C]; only word positions are kept
    keep = word_index >= 0
    for row in range(preds.shape[0]):
        m = keep[row]
        sid, words, labels = int(batch["sentence_id"][row]), word_index[row][m].tolist(), preds[row][m].tolist()
        if log_probs is None:
            out.append((sid, words, labels))
        else:
            out.append((sid, words, labels, log_probs[row][np.asarray(m)]))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """log-softmax over the last axis in float64; ``logits: [B, T, C]``."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def predict_windows(
    model: nn.Module | LogitsBackend, batches: Iterable[dict[str, Any]], device: torch.device | str | None = None,
    log_probs: bool = False,
) -> list[Window]:
    """Run the model and keep, per window, (sentence_id, word_index row, predicted label row), plus with
    ``log_probs`` the log-softmax of those positions' logits, ``[n, C]`` float64 on the host.

    Only positions that carry a word (``word_index >= 0``) are kept, so the result is small.
    ``batches`` hold ``input_ids``/``attention_mask``/``word_index`` [B, T] and ``sentence_id`` [B].
    ``model``: a torch token classifier (run on ``device``) or a :class:`LogitsBackend`, whose
    batches its own ``collator`` made (no torch is imported for it).
    """
    out: list[Window] = []
    if is_logits_backend(model):
        for batch in batches:
            logits = model.logits(batch)
            _keep_words(out, batch, logits.argmax(-1), batch["word_index"], _log_softmax(logits) if log_probs else None)
        return out
    import torch

    with torch.inference_mode():
        return _predict_torch(model, batches, torch.device(device or "cpu"), out, log_probs)


def _predict_torch(model: nn.Module, batches: Iterable[dict[str, Any]], device: torch.device,
                   out: list[Window], log_probs: bool = False) -> list[Window]:
    import torch

    was_training = model.training
    model.eval()
    for batch in batches:
        batch = _to_device(batch, device)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # [B, T, C]
        # float64 on the host: exact for bf16/fp32 logits, so the argmax below and theirs agree
        lp = torch.log_softmax(logits.cpu().double(), dim=-1).numpy() if log_probs else None
        _keep_words(out, batch, logits.argmax(dim=-1).cpu(), batch["word_index"].cpu(), lp)
    if was_training:
        model.train()
    return out


def merge_window_predictions(num_words: Sequence[int], windows: Iterable[Window]) -> list[list[int]]:
    """One label id per word of every sentence (duplicated windows from several processes are fine)."""
    sentence_ids, word_rows, pred_rows = [], [], []
    for sid, words, preds, *_ in windows:
        sentence_ids.append(sid)
        word_rows.append(words)
        pred_rows.append(preds)
    return words_from_windows(num_words, sentence_ids, word_rows, pred_rows)


def merge_window_log_probs(num_words: Sequence[int], windows: Iterable[Window]) -> list[np.ndarray]:
    """Per sentence its words' log-probabilities ``[num_words, C]`` float64, from windows of
    :func:`predict_windows` with ``log_probs=True``. Each word's row comes from the window that
    :func:`merge_window_predictions` takes its label from, so their argmax is those labels.

    ValueError when a window carries no log-probabilities, or as :func:`merge_window_predictions`.
    """
    windows = list(windows)
    if any(len(w) < 4 for w in windows):
        raise ValueError("windows without log-probabilities: call predict_windows(..., log_probs=True)")
    num_labels = windows[0][3].shape[1] if windows else 0
    stacked = np.concatenate([w[3] for w in windows]) if windows else np.zeros((0, num_labels))
    starts = np.cumsum([0] + [len(w[1]) for w in windows])
    # the same scatter, of each kept position's row number in `stacked` instead of its label
    rows = words_from_windows(num_words, [w[0] for w in windows], [w[1] for w in windows],
                              [range(starts[k], starts[k + 1]) for k in range(len(windows))])
    return [stacked[np.asarray(row, dtype=np.int64)].reshape(len(row), num_labels) for row in rows]


def evaluate_split(
    model: nn.Module, split: SplitFeatures, accelerator: Accelerator, *, label_list: Sequence[str], pad_token_id: int,
    max_tokens_per_batch: int, decoding: str, scheme: str, metric_mode: str, crf: CRF | None = None,
) -> tuple[dict[str, Any], list[list[str]], list[np.ndarray]]:
    """Word-level metrics on a split under ``decoding`` (with ``crf``: the CRF's Viterbi), the tags, and every
    word's log-probabilities (one [num_words, C] array per sentence); every sentence is scored once, whatever
    the process count.

    Each process predicts its own share of the batches (batch i goes to process i mod n); the window
    predictions are gathered and merged into exactly one row per word.
    """
    from accelerate.utils import gather_object

    from tagger.crf import CRFDecoder
    from tagger.decoding import Decoder, decode_split
    from tagger.metrics import score_sequences
    from tagger.train.batching import WindowCollator, pack_by_length
    from tagger.train.features import WindowDataset

    collate = WindowCollator(pad_token_id=pad_token_id)
    order = sorted(range(len(split)), key=split.lengths.__getitem__)
    batches = pack_by_length(split.lengths, max_tokens_per_batch, 10**9, order)
    mine = batches[accelerator.process_index :: accelerator.num_processes]
    dataset = WindowDataset(split.columns)
    # The unwrapped module: a DDP forward broadcasts buffers, a collective that would hang when the
    # processes have different numbers of evaluation batches. Autocast stays on the unwrapped forward.
    windows = predict_windows(accelerator.unwrap_model(model), (collate([dataset[i] for i in b]) for b in mine),
                              accelerator.device, log_probs=True)
    # The shards are disjoint by construction, so a plain gather counts every window once.
    # (gather_for_metrics would trim "duplicates" using the fixed batch size of a prepared loader,
    # which a token-budget batch sampler does not have: it dropped real windows in a test.)
    windows = gather_object(windows)
    log_probs = merge_window_log_probs(split.num_words, windows)
    if crf is not None:
        pred_tags = CRFDecoder(crf).split_tags(log_probs)
    else:
        pred_tags = decode_split(Decoder(list(label_list), decoding, scheme=scheme), log_probs)
    return score_sequences(split.gold_tags, pred_tags, mode=metric_mode), pred_tags, log_probs
