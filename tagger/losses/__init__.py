"""The loss registry: every imbalance loss, chosen by name.

>>> loss_fn = build_loss("focal", num_labels=13, o_label_id=0, gamma=2.0)
>>> loss = loss_fn(logits, labels)  # logits [..., 13], labels [...] int64 (-100 ignored) -> scalar

Adding a loss, in three steps; the recipe, the config and the model card need no change:

1. a :class:`~tagger.losses.base.TokenLoss` subclass in its own module with the class attributes
   ``name`` (its key in :data:`LOSSES`), ``formula`` (the per-token loss in one line), ``citation``
   (the source in one line), ``why`` (why one would pick it for NER, shown on the model card) and
   ``bibtex`` (one BibTeX entry for the citation), ``has_weight = True`` if it has a modulating
   weight ``detach_weight`` can hold constant, and ``per_token(x [N, C], target [N]) -> [N]``;
   parameters are keyword arguments of ``__init__`` after the common ones, checked with
   :mod:`tagger.losses.checks`; :mod:`tagger.losses.kernels` has the stable target margin
   (``log p_t`` and ``log(1 - p_t)`` without cancellation), :mod:`tagger.losses.weights` the
   per-class weights;
2. one line ``"name": Class`` in :data:`LOSSES`;
3. a test: its formula in ``ref_token`` and a case in ``SPECS`` (``tests/test_losses.py``), which
   also checks that its ``name``, ``formula``, ``citation``, ``why`` and ``bibtex`` are filled in.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from tagger.errors import ConfigError
from tagger.losses.base import IGNORE_INDEX, TokenLoss
from tagger.losses.ce import CrossEntropy
from tagger.losses.checks import check_bool, suggest
from tagger.losses.dice import Dice
from tagger.losses.focal import Focal, SigmoidFocal
from tagger.losses.labels import current_params, loss_label
from tagger.losses.poly import Poly1
from tagger.losses.smoothing import LabelSmoothing
from tagger.losses.truncation import HardTruncation, SigmoidSoftTruncation, SoftTruncation

LOSSES: dict[str, type[TokenLoss]] = {
    "ce": CrossEntropy,
    "hard_truncation": HardTruncation,
    "soft_truncation": SoftTruncation,
    "focal": Focal,
    "label_smoothing": LabelSmoothing,
    "poly1": Poly1,
    "dice": Dice,
    "sigmoid_focal": SigmoidFocal,
    "sigmoid_soft_truncation": SigmoidSoftTruncation,
}

COMMON_PARAMS = ("num_labels", "o_label_id", "class_counts", "reduction", "detach_weight")


def loss_params(name: str) -> dict[str, Any]:
    """A loss's own parameters and their defaults, e.g. ``{"gamma": 2.0, "alpha": None, "beta": None}``."""
    signature = inspect.signature(LOSSES[name].__init__)
    return {p.name: p.default for p in signature.parameters.values()
            if p.name != "self" and p.name not in COMMON_PARAMS}


def build_loss(
    name: str,
    num_labels: int,
    o_label_id: int = 0,
    class_counts: Any = None,
    reduction: str = "mean",
    detach_weight: bool = False,
    **params: Any,
) -> nn.Module:
    """The loss ``name`` as a module; ``ValueError`` (``ConfigError``) listing what is valid otherwise.

    ``class_counts``: C training-token counts per label id, used only by ``"inverse_frequency"`` /
    ``"effective_number"`` weights and ignored by the rest. Nothing passed in is modified.
    """
    if not isinstance(name, str) or name not in LOSSES:
        hint = suggest(name, LOSSES) if isinstance(name, str) else ""
        raise ConfigError(f"unknown loss {name!r}{hint}; valid losses: {', '.join(LOSSES)}")
    params = current_params(name, params)
    valid = loss_params(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        hint = suggest(unknown[0], valid)
        shown = ", ".join(f"{k} (default {v!r})" for k, v in valid.items()) or "none"
        raise ConfigError(f"unknown parameter {', '.join(map(repr, unknown))} for loss {name!r}{hint}; "
                          f"valid parameters: {shown}")
    if check_bool("detach_weight", detach_weight) and not LOSSES[name].has_weight:
        # Checked here rather than in TokenLoss, which would have to import this package to list them.
        with_weight = ", ".join(sorted(n for n, c in LOSSES.items() if c.has_weight))
        raise ConfigError(f"detach_weight applies only to losses with a modulating weight ({with_weight}); "
                          f"{name!r} has none")
    return LOSSES[name](num_labels=num_labels, o_label_id=o_label_id, class_counts=class_counts,
                        reduction=reduction, detach_weight=detach_weight, **params)


__all__ = ["LOSSES", "IGNORE_INDEX", "TokenLoss", "build_loss", "loss_label", "loss_params"]
