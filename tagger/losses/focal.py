"""Focal loss, softmax (multiclass) and sigmoid (one-vs-rest, RetinaNet) forms."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from tagger.losses.base import TokenLoss
from tagger.losses.checks import check_number
from tagger.losses.kernels import margin_loss, one_vs_rest_logits, one_vs_rest_loss, target_margin
from tagger.losses.weights import apply_class_weights, register_class_weights

FOCAL_CITATION = "Lin et al. 2017, Focal Loss for Dense Object Detection (ICCV)"
# Also the reference of the truncation family, whose smooth forms are focal loss at gamma = 1.
FOCAL_BIBTEX = r"""@inproceedings{lin2017focal,
    title = {Focal Loss for Dense Object Detection},
    author = {Lin, Tsung-Yi and Goyal, Priya and Girshick, Ross and He, Kaiming and Doll{\'a}r, Piotr},
    booktitle = {Proceedings of the IEEE International Conference on Computer Vision (ICCV)},
    year = {2017},
    pages = {2980--2988},
}"""


class Focal(TokenLoss):
    """``-alpha_t (1 - p_t)^gamma log p_t``; gamma = 0 is ``ce``.

    With ``d = x_t - logsumexp_{c != t} x_c``: ``(1 - p_t)^gamma = exp(gamma logsigmoid(-d))`` and
    ``log p_t = logsigmoid(d)``, exact near p_t = 1 with finite gradients for gamma < 1 too.
    ``alpha`` takes the forms of ``ce``'s ``class_weights``; resolved, it is the float32 [C] buffer
    ``alpha`` (None when unweighted).
    """

    name = "focal"
    formula = "-alpha_t (1 - p_t)^gamma log p_t"
    citation = FOCAL_CITATION
    why = ("Focal loss scales each token's cross-entropy by (1 - p_t)^gamma, so the many tokens the model "
           "already gets right (mostly O) contribute little and training concentrates on hard, usually "
           "entity, tokens.")
    bibtex = FOCAL_BIBTEX
    has_weight = True

    def __init__(self, num_labels: int, o_label_id: int = 0, class_counts: Any = None, reduction: str = "mean",
                 detach_weight: bool = False, gamma: Any = 2.0, alpha: Any = None, beta: Any = None) -> None:
        super().__init__(num_labels, o_label_id, class_counts, reduction, detach_weight)
        self.gamma = check_number("gamma", gamma, low=0.0)
        self.alpha: torch.Tensor | None
        self._weight_params = register_class_weights(
            self, "alpha", alpha, num_labels=num_labels, o_label_id=o_label_id,
            class_counts=class_counts, beta=beta)

    def params(self) -> dict[str, Any]:
        return {"gamma": self.gamma, **self._weight_params}

    def weight(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The modulating weight ``(1 - p_t)^gamma`` (without alpha): x [N, C], target [N] -> [N]."""
        return torch.exp(self.gamma * F.logsigmoid(-target_margin(x, target)))

    def _loss_and_slope(self, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # l = -w log p_t, w = exp(gamma log(1 - p_t)); with p_t = sigmoid(d): d log p_t/dd = 1 - p_t,
        # dw/dd = -gamma w p_t, so dl/dd = gamma w p_t log p_t - w (1 - p_t) (first term gone if detached).
        log_p = F.logsigmoid(d)
        w = torch.exp(self.gamma * (log_p - d))  # log(1 - p_t) = logsigmoid(-d) = logsigmoid(d) - d
        one_minus_p = torch.sigmoid(-d)
        loss = -w * log_p
        slope = -w * one_minus_p
        if not self.detach_weight and self.gamma != 0.0:
            slope = slope + self.gamma * w * torch.sigmoid(d) * log_p
        return loss, slope

    def per_token(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return apply_class_weights(self.alpha, target, margin_loss(x, target, self._loss_and_slope))


class SigmoidFocal(TokenLoss):
    """RetinaNet's one-vs-rest focal loss: ``sum_c a_c (1 - q_c)^gamma BCE(sigmoid(x_c), y_c)``.

    ``q_c = sigmoid(z_c)`` with ``z_c = x_c`` for the target class and ``-x_c`` otherwise;
    ``a_c = alpha`` for the target class and ``1 - alpha`` for the others (1 when alpha is None).
    """

    name = "sigmoid_focal"
    formula = "sum_c a_c (1 - q_c)^gamma BCE(sigmoid(x_c), y_c), y = one-hot(t)"
    citation = FOCAL_CITATION
    why = ("The one-vs-rest (sigmoid) focal loss down-weights easy decisions per label, so the abundant, "
           "easy O decisions do not dominate the gradient.")
    bibtex = FOCAL_BIBTEX
    has_weight = True

    def __init__(self, num_labels: int, o_label_id: int = 0, class_counts: Any = None, reduction: str = "mean",
                 detach_weight: bool = False, gamma: Any = 2.0, alpha: Any = None) -> None:
        super().__init__(num_labels, o_label_id, class_counts, reduction, detach_weight)
        self.gamma = check_number("gamma", gamma, low=0.0)
        self.alpha = None if alpha is None else check_number("alpha", alpha, low=0.0, high=1.0)

    def params(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "alpha": self.alpha}

    def weight(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-class modulating weights ``(1 - q_c)^gamma``: x [N, C], target [N] -> [N, C]."""
        return torch.exp(self.gamma * F.logsigmoid(-one_vs_rest_logits(x, target)))

    def per_token(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return one_vs_rest_loss(x, target, "focal", self.gamma, self.alpha, self.detach_weight)
