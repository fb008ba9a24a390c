"""The files of one run of a sweep: its folder's name and its test predictions (``token gold pred``).

A run (one loss spec, one seed) trains in ``runs/<run_folder_name>/``; its test tags under each decoding
are written to :func:`predictions_name`, which ``tagger score``, ``tagger error-analysis``, the bootstrap and
the report read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tagger.data.conll import write_conll
from tagger.io import atomic_open
from tagger.losses.labels import earlier_spec, loss_label

#: The test tags of a run's configured decoding (``training.decoding``): what ``tagger score`` reads.
PREDICTIONS = "test_predictions.conll"


def predictions_name(decoding: str | None) -> str:
    """A run's test predictions file for ``decoding`` (None: :data:`PREDICTIONS`)."""
    return PREDICTIONS if decoding is None else f"test_predictions.{decoding}.conll"


def write_predictions(path: Path, tokens: Sequence[Sequence[str]], gold: Sequence[Sequence[str]],
                      pred: Sequence[Sequence[str]]) -> None:
    """A run's ``token gold pred`` file (what ``tagger score`` and ``tagger report`` read), written atomically."""
    with atomic_open(path) as fh:
        write_conll(fh, zip(tokens, gold, pred))


def run_folder_name(spec: dict[str, Any], seed: int) -> str:
    """A safe folder name: only letters, digits and ``._=-``; never a path (``../x`` cannot escape)."""
    label = loss_label(spec).replace("(", "-").replace(")", "").replace(", ", "-")
    label = re.sub(r"[^A-Za-z0-9._=-]+", "_", label).strip("._-") or "loss"
    return f"{label}-seed{seed}"


def run_folder_names(spec: dict[str, Any], seed: int) -> list[str]:
    """The folder names a run of ``spec`` may have: :func:`run_folder_name`, then its name under earlier loss
    parameter names (``variant=`` before ``form=``), which output folders written before the rename hold."""
    earlier = earlier_spec(spec)
    names = [run_folder_name(spec, seed)]
    return names + [run_folder_name(earlier, seed)] if earlier is not None else names


def find_run_dir(runs_dir: Path, spec: dict[str, Any], seed: int) -> Path:
    """Where the run of ``spec`` and ``seed`` lives under ``runs_dir``: its folder, or the folder an output folder
    written before a parameter rename holds (so that a launch resumes or skips it rather than training it again)."""
    names = run_folder_names(spec, seed)
    return next((runs_dir / n for n in names if (runs_dir / n).is_dir()), runs_dir / names[0])


def read_predictions(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    gold: list[list[str]] = []
    pred: list[list[str]] = []
    g: list[str] = []
    p: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if not parts:
                if g:
                    gold.append(g)
                    pred.append(p)
                    g, p = [], []
                continue
            g.append(parts[-2])
            p.append(parts[-1])
    if g:
        gold.append(g)
        pred.append(p)
    return gold, pred
