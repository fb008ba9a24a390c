"""Hand-written autograd kernels and the row-wise primitives they are built from.

Every function takes flattened logits ``x: [N, C]`` (float32 or float64, contiguous) and targets
``target: [N]`` in ``[0, C)``; the forward and backward passes are written out so that the [N, C]
work is a few fused passes and no autograd graph is built for the per-token [N] arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

# Row-wise primitives. On CPU, with C ~ 10 classes, torch's dim=1 kernels are slow next to flat ones:
# gather/scatter along dim 1 cost 2-3x an index_select/index_add on the flattened tensor, and a sum
# over dim 1 costs 2.5x a matrix-vector product with a vector of ones (measured on 32,768 x 13 float32).

_OFFSETS: dict[tuple[int, str], torch.Tensor] = {}


def flat_index(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Positions of ``x[n, target[n]]`` in ``x.view(-1)``: target [N] -> [N] (x [N, C] contiguous)."""
    n = target.shape[0]
    key = (num_classes, str(target.device))
    offsets = _OFFSETS.get(key)
    if offsets is None or offsets.shape[0] < n:
        # grown geometrically and sliced, so batches of varying length reuse one buffer
        size = max(n, 2 * (0 if offsets is None else offsets.shape[0]), 1024)
        offsets = torch.arange(size, device=target.device) * num_classes
        _OFFSETS[key] = offsets
    return offsets[:n] + target


