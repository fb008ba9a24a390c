"""The loss library against independent float64 references, identities, pinned numbers and numerics.

The references below are written from the losses' published formulas and TokenLoss's documented
reductions, one token and one class at a time with naive float64 maths (no log-softmax, no margins),
so they share no code with tagger.losses.
"""

from __future__ import annotations

import ast
import copy
import math
import re
from pathlib import Path

import pytest
import torch

from tagger.errors import ConfigError
import tagger.losses
from tagger.losses import LOSSES, build_loss

C = 5
O = 2  # a non-zero O id, so "entity vs O" weights are not accidentally index 0


# --------------------------------------------------------------------------------------------------
# independent reference
# --------------------------------------------------------------------------------------------------
def ref_class_weights(spec, counts=None, beta=0.999, num_labels=C, o=O) -> list[float] | None:
    if spec is None:
        return None
    if isinstance(spec, float):
        return [1 - spec if c == o else spec for c in range(num_labels)]
    if isinstance(spec, list):
        return [float(v) for v in spec]
    n = [max(float(v), 1.0) for v in counts]
    if spec == "inverse_frequency":
        raw = [1.0 / v for v in n]
    else:  # effective number: (1 - beta^n) / (1 - beta), weight ∝ its inverse
        raw = [(1 - beta) / (1 - beta**v) for v in n]
    total = sum(counts)
    scale = total / sum(cnt * r for cnt, r in zip(counts, raw))
    return [r * scale for r in raw]


def _sig(v):
    return 1 / (1 + torch.exp(-v))


def ref_token(name: str, params: dict, x: torch.Tensor, t: int, weights, detach: bool) -> torch.Tensor:
    """One token: x [C] float64 (autograd), t the target id."""
    cut = (lambda w: w.detach()) if detach else (lambda w: w)
    e = torch.exp(x)
    p = e / e.sum()
    pt = p[t]
    nll = -torch.log(pt)
    if name == "ce":
        return (weights[t] if weights else 1.0) * nll
    if name == "hard_truncation":
        return nll * (1.0 if pt.item() <= params.get("threshold", 0.5) else 0.0)
    if name == "soft_truncation":
        k = params.get("k", 1.0)
        if params.get("form", "neg_softmax") == "neg_softmax":
            en = torch.exp(-k * x)
            w = en[t] / en.sum()
        else:
            ek = torch.exp(k * x)
            w = 1 - ek[t] / ek.sum()
        return cut(w) * nll
    if name == "focal":
        w = (1 - pt) ** params.get("gamma", 2.0)
        return (weights[t] if weights else 1.0) * cut(w) * nll
    if name == "label_smoothing":
        eps = params.get("epsilon", 0.1)
        return (1 - eps) * nll + eps * sum(-torch.log(p[c]) for c in range(len(x))) / len(x)
    if name == "poly1":
        return nll + params.get("epsilon", 1.0) * (1 - pt)
    if name == "dice":
        a, s = params.get("alpha", 1.0), params.get("smooth", 1.0)
        m = cut((1 - pt) ** a) * pt
        return 1 - (2 * m + s) / (m + 1 + s)
    if name == "sigmoid_focal":
        g, alpha = params.get("gamma", 2.0), params.get("alpha")
        total = x.new_zeros(())
        for c in range(len(x)):
            y = 1.0 if c == t else 0.0
            s = _sig(x[c])
            q = s if y else 1 - s
            bce = -(y * torch.log(s) + (1 - y) * torch.log(1 - s))
            a = 1.0 if alpha is None else (alpha if y else 1 - alpha)
            total = total + a * cut((1 - q) ** g) * bce
        return total
    if name == "sigmoid_soft_truncation":
        k = params.get("k", 1.0)
        total = x.new_zeros(())
        for c in range(len(x)):
            if c == t:
                total = total - cut(_sig(-k * x[c])) * torch.log(_sig(x[c]))
            else:
                total = total - cut(_sig(k * x[c])) * torch.log(_sig(-x[c]))
        return total
    raise AssertionError(name)


