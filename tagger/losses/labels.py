"""How a loss and its parameters are named in tables, folders, cards and benchmarks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def loss_label(spec: Mapping[str, Any]) -> str:
    """A readable, unique name for a loss spec and its parameters: ``focal(alpha=0.25, gamma=2.0)``.

    ``spec`` is ``{"name": ..., <params>}`` as in the config; parameters are sorted, so the same
    setting always gets the same label.
    """
    params = {k: v for k, v in spec.items() if k != "name"}
    if not params:
        return str(spec["name"])
    return f"{spec['name']}(" + ", ".join(f"{k}={params[k]}" for k in sorted(params)) + ")"
