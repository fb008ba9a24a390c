"""A JSON-lines tracker for Accelerate, used when TensorBoard is not installed."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from accelerate.tracking import GeneralTracker, on_main_process


class JsonlTracker(GeneralTracker):
    """Appends one JSON object per ``log`` call to ``<logging_dir>/<run_name>.jsonl``."""

    name = "jsonl"
    requires_logging_directory = True

    @on_main_process
    def __init__(self, run_name: str, logging_dir: str | os.PathLike[str]) -> None:
        super().__init__()
        self.run_name = run_name
        os.makedirs(logging_dir, exist_ok=True)
        self.path = os.path.join(logging_dir, f"{run_name}.jsonl")
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run

    @property
    def tracker(self) -> Any:
        return self._fh

    @on_main_process
    def store_init_configuration(self, values: dict[str, Any]) -> None:
        self._write({"config": values})

    @on_main_process
    def log(self, values: dict[str, Any], step: int | None = None, **kwargs: Any) -> None:
        self._write({"step": step, "time": time.time(), **values})

    def _write(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, default=str) + "\n")
        self._fh.flush()

    @on_main_process
    def finish(self) -> None:
        self._fh.close()


def choose_trackers(report_to: str, logging_dir: str, run_name: str) -> list[Any]:
    """'auto': TensorBoard when importable, else JSON lines; 'none': no tracker."""
    if report_to == "none":
        return []
    if report_to in ("auto", "tensorboard"):
        try:
            import tensorboard  # noqa: F401

            return ["tensorboard"]
        except ImportError:
            if report_to == "tensorboard":
                raise
    return [JsonlTracker(run_name, logging_dir)]