def ref_loss(name, params, x, labels, reduction="mean", detach=False, counts=None):
    """x [..., C] float64, labels [...] -> reference loss with TokenLoss's documented reductions."""
    spec = params.get("class_weights", params.get("alpha")) if name in ("ce", "focal") else None
    weights = ref_class_weights(spec, counts, params.get("beta", 0.999), x.shape[-1])
    flat_x, flat_y = x.reshape(-1, x.shape[-1]), labels.reshape(-1)
    per = [ref_token(name, params, flat_x[i], int(flat_y[i]), weights, detach) if flat_y[i] != -100
           else flat_x.new_zeros(()) for i in range(len(flat_y))]
    per = torch.stack(per)
    kept = int((flat_y != -100).sum())
    if reduction == "none":
        return per.reshape(labels.shape)
    if reduction == "sum":
        return per.sum()
    return per.sum() / max(kept, 1)


SPECS = [
    ("ce", {}),
    ("ce", {"class_weights": 0.3}),
    ("ce", {"class_weights": [0.5, 1.0, 2.0, 0.25, 3.0]}),
    ("ce", {"class_weights": "inverse_frequency"}),
    ("ce", {"class_weights": "effective_number", "beta": 0.99}),
    ("hard_truncation", {}),
    ("hard_truncation", {"threshold": 0.3}),
    ("soft_truncation", {}),
    ("soft_truncation", {"k": 2.0}),
    ("soft_truncation", {"k": 0.5, "form": "one_minus_softmax"}),
    ("soft_truncation", {"k": 1.0, "form": "one_minus_softmax"}),
    ("soft_truncation", {"k": 3.0, "form": "one_minus_softmax"}),
    ("focal", {}),
    ("focal", {"gamma": 0.5, "alpha": 0.25}),
    ("focal", {"gamma": 1.0, "alpha": "inverse_frequency"}),
    ("focal", {"gamma": 5.0, "alpha": "effective_number"}),
    ("label_smoothing", {}),
    ("label_smoothing", {"epsilon": 0.3}),
    ("poly1", {}),
    ("poly1", {"epsilon": -0.5}),
    ("dice", {}),
    ("dice", {"alpha": 0.5, "smooth": 0.1}),
    ("sigmoid_focal", {}),
    ("sigmoid_focal", {"gamma": 0.25, "alpha": 0.25}),
    ("sigmoid_soft_truncation", {}),
    ("sigmoid_soft_truncation", {"k": 2.5}),
]
COUNTS = [40, 3, 500, 0, 12]  # one label absent from training


def _ids(spec):
    return spec[0] + "".join(f"-{k}={v}" for k, v in spec[1].items() if not isinstance(v, list))


def _batch(seed: int = 0, shape=(3, 7), scale: float = 2.0):
    g = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(*shape, C, generator=g, dtype=torch.float64)
    y = torch.randint(0, C, shape, generator=g)
    y[0, :2] = -100
    y[-1, -1] = -100
    return x, y


def test_every_loss_is_covered_by_the_reference_specs():
    assert {name for name, _ in SPECS} == set(LOSSES)


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_values_and_gradients_match_the_float64_reference(spec, reduction):
    name, params = spec
    x, y = _batch()
    loss_fn = build_loss(name, num_labels=C, o_label_id=O, class_counts=COUNTS, reduction=reduction, **params)
    xa = x.clone().requires_grad_()
    xr = x.clone().requires_grad_()
    got = loss_fn(xa, y)
    want = ref_loss(name, params, xr, y, reduction, counts=COUNTS)
    assert got.dtype == torch.float64 and got.shape == want.shape
    # resolved class weights are kept in float32 (they must move to any device), hence 1e-6 with weights
    rtol = 1e-6 if ("class_weights" in params or "alpha" in params) and name != "sigmoid_focal" else 1e-9
    torch.testing.assert_close(got, want, rtol=rtol, atol=1e-12)
    probe = torch.linspace(0.5, 1.5, want.numel(), dtype=torch.float64).reshape(want.shape)
    (got * probe).sum().backward()
    (want * probe).sum().backward()
    torch.testing.assert_close(xa.grad, xr.grad, rtol=max(rtol, 1e-8), atol=1e-12)
    if reduction == "none":
        assert bool((got[y == -100] == 0).all())


