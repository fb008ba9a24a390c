"""Self-adjusting Dice loss."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from tagger.losses.base import TokenLoss
from tagger.losses.checks import check_number
from tagger.losses.kernels import margin_loss, target_margin


class Dice(TokenLoss):
    """``1 - (2 m + s) / (m + 1 + s)`` with ``m = (1 - p_t)^alpha p_t``, i.e. ``(1 - m) / (1 + m + s)``.

    ``(1 - p_t)^alpha`` is the modulating weight (what ``detach_weight`` holds constant).
    """

    name = "dice"
    formula = "1 - (2 (1 - p_t)^alpha p_t + s) / ((1 - p_t)^alpha p_t + 1 + s)"
    citation = "Li et al. 2020, Dice Loss for Data-imbalanced NLP Tasks (ACL)"
    why = ("Dice loss approximates F1 rather than accuracy, which matches the entity-level evaluation and is "
           "less swayed by the many O tokens.")
    bibtex = """@inproceedings{li-etal-2020-dice,
    title = "Dice Loss for Data-imbalanced {NLP} Tasks",
    author = "Li, Xiaoya and Sun, Xiaofei and Meng, Yuxian and Liang, Junjun and Wu, Fei and Li, Jiwei",
    booktitle = "Proceedings of the 58th Annual Meeting of the Association for Computational Linguistics",
    year = "2020",
    pages = "465--476",
    url = "https://aclanthology.org/2020.acl-main.45",
}"""
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

    def _loss_and_slope(self, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # m = w p_t, w = (1 - p_t)^alpha, l = (1 - m) / (1 + m + s): dl/dm = -(2 + s) / (1 + m + s)^2,
        # dm/dd = w p_t ((1 - p_t) - alpha p_t), or w p_t (1 - p_t) with the weight detached.
        p_t, one_minus_p = torch.sigmoid(d), torch.sigmoid(-d)
        w = torch.exp(self.alpha * F.logsigmoid(-d))
        m = w * p_t
        denom = 1.0 + m + self.smooth
        loss = (1.0 - m) / denom
        dm_dd = m * (one_minus_p if self.detach_weight else one_minus_p - self.alpha * p_t)
        return loss, -(2.0 + self.smooth) / denom.square() * dm_dd

    def per_token(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return margin_loss(x, target, self._loss_and_slope)
