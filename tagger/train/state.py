"""The training loop's progress: what a checkpoint stores beside Accelerate's own state."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Counters and bests of one run, saved as ``tagger_state.json`` in every checkpoint.

    The field names are the file's keys, so checkpoints written before this class existed
    (a plain dict with the same keys) still resume.
    """

    epoch: int = 0  # epochs finished; the loop starts (or resumes) at this one
    batches_done: int = 0  # batches of the current epoch already trained (resume skips them)
    global_step: int = 0  # optimizer steps, NaN-skipped ones included
    best_f1: float = -1.0  # below any F1, so the first epoch is always kept
    best_epoch: int = 0  # 1-based; 0: no epoch finished yet
    stale_epochs: int = 0  # epochs since the best one, for early stopping
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per finished epoch
    train_seconds: float = 0.0
    nonfinite_skipped: int = 0
    train_tokens: int = 0  # real (non-pad) tokens over all processes
    train_padded_tokens: int = 0  # batch slots over all processes, padding included
    best_validation: dict[str, Any] | None = None  # the best epoch's validation metrics
    label_list: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with one key per field (a deep copy: later updates do not leak into it)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainState:
        """Read a dict written by :meth:`to_json` or by an older tagger; missing keys take their defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            # a checkpoint from a newer tagger: the known counters are enough to resume
            logger.warning("tagger_state.json: ignoring unknown keys %s", ", ".join(unknown))
        return cls(**{k: v for k, v in data.items() if k in names})

    def end_epoch(self, epoch: int, validation: Mapping[str, Any], epoch_seconds: float) -> bool:
        """Record finished epoch ``epoch`` (0-based) with its validation metrics; True if it is the best so far.

        Ties keep the earlier epoch, as a strict ``>`` on F1 always did.
        """
        f1 = float(validation["f1"])
        self.history.append({"epoch": epoch + 1, "step": self.global_step, "validation_f1": f1,
                             "epoch_seconds": epoch_seconds})
        improved = f1 > self.best_f1
        if improved:
            self.best_f1, self.best_epoch, self.stale_epochs = f1, epoch + 1, 0
            self.best_validation = dict(validation)
        else:
            self.stale_epochs += 1
        self.epoch = epoch + 1
        self.batches_done = 0
        return improved

    @property
    def tokens_per_second(self) -> float:
        return self.train_tokens / max(self.train_seconds, 1e-9)

    @property
    def padding_share(self) -> float:
        """Share of training batch slots that were padding."""
        return 1 - self.train_tokens / max(1, self.train_padded_tokens)
