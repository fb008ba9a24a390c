"""Truncated cross-entropy: hard (a step weight on p_t), its smooth softmax version, and the one-vs-rest form.

Hard truncation stops learning from tokens the model already gets right (p_t > threshold), but the
step weight has no gradient: nothing tells the model to keep a correct token correct. Replacing the
step by a smooth weight that falls as p_t rises (and that the gradient flows through) fixes that;
with two classes ``softmax(-k x)_t = 1 - softmax(k x)_t``, and at k = 1 that is focal loss, gamma = 1.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from tagger.losses.base import TokenLoss
from tagger.losses.checks import check_choice, check_number
from tagger.losses.focal import FOCAL_BIBTEX
from tagger.losses.kernels import (
    flat_index,
    one_vs_rest_logits,
    one_vs_rest_loss,
    row_sum,
    take,
    target_margin,
)

#: the forms of soft truncation's weight (``form``): ``softmax(-k x)_t`` or ``1 - softmax(k x)_t``
FORMS = ("neg_softmax", "one_minus_softmax")


# Above this k * log(C), p^k / sum(p^k) could underflow to 0 / 0 in float32; softmax(k x) is used instead.
_POWER_LIMIT = 60.0


class _SoftTruncationFn(torch.autograd.Function):
    """``-w log p_t`` with w from a second softmax, fused (two softmaxes forward, one pass back).

    x: [N, C], target: [N] -> [N]. neg_softmax: ``w = r_t``, ``r = softmax(-k x)``, ``dw/dx = -k w (e_t - r)``;
    one_minus_softmax: ``w = 1 - s_t``, ``s = softmax(k x)``, ``dw/dx = -k s_t (e_t - s)``. With ``u`` the
    second softmax and ``c`` its factor, ``dl/dx = w p - k c log p_t u + e_t (k c log p_t - w)``.

    For one_minus_softmax, ``softmax(k x) = p^k / sum_c p_c^k`` with ``p = softmax(x)``: k = 1 reuses p,
    k = 2 is one product, other k one exp of ``k log p``, instead of a second softmax kernel (on CPU with
    ~10 classes ``softmax`` costs 3x an ``exp``); neg_softmax likewise takes ``exp(-k log p)`` on CPU.
    u is kept unnormalised (``u = u_raw * scale``, scale per row) and the scale folded into the
    per-row factors.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, target: torch.Tensor, k: float, form: str,
                detach_weight: bool) -> torch.Tensor:
        num_classes = x.shape[1]
        flat = flat_index(target, num_classes)
        logp = torch.log_softmax(x, dim=1)
        logp_t = take(logp, flat)  # [N]
        one_minus = form == "one_minus_softmax"
        power = one_minus and k * math.log(num_classes) <= _POWER_LIMIT
        # The second softmax, unnormalised (u = u_raw * scale), from log p wherever that beats a softmax
        # kernel; what needs p itself (k = 1, 2) comes after p below, the softmax fallback last.
        u_raw: torch.Tensor | None = None
        scale = None
        if power and k not in (1.0, 2.0):
            u_raw = torch.mul(logp, k).exp_()
        elif not one_minus and x.device.type == "cpu":
            # softmax(-k x) = exp(-k log p) / sum: every term >= 1 (log p <= 0), so the sum cannot
            # underflow, and it overflows only where some log p_c < -88 / k, which the check below
            # catches (then softmax). A host sync, cheap on CPU only; other devices take softmax.
            u_raw = torch.mul(logp, -k).exp_()
            total = row_sum(u_raw)
            if bool(torch.isfinite(total).all()):
                scale = total.reciprocal_()
            else:
                u_raw = None
        # Backward needs p, not log p: exponentiate in place (a fresh [N, C] buffer costs as much as the op).
        p = logp.exp_()
        p_t = logp_t.exp()  # on [N]: cheaper than another index into [N, C]
        if power and k == 1.0:
            u_raw = p  # the second softmax is the first
        elif power and k == 2.0:
            u_raw = p * p  # not square(): that is pow(x, 2), 3x slower on CPU
        elif u_raw is None:
            u_raw = torch.softmax(x * (k if one_minus else -k), dim=1)
        if power and k != 1.0:
            scale = row_sum(u_raw).reciprocal_()
        u_t = take(u_raw, flat)
        if scale is not None:
            u_t.mul_(scale)
        # p, and u for one_minus_softmax, are kept with the target column zeroed, so their sums are
        # 1 - p_t and 1 - u_t without cancellation near 1; backward adds the target columns back.
        p.view(-1).index_fill_(0, flat, 0.0)
        rest = row_sum(p)
        if one_minus:
            if u_raw is not p:
                u_raw.view(-1).index_fill_(0, flat, 0.0)
            w = rest if u_raw is p else row_sum(u_raw)
            if scale is not None:
                w = w * scale
        else:
            w = u_t
        # log p_t from log-softmax rounds to 0 once p_t is within 6e-8 of 1; log1p(-(1 - p_t)) does not.
        logp_t = torch.where(rest < 0.5, torch.log1p(rest.neg()), logp_t)
        ctx.save_for_backward(p, p_t, logp_t, u_raw, u_t, w, flat, scale if scale is not None else u_t.new_ones(()))
        ctx.k, ctx.detach_weight, ctx.u_target_zeroed = k, detach_weight, one_minus
        return (w * logp_t).neg_()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        p_others, p_t, logp_t, u_raw, u_t, w, flat, scale = ctx.saved_tensors
        wg = w * grad_loss
        grad = p_others * wg.unsqueeze(1)
        if ctx.detach_weight:
            grad.view(-1).index_add_(0, flat, wg.mul_(p_t - 1.0))
            return grad, None, None, None, None
        # c = u_t for both forms (see the class docstring)
        kcl = (u_t * ctx.k).mul_(logp_t).mul_(grad_loss)
        grad.addcmul_(u_raw, (kcl * scale).unsqueeze(1), value=-1.0)
        # the target column: w p_t - k c log p_t u_t + (k c log p_t - w); -k c log p_t u_t is already
        # in grad unless u's target column was zeroed
        target_col = wg.mul_(p_t - 1.0).add_(kcl * (1.0 - u_t) if ctx.u_target_zeroed else kcl)
        grad.view(-1).index_add_(0, flat, target_col)
        return grad, None, None, None, None


