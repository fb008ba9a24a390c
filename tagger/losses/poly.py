"""Poly-1: cross-entropy plus a tunable first polynomial term."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from tagger.losses.base import TokenLoss
from tagger.losses.checks import check_number


class Poly1(TokenLoss):
    """``-log p_t + eps (1 - p_t)``; eps = 0 is ``ce``. eps >= -1 keeps the loss decreasing in p_t."""

    name = "poly1"
    formula = "-log p_t + eps (1 - p_t)"
    citation = ("Leng et al. 2022, PolyLoss: A Polynomial Expansion Perspective of Classification "
                "Loss Functions (ICLR)")
    why = ("Poly-1 adds eps (1 - p_t) to cross-entropy, a one-parameter change to how strongly confident "
           "tokens keep contributing.")
    bibtex = ("""@inproceedings{leng2022polyloss,
    title = {PolyLoss: A Polynomial Expansion Perspective of Classification Loss Functions},
    author = {Leng, Zhaoqi and Tan, Mingxing and Liu, Chenxi and Cubuk, Ekin Dogus and Shi, Xiaojie and """
              """Cheng, Shuyang and Anguelov, Dragomir},
    booktitle = {International Conference on Learning Representations (ICLR)},
    year = {2022},
}""")

    def __init__(self, num_labels: int, o_label_id: int = 0, class_counts: Any = None, reduction: str = "mean",
                 detach_weight: bool = False, epsilon: Any = 1.0) -> None:
        super().__init__(num_labels, o_label_id, class_counts, reduction, detach_weight)
        self.epsilon = check_number("epsilon", epsilon, low=-1.0)

    def params(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon}

    def per_token(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        nll = F.cross_entropy(x, target, reduction="none")
        # 1 - p_t = -expm1(log p_t): no cancellation when p_t is small.
        return nll - self.epsilon * torch.expm1(-nll)
