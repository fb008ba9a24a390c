"""Atomic writes under faults: unwritable folders, a file in the way, a full disk, Ctrl-C; permissions;
strict JSON."""

from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path

import pytest

import tagger.io as tio
from tagger.errors import OutputError, TaggerError
from tagger.io import (atomic_dir, atomic_open, atomic_write_json, atomic_write_text, ensure_dir, strict_json_dumps,
                       to_strict_json)


def leftovers(root: Path) -> list[str]:
    """Temporary files or folders of atomic writes anywhere under ``root``."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith((".tmp", ".old")))


def assert_one_line_naming(err: pytest.ExceptionInfo[OutputError], path: Path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    assert isinstance(err.value, TaggerError) and err.value.exit_code == 2
    return msg


# --------------------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_saved_files_and_folders_follow_the_umask(tmp_path: Path, umask: int, file_mode: int, dir_mode: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_open(tmp_path / "b.bin", "wb") as fh:
            fh.write(b"x")
        with atomic_dir(tmp_path / "model") as d:
            (d / "config.json").write_text("{}")
        with atomic_dir(tmp_path / "model") as d:  # replacing an existing folder too
            (d / "config.json").write_text("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "b.bin").stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "model").stat().st_mode & 0o777 == dir_mode
    assert (tmp_path / "model" / "config.json").stat().st_mode & 0o777 == file_mode


# -------------------------------------------------------------------------------------- unwritable


def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        probe = folder / "probe"
        try:
            probe.write_text("x")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("permissions do not stop this user from writing (root)")
        target = folder / "summary.json"
        with pytest.raises(OutputError) as err:
            atomic_write_json(target, {"f1": 1.0})
        assert assert_one_line_naming(err, target).endswith("permission denied")
        with pytest.raises(OutputError, match="permission denied"):
            with atomic_dir(folder / "model"):
                pass
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_read_only_file_system_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Works as root too, where a read-only folder cannot be made: the error a mount gives.
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tio.os, "replace", refuse)
    target = tmp_path / "summary.json"
    with pytest.raises(OutputError) as err:
        atomic_write_text(target, "x")
    assert assert_one_line_naming(err, target) == f"cannot write {target}: read-only file system"
    assert leftovers(tmp_path) == [] and not target.exists()


def test_folder_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "outputs"
    blocker.write_text("not a folder")
    for target in (blocker / "summary.json", blocker / "runs" / "ce-seed1" / "all_results.json"):
        with pytest.raises(OutputError) as err:
            atomic_write_json(target, {})
        assert assert_one_line_naming(err, target).endswith(f"{blocker} is a file, not a folder")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        with atomic_dir(blocker / "model"):
            pass
    with pytest.raises(OutputError, match="is a file, not a folder"):
        ensure_dir(blocker / "logs")
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]


def test_output_path_that_is_a_file_or_a_folder(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.write_text("a file where a model folder goes")
    with pytest.raises(OutputError) as err:
        with atomic_dir(model) as d:
            (d / "config.json").write_text("{}")
    assert_one_line_naming(err, model)
    assert model.read_text() == "a file where a model folder goes"

    folder = tmp_path / "predictions.conll"
    (folder / "inside").mkdir(parents=True)
    with pytest.raises(OutputError) as err:
        atomic_write_text(folder, "x")
    assert assert_one_line_naming(err, folder).endswith("a folder of that name is in the way")
    assert (folder / "inside").is_dir()
    assert leftovers(tmp_path) == []


# -------------------------------------------------------------------------------------------- disk full


def _disk_full(*args: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_writing_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "summary.json"
    atomic_write_json(target, {"good": 1})
    monkeypatch.setattr(tio.os, "fsync", _disk_full)  # where a full disk surfaces for buffered writes
    with pytest.raises(OutputError) as err:
        atomic_write_json(target, {"new": 2})
    assert assert_one_line_naming(err, target) == f"no space left on {target}"
    assert json.loads(target.read_text()) == {"good": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_disk_full_in_the_callers_block(tmp_path: Path) -> None:
    target = tmp_path / "predictions.conll"
    with pytest.raises(OutputError, match=f"no space left on {target}"):
        with atomic_open(target) as fh:
            fh.write("a O\n")
            _disk_full()  # as fh.write raises when the disk fills
    with pytest.raises(OutputError, match="no space left on"):
        with atomic_dir(tmp_path / "model") as d:
            (d / "config.json").write_text("{}")
            _disk_full()
    assert list(tmp_path.iterdir()) == []


def test_other_errors_of_the_callers_block_pass_through(tmp_path: Path) -> None:
    # Reading a missing input inside the block is the input's fault, not the output's.
    with pytest.raises(FileNotFoundError):
        with atomic_open(tmp_path / "out.txt") as fh:
            fh.write("x")
            (tmp_path / "missing-input.txt").read_text()
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(target) as fh:
            fh.write("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_failed_folder_swap_restores_the_previous_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model"
    with atomic_dir(target) as d:
        (d / "a.txt").write_text("v1")
    real_replace = os.replace

    def replace(src: object, dst: object) -> None:
        if Path(str(src)).name.endswith(".tmp"):  # the new folder cannot be put in place
            _disk_full()
        real_replace(src, dst)

    monkeypatch.setattr(tio.os, "replace", replace)
    with pytest.raises(OutputError, match="no space left on"):
        with atomic_dir(target) as d:
            (d / "a.txt").write_text("v2")
    assert (target / "a.txt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


# ------------------------------------------------------------------------------------------ strict JSON


def _strict_loads(text: str) -> object:
    def refuse(name: str) -> None:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_strict_json_writes_nan_and_infinity_as_null() -> None:
    import numpy as np
    import torch

    obj = {"loss": math.nan, "lr": 1e-4, "steps": [1, math.inf, -math.inf], "nested": {"x": (math.nan, 2.5)},
           "np": np.float32("nan"), "np_array": np.array([1.0, np.inf]), "torch": torch.tensor(float("nan")),
           "ok": True, "name": "ce"}
    want = {"loss": None, "lr": 1e-4, "steps": [1, None, None], "nested": {"x": [None, 2.5]}, "np": None,
            "np_array": [1.0, None], "torch": None, "ok": True, "name": "ce"}
    assert _strict_loads(strict_json_dumps(obj)) == want
    assert to_strict_json(obj) == want
    assert obj["loss"] != obj["loss"]  # the input is not modified


def test_strict_json_default_is_made_strict_too() -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd"

    assert _strict_loads(strict_json_dumps({"v": Odd(), "p": Path("a/b")}, default=str)) == {"v": "odd", "p": "a/b"}
    assert strict_json_dumps({"v": Odd()}, default=lambda o: math.inf) == '{"v": null}'
    with pytest.raises(TypeError):
        strict_json_dumps({"v": Odd()})


def test_ensure_dir_creates_and_checks_the_output_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = ensure_dir(tmp_path / "outputs" / "sweep")
    assert out.is_dir() and list(out.iterdir()) == []

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tio.tempfile, "mkstemp", refuse)  # a folder that exists but cannot be written
    with pytest.raises(OutputError) as err:
        ensure_dir(out)
    assert assert_one_line_naming(err, out) == f"cannot write {out}: permission denied"


def test_atomic_open_only_writes_whole_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"):
        with atomic_open(tmp_path / "log.txt", "a"):
            pass
    assert list(tmp_path.iterdir()) == []
