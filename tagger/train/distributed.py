"""What a per-token mean means when the tokens of one step are spread over several processes.

DDP averages gradients over ranks. If each rank's loss is the mean over its own tokens, a rank
holding 50 labelled tokens weighs as much as one holding 500, and the result depends on how
tokens fall on ranks. Scaling rank r's mean by ``N n_r / n`` (``n_r`` its tokens, ``n`` the tokens
of all ``N`` ranks) makes DDP's average the mean over the union: ``(1/N) sum_r N n_r / n mean_r
= sum_r sum_r / n``, the gradient one process would get from all the batches together.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

IGNORE_INDEX = -100


def labelled_tokens(labels: torch.Tensor) -> torch.Tensor:
    """Non-ignored positions of ``labels`` [B, T] as a 0-dim float64 tensor on the labels' device."""
    return (labels != IGNORE_INDEX).sum().to(torch.float64)


def rank_loss_scale(local_tokens: torch.Tensor) -> torch.Tensor | None:
    """``N n_r / n`` for this rank's mean loss, or None on one process (no scaling, no collective).

    ``local_tokens``: 0-dim count of labelled tokens on this rank (see :func:`labelled_tokens`).
    One all-reduce of a scalar per micro-batch; every rank must call it (it is a collective).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    total = local_tokens.detach().clone()
    dist.all_reduce(total)
    # an all-ignored step everywhere: any scale gives a zero gradient, 1 avoids 0/0
    return (local_tokens * dist.get_world_size() / total.clamp_min(1.0)).detach()
