"""output.report_to: each tracker through a real Accelerator, read back from what it wrote (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tagger.errors import ConfigError
from tagger.train.tracking import REPORT_TO, JsonlTracker, LocalMLflowTracker, choose_trackers, default_mlflow_uri

CONFIG = {"learning_rate": 0.001, "loss": "focal"}
LOGS = [({"train/loss": 1.5, "validation/f1": 0.25}, 1), ({"train/loss": 1.0, "validation/f1": 0.5}, 2)]


def _run(trackers: list, project_dir: Path) -> None:
    """What the recipe does with its trackers: init with the config, log per step, end."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    accelerator = Accelerator(cpu=True, log_with=trackers, project_config=ProjectConfiguration(
        project_dir=str(project_dir), logging_dir=str(project_dir / "logs")))
    accelerator.init_trackers("sweep", config=CONFIG)
    for values, step in LOGS:
        accelerator.log(values, step=step)
    accelerator.end_training()


def test_choices_and_errors(tmp_path, monkeypatch):
    assert REPORT_TO == ("auto", "jsonl", "tensorboard", "mlflow", "wandb", "none")
    assert choose_trackers("none", str(tmp_path), "sweep") == []
    with pytest.raises(ConfigError, match="must be one of"):
        choose_trackers("mlfow", str(tmp_path), "sweep")
    # a tracker package that is missing is named with its install command
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ConfigError, match="pip install wandb"):
        choose_trackers("wandb", str(tmp_path), "sweep")


def test_jsonl(tmp_path):
    (tracker,) = choose_trackers("jsonl", str(tmp_path / "logs"), "sweep")
    assert isinstance(tracker, JsonlTracker)
    _run([tracker], tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "logs" / "sweep.jsonl").read_text().splitlines()]
    assert rows[0] == {"config": CONFIG}
    assert [(r["step"], r["train/loss"], r["validation/f1"]) for r in rows[1:]] == [(1, 1.5, 0.25), (2, 1.0, 0.5)]


def _read_mlflow(mlflow, uri: str) -> None:
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "sweep"]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params == {k: str(v) for k, v in CONFIG.items()}
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert [(m.step, m.value) for m in history] == [(1, 1.5), (2, 1.0)]
    assert run.data.metrics["validation/f1"] == 0.5
    assert run.info.status == "FINISHED"


def test_mlflow_file_store(tmp_path, monkeypatch):
    """MLFLOW_TRACKING_URI=file:... (a local file store, no server): the run, its params and metric history."""
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for it before writing a file store
    uri = (tmp_path / "store").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (tracker,) = choose_trackers("mlflow", str(tmp_path / "logs"), "sweep")
    assert isinstance(tracker, LocalMLflowTracker) and tracker.tracking_uri == uri
    _run([tracker], tmp_path)
    _read_mlflow(mlflow, uri)


def test_mlflow_default_store_is_inside_the_logs(tmp_path, monkeypatch):
    """Without MLFLOW_TRACKING_URI nothing goes to the working directory or a server: a store under logs/."""
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    uri = default_mlflow_uri(tmp_path / "logs")
    assert uri.startswith(("sqlite:///", "file:")) and str((tmp_path / "logs").resolve()) in uri
    if uri.startswith("file:"):  # mlflow-skinny: no SQLite store; MLflow 3 refuses a file store unless allowed
        monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
        (tracker,) = choose_trackers("mlflow", str(tmp_path / "logs"), "sweep")
        if not _file_store_refused(tracker):
            pytest.skip("this MLflow writes file stores without MLFLOW_ALLOW_FILE_STORE")
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    (tracker,) = choose_trackers("mlflow", str(tmp_path / "logs"), "sweep")
    _run([tracker], tmp_path)
    _read_mlflow(mlflow, uri)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]


def _file_store_refused(tracker: LocalMLflowTracker) -> bool:
    try:
        tracker.start()
    except ConfigError as err:
        assert "MLFLOW_ALLOW_FILE_STORE=true" in str(err) and "\n" not in str(err)
        return True
    import mlflow

    mlflow.end_run()
    return False


def _wandb_records(path: Path) -> list:
    """The protobuf records of an offline run's ``.wandb`` log (W&B's block format: 32 KiB blocks, 7-byte
    record headers crc32 / length / kind, kind 1 whole, 2-4 first / middle / last piece)."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, chunk, records = 7, 32768, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
    return records


def _key(item: object) -> str:
    # an item names its key either flat or as a path
    return item.key or "/".join(item.nested_key)  # type: ignore[attr-defined]


def test_wandb_offline(tmp_path, monkeypatch):
    """WANDB_MODE=offline: the run's log under logs/wandb holds the project, config and per-step history."""
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    monkeypatch.chdir(tmp_path)
    (tracker,) = choose_trackers("wandb", str(tmp_path / "logs"), "sweep")
    _run([tracker], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]  # nothing in the working directory
    (log,) = (tmp_path / "logs" / "wandb").glob("offline-run-*/*.wandb")
    records = _wandb_records(log)
    by_kind: dict[str, list] = {}
    for r in records:
        by_kind.setdefault(r.WhichOneof("record_type"), []).append(r)
    (run,) = by_kind["run"]
    assert (run.run.project, run.run.display_name) == ("tagger", "sweep")
    config = {_key(i): json.loads(i.value_json) for r in by_kind["config"] for i in r.config.update}
    assert config == CONFIG
    history = [{_key(i): json.loads(i.value_json) for i in r.history.item} for r in by_kind["history"]]
    assert [(h["_step"], h["train/loss"], h["validation/f1"]) for h in history] == [(1, 1.5, 0.25), (2, 1.0, 0.5)]
    assert "exit" in by_kind  # the run was finished
