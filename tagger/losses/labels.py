"""How a run's loss, its parameters and its training levers are named in tables, folders, cards and benchmarks.

A run spec is ``{"name": <loss>, <loss params>, <levers>}``. Levers are run settings that are not
loss parameters (how the training data is augmented and sampled, which head decodes the scores): they ride in the
spec so that every run of a sweep is one (spec, seed) pair, and they are split off before the loss is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tagger.crf import HEADS
from tagger.train.augment import AUGMENTATION
from tagger.train.sampling import SAMPLING

#: Spec keys that are training levers, not loss parameters, in the order labels show them (the data levers
#: in the order a run applies them: augmentation, then sampling of the augmented split).
RUN_LEVERS: tuple[str, ...] = ("augment", "sampling", "head")
#: Each lever's values; the first means the lever is off (no augmentation, no sampling, the linear head).
LEVER_CHOICES: dict[str, tuple[str, ...]] = {"augment": AUGMENTATION, "sampling": SAMPLING, "head": HEADS}


def split_spec(spec: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(loss params, levers)`` of a run spec, the loss name left out of both; levers that are off dropped."""
    params = {k: v for k, v in spec.items() if k != "name" and k not in RUN_LEVERS}
    levers = {k: spec[k] for k in RUN_LEVERS if k in spec and spec[k] not in (None, LEVER_CHOICES[k][0])}
    return params, levers


def loss_label(spec: Mapping[str, Any]) -> str:
    """A readable, unique name for a run spec: ``focal(alpha=0.25, gamma=2.0)``, ``ce + drop_empty``, ``ce + crf``,
    ``ce + mention_replacement + oversample_rare``.

    Parameters are sorted, so the same setting always gets the same label; levers follow after ``+``.
    """
    params, levers = split_spec(spec)
    label = str(spec["name"])
    if params:
        label += "(" + ", ".join(f"{k}={params[k]}" for k in sorted(params)) + ")"
    return label + "".join(f" + {levers[k]}" for k in RUN_LEVERS if k in levers)