@pytest.mark.parametrize("spec", [s for s in SPECS if LOSSES[s[0]].has_weight and s[0] != "hard_truncation"],
                         ids=_ids)
def test_detach_weight_treats_the_weight_as_a_constant(spec):
    name, params = spec
    x, y = _batch(seed=3)
    loss_fn = build_loss(name, num_labels=C, o_label_id=O, class_counts=COUNTS, detach_weight=True, **params)
    xa, xr, xf = (x.clone().requires_grad_() for _ in range(3))
    loss_fn(xa, y).backward()
    ref_loss(name, params, xr, y, detach=True, counts=COUNTS).backward()
    ref_loss(name, params, xf, y, detach=False, counts=COUNTS).backward()
    torch.testing.assert_close(xa.grad, xr.grad, rtol=1e-6, atol=1e-12)
    assert not torch.allclose(xa.grad, xf.grad)  # and it is a different gradient from the default


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_gradcheck_float64(spec):
    name, params = spec
    x, y = _batch(seed=1, shape=(2, 3))
    loss_fn = build_loss(name, num_labels=C, o_label_id=O, class_counts=COUNTS, **params)
    assert torch.autograd.gradcheck(lambda v: loss_fn(v, y), (x.requires_grad_(),))


# --------------------------------------------------------------------------------------------------
# pinned numbers and identities
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "params", "logits", "target", "value"), [
    # (1 - p)^2 (-log p) with p = e / (e + 1)
    ("focal", {"gamma": 2.0}, [1.0, 0.0], 0, 0.022658057508467326),
    ("dice", {}, [2.0, 0.0, 0.0], 0, 0.3839942831530285),
    ("poly1", {}, [2.0, 0.0, 0.0], 0, 0.45255872406028597),
    ("label_smoothing", {"epsilon": 0.1}, [2.0, 0.0, 0.0], 0, 0.3728780995552179),
    ("sigmoid_focal", {"gamma": 2.0, "alpha": 0.25}, [1.0, -1.0], 0, 0.022658057508467326),
    ("soft_truncation", {"form": "neg_softmax"}, [0.0, 0.0, 0.0], 1, math.log(3) / 3),
    ("soft_truncation", {"form": "one_minus_softmax"}, [0.0, 0.0, 0.0], 1, 2 * math.log(3) / 3),
    ("hard_truncation", {"threshold": 0.5}, [2.0, 0.0, 0.0], 0, 0.0),
    ("hard_truncation", {"threshold": 0.5}, [0.0, 0.0, 0.0], 0, math.log(3)),
])
def test_pinned_values(name, params, logits, target, value):
    loss_fn = build_loss(name, num_labels=len(logits), **params)
    got = loss_fn(torch.tensor([logits], dtype=torch.float64), torch.tensor([target]))
    assert float(got) == pytest.approx(value, rel=1e-12, abs=0)


def _value_and_grad(loss_fn, x, y):
    x = x.clone().requires_grad_()
    loss = loss_fn(x, y)
    loss.backward()
    return loss.detach(), x.grad


@pytest.mark.parametrize("num_labels", [2, 13])
def test_identities(num_labels):
    g = torch.Generator().manual_seed(7)
    x = 3 * torch.randn(64, num_labels, generator=g, dtype=torch.float64)
    y = torch.randint(0, num_labels, (64,), generator=g)
    y[:5] = -100

    def same(a, b):
        va, ga = _value_and_grad(build_loss(a[0], num_labels, **a[1]), x, y)
        vb, gb = _value_and_grad(build_loss(b[0], num_labels, **b[1]), x, y)
        torch.testing.assert_close(va, vb, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-14)

    same(("focal", {"gamma": 0.0}), ("ce", {}))
    same(("hard_truncation", {"threshold": 1.0}), ("ce", {}))
    same(("poly1", {"epsilon": 0.0}), ("ce", {}))
    same(("label_smoothing", {"epsilon": 0.0}), ("ce", {}))
    same(("soft_truncation", {"k": 1.0, "form": "one_minus_softmax"}), ("focal", {"gamma": 1.0}))
    same(("sigmoid_soft_truncation", {"k": 1.0}), ("sigmoid_focal", {"gamma": 1.0}))
    if num_labels == 2:
        same(("soft_truncation", {"k": 1.0, "form": "neg_softmax"}), ("focal", {"gamma": 1.0}))
    else:
        neg = build_loss("soft_truncation", num_labels, k=1.0, form="neg_softmax")(x, y)
        assert not torch.allclose(neg, build_loss("focal", num_labels, gamma=1.0)(x, y))


