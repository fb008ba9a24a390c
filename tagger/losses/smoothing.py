"""Label smoothing."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from tagger.losses.base import TokenLoss
from tagger.losses.checks import check_number


class LabelSmoothing(TokenLoss):
    """``(1 - eps)(-log p_t) + eps * mean_c(-log p_c)``: the target is (1 - eps) one-hot + eps uniform."""

    name = "label_smoothing"
    formula = "(1 - eps)(-log p_t) + eps * mean_c(-log p_c)"
    citation = "Szegedy et al. 2016, Rethinking the Inception Architecture for Computer Vision (CVPR)"
    why = ("Label smoothing keeps the model from becoming over-confident, which helps with noisy or "
           "inconsistent annotation.")
    bibtex = """@inproceedings{szegedy2016rethinking,
    title = {Rethinking the Inception Architecture for Computer Vision},
    author = {Szegedy, Christian and Vanhoucke, Vincent and Ioffe, Sergey and Shlens, Jon and Wojna, Zbigniew},
    booktitle = {Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
    year = {2016},
    pages = {2818--2826},
}"""

    def __init__(self, num_labels: int, o_label_id: int = 0, class_counts: Any = None, reduction: str = "mean",
                 detach_weight: bool = False, epsilon: Any = 0.1) -> None:
        super().__init__(num_labels, o_label_id, class_counts, reduction, detach_weight)
        self.epsilon = check_number("epsilon", epsilon, low=0.0, high=1.0)

    def params(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon}

    def per_token(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # torch's label_smoothing is exactly this mixture (uniform over all C classes, target included).
        return F.cross_entropy(x, target, reduction="none", label_smoothing=self.epsilon)
