"""How a run's loss, its parameters and its training levers are named in tables, folders, cards and benchmarks.

A run spec is ``{"name": <loss>, <loss params>, <levers>}``. Levers are run settings that are not
loss parameters (how the training data is augmented and sampled, how much document context a window gets, which
head decodes the scores): they ride in the
spec so that every run of a sweep is one (spec, seed) pair, and they are split off before the loss is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tagger.crf import HEADS
from tagger.train.augment import AUGMENTATION
from tagger.train.context import context_method
from tagger.train.sampling import SAMPLING

#: Spec keys that are training levers, not loss parameters, in the order labels show them (the data levers
#: in the order a run applies them: augmentation, then sampling of the augmented split; then the context
#: its windows get).
RUN_LEVERS: tuple[str, ...] = ("augment", "sampling", "context", "head")
#: The values of the levers chosen by name; the first means the lever is off (no augmentation, no sampling,
#: the linear head).
LEVER_CHOICES: dict[str, tuple[str, ...]] = {"augment": AUGMENTATION, "sampling": SAMPLING, "head": HEADS}
#: Each lever's value when it is off; ``context`` is a number of subwords (0: none).
LEVER_OFF: dict[str, Any] = {**{k: v[0] for k, v in LEVER_CHOICES.items()}, "context": 0}


def lever_error(lever: str, value: Any) -> str | None:
    """Why ``value`` is no value of ``lever``, or None when it is one."""
    if lever == "context":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"{value!r} is not a number of subwords (an integer >= 0)"
        return None
    return None if value in LEVER_CHOICES[lever] else f"{value!r} is not one of {', '.join(LEVER_CHOICES[lever])}"


def lever_name(lever: str, value: Any) -> str:
    """How a lever that is on is named in labels and folders: its value (``oversample_rare``, ``crf``), or
    ``context=64``."""
    return context_method(value) if lever == "context" else str(value)


def split_spec(spec: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(loss params, levers)`` of a run spec, the loss name left out of both; levers that are off dropped."""
    params = {k: v for k, v in spec.items() if k != "name" and k not in RUN_LEVERS}
    levers = {k: spec[k] for k in RUN_LEVERS if k in spec and spec[k] is not None and spec[k] != LEVER_OFF[k]}
    return params, levers


def loss_label(spec: Mapping[str, Any]) -> str:
    """A readable, unique name for a run spec: ``focal(alpha=0.25, gamma=2.0)``, ``ce + drop_empty``, ``ce + crf``,
    ``ce + mention_replacement + oversample_rare``, ``ce + context=64``.

    Parameters are sorted, so the same setting always gets the same label; levers follow after ``+``.
    """
    params, levers = split_spec(spec)
    label = str(spec["name"])
    if params:
        label += "(" + ", ".join(f"{k}={params[k]}" for k in sorted(params)) + ")"
    return label + "".join(f" + {lever_name(k, levers[k])}" for k in RUN_LEVERS if k in levers)
