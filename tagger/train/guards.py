"""Guards for long runs: graceful stop on SIGINT/SIGTERM, and a budget of non-finite steps."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from tagger.errors import TaggerError

logger = logging.getLogger(__name__)


class StopRequested:
    """Turns SIGINT/SIGTERM into a flag the loop checks at the next step boundary.

    The first signal asks for a checkpoint and a clean exit; a second one restores the default
    handler and re-raises, so an impatient user can still kill the process at once.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequested:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        self.signum = signum
        logger.warning("received %s: saving a checkpoint at the next step boundary", signal.Signals(signum).name)

    @property
    def requested(self) -> bool:
        return self.signum is not None


class NonFiniteError(TaggerError):
    exit_code = 3


class NonFiniteGuard:
    """Counts optimizer steps skipped because the loss or gradient norm was NaN/inf."""

    def __init__(self, max_consecutive: int, loss_name: str) -> None:
        self.max_consecutive = max_consecutive
        self.loss_name = loss_name
        self.skipped = 0
        self.consecutive = 0

    def update(self, finite: bool, step: int) -> None:
        if finite:
            self.consecutive = 0
            return
        self.skipped += 1
        self.consecutive += 1
        logger.warning("non-finite loss or gradient at optimizer step %d: step skipped (%d in a row)", step, self.consecutive)
        if self.consecutive >= self.max_consecutive:
            raise NonFiniteError(
                f"loss '{self.loss_name}' gave a NaN/inf loss or gradient for {self.consecutive} optimizer steps in a row "
                f"(last at step {step}); try a lower learning rate, training.mixed_precision=bf16 instead of fp16, "
                f"a smaller max_grad_norm, or other loss parameters"
            )
