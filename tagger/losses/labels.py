"""How a run's loss, its parameters and its training levers are named in tables, folders, cards and benchmarks.

A run spec is ``{"name": <loss>, <loss params>, <levers>}``. Levers are run settings that are not
loss parameters (how the training data is augmented and sampled, how much document context a window gets, which
head decodes the scores): they ride in the
spec so that every run of a sweep is one (spec, seed) pair, and they are split off before the loss is built.

A loss parameter renamed since runs were saved (:data:`RENAMED_PARAMS`) is read under its name now wherever
a spec, a label or a run's results come in (:func:`current_spec`, :func:`current_label`, :func:`current_result`),
and :func:`earlier_spec` gives the spelling that names the run folders and search studies saved before.
"""

from __future__ import annotations

import logging
import re
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

#: Loss parameters with an earlier name: loss -> {earlier key: key now}. A config, and the all_results.json,
#: summary.json and tagger_run.json of runs saved under the earlier name, are read with the key now.
RENAMED_PARAMS: dict[str, dict[str, str]] = {"soft_truncation": {"variant": "form"}}

logger = logging.getLogger(__name__)
_WARNED: set[tuple[str, str]] = set()  # (loss, earlier key) pairs this process has warned about


def _warn_renamed(name: str, old: str, new: str, where: str) -> None:
    """One deprecation warning per process and renamed key, however many specs and files spell it the old way."""
    if (name, old) in _WARNED:
        return
    _WARNED.add((name, old))
    logger.warning("%s%s's parameter %r is now called %r; %r is still read as %r, but write %r (deprecated)",
                   f"{where}: " if where else "", name, old, new, old, new, new)


def current_params(name: str, params: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``params`` of the loss ``name`` with every earlier key (:data:`RENAMED_PARAMS`) under its name now, in
    the same order; a key given under both names keeps the value of the name now."""
    renamed = RENAMED_PARAMS.get(str(name), {})
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in renamed:
            _warn_renamed(str(name), key, renamed[key], where)
            out.setdefault(renamed[key], params.get(renamed[key], value))
        else:
            out[key] = value
    return out


def current_spec(spec: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """A run spec or ``sweep.losses`` entry with its loss parameters (and the keys of its ``search``
    mapping) under their names now."""
    out = current_params(spec.get("name", ""), spec, where)
    if isinstance(out.get("search"), Mapping):
        out["search"] = current_params(spec.get("name", ""), out["search"], f"{where}.search" if where else "search")
    return out


def earlier_spec(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """``spec`` spelled with the earlier parameter names (what its run folder and search study were named by
    before the rename), or None when none of its keys had another name."""
    earlier = {new: old for old, new in RENAMED_PARAMS.get(str(spec.get("name", "")), {}).items()}
    if not earlier.keys() & spec.keys():
        return None
    return {earlier.get(k, k): v for k, v in spec.items()}


def current_label(label: str) -> str:
    """A run or row label written under earlier parameter names, as :func:`loss_label` names it now:
    ``soft_truncation(k=1.0, variant=neg_softmax) · argmax`` -> ``soft_truncation(form=neg_softmax, k=1.0) · argmax``.

    Only the losses of :data:`RENAMED_PARAMS` are rewritten; their parameters are single values (no commas)."""
    for name, renamed in RENAMED_PARAMS.items():
        match = re.match(rf"{re.escape(name)}\(([^()]*)\)", label)
        if not match:
            continue
        pairs = dict(item.split("=", 1) for item in match.group(1).split(", ") if "=" in item)
        if renamed.keys() & pairs.keys():
            pairs = {renamed.get(k, k): v for k, v in pairs.items()}
            inner = ", ".join(f"{k}={pairs[k]}" for k in sorted(pairs))
            return f"{name}({inner})" + label[match.end():]
    return label


def current_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """A run's all_results.json (or a summary row) with its loss parameters and labels under their names now;
    the run folder (``run``) stays the folder's name on disk."""
    out = dict(result)
    name = out.get("name", out.get("loss", ""))
    if isinstance(out.get("params"), Mapping):
        out["params"] = current_params(str(name), out["params"], str(out.get("run", "")))
    for key in ("label", "loss"):
        if isinstance(out.get(key), str):
            out[key] = current_label(out[key])
    return out


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
