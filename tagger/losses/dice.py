"""Self-adjusting Dice loss."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from tagger.losses.base import TokenLoss, check_number, target_margin


class Dice(TokenLoss):
    """``1 - (2 m + s) / (m + 1 + s)`` with ``m = (1 - p_t)^alpha p_t``, i.e. ``(1 - m) / (1 + m + s)``.

    ``(1 - p_t)^alpha`` is the modulating weight (what ``detach_weight`` holds constant).
    """

    name = "dice"
    formula = "1 - (2 (1 - p_t)^alpha p_t + s) / ((1 - p_t)^alpha p_t + 1 + s)"
    citation = "Li et al. 2020, Dice Loss for Data-imbalanced NLP Tasks (ACL)"
    has_weight = True

    def __init__(self, num_labels: int, o_label_id: int = 0, class_counts: Any = None, reduction: str = "mean",
                 detach_weight: bool = False, alpha: Any = 1.0, smooth: Any = 1.0) -> None:
        super().__init__(num_labels, o_label_id, class_counts, reduction, detach_weight)
        self.alpha = check_number("alpha", alpha, low=0.0)
        self.smooth = check_number("smooth", smooth, low=0.0)

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "smooth": self.smooth}

    def weight(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The modulating weight ``(1 - p_t)^alpha``: x [N, C], target [N] -> [N]."""
        return torch.exp(self.alpha * F.logsigmoid(-target_margin(x, target)))

    def per_token(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        d = target_margin(x, target)  # p_t = sigmoid(d), 1 - p_t = sigmoid(-d)
        w = self.weight_or_const(torch.exp(self.alpha * F.logsigmoid(-d)))
        m = w * torch.sigmoid(d)
        return (1.0 - m) / (1.0 + m + self.smooth)
