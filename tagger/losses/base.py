"""What every token loss shares: input checks, ignored positions, reduction, precision, parameter checks.

A loss family subclasses :class:`TokenLoss` and implements :meth:`TokenLoss.per_token`, which sees
only the kept precision (float32 or float64), flattened logits ``[N, C]`` and safe targets ``[N]``.
"""

from __future__ import annotations

import contextlib
import difflib
import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from tagger.errors import ConfigError

IGNORE_INDEX = -100
REDUCTIONS = ("mean", "sum", "none")


def _suggest(word: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number within the stated bounds, as ``float``; else ``ConfigError`` naming the range.

    YAML 1.1 reads ``1e-3`` (no dot) as a string, so a string that parses as a number is accepted.
    """
    lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    want = " and ".join(s for s in (lo, hi) if s)
    want = f"a number {want}" if want else "a finite number"
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value)
    if number is None or not math.isfinite(number):
        raise ConfigError(f"{name} must be {want}, got {value!r}")
    if low is not None and (number < low or (low_open and number == low)):
        raise ConfigError(f"{name} must be {want}, got {value!r}")
    if high is not None and (number > high or (high_open and number == high)):
        raise ConfigError(f"{name} must be {want}, got {value!r}")
    return number


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """One of ``choices``; else ``ConfigError`` listing them."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        hint = _suggest(value, choices) if isinstance(value, str) else ""
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}{hint}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value


# ----------------------------------------------------------------------------------------------------------------
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


class TokenLoss(nn.Module):
    """Base class of the registry's losses.

    ``forward(logits [..., C], labels [...]) -> scalar`` (or ``[...]`` for ``reduction="none"``).
    Positions with ``labels == -100`` are ignored; ``"mean"`` divides the summed per-token losses by
    the number of kept tokens (never by a sum of class weights, unlike ``torch``'s weighted
    ``cross_entropy``); all ignored gives a differentiable 0. float16 / bfloat16 / float32 logits are
    computed and returned in float32, float64 stays float64.
    """

    #: registry name, e.g. ``"focal"``
    name: ClassVar[str] = ""
    #: per-token loss in one line, for model cards
    formula: ClassVar[str] = ""
    #: the paper the loss comes from
    citation: ClassVar[str] = ""
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
            with_weight = ", ".join(sorted(n for n, c in _registry().items() if c.has_weight))
            raise ConfigError(f"detach_weight applies only to losses with a modulating weight ({with_weight}); "
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

    # --- shared -------------------------------------------------------------------------------------
    def weight_or_const(self, w: torch.Tensor) -> torch.Tensor:
        return w.detach() if self.detach_weight else w

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


def _registry() -> dict[str, type[TokenLoss]]:
    from tagger.losses import LOSSES

    return LOSSES