def test_multiclass_caveat_weights_at_equal_logits():
    x = torch.zeros(1, 3, dtype=torch.float64)
    t = torch.tensor([0])
    neg = build_loss("soft_truncation", 3, form="neg_softmax").weight(x, t)
    one_minus = build_loss("soft_truncation", 3, form="one_minus_softmax").weight(x, t)
    focal = build_loss("focal", 3, gamma=1.0).weight(x, t)
    assert float(neg) == pytest.approx(1 / 3, rel=1e-12, abs=0)
    assert float(one_minus) == pytest.approx(2 / 3, rel=1e-12, abs=0)
    assert float(focal) == pytest.approx(2 / 3, rel=1e-12, abs=0)


def test_weights_tend_to_steps_as_k_grows():
    k = 200.0
    # two classes: both forms tend to the hard weight 1[p_t <= 0.5]
    x2 = torch.tensor([[0.3, 0.0], [-0.3, 0.0]], dtype=torch.float64)
    t2 = torch.tensor([0, 0])
    for form in ("neg_softmax", "one_minus_softmax"):
        w = build_loss("soft_truncation", 2, k=k, form=form).weight(x2, t2)
        torch.testing.assert_close(w, torch.tensor([0.0, 1.0], dtype=torch.float64), atol=1e-20, rtol=0)
    # more classes: target 2nd highest (argmax wrong) but not lowest; target argmax; target lowest
    x = torch.tensor([[1.0, 0.5, 0.0], [1.0, 0.5, 0.0], [1.0, 0.5, 0.0]], dtype=torch.float64)
    t = torch.tensor([1, 0, 2])
    one_minus = build_loss("soft_truncation", 3, k=k, form="one_minus_softmax").weight(x, t)
    neg = build_loss("soft_truncation", 3, k=k, form="neg_softmax").weight(x, t)
    torch.testing.assert_close(one_minus, torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64), atol=1e-20, rtol=0)
    torch.testing.assert_close(neg, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), atol=1e-20, rtol=0)


