"""Experiment trackers for the recipe's ``output.report_to``, all through Accelerate.

``auto``: TensorBoard when installed, else :class:`JsonlTracker` (one JSON object per line under the
run's ``logs/``); ``jsonl``, ``tensorboard``; ``mlflow`` and ``wandb`` (optional packages, not
dependencies of tagger); ``none``. MLflow logs to ``MLFLOW_TRACKING_URI`` when set, else to a local
file store under ``logs/mlruns`` (never to a server by surprise); W&B follows its own environment
(``WANDB_MODE=offline``, ``WANDB_PROJECT``, default project ``tagger``) and writes its files under ``logs/``.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from accelerate.tracking import GeneralTracker, MLflowTracker, WandBTracker, on_main_process

from tagger.errors import ConfigError
from tagger.io import strict_json_dumps

#: the values of ``output.report_to``
REPORT_TO = ("auto", "jsonl", "tensorboard", "mlflow", "wandb", "none")
#: what to install for a tracker that is not a dependency
_INSTALL = {"mlflow": "pip install mlflow-skinny (or mlflow)", "wandb": "pip install wandb"}
WANDB_DEFAULT_PROJECT = "tagger"


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
        self._fh.write(strict_json_dumps(obj, default=str) + "\n")
        self._fh.flush()

    @on_main_process
    def finish(self) -> None:
        self._fh.close()


def default_mlflow_uri(logging_dir: str | os.PathLike[str]) -> str:
    """Where MLflow logs when ``MLFLOW_TRACKING_URI`` is unset: a store inside the run's ``logs/``.

    SQLite (``logs/mlflow.db``) where SQLAlchemy is installed (full ``mlflow``), else a file store
    (``logs/mlruns``, ``file:`` URI), the only local store ``mlflow-skinny`` can write.
    """
    folder = Path(logging_dir).resolve()
    if importlib.util.find_spec("sqlalchemy") is not None:
        return f"sqlite:///{folder / 'mlflow.db'}"
    return (folder / "mlruns").as_uri()


class LocalMLflowTracker(MLflowTracker):
    """Accelerate's MLflow tracker with a tracking URI: ``MLFLOW_TRACKING_URI``, else :func:`default_mlflow_uri`.

    The experiment is ``run_name`` (``MLFLOW_EXPERIMENT_NAME`` wins, as in Accelerate).
    """

    def __init__(self, run_name: str, logging_dir: str | os.PathLike[str]) -> None:
        super().__init__(experiment_name=run_name, run_name=run_name)
        self.tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or default_mlflow_uri(logging_dir)

    @on_main_process
    def start(self) -> None:
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        try:
            super().start()
        except mlflow.exceptions.MlflowException as err:
            # MLflow 3 refuses file stores unless told otherwise: say so in one line
            if "MLFLOW_ALLOW_FILE_STORE" not in str(err):
                raise
            raise ConfigError(f"MLflow refuses the file store {self.tracking_uri}: set MLFLOW_ALLOW_FILE_STORE=true, "
                              f"point MLFLOW_TRACKING_URI at a server or database, or pip install mlflow "
                              f"(a local SQLite store)") from None


def _wandb_tracker(logging_dir: str, run_name: str) -> WandBTracker:
    os.makedirs(logging_dir, exist_ok=True)
    project = os.environ.get("WANDB_PROJECT") or WANDB_DEFAULT_PROJECT
    return WandBTracker(project, name=run_name, dir=logging_dir)


def choose_trackers(report_to: str, logging_dir: str, run_name: str) -> list[Any]:
    """The trackers for ``Accelerator(log_with=...)``; see the module docstring for each value of :data:`REPORT_TO`."""
    if report_to not in REPORT_TO:
        raise ConfigError(f"output.report_to must be one of {', '.join(REPORT_TO)}, got {report_to!r}")
    if report_to == "none":
        return []
    if report_to in _INSTALL:
        if importlib.util.find_spec(report_to) is None:
            raise ConfigError(f"output.report_to={report_to} needs the {report_to} package: {_INSTALL[report_to]}")
        if report_to == "mlflow":
            return [LocalMLflowTracker(run_name, logging_dir)]
        return [_wandb_tracker(logging_dir, run_name)]
    if report_to in ("auto", "tensorboard"):
        try:
            import tensorboard  # noqa: F401

            return ["tensorboard"]
        except ImportError:
            if report_to == "tensorboard":
                raise
    return [JsonlTracker(run_name, logging_dir)]
