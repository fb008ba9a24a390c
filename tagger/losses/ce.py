"""Cross-entropy, optionally class-weighted: the baseline every other loss is compared with."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from tagger.losses.base import TokenLoss
from tagger.losses.weights import resolve_class_weights


class CrossEntropy(TokenLoss):
    """``-w_t log p_t``; ``w = 1`` without ``class_weights``.

    ``class_weights``: None, a number a (entities a, O 1 - a), C numbers, ``"inverse_frequency"`` or
    ``"effective_number"`` (with ``beta``, default 0.999). The resolved weights are the float32 [C]
    buffer ``class_weights`` (None when unweighted). ``"mean"`` still divides by the token count.
    """

    name = "ce"
    formula = "-w_t log p_t"
    citation = ("cross-entropy; class weights by effective number: Cui et al. 2019, Class-Balanced Loss "
                "Based on Effective Number of Samples (CVPR)")

    def __init__(self, num_labels: int, o_label_id: int = 0, class_counts: Any = None, reduction: str = "mean",
                 detach_weight: bool = False, class_weights: Any = None, beta: Any = None) -> None:
        super().__init__(num_labels, o_label_id, class_counts, reduction, detach_weight)
        self._spec = class_weights if isinstance(class_weights, (str, int, float, type(None))) else "list"
        self._beta = beta
        weights = resolve_class_weights("class_weights", class_weights, num_labels=num_labels, o_label_id=o_label_id,
                                        class_counts=class_counts, beta=beta)
        self.class_weights: torch.Tensor | None
        self.register_buffer("class_weights", weights, persistent=False)

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class_weights": self._spec}
        if self._beta is not None:
            out["beta"] = self._beta
        return out

    def per_token(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        nll = F.cross_entropy(x, target, reduction="none")
        if self.class_weights is None:
            return nll
        return self.class_weights.to(x.dtype)[target] * nll
