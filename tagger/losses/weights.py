"""Per-class weights for ``ce`` (``class_weights``) and ``focal`` (``alpha``), resolved once at build time.

:func:`register_class_weights` is all a loss needs: it resolves the spec, keeps the result as a buffer
and returns the parameters for ``repr``; :func:`apply_class_weights` scales the per-token loss.

Forms: ``None`` (no weights); a number ``a`` (``a`` for every entity label, ``1 - a`` for O); a list
of C numbers; ``"inverse_frequency"`` or ``"effective_number"`` (Cui et al. 2019, ``beta``) from the
training counts, normalised so that the mean weight over training tokens is 1.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from tagger.errors import ConfigError
from tagger.losses.checks import check_number

logger = logging.getLogger(__name__)

SCHEMES = ("inverse_frequency", "effective_number")
DEFAULT_BETA = 0.999


def counts_tensor(class_counts: Any, num_labels: int) -> torch.Tensor:
    """class_counts: C non-negative training-token counts (sequence or tensor) -> float64 [C]."""
    try:
        counts = torch.as_tensor(class_counts, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(f"class_counts must be {num_labels} non-negative numbers, got {class_counts!r}") from None
    if counts.numel() != num_labels or not bool(torch.isfinite(counts).all()) or bool((counts < 0).any()):
        raise ConfigError(f"class_counts must be {num_labels} non-negative numbers (one per label id), "
                          f"got {class_counts!r}")
    if float(counts.sum()) <= 0:
        raise ConfigError("class_counts are all 0: there are no training tokens to weight classes by")
    return counts


def frequency_weights(scheme: str, counts: torch.Tensor, beta: float = DEFAULT_BETA) -> torch.Tensor:
    """counts [C] float64 -> weights [C] float64 with ``sum(counts * w) == sum(counts)``.

    ``inverse_frequency``: ``w_c ∝ 1 / n_c``. ``effective_number``: ``w_c ∝ (1 - beta) / (1 - beta^n_c)``.
    A label absent from training (n_c = 0) is weighted as if seen once: it adds nothing to the
    training loss but keeps a finite, large weight where it appears elsewhere.
    """
    missing = (counts == 0).nonzero().flatten().tolist()
    if missing:
        logger.warning("label ids %s have no training tokens; weighted as if seen once", missing)
    n = counts.clamp_min(1.0)
    if scheme == "inverse_frequency":
        raw = 1.0 / n
    else:
        # 1 - beta^n as -expm1(n log beta): exact for n in the millions, where beta^n is tiny.
        effective = -torch.expm1(n * math.log(beta)) / (1.0 - beta) if beta > 0 else torch.ones_like(n)
        raw = 1.0 / effective
    return raw * counts.sum() / (counts * raw).sum()


def resolve_class_weights(
    param: str,
    spec: Any,
    *,
    num_labels: int,
    o_label_id: int,
    class_counts: Any,
    beta: Any = None,
) -> torch.Tensor | None:
    """The C weights a spec stands for, float32 [C], or None for no weights. Never mutates ``spec``.

    ``param`` names the parameter in error messages (``"class_weights"``, ``"alpha"``).
    """
    if beta is not None and not (isinstance(spec, str) and spec == "effective_number"):
        raise ConfigError(f"beta is used only with {param}='effective_number', got {param}={spec!r}")
    forms = (f"{param} must be null, a number in [0, 1] (entity labels a, O 1 - a), a list of {num_labels} "
             f"non-negative numbers, or one of {', '.join(map(repr, SCHEMES))}")
    if spec is None:
        return None
    if isinstance(spec, str) and spec in SCHEMES:
        if class_counts is None:
            raise ConfigError(f"{param}={spec!r} needs the training label counts (class_counts=), none were given")
        b = DEFAULT_BETA if beta is None else check_number("beta", beta, low=0.0, high=1.0, high_open=True)
        weights = frequency_weights(spec, counts_tensor(class_counts, num_labels), b)
        return weights.to(torch.float32)
    if isinstance(spec, (int, float, str)) and not isinstance(spec, bool):
        try:
            a = check_number(param, spec, low=0.0, high=1.0)
        except ConfigError:
            raise ConfigError(f"{forms}; got {spec!r}") from None
        weights = torch.full((num_labels,), a, dtype=torch.float32)
        weights[o_label_id] = 1.0 - a
        return weights
    if isinstance(spec, (Sequence, torch.Tensor)) and not isinstance(spec, (str, bytes)):
        values = spec.tolist() if isinstance(spec, torch.Tensor) else list(spec)
        if len(values) != num_labels:
            raise ConfigError(f"{forms}; got a list of {len(values)}")
        checked = [check_number(f"{param}[{i}]", v, low=0.0) for i, v in enumerate(values)]
        return torch.tensor(checked, dtype=torch.float32)
    raise ConfigError(f"{forms}; got {spec!r}")


def register_class_weights(
    module: nn.Module,
    param: str,
    spec: Any,
    *,
    num_labels: int,
    o_label_id: int,
    class_counts: Any,
    beta: Any = None,
) -> dict[str, Any]:
    """Resolve ``spec`` and keep it on ``module`` as the buffer ``param`` (float32 [C], or None).

    The buffer is not persistent: it follows ``.to()`` but stays out of the state dict, since it is
    rebuilt from the config. Returns the parameters as the user gave them, for ``TokenLoss.params``:
    ``{param: spec}`` (a list or tensor shown as ``"list"``), plus ``beta`` when given.
    """
    weights = resolve_class_weights(param, spec, num_labels=num_labels, o_label_id=o_label_id,
                                    class_counts=class_counts, beta=beta)
    module.register_buffer(param, weights, persistent=False)
    shown: dict[str, Any] = {param: spec if isinstance(spec, (str, int, float, type(None))) else "list"}
    if beta is not None:
        shown["beta"] = beta
    return shown


def apply_class_weights(
    weights: torch.Tensor | None, target: torch.Tensor, loss: torch.Tensor
) -> torch.Tensor:
    """``w_t * loss``: weights [C] (None: unweighted), target [N], loss [N] (float32/64) -> [N]."""
    if weights is None:
        return loss
    return weights.to(loss.dtype)[target] * loss
