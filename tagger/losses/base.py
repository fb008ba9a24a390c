"""The base of every token loss: input checks, ignored positions, reduction, precision.

A loss family subclasses :class:`TokenLoss` and implements :meth:`TokenLoss.per_token`, which sees
only the kept precision (float32 or float64), flattened logits ``[N, C]`` and safe targets ``[N]``.
Argument checks live in :mod:`tagger.losses.checks`, the autograd kernels in :mod:`tagger.losses.kernels`.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import torch
from torch import nn

from tagger.errors import ConfigError
from tagger.losses.checks import check_bool, check_choice

IGNORE_INDEX = -100
REDUCTIONS = ("mean", "sum", "none")


class TokenLoss(nn.Module):
    """Base class of the registry's losses.

    ``forward(logits [..., C], labels [...]) -> scalar`` (or ``[...]`` for ``reduction="none"``).
    Positions with ``labels == -100`` are ignored; ``"mean"`` divides the summed per-token losses by
    the number of kept tokens (never by a sum of class weights, unlike ``torch``'s weighted
    ``cross_entropy``); all ignored gives a differentiable 0. float16 / bfloat16 / float32 logits are
    computed and returned in float32, float64 stays float64.
    """

    # What a registered loss must state (tests/test_losses.py checks every entry of LOSSES); the model
    # card reads why and bibtex from here by the loss name, so they are written once, on the class.
    #: registry name, e.g. ``"focal"``
    name: ClassVar[str] = ""
    #: per-token loss in one line, for model cards
    formula: ClassVar[str] = ""
    #: the paper the loss comes from, in one line
    citation: ClassVar[str] = ""
    #: why a practitioner would pick it for NER, where most tokens are the easy class O (model cards)
    why: ClassVar[str] = ""
    #: one BibTeX entry for ``citation`` (model cards)
    bibtex: ClassVar[str] = ""
    #: whether the loss has a modulating weight that ``detach_weight=True`` can treat as a constant
    has_weight: ClassVar[bool] = False

    def __init__(
        self,
        num_labels: int,
        o_label_id: int = 0,
        class_counts: Any = None,
        reduction: str = "mean",
        detach_weight: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 2:
            raise ConfigError(f"num_labels must be an integer >= 2, got {num_labels!r}")
        if isinstance(o_label_id, bool) or not isinstance(o_label_id, int) or not 0 <= o_label_id < num_labels:
            raise ConfigError(f"o_label_id must be an integer in [0, {num_labels - 1}], got {o_label_id!r}")
        self.num_labels = num_labels
        self.o_label_id = o_label_id
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        self.detach_weight = check_bool("detach_weight", detach_weight)
        if self.detach_weight and not self.has_weight:
            # build_loss, which knows the registry, checks this first and lists the losses that qualify.
            raise ConfigError(f"detach_weight applies only to losses with a modulating weight; "
                              f"'{self.name}' has none")
        # class_counts is accepted by every loss (the recipe always passes it); families that use it read it.
        del class_counts

    # --- to implement -------------------------------------------------------------------------------
    def per_token(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-token loss: x [N, C] (float32/float64), target [N] in [0, C) -> [N]."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The family's own parameters as the user gave them (resolved defaults), for ``extra_repr``."""
        return {}

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """logits: [..., C] any float dtype; labels: [...] integer, -100 = ignore.

        Returns a 0-dim tensor (``"mean"``, ``"sum"``) or ``[...]`` with 0 at ignored positions.
        """
        if not logits.is_floating_point():
            raise ValueError(f"logits must be a floating-point tensor, got {logits.dtype}")
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"labels must be an integer tensor, got {labels.dtype}")
        if logits.dim() < 1 or logits.shape[-1] != self.num_labels or logits.shape[:-1] != labels.shape:
            raise ValueError(f"expected logits [..., {self.num_labels}] and labels [...] of the same leading shape, "
                             f"got logits {tuple(logits.shape)} and labels {tuple(labels.shape)}")
        dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
        device_type = logits.device.type
        # Under mixed precision the elementwise maths must not be cast back down to half.
        guard = (torch.autocast(device_type=device_type, enabled=False)
                 if torch.is_autocast_enabled(device_type) else contextlib.nullcontext())
        with guard:
            x = logits.reshape(-1, self.num_labels)
            x = (x if x.dtype == dtype else x.to(dtype)).contiguous()  # the primitives index x.view(-1)
            y = labels.reshape(-1)
            y = y if y.dtype == torch.long else y.long()
            keep = y != IGNORE_INDEX
            # Ignored positions (-100) get class 0 so indexing stays in range; their loss is zeroed below.
            per_token = self.per_token(x, y.clamp_min(0))
            if self.reduction == "none":
                return torch.where(keep, per_token, 0.0).reshape(labels.shape)
            # The masked sum as one dot product (its backward is one multiply). Ignored positions hold
            # the finite loss of whatever logits are there, so multiplying by 0 removes them exactly.
            keep_f = keep.to(dtype)
            total = torch.dot(per_token, keep_f)
            if self.reduction == "sum":
                return total
            # A tensor count (no host sync); clamp so an all-ignored batch gives 0, not 0/0.
            return total / keep_f.sum().clamp_min(1.0)

    def extra_repr(self) -> str:
        parts = {"num_labels": self.num_labels, "o_label_id": self.o_label_id, **self.params(),
                 "reduction": self.reduction, "detach_weight": self.detach_weight}
        return ", ".join(f"{k}={v!r}" for k, v in parts.items())