def take(x: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """``x[n, t_n]`` for the flat positions of :func:`flat_index`: x [N, C] -> [N]."""
    return x.view(-1).index_select(0, flat)


def row_sum(x: torch.Tensor) -> torch.Tensor:
    """``x.sum(dim=1)`` as a matrix-vector product: x [N, C] -> [N]."""
    return torch.mv(x, x.new_ones(x.shape[1]))


def _margin_parts(x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """d [N], the other classes' probabilities [N, C] (target column 0), their sum [N], flat index [N]."""
    flat = flat_index(target, x.shape[1])
    logp = torch.log_softmax(x, dim=1)
    logp_t = take(logp, flat)
    # 1 - p_t summed from the other classes' probabilities: no cancellation when p_t is near 1.
    p_others = logp.exp_()
    p_others.view(-1).index_fill_(0, flat, 0.0)
    # Floor at the smallest normal: where every other class underflows (e.g. logits (1e4, -1e4))
    # p_t is 1 to 38 digits, and the floor keeps d, its gradient and gamma = 0 (w = 1) finite.
    mass = row_sum(p_others).clamp_min_(torch.finfo(x.dtype).tiny)
    return logp_t - torch.log(mass), p_others, mass, flat


def _margin_backward(p_others: torch.Tensor, mass: torch.Tensor, flat: torch.Tensor,
                     grad_d: torch.Tensor) -> torch.Tensor:
    # dd/dx = one_hot(t) - q, q_c = p_c / (1 - p_t) for c != t (the softmax over the other classes).
    grad = p_others * (grad_d / mass).neg_().unsqueeze(1)
    grad.view(-1).index_copy_(0, flat, grad_d)
    return grad


class _TargetMargin(torch.autograd.Function):
    """``d = log p_t - log(1 - p_t)`` with a hand-written backward: x [N, C], target [N] -> [N]."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        d, p_others, mass, flat = _margin_parts(x, target)
        ctx.save_for_backward(p_others, mass, flat)
        return d

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_d: torch.Tensor) -> tuple[torch.Tensor, None]:
        p_others, mass, flat = ctx.saved_tensors
        return _margin_backward(p_others, mass, flat, grad_d), None


def target_margin(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The target's log-odds against all other classes, ``d = x_t - logsumexp_{c != t} x_c``.

    x: [N, C], target: [N] -> d: [N]. Every softmax loss here is a function of p_t alone, and
    ``p_t = sigmoid(d)``: ``log p_t = logsigmoid(d)`` and ``log(1 - p_t) = logsigmoid(-d)`` are exact
    even where p_t rounds to 1 (logits (30, 0, 0) in float32: ``1 - p_t = 1.9e-13``, all lost by
    ``log(-expm1(log p_t))`` since ``log p_t == 0``). ``dd/dx = one_hot(t) - softmax over the other
    classes`` is bounded, so ``(1 - p_t)^gamma = exp(gamma logsigmoid(-d))`` has a finite gradient for
    every gamma >= 0, including gamma < 1 where ``d(1 - p)^gamma / dp`` is infinite at p = 1, and the
    limit (weight 0, gradient 0) comes out by itself. ``1 - p_t`` is floored at the dtype's smallest
    normal (1.2e-38 in float32), where p_t is 1 to 38 digits. The [N, C] work is one fused
    log-softmax, one exp and one sum forward and one multiply backward; the rest is on [N].
    """
    return _TargetMargin.apply(x, target)


class _MarginLoss(torch.autograd.Function):
    """A per-token loss ``f(d)`` of the target margin with its derivative given by hand.

    x: [N, C], target: [N] -> [N]. ``fn(d) -> (loss, dloss/dd)`` works on [N] tensors; the gradient is
    ``dloss/dd * (one_hot(t) - q)`` with q the softmax over the other classes, so no autograd graph is
    built for the [N] arithmetic (on CPU its per-op overhead costs as much as the [N, C] work).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, target: torch.Tensor,
                fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        d, p_others, mass, flat = _margin_parts(x, target)
        loss, slope = fn(d)
        ctx.save_for_backward(p_others, mass, flat, slope)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        p_others, mass, flat, slope = ctx.saved_tensors
        return _margin_backward(p_others, mass, flat, grad_loss * slope), None, None


def margin_loss(x: torch.Tensor, target: torch.Tensor,
                fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Per-token ``fn(d)[0]`` with ``d = target_margin(x, target)``: x [N, C], target [N] -> [N].

    ``fn`` returns the loss and its derivative in d, both [N]; see :class:`_MarginLoss`.
    """
    return _MarginLoss.apply(x, target, fn)


class _OneVsRest(torch.autograd.Function):
    """Per-token ``sum_c a_c l_c(z_c)`` of a one-vs-rest loss with a hand-written backward.

    x: [N, C], target: [N] -> [N]. ``z_c = x_c`` for the target class and ``-x_c`` otherwise, so
    ``log q_c = logsigmoid(z_c)`` (q_c: the probability binary classifier c gives the right answer).
    ``kind="focal"``: ``l_c = -(1 - q_c)^param log q_c``; ``kind="soft"``: ``l_c = -sigmoid(-param z_c) log q_c``.
    ``a_c = alpha`` for the target class and ``1 - alpha`` otherwise (1 when alpha is None).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, target: torch.Tensor, kind: str, param: float,
                alpha: float | None, detach_weight: bool) -> torch.Tensor:
        flat = flat_index(target, x.shape[1])
        # In-place where possible: on CPU each fresh [N, C] buffer costs about as much as the op itself.
        z = torch.neg(x)
        z.view(-1).index_copy_(0, flat, take(x, flat))
        log_q = F.logsigmoid(z)
        soft_k1 = kind == "soft" and param == 1.0
        w = torch.sigmoid(z * -param) if kind == "soft" and not soft_k1 else None
        # log(1 - q) = log sigmoid(-z) = log sigmoid(z) - z: exact where it matters (w near 0 for z >> 0).
        log_1mq = torch.sub(log_q, z, out=z)
        if w is None and kind == "focal" and param not in (1.0, 2.0):
            w = torch.mul(log_1mq, param).exp_()
        one_minus_q = log_1mq.exp_()  # backward's (1 - q), made here in place rather than in a new buffer
        if w is None:  # focal gamma 1 or 2 (the default), soft k = 1: a power of 1 - q instead of another exp
            # (a product, not square(): square is pow(x, 2), 3x slower on CPU)
            w = one_minus_q * one_minus_q if kind == "focal" and param == 2.0 else one_minus_q
        terms = log_q.mul_(w)  # [N, C], each <= 0; log q itself is not needed any more
        if alpha is None:
            loss = row_sum(terms).neg_()
        else:
            t_col = take(terms, flat)
            loss = ((row_sum(terms) - t_col) * (alpha - 1.0)).sub_(t_col * alpha)
        ctx.save_for_backward(one_minus_q, w, terms, flat)
        ctx.kind, ctx.param, ctx.alpha, ctx.detach_weight = kind, param, alpha, detach_weight
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        one_minus_q, w, terms, flat = ctx.saved_tensors
        # h = -dl_c/dz_c >= 0, with terms = w log q:
        # focal: w (1 - q) - gamma q w log q;  soft: w (1 - q) - k (1 - w) w log q.
        if ctx.detach_weight:
            h = one_minus_q * w
        elif ctx.kind == "focal":
            h = (one_minus_q - 1.0).mul_(terms).mul_(ctx.param).addcmul_(w, one_minus_q)
        else:
            h = (w - 1.0).mul_(terms).mul_(ctx.param).addcmul_(w, one_minus_q)
        a_other, a_target = (1.0, 1.0) if ctx.alpha is None else (1.0 - ctx.alpha, ctx.alpha)
        # dz_c/dx_c is -1 for the other classes and +1 for the target.
        h_t = take(h, flat)
        grad = h.mul_((grad_loss * a_other).unsqueeze(1))
        grad.view(-1).index_copy_(0, flat, h_t.mul_(grad_loss).mul_(-a_target))
        return grad, None, None, None, None, None


def one_vs_rest_loss(x: torch.Tensor, target: torch.Tensor, kind: str, param: float, alpha: float | None,
                     detach_weight: bool) -> torch.Tensor:
    """See :class:`_OneVsRest`: x [N, C], target [N] -> per-token loss [N]."""
    return _OneVsRest.apply(x, target, kind, param, alpha, detach_weight)


def one_vs_rest_logits(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``z_c = x_c`` for the target class and ``-x_c`` for the others: x [N, C], target [N] -> [N, C].

    With ``y = one-hot(t)``, ``sigmoid(z_c)`` is the probability the binary classifier c gives to the
    right answer (``q_c``), so ``log q_c = logsigmoid(z_c)`` and ``log(1 - q_c) = logsigmoid(-z_c)``,
    both stable; a constant sign tensor keeps the backward to one multiplication.
    """
    sign = torch.full_like(x, -1.0).scatter_(1, target.unsqueeze(1), 1.0)
    return x * sign
