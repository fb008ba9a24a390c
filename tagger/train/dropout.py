"""Dropout that is cheap on CPU: masks from 15-bit lanes of 64-bit random words.

PyTorch's CPU dropout draws one Bernoulli sample per element from a serial Mersenne Twister.
A torch.profiler view of a MiniLM training step on 2 cores put ``aten::bernoulli_`` at 9% of the
step: the 20 dropouts of a BERT-style token classifier (one on the embeddings, three per layer, one
before the classifier) cost 3.5-5 ms each, forward + backward, on a [960, 384] activation. One
64-bit draw holds four 16-bit lanes, so :func:`keep_mask` asks the generator for a quarter of the
numbers and keeps an element when its lane's low 15 bits are at or above ``round(p * 2**15)``: the
drop probability is ``p`` rounded to a multiple of 2^-15 (0.1 becomes 0.100006). The same dropout
then costs 1.3-2 ms, and a whole training step less (``scripts/bench_train.py --dropout-check`` times both
on the same batches; docs/performance.md keeps the figures).

:func:`use_fast_dropout` swaps a model's ``nn.Dropout`` modules and, for transformers models on
SDPA attention, the dropout on the attention probabilities (SDPA itself falls back to its math
path with a per-element Bernoulli mask whenever dropout is on, on CPU). Nothing changes off CPU,
in evaluation or where ``p`` is 0: those calls go to PyTorch's own kernels. The random stream is
torch's default CPU generator, so ``set_seed`` makes runs repeatable.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from tagger.console import info_once

logger = logging.getLogger(__name__)

LANE_BITS = 15
#: name under which the attention function is registered with transformers
ATTENTION_NAME = "tagger_sdpa"


def drop_threshold(p: float) -> int:
    """Lanes below this (out of 2**15) are dropped: the effective drop probability is threshold / 2**15."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    return int(round(p * (1 << LANE_BITS)))


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A bool mask of ``shape`` on CPU, True (keep) with probability ``1 - threshold / 2**15``.

    ``torch.int64.random_()`` fills [0, 2**63): every bit but the top one is uniform, and masking
    each 16-bit lane to its low 15 bits leaves four independent uniform lanes per draw.
    """
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(generator=generator)
    lanes = words.view(torch.int16)[:n].view(shape)
    return torch.bitwise_and(lanes, (1 << LANE_BITS) - 1) >= drop_threshold(p)


class _MaskedScale(torch.autograd.Function):
    """y = x * mask with mask = keep / (1 - p) in x's dtype.

    The float mask is what is saved (PyTorch saves a bool one): 3 bytes more per element, about
    30 MB for the 20 dropouts of a 1,000-subword MiniLM batch, for a backward that is one multiply
    (0.05 ms on [960, 384], against 0.4 ms for a ``where`` on the bool mask).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
        mask = keep.to(x.dtype).mul_(scale)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None


def fast_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Drop-in for ``F.dropout`` (out of place). x: any shape; CPU floating tensors take the fast path."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or not x.is_floating_point():
        return F.dropout(x, p, training=True)
    keep = keep_mask(x.shape, p)
    return _MaskedScale.apply(x, keep, 1.0 / (1.0 - p))


class FastDropout(nn.Dropout):
    """``nn.Dropout`` whose CPU masks come from :func:`keep_mask`; same ``p``, same state dict (none)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fast_dropout(x, self.p, self.training)


# keyword arguments an encoder's attention layer passes along that do not change the attention itself
_IGNORED_KWARGS = frozenset({"position_ids", "encoder_hidden_states", "output_attentions", "cache_position",
                             "use_cache", "return_dict", "is_causal"})


def attention_with_fast_dropout(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention function: SDPA, except with dropout on CPU (training).

    query/key/value: [B, H, T, D]; attention_mask: SDPA's bool mask [B, 1, Tq, Tk] (True attends)
    or an additive float mask, or None. Returns the output as [B, Tq, H, D], like SDPA's wrapper.
    With dropout on CPU, SDPA would run its math path anyway (its fused CPU kernel has no dropout);
    this is the same math with the cheaper mask.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    # transformers passes dropout=0.0 outside training; like SDPA, a non-zero value is applied as given.
    # Anything this plain math does not model (causal masks, grouped KV heads, biases, soft-capping,
    # sliding windows, sinks...) goes to SDPA.
    causal = kwargs.get("is_causal")
    plain = (
        not (causal if causal is not None else getattr(module, "is_causal", False))
        and key.shape[1] == query.shape[1]
        and all(v is None or k in _IGNORED_KWARGS for k, v in kwargs.items())
    )
    if dropout == 0.0 or query.device.type != "cpu" or not plain:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)).mul_(scaling)  # [B, H, Tq, Tk]
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask
    probs = fast_dropout(torch.softmax(scores, dim=-1), dropout)
    out = torch.matmul(probs, value)  # [B, H, Tq, D]
    return out.transpose(1, 2).contiguous(), None


def _register_attention() -> None:
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    if ATTENTION_NAME not in ALL_ATTENTION_FUNCTIONS._global_mapping:
        ALL_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, attention_with_fast_dropout)
        ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, sdpa_mask)


def use_fast_dropout(model: nn.Module) -> dict[str, Any]:
    """Swap ``model``'s dropouts for the CPU-fast ones, in place.

    Every ``nn.Dropout`` becomes a :class:`FastDropout` with the same ``p``; a transformers model
    on SDPA attention switches to the registered ``tagger_sdpa`` attention (SDPA outside CPU
    training). Returns what changed, for the log and for :func:`restore_attention` before saving.
    """
    swapped = 0
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                fast = FastDropout(child.p)
                fast.train(child.training)
                setattr(parent, name, fast)
                swapped += 1
    config = getattr(model, "config", None)
    before = getattr(config, "_attn_implementation", None)
    attention = None
    if before == "sdpa" and hasattr(model, "set_attn_implementation"):
        _register_attention()
        try:
            model.set_attn_implementation(ATTENTION_NAME)
            attention = ATTENTION_NAME
        except (ValueError, KeyError, ImportError) as err:  # an architecture without attention backends
            logger.info("attention dropout stays with SDPA: %s", err)
    # an architecture with attention of its own (DeBERTa's relative attention) keeps it, and says so
    kept = before if before == "sdpa" else f"{before} (kept: the fast path replaces SDPA attention only)"
    message = f"fast CPU dropout: {swapped} dropout modules swapped, attention {attention or kept}"
    info_once(logger, message)  # a sweep swaps the same architecture for every run
    return {"dropout_modules": swapped, "attention_before": before, "attention": attention}


def restore_attention(model: nn.Module, info: dict[str, Any]) -> None:
    """Put back the attention implementation :func:`use_fast_dropout` replaced (saved configs name a standard one)."""
    if info.get("attention") and info.get("attention_before"):
        model.set_attn_implementation(info["attention_before"])
