"""Cross-entropy, optionally class-weighted: the baseline every other loss is compared with."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from tagger.losses.base import TokenLoss
from tagger.losses.weights import apply_class_weights, register_class_weights


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
    why = ("Cross-entropy is the standard baseline; optional class weights raise the weight of rare entity "
           "labels against the dominant O label.")
    bibtex = """@inproceedings{cui2019class,
    title = {Class-Balanced Loss Based on Effective Number of Samples},
    author = {Cui, Yin and Jia, Menglin and Lin, Tsung-Yi and Song, Yang and Belongie, Serge},
    booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
    year = {2019},
    pages = {9268--9277},
}"""

    def __init__(self, num_labels: int, o_label_id: int = 0, class_counts: Any = None, reduction: str = "mean",
                 detach_weight: bool = False, class_weights: Any = None, beta: Any = None) -> None:
        super().__init__(num_labels, o_label_id, class_counts, reduction, detach_weight)
        self.class_weights: torch.Tensor | None
        self._weight_params = register_class_weights(
            self, "class_weights", class_weights, num_labels=num_labels, o_label_id=o_label_id,
            class_counts=class_counts, beta=beta)

    def params(self) -> dict[str, Any]:
        return dict(self._weight_params)

    def per_token(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return apply_class_weights(self.class_weights, target, F.cross_entropy(x, target, reduction="none"))