# --------------------------------------------------------------------------------------------------
# numerics
# --------------------------------------------------------------------------------------------------
def _extreme_logits(num_labels: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows at +-1e4: target far above the rest (p_t = 1), far below (p_t = 0), ties, mixed signs."""
    big = 1e4
    rows, targets = [], []
    for t in range(num_labels):
        up = [-big] * num_labels
        up[t] = big
        rows += [up, [-v for v in up], [big] * num_labels, [0.0] * num_labels]
        targets += [t, t, t, t]
    g = torch.Generator().manual_seed(0)
    rows += (big * torch.sign(torch.randn(8, num_labels, generator=g))).tolist()
    targets += torch.randint(0, num_labels, (8,), generator=g).tolist()
    return torch.tensor(rows).to(dtype), torch.tensor(targets)


NUMERIC_SPECS = (
    [("ce", {}), ("ce", {"class_weights": "inverse_frequency"}), ("hard_truncation", {}),
     ("label_smoothing", {}), ("poly1", {})]
    + [("focal", {"gamma": g}) for g in (0, 0.25, 0.5, 1, 2, 5)]
    + [("focal", {"gamma": 0.5, "alpha": 0.25})]
    + [("sigmoid_focal", {"gamma": g, "alpha": 0.25}) for g in (0, 0.25, 0.5, 1, 2, 5)]
    + [("dice", {"alpha": a}) for a in (0, 0.25, 0.5, 1, 2)]
    + [("soft_truncation", {"k": k, "form": v}) for k in (0.1, 1, 2, 10)
       for v in ("neg_softmax", "one_minus_softmax")]
    + [("sigmoid_soft_truncation", {"k": k}) for k in (0.1, 1, 2, 10)]
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("num_labels", [2, 13])
def test_finite_loss_and_gradient_at_logits_1e4(dtype, num_labels):
    x, y = _extreme_logits(num_labels, dtype)
    counts = [100] * num_labels
    for name, params in NUMERIC_SPECS:
        # per token, so one non-finite row cannot hide behind a finite mean
        loss_fn = build_loss(name, num_labels, class_counts=counts, reduction="none", **params)
        xa = x.clone().requires_grad_()
        loss = loss_fn(xa, y)
        assert loss.dtype == torch.float32, (name, params)
        loss.sum().backward()
        assert bool(torch.isfinite(loss).all()), (name, params, dtype, loss)
        assert xa.grad.dtype == dtype and bool(torch.isfinite(xa.grad).all()), (name, params, dtype)


@pytest.mark.parametrize("gamma", [0.25, 0.5, 0.75])
def test_gamma_below_one_at_p_t_one_has_the_right_limit(gamma):
    # p_t = 1 in float32: weight (1 - p_t)^gamma -> 0, loss -> 0, gradient -> 0 (not NaN/inf)
    x = torch.tensor([[1e4, -1e4, -1e4], [30.0, 0.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 0])
    loss = build_loss("focal", 3, gamma=gamma, reduction="none")(x, y)
    loss.sum().backward()
    assert float(loss[0].detach()) == 0.0 and bool((x.grad[0] == 0).all())
    # Close to p_t = 1 float32 keeps full relative accuracy. With x = (30, 0, 0), by hand:
    # d = log p_t - log(1 - p_t) = 30 - log 2, 1 - p_t = sigmoid(-d), -log p_t = log1p(exp(-d)),
    # dl/dd = -gamma s^gamma (1 - s) log1p(exp(-d)) - s^gamma s with s = sigmoid(-d), dd/dx = (1, -1/2, -1/2).
    # (A naive float64 softmax would be off by 5e-4 relative here: 1 - p_t = 1.9e-13.)
    d = 30.0 - math.log(2.0)
    s = 1.0 / (1.0 + math.exp(d))
    nll = math.log1p(math.exp(-d))
    want = s**gamma * nll
    dl_dd = -gamma * s**gamma * (1 - s) * nll - s**gamma * s
    assert float(loss[1].detach()) == pytest.approx(want, rel=1e-5, abs=0)
    torch.testing.assert_close(x.grad[1].double(), torch.tensor([dl_dd, -dl_dd / 2, -dl_dd / 2], dtype=torch.float64),
                               rtol=1e-5, atol=0)


def test_one_minus_softmax_weight_is_accurate_near_p_t_one():
    # x = (25, 0, 0), target 0: w = 1 - p_t = 2 / (e^25 + 2), -log p_t = log1p(2 e^-25), by hand
    x = torch.tensor([[25.0, 0.0, 0.0]])
    got = build_loss("soft_truncation", 3, form="one_minus_softmax", reduction="none")(x, torch.tensor([0]))
    want = 2 / (math.exp(25) + 2) * math.log1p(2 * math.exp(-25))
    assert float(got) == pytest.approx(want, rel=1e-5, abs=0)


def test_precision_follows_the_documented_rule():
    # float16 / bfloat16 / float32 logits are computed and returned in float32, float64 stays float64
    x, y = _batch()
    for dtype, out in [(torch.float16, torch.float32), (torch.bfloat16, torch.float32),
                       (torch.float32, torch.float32), (torch.float64, torch.float64)]:
        loss = build_loss("focal", C)(x.to(dtype), y)
        assert loss.dtype == out
    # half inputs are upcast before any maths: same value as the float32 loss of the rounded logits
    xh = x.to(torch.bfloat16)
    torch.testing.assert_close(build_loss("focal", C)(xh, y), build_loss("focal", C)(xh.float(), y))


# --------------------------------------------------------------------------------------------------
# reductions and ignored positions
# --------------------------------------------------------------------------------------------------
def test_mean_divides_by_the_token_count_not_the_weights():
    x, y = _batch()
    weights = [0.5, 1.0, 2.0, 0.25, 3.0]
    loss_fn = build_loss("ce", C, class_weights=weights)
    total = build_loss("ce", C, class_weights=weights, reduction="sum")(x, y)
    kept = int((y != -100).sum())
    torch.testing.assert_close(loss_fn(x, y), total / kept)
    torch_weighted = torch.nn.functional.cross_entropy(x.reshape(-1, C), y.reshape(-1),
                                                       weight=torch.tensor(weights, dtype=torch.float64))
    assert not torch.allclose(loss_fn(x, y), torch_weighted)  # documented difference from torch


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_all_ignored_gives_a_differentiable_zero(name):
    x = torch.randn(2, 4, C, requires_grad=True)
    y = torch.full((2, 4), -100)
    loss = build_loss(name, C, class_counts=COUNTS)(x, y)
    loss.backward()
    assert float(loss.detach()) == 0.0 and loss.requires_grad
    assert bool((x.grad == 0).all())
    none = build_loss(name, C, class_counts=COUNTS, reduction="none")(x, y)
    assert none.shape == (2, 4) and bool((none == 0).all())


def test_ignored_positions_do_not_matter():
    x, y = _batch()
    x2 = x.clone()
    x2[y == -100] = 1e3  # whatever the model says there
    for name in LOSSES:
        f = build_loss(name, C, class_counts=COUNTS)
        torch.testing.assert_close(f(x, y), f(x2, y))


def test_shape_mismatch_is_an_error():
    f = build_loss("focal", C)
    with pytest.raises(ValueError, match=r"logits \[\.\.\., 5\]"):
        f(torch.randn(2, 3, 4), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must be an integer"):
        f(torch.randn(2, C), torch.zeros(2))


# --------------------------------------------------------------------------------------------------
# class weights
# --------------------------------------------------------------------------------------------------
def test_class_weight_forms_and_normalisation():
    counts = [1000, 10, 100, 0, 1]
    inv = build_loss("ce", C, o_label_id=0, class_counts=counts, class_weights="inverse_frequency").class_weights
    # w_c ∝ 1 / n_c (n = 0 counted as 1), mean over training tokens = 1
    raw = [1 / max(n, 1) for n in counts]
    scale = sum(counts) / sum(n * r for n, r in zip(counts, raw))
    torch.testing.assert_close(inv.double(), torch.tensor([r * scale for r in raw], dtype=torch.float64),
                               rtol=1e-6, atol=0)
    assert sum(n * float(w) for n, w in zip(counts, inv)) / sum(counts) == pytest.approx(1.0, rel=1e-6)
    eff = build_loss("focal", C, class_counts=counts, alpha="effective_number", beta=0.9).alpha
    raw = [(1 - 0.9) / (1 - 0.9 ** max(n, 1)) for n in counts]
    scale = sum(counts) / sum(n * r for n, r in zip(counts, raw))
    torch.testing.assert_close(eff.double(), torch.tensor([r * scale for r in raw], dtype=torch.float64),
                               rtol=1e-6, atol=0)
    scalar = build_loss("focal", C, o_label_id=3, alpha=0.25).alpha
    assert scalar.tolist() == [0.25, 0.25, 0.25, 0.75, 0.25]
    assert build_loss("focal", C).alpha is None and build_loss("ce", C).class_weights is None


def test_resolved_weights_move_with_the_module_and_are_not_saved():
    f = build_loss("ce", C, class_weights=[1.0] * C).to(torch.float64)
    assert "class_weights" in dict(f.named_buffers()) and f.state_dict() == {}


def test_build_loss_does_not_mutate_its_inputs():
    weights = [0.5, 1.0, 2.0, 0.25, 3.0]
    counts = [40, 3, 500, 0, 12]
    spec = {"name": "ce", "class_weights": weights}
    before = copy.deepcopy((weights, counts, spec))
    params = {k: v for k, v in spec.items() if k != "name"}
    a = build_loss(spec["name"], C, class_counts=counts, **params)
    b = build_loss(spec["name"], C, class_counts=counts, **params)
    a(*_batch())
    assert (weights, counts, spec) == before
    assert a.class_weights is not b.class_weights
    counts_t = torch.tensor(counts)
    build_loss("focal", C, class_counts=counts_t, alpha="inverse_frequency")
    assert counts_t.tolist() == counts


# --------------------------------------------------------------------------------------------------
# errors and metadata
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "kwargs", "message"), [
    ("focl", {}, r"unknown loss 'focl' \(did you mean 'focal'\?\); valid losses: ce, hard_truncation"),
    ("focal", {"gama": 2}, r"unknown parameter 'gama'.*did you mean 'gamma'.*valid parameters: gamma"),
    ("ce", {"gamma": 2}, r"unknown parameter 'gamma' for loss 'ce'.*valid parameters: class_weights"),
    ("focal", {"gamma": -0.5}, r"gamma must be a number >= 0, got -0.5"),
    ("sigmoid_focal", {"gamma": -1}, r"gamma must be a number >= 0"),
    ("focal", {"gamma": "two"}, r"gamma must be a number >= 0, got 'two'"),
    ("focal", {"gamma": float("nan")}, r"gamma must be a number"),
    ("focal", {"gamma": True}, r"gamma must be a number"),
    ("soft_truncation", {"k": 0}, r"k must be a number > 0"),
    ("sigmoid_soft_truncation", {"k": -1}, r"k must be a number > 0"),
    ("soft_truncation", {"form": "neg"}, r"form must be one of 'neg_softmax', 'one_minus_softmax'"),
    ("hard_truncation", {"threshold": 0.0}, r"threshold must be a number > 0 and <= 1"),
    ("hard_truncation", {"threshold": 1.5}, r"threshold must be a number > 0 and <= 1"),
    ("focal", {"alpha": [0.25, 0.75]}, r"alpha must be null, a number in \[0, 1\].*a list of 5.*got a list of 2"),
    ("focal", {"alpha": 1.5}, r"alpha must be null, a number in \[0, 1\]"),
    ("focal", {"alpha": "uniform"}, r"'inverse_frequency', 'effective_number'; got 'uniform'"),
    ("ce", {"class_weights": [1, 1, -1, 1, 1]}, r"class_weights\[2\] must be a number >= 0"),
    ("ce", {"class_weights": "inverse_frequency"}, r"needs the training label counts"),
    ("focal", {"alpha": "effective_number", "class_counts": [1, 2]}, r"class_counts must be 5 non-negative"),
    ("focal", {"alpha": "effective_number", "beta": 1.0, "class_counts": COUNTS}, r"beta must be a number >= 0 and < 1"),
    ("focal", {"beta": 0.9}, r"beta is used only with alpha='effective_number'"),
    ("label_smoothing", {"epsilon": 1.5}, r"epsilon must be a number >= 0 and <= 1"),
    ("poly1", {"epsilon": -2}, r"epsilon must be a number >= -1"),
    ("dice", {"smooth": -1}, r"smooth must be a number >= 0"),
    ("sigmoid_focal", {"alpha": [0.25] * C}, r"alpha must be a number >= 0 and <= 1"),
    ("focal", {"reduction": "avg"}, r"reduction must be one of 'mean', 'sum', 'none'"),
    ("ce", {"detach_weight": True}, r"detach_weight applies only to losses with a modulating weight \(dice, focal"),
    ("focal", {"o_label_id": 5}, r"o_label_id must be an integer in \[0, 4\]"),
])
def test_invalid_input_raises_value_error_listing_what_is_valid(name, kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        build_loss(name, num_labels=C, **kwargs)
    assert isinstance(err.value, ConfigError)


def test_yaml_numbers_without_a_dot_are_accepted():
    # YAML 1.1 reads 1e-3 as a string
    assert build_loss("poly1", C, epsilon="1e-3").epsilon == 0.001
    assert build_loss("focal", C, gamma=2).gamma == 2.0


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_has_formula_citation_and_repr_and_ignores_class_counts(name):
    cls = LOSSES[name]
    assert cls.name == name and cls.formula and cls.citation
    f = build_loss(name, C, class_counts=COUNTS)
    assert f.extra_repr().startswith(f"num_labels={C}, o_label_id=0")
    assert "reduction='mean'" in repr(f)
    assert isinstance(f, torch.nn.Module)


def test_repr_lists_parameters():
    assert repr(build_loss("focal", 13, gamma=0.5, alpha="inverse_frequency", class_counts=[1] * 13)) == (
        "Focal(num_labels=13, o_label_id=0, gamma=0.5, alpha='inverse_frequency', reduction='mean', "
        "detach_weight=False)")


def _bibtex_entries(text: str) -> list[tuple[str, str, str]]:
    """(type, key, body) of each ``@type{key, body}`` in ``text``; AssertionError if not only entries."""
    entries = []
    i = 0
    while True:
        m = re.compile(r"@([A-Za-z]+)\s*\{\s*([^\s,{}]+)\s*,").search(text, i)
        if m is None:
            assert text[i:].strip() == "", f"text outside an entry: {text[i:]!r}"
            return entries
        assert text[i:m.start()].strip() == "", f"text outside an entry: {text[i:m.start()]!r}"
        depth, j = 1, m.end()
        while depth:
            assert j < len(text), "unbalanced braces"
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        entries.append((m.group(1).lower(), m.group(2), text[m.end():j - 1]))
        i = j


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_registered_loss_states_name_formula_citation_why_and_bibtex(name):
    cls = LOSSES[name]
    assert cls.name == name
    for attr in ("formula", "citation", "why", "bibtex"):
        value = getattr(cls, attr)
        assert isinstance(value, str) and value.strip(), f"{cls.__name__}.{attr} is empty"
    entries = _bibtex_entries(cls.bibtex)
    assert len(entries) == 1, f"{cls.__name__}.bibtex must hold exactly one entry"
    kind, key, body = entries[0]
    assert kind in ("inproceedings", "article", "misc", "book", "techreport")
    fields = {f.lower() for f in re.findall(r"(?:^|,)\s*([A-Za-z]+)\s*=", body)}
    assert {"title", "author", "year"} <= fields, fields


def test_bibtex_check_rejects_what_is_not_one_entry():
    assert len(_bibtex_entries("@misc{a, title = {x}}")) == 1
    assert len(_bibtex_entries("@misc{a, title = {x}}\n@misc{b, title = {y}}")) == 2
    for bad in ("@misc{a, title = {x}", "Lin et al. 2017 @misc{a, title = {x}}", "Lin et al. 2017"):
        with pytest.raises(AssertionError):
            _bibtex_entries(bad)
    assert _bibtex_entries("") == []


def test_no_loss_module_imports_the_package_that_imports_it():
    # tagger/losses/__init__.py imports every module here; one importing the package back (even inside
    # a function) is a cycle that works only as long as the import happens late enough.
    folder = Path(tagger.losses.__file__).parent
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert not (node.level and not node.module), f"{path.name}: from . import"
                assert node.level or node.module != "tagger.losses", f"{path.name} imports tagger.losses"
            elif isinstance(node, ast.Import):
                assert all(a.name != "tagger.losses" for a in node.names), f"{path.name} imports tagger.losses"


def test_detach_weight_is_refused_by_the_class_itself_too():
    # build_loss lists the losses with a weight; the base class refuses on its own when built directly
    with pytest.raises(ConfigError, match=r"only to losses with a modulating weight; 'poly1' has none"):
        LOSSES["poly1"](num_labels=C, detach_weight=True)
    with pytest.raises(ConfigError, match="detach_weight must be true or false"):
        build_loss("focal", C, detach_weight="yes")
