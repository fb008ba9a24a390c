"""A run folder's best weights and resumable checkpoints.

Layout under a run folder::

    best_model.safetensors            the best epoch's weights so far (removed once the run is done)
    checkpoints/step_0000042/         Accelerate's ``save_state`` + tagger_state.json + a link to the best weights

Only the newest checkpoint is kept. Every file appears under its final name complete or not at all.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagger.errors import ConfigError, InputError
from tagger.io import atomic_path, atomic_write_json
from tagger.train.state import TrainState

if TYPE_CHECKING:  # accelerate costs seconds to import; callers pass an Accelerator they already have
    import torch
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

BEST_WEIGHTS = "best_model.safetensors"
STATE_FILE = "tagger_state.json"
CHECKPOINTS = "checkpoints"

logger = logging.getLogger(__name__)


def save_best(accelerator: Accelerator, model: torch.nn.Module, run_dir: Path) -> None:
    """The best epoch's weights go to disk, not to memory: a second copy of the model would raise peak RSS.

    Written atomically: a full disk is the one-line OutputError naming the file, and leaves the previous best.
    """
    from safetensors.torch import save_model

    if accelerator.is_main_process:
        with atomic_path(run_dir / BEST_WEIGHTS) as tmp:
            save_model(accelerator.unwrap_model(model), str(tmp))
    accelerator.wait_for_everyone()


def load_best(model: torch.nn.Module, run_dir: Path) -> bool:
    """Load the best weights into ``model`` (unwrapped) if a best epoch was saved; True if it was."""
    from safetensors.torch import load_model

    path = run_dir / BEST_WEIGHTS
    if not path.is_file():
        return False
    load_model(model, str(path))  # read on CPU; load_state_dict copies to the device
    return True


def save_checkpoint(accelerator: Accelerator, run_dir: Path, state: TrainState) -> Path:
    """``save_state`` plus our loop counters and the best weights so far; written under a temporary name."""
    ckpt_root = run_dir / CHECKPOINTS
    name = f"step_{state.global_step:07d}"
    tmp = ckpt_root / f".{name}.tmp"
    final = ckpt_root / name
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    if accelerator.is_main_process:
        atomic_write_json(tmp / STATE_FILE, state.to_json())
        if (run_dir / BEST_WEIGHTS).is_file():
            os.link(run_dir / BEST_WEIGHTS, tmp / BEST_WEIGHTS)  # a hard link: the best file is replaced, never rewritten
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in ckpt_root.glob("step_*"):  # keep the newest only: a checkpoint is several model sizes
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
        # one line for what Accelerate reports in five (they stay in the launch's log file)
        logger.info("checkpoint saved: %s (optimizer step %d)", final, state.global_step)
    accelerator.wait_for_everyone()
    return final


def find_checkpoint(run_dir: Path, resume: str | None) -> Path | None:
    """The checkpoint ``training.resume_from_checkpoint`` names: None, 'latest' (None if the run has none) or a folder."""
    if resume is None:
        return None
    if resume == "latest":
        found = sorted((run_dir / CHECKPOINTS).glob("step_*"))
        return found[-1] if found else None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise ConfigError(f"training.resume_from_checkpoint: {path} is not a tagger checkpoint (no {STATE_FILE})")
    return path


def load_checkpoint(accelerator: Accelerator, ckpt: Path, run_dir: Path, label_list: list[str]) -> TrainState:
    """Restore what :func:`save_checkpoint` wrote: Accelerate's state, the loop counters and the best weights.

    Call it after ``accelerator.prepare``, which registers what ``load_state`` restores. The labels
    are checked first, so a checkpoint of other data fails before any weights are touched.
    """
    saved = json.loads((ckpt / STATE_FILE).read_text(encoding="utf-8"))
    if saved.get("label_list", label_list) != label_list:
        raise InputError(f"the checkpoint was trained with labels {saved['label_list']}, the data have "
                         f"{label_list}; resume with the same data or start a new run", path=ckpt)
    accelerator.load_state(str(ckpt))
    if (ckpt / BEST_WEIGHTS).is_file():
        if accelerator.is_main_process:
            # a copy, not a link: a checkpoint named by path may lie on another file system
            shutil.copyfile(ckpt / BEST_WEIGHTS, run_dir / ".best.tmp")
            os.replace(run_dir / ".best.tmp", run_dir / BEST_WEIGHTS)
        accelerator.wait_for_everyone()
    return TrainState.from_json({"label_list": label_list, **saved})


def skip_done_batches(accelerator: Accelerator, loader: DataLoader, done: int) -> Iterator[Any]:
    """The batches of the epoch under way after the first ``done``, for a run resumed mid-epoch.

    Starting a DataLoader iterator draws a worker seed from torch's global CPU generator. An
    uninterrupted epoch draws it before its first batch, so the random state saved in a mid-epoch
    checkpoint already comes after it; the resumed epoch starts its iterator after that state is
    restored, and its draw would shift every later dropout mask on CPU (the resumed run then
    drifts from the uninterrupted one). The draw is undone here, which keeps the stream of an
    uninterrupted run as it always was.
    """
    import torch

    rng = torch.get_rng_state()
    batches = iter(accelerator.skip_first_batches(loader, done))
    first = next(batches, None)  # a prepared loader starts its inner iterator, and draws, at the first batch
    torch.set_rng_state(rng)
    if first is None:
        return
    yield first
    yield from batches


def remove_checkpoints(run_dir: Path) -> None:
    """Once a run's artifacts are written its checkpoints and best-weights file are only clutter."""
    shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
    (run_dir / BEST_WEIGHTS).unlink(missing_ok=True)
