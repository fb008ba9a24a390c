"""`tagger export` writes only into a folder it created or an earlier export of its own: nothing of the
user's is ever deleted, and the model or run folder itself is refused."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tagger.cli import main
from tagger.errors import OutputError
from tagger.export import EXPORT_MARKER, check_export_target

if TYPE_CHECKING:
    from recipe_runner import Completed


@pytest.fixture
def run_dir(tmp_path: Path, tiny_wnut_model_dir: Path) -> Path:
    """A run folder as the recipe leaves it: results beside the model folder."""
    run = tmp_path / "runs" / "ce-seed1"
    shutil.copytree(tiny_wnut_model_dir, run / "model")
    (run / "all_results.json").write_text("{}\n")
    (run / "test_predictions.conll").write_text("Anna B-person B-person\n\n")
    return run


def _export(model: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["export", str(model), "--onnx", "--out", str(out)])
    return code, capsys.readouterr().err.strip().splitlines()


def test_a_folder_of_the_users_files_is_refused_and_kept(run_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own notes\n")
    code, err = _export(run_dir / "model", mine, capsys)
    assert code == 2
    assert err == [f"tagger export: error: {mine} holds files tagger export did not write (notes.txt) and no "
                   f"{EXPORT_MARKER}: give --out a new or empty folder"]
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert (mine / "notes.txt").read_text() == "my own notes\n"


def test_the_model_folder_itself_is_refused(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = run_dir / "model"
    before = sorted(p.name for p in model.iterdir())
    code, err = _export(model, model, capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"tagger export: error: {model} is the model folder: the export replaces its output")
    assert sorted(p.name for p in model.iterdir()) == before
    assert (model / "model.safetensors").is_file()


def test_the_run_folder_is_refused(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _export(run_dir / "model", run_dir, capsys)
    assert code == 2 and len(err) == 1
    assert f"{run_dir} holds the model folder {run_dir / 'model'}" in err[0]
    assert (run_dir / "all_results.json").is_file() and (run_dir / "test_predictions.conll").is_file()
    assert (run_dir / "model" / "model.safetensors").is_file()


def test_a_file_in_the_way_is_refused(run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("x\n")
    with pytest.raises(OutputError, match="it is a file, not a folder"):
        check_export_target(run_dir / "model", tmp_path / "blocker")
    assert (tmp_path / "blocker").read_text() == "x\n"


def test_new_empty_and_earlier_exports_are_accepted(run_dir: Path, tmp_path: Path) -> None:
    model = run_dir / "model"
    check_export_target(model, tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_export_target(model, tmp_path / "empty")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / EXPORT_MARKER).write_text("")
    (earlier / "model.onnx").write_bytes(b"old")
    check_export_target(model, earlier)
    check_export_target(model, model / "onnx")  # the default: a folder inside the model folder


def test_a_recipe_output_folder_is_not_an_export(run_dir: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / ".tagger-output").write_text("")
    (sweep / "summary.json").write_text("{}")
    with pytest.raises(OutputError, match=r"holds files tagger export did not write \(.tagger-output, summary.json\)"):
        check_export_target(run_dir / "model", sweep)


@pytest.fixture(scope="module")
def cli_export(tiny_wnut_onnx_export: tuple[Completed, Path]) -> tuple[Completed, Path]:
    """The session's one real `tagger export MODEL --onnx --out DIR` of the tiny model (tests/conftest.py);
    skipped without the ``onnx`` extra, failed under CI=true as tests/test_onnx.py does."""
    return tiny_wnut_onnx_export


def test_an_export_writes_its_marker_and_a_second_export_may_replace_it(cli_export: tuple[Completed, Path],
                                                                       tiny_wnut_model_dir: Path) -> None:
    done, out = cli_export
    assert done.returncode == 0, done.stderr
    assert (out / EXPORT_MARKER).is_file()
    assert (out / "model.onnx").is_file()
    # the check a second `tagger export --out` makes first: the folder holds its own earlier export, so it
    # may be replaced (without the marker its model.onnx and tokenizer files would be someone else's)
    check_export_target(tiny_wnut_model_dir, out)