class HardTruncation(TokenLoss):
    """``-1[p_t <= threshold] log p_t``: correct-enough tokens contribute nothing (threshold 1.0 is ``ce``)."""

    name = "hard_truncation"
    formula = "-1[p_t <= threshold] log p_t"
    citation = ("cross-entropy truncated at a confidence threshold (no single source paper); its smooth "
                "counterpart is focal loss, Lin et al. 2017, Focal Loss for Dense Object Detection (ICCV)")
    why = ("Truncated cross-entropy drops tokens that are already predicted with high confidence (mostly O), "
           "so training time goes to the uncertain tokens.")
    bibtex = FOCAL_BIBTEX  # no source paper of its own: its smooth counterpart's, as in the citation
    has_weight = True  # the step weight is already a constant; detach_weight changes nothing

    def __init__(self, num_labels: int, o_label_id: int = 0, class_counts: Any = None, reduction: str = "mean",
                 detach_weight: bool = False, threshold: Any = 0.5) -> None:
        super().__init__(num_labels, o_label_id, class_counts, reduction, detach_weight)
        self.threshold = check_number("threshold", threshold, low=0.0, high=1.0, low_open=True)

    def params(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    def weight(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The step weight ``1[p_t <= threshold]``: x [N, C], target [N] -> [N] (no gradient)."""
        nll = F.cross_entropy(x.detach(), target, reduction="none")
        return (torch.exp(-nll) <= self.threshold).to(x.dtype)

    def per_token(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        nll = F.cross_entropy(x, target, reduction="none")
        # nll >= 0, so exp(-nll) <= 1 and threshold 1.0 keeps every token exactly as ce does.
        return nll * (torch.exp(-nll.detach()) <= self.threshold).to(x.dtype)


class SoftTruncation(TokenLoss):
    """``-w log p_t`` with the weight in one of two forms (``form``, :data:`FORMS`): ``w = softmax(-k x)_t``
    ("neg_softmax", the default) or ``w = 1 - softmax(k x)_t`` ("one_minus_softmax").

    Two classes: both weights are ``sigmoid(-k (x_t - x_o))`` and k = 1 is focal gamma = 1. More
    classes: only "one_minus_softmax" at k = 1 is focal gamma = 1; "neg_softmax" depends on how the
    other logits are spread (x = 0: ``1/C`` against ``1 - 1/C``). As k grows "one_minus_softmax" tends
    to 1[argmax is wrong] and "neg_softmax" to 1[the target has the lowest logit].
    """

    name = "soft_truncation"
    formula = "-w log p_t, w = softmax(-k x)_t (neg_softmax) or 1 - softmax(k x)_t (one_minus_softmax)"
    citation = ("softened truncated cross-entropy; k = 1 one_minus_softmax is focal loss gamma = 1 "
                "(Lin et al. 2017, Focal Loss for Dense Object Detection, ICCV)")
    why = ("Softened truncation down-weights confidently correct tokens smoothly, the continuous "
           "counterpart of dropping them.")
    bibtex = FOCAL_BIBTEX
    has_weight = True

    def __init__(self, num_labels: int, o_label_id: int = 0, class_counts: Any = None, reduction: str = "mean",
                 detach_weight: bool = False, k: Any = 1.0, form: Any = "neg_softmax") -> None:
        super().__init__(num_labels, o_label_id, class_counts, reduction, detach_weight)
        self.k = check_number("k", k, low=0.0, low_open=True)
        self.form = check_choice("form", form, FORMS)

    def params(self) -> dict[str, Any]:
        return {"k": self.k, "form": self.form}

    def weight(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The modulating weight w: x [N, C], target [N] -> [N]."""
        # softmax(y)_t = sigmoid(the margin of y at t), so both weights are a sigmoid of one margin.
        if self.form == "neg_softmax":
            return torch.sigmoid(target_margin(-self.k * x, target))
        return torch.sigmoid(-target_margin(self.k * x, target))

    def per_token(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _SoftTruncationFn.apply(x, target, self.k, self.form, self.detach_weight)


class SigmoidSoftTruncation(TokenLoss):
    """One-vs-rest softened loss: ``sum_c -sigmoid(-k z_c) log sigmoid(z_c)``, ``z_c = x_c`` (c = t) else ``-x_c``.

    That is ``y_c (-sigmoid(-k x_c) log sigmoid(x_c)) + (1 - y_c)(-sigmoid(k x_c) log sigmoid(-x_c))``.
    """

    name = "sigmoid_soft_truncation"
    formula = "sum_c y_c (-sigmoid(-k x_c) log sigmoid(x_c)) + (1 - y_c)(-sigmoid(k x_c) log sigmoid(-x_c))"
    citation = ("one-vs-rest (sigmoid) form of the softened truncated loss; at k = 1 it is sigmoid focal "
                "loss gamma = 1 (Lin et al. 2017, Focal Loss for Dense Object Detection, ICCV)")
    why = "The one-vs-rest form of softened truncation: easy per-label decisions get small weights."
    bibtex = FOCAL_BIBTEX
    has_weight = True

    def __init__(self, num_labels: int, o_label_id: int = 0, class_counts: Any = None, reduction: str = "mean",
                 detach_weight: bool = False, k: Any = 1.0) -> None:
        super().__init__(num_labels, o_label_id, class_counts, reduction, detach_weight)
        self.k = check_number("k", k, low=0.0, low_open=True)

    def params(self) -> dict[str, Any]:
        return {"k": self.k}

    def weight(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-class weights ``sigmoid(-k z_c)``: x [N, C], target [N] -> [N, C]."""
        return torch.sigmoid(-self.k * one_vs_rest_logits(x, target))

    def per_token(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return one_vs_rest_loss(x, target, "soft", self.k, None, self.detach_weight)


__all__ = ["HardTruncation", "SoftTruncation", "SigmoidSoftTruncation", "FORMS"]
