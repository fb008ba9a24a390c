"""What a launch shows on the console, and what it keeps in its log file.

The console shows tagger's own INFO lines and everybody's warnings; third-party INFO (Accelerate's five
lines per checkpoint, matplotlib's font cache, transformers' weight-loading report and progress bars)
goes to the log file only. Log lines are written through ``tqdm.write``, so a progress bar on the
console is cleared and redrawn around them instead of being cut in half. Nothing written to a file
carries terminal colour codes.

    with launch_logging("info", out_dir / "logs" / "sweep.log"):
        ...
    logger = get_logger(__name__)      # logger.info(..., main_process_only=False) on every rank
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from tqdm import tqdm

#: the values of ``output.log_level`` (the console's threshold; the log file keeps INFO and up)
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%H:%M:%S"
#: loggers whose INFO lines the console shows; everyone's warnings are shown
OWN_LOGGERS = ("tagger", "__main__")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences (colours, cursor moves)."""
    return _ANSI.sub("", text)


class PlainFormatter(logging.Formatter):
    """The usual format, with terminal escape codes removed from the message (transformers colours its own)."""

    def format(self, record: logging.LogRecord) -> str:
        return strip_ansi(super().format(record))


class OwnInfoFilter(logging.Filter):
    """Passes tagger's INFO and up, and every logger's WARNING and up but transformers' weight-loading table."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("transformers") and "LOAD REPORT" in str(record.msg):
            return False  # tagger.model_loading.log_load_report says it in one line
        if record.levelno >= logging.WARNING:
            return True
        return record.name.startswith(OWN_LOGGERS)


class ConsoleHandler(logging.StreamHandler):
    """Writes through ``tqdm.write``, which clears an active progress bar first and redraws it after."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - logging must never break the launch (logging's own rule)
            self.handleError(record)


def _quiet_transformers() -> contextlib.AbstractContextManager[None]:
    """transformers logs through its own stderr handler with colours and draws weight-loading bars: route its
    records through the root logger (to the file, warnings to the console) and turn the bars off."""
    from transformers.utils import logging as hf_logging

    @contextlib.contextmanager
    def quiet() -> Iterator[None]:
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_default_handler()
        hf_logging.enable_propagation()
        hf_logging.disable_progress_bar()
        try:
            yield
        finally:
            hf_logging.disable_propagation()
            hf_logging.enable_default_handler()
            if bars:
                hf_logging.enable_progress_bar()

    return quiet()


@contextlib.contextmanager
def launch_logging(level: str = "info", log_file: Path | None = None, fmt: str = CONSOLE_FORMAT,
                   quiet_transformers: bool = True) -> Iterator[None]:
    """Console at ``level`` (tagger's INFO, everyone's warnings) in ``fmt``, ``log_file`` with everything at INFO
    and up. The handlers are this block's own, so a process (a test, a notebook) can run several launches.
    ``quiet_transformers``: route transformers' records here too (importing it costs a second, which a
    command that never loads a model should not pay)."""
    root = logging.getLogger()
    console = ConsoleHandler(sys.stderr)
    console.setLevel(LOG_LEVELS[level])
    console.addFilter(OwnInfoFilter())
    console.setFormatter(PlainFormatter(fmt, DATE_FORMAT))
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setLevel(logging.INFO)
        to_file.setFormatter(PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
        handlers.append(to_file)
    old_level = root.level
    # at least INFO for the log file; lower if the console or the caller (a test's log capture) asks for it
    root.setLevel(min(old_level, logging.INFO, LOG_LEVELS[level]))
    for handler in handlers:
        root.addHandler(handler)
    try:
        with _quiet_transformers() if quiet_transformers else contextlib.nullcontext():
            yield
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(old_level)


_SAID: set[tuple[str, str]] = set()  # (logger, message) pairs info_once has shown in this process


def info_once(logger: logging.Logger, message: str) -> None:
    """``message`` at INFO the first time this process says it, at DEBUG after: a sweep loads the same encoder
    and swaps the same dropout for every run, and the console should say so once per launch."""
    key = (logger.name, message)
    logger.log(logging.DEBUG if key in _SAID else logging.INFO, message)
    _SAID.add(key)


class ProcessLogger(logging.LoggerAdapter):
    """A logger that speaks on the main process only unless told ``main_process_only=False``, and names the
    rank only when there are several (Accelerate's adapter prefixes ``[RANK 0]`` even when alone)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        from accelerate.state import PartialState

        if PartialState._shared_state and PartialState().num_processes > 1:
            msg = f"[rank {PartialState().process_index}] {msg}"
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, main_process_only: bool = True, **kwargs: Any) -> None:
        from accelerate.state import PartialState

        if main_process_only and PartialState._shared_state and not PartialState().is_main_process:
            return
        super().log(level, msg, *args, **kwargs)


def get_logger(name: str, extra: Mapping[str, Any] | None = None) -> ProcessLogger:
    """The logger of the recipe and the training parts: see :class:`ProcessLogger`."""
    return ProcessLogger(logging.getLogger(name), extra or {})
