"""What a run records about itself: the hyperparameters its card shows, the hardware, the memory peak."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import torch

# The card's table is the one home of which hyperparameters a card shows, and in which order.
from tagger.card_view import HYPERPARAMETER_NAMES as CARD_HYPERPARAMETERS


def card_hyperparameters(sections: Iterable[Mapping[str, Any]], **decided: Any) -> dict[str, Any]:
    """The hyperparameters of a model card (``tagger_run.json``), in the card's order.

    ``sections`` are config sections as plain dicts (``dataclasses.asdict(cfg.training)``, ...);
    ``decided`` holds what the run settled itself and wins over a section's value: the precision
    ``auto`` resolved to, the process count, the seed of this run of the sweep. A key found in no
    section and not decided is left out. Two sections giving one key different values is a
    programming error (the card could not say which was used).

    >>> card_hyperparameters([{"learning_rate": 1e-4, "seed": 1, "patience": None}, {"max_length": 128}], seed=7)
    {'learning_rate': 0.0001, 'max_length': 128, 'seed': 7}
    """
    values: dict[str, Any] = {}
    for section in sections:
        for key, value in section.items():
            if key in CARD_HYPERPARAMETERS and key in values and values[key] != value:
                raise ValueError(f"hyperparameter {key!r} has two values: {values[key]!r} and {value!r}")
            values.setdefault(key, value)
    values.update(decided)
    return {key: values[key] for key in CARD_HYPERPARAMETERS if key in values}


def hardware() -> str:
    """One line for the card: the GPUs, or the CPU cores and torch threads, and the torch version."""
    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}, torch {torch.__version__}"
    threads = torch.get_num_threads()
    return (f"CPU: {os.cpu_count()} cores ({platform.machine()}), {threads} torch thread{'s' * (threads != 1)}, "
            f"torch {torch.__version__.split('+')[0]}")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    import resource  # POSIX only, hence not at module level

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux
