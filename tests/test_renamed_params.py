"""soft_truncation's ``form`` was called ``variant``: configs and the files of runs saved under that name are
still read, with one warning, and an output folder written then resumes without training its runs again."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from recipe_runner import run_recipe, tiny_args
from tagger.card_view import card_view
from tagger.config import load_config
from tagger.losses import build_loss, labels
from tagger.losses.labels import current_label, current_result, loss_label
from tagger.run_files import find_run_dir, run_folder_name, run_folder_names
from tagger.search import SearchSpace, sweep_jobs, trains_choice

OLD = {"name": "soft_truncation", "k": 1.0, "variant": "one_minus_softmax"}
NEW = {"name": "soft_truncation", "k": 1.0, "form": "one_minus_softmax"}
OLD_FOLDER = "soft_truncation-k=1.0-variant=one_minus_softmax-seed1"
NEW_FOLDER = "soft_truncation-form=one_minus_softmax-k=1.0-seed1"


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(labels, "_WARNED", set())


def renamed_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "is now called 'form'" in r.getMessage()]


def test_names_now_and_before():
    assert loss_label(NEW) == "soft_truncation(form=one_minus_softmax, k=1.0)"
    assert run_folder_name(NEW, 1) == NEW_FOLDER
    assert run_folder_names(NEW, 1) == [NEW_FOLDER, OLD_FOLDER]
    assert run_folder_names({"name": "focal", "gamma": 2.0}, 1) == ["focal-gamma=2.0-seed1"]
    assert current_label("soft_truncation(k=1.0, variant=neg_softmax) + crf · argmax") == \
        "soft_truncation(form=neg_softmax, k=1.0) + crf · argmax"
    assert current_label("focal(gamma=2.0) · viterbi") == "focal(gamma=2.0) · viterbi"


def test_build_loss_reads_variant_as_form_with_one_warning(caplog):
    x, y = torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 0, 1, 2])
    with caplog.at_level(logging.WARNING, logger="tagger.losses"):
        old = [build_loss("soft_truncation", 3, variant="one_minus_softmax")(x, y) for _ in range(3)]
    assert all(torch.equal(o, build_loss("soft_truncation", 3, form="one_minus_softmax")(x, y)) for o in old)
    assert not torch.equal(old[0], build_loss("soft_truncation", 3, form="neg_softmax")(x, y))
    assert len(renamed_warnings(caplog)) == 1


def test_a_config_with_variant_loads_as_form(tmp_path, caplog):
    path = tmp_path / "c.yaml"
    path.write_text("sweep:\n  losses:\n    - {name: soft_truncation, k: 1.0, variant: neg_softmax}\n"
                    "    - {name: soft_truncation, k: 2.0, variant: one_minus_softmax, search: {variant: [neg_softmax]}}\n")
    with caplog.at_level(logging.WARNING, logger="tagger.losses"):
        cfg = load_config(path)
        single = load_config(None, ["--loss.name", "soft_truncation", "--loss.variant", "one_minus_softmax"])
    assert cfg.sweep.losses == [{"name": "soft_truncation", "k": 1.0, "form": "neg_softmax"},
                                {"name": "soft_truncation", "k": 2.0, "form": "one_minus_softmax",
                                 "search": {"form": ["neg_softmax"]}}]
    assert single.loss == {"name": "soft_truncation", "form": "one_minus_softmax"}
    warned = renamed_warnings(caplog)
    assert len(warned) == 1 and warned[0].startswith("sweep.losses[0]: soft_truncation's parameter 'variant'")


def test_saved_results_are_read_under_the_name_now():
    old = {"run": OLD_FOLDER, "loss": "soft_truncation", "params": {"k": 1.0, "variant": "one_minus_softmax"},
           "label": "soft_truncation(k=1.0, variant=one_minus_softmax)", "seed": 1}
    now = current_result(old)
    assert now["params"] == {"k": 1.0, "form": "one_minus_softmax"} and now["run"] == OLD_FOLDER
    assert now["label"] == loss_label(NEW)
    row = {"loss": "soft_truncation(k=1.0, variant=one_minus_softmax)", "name": "soft_truncation",
           "label": "soft_truncation(k=1.0, variant=one_minus_softmax) · argmax", "params": old["params"]}
    assert current_result(row)["label"] == "soft_truncation(form=one_minus_softmax, k=1.0) · argmax"
    # a search's choice names its final runs in either spelling
    choice = {"chosen_setting": {"spec": NEW, "training": {}}}
    assert trains_choice(choice, {"run": OLD_FOLDER, "seed": 1}) and trains_choice(choice, {"run": NEW_FOLDER, "seed": 1})


def test_a_card_of_a_model_saved_with_variant_says_form():
    params = {"k": 1.0, "variant": "one_minus_softmax"}
    info = {"loss": {"name": "soft_truncation", "params": params}, "command": "recipes/ner.py",
            "sweep": {"best": "soft_truncation(k=1.0, variant=one_minus_softmax)", "table": [
                {"loss": "soft_truncation(k=1.0, variant=one_minus_softmax)", "name": "soft_truncation",
                 "label": "soft_truncation(k=1.0, variant=one_minus_softmax)", "params": params, "seeds": [1]}]}}
    view = card_view(info)
    assert "--loss.form \"one_minus_softmax\"" in view["reproduce"] and "variant" not in view["reproduce"]
    assert view["sweep"]["this"] == view["sweep"]["best"] == "soft_truncation(form=one_minus_softmax, k=1.0)"


def test_runs_and_studies_of_an_earlier_folder_are_found(tmp_path):
    runs = tmp_path / "runs"
    assert find_run_dir(runs, NEW, 1) == runs / NEW_FOLDER  # nothing there yet: the name now
    (runs / OLD_FOLDER).mkdir(parents=True)
    assert find_run_dir(runs, NEW, 1) == runs / OLD_FOLDER
    assert [j.run_dir.name for j in sweep_jobs([NEW], [1, 2], runs, {})] == [OLD_FOLDER, "soft_truncation-form=one_minus_softmax-k=1.0-seed2"]
    (runs / NEW_FOLDER).mkdir()
    assert find_run_dir(runs, NEW, 1) == runs / NEW_FOLDER  # both: the name now wins
    space = SearchSpace(spec=NEW, grid={"k": [1.0, 2.0]}, seeds=[1])
    earlier = SearchSpace(spec=OLD, grid={"k": [1.0, 2.0]}, seeds=[1])
    assert space.study_names == [space.study_name, earlier.study_name]
    assert earlier.study_name.startswith("soft_truncation(k=1.0, variant=one_minus_softmax) ")


def test_a_folder_written_with_variant_resumes_without_training_again(tiny_encoder_dir, data_dir, tmp_path, caplog):
    out = tmp_path / "out"
    old_config = "sweep.losses=[{name: soft_truncation, k: 1.0, variant: one_minus_softmax}]"
    with caplog.at_level(logging.WARNING, logger="tagger.losses"):
        proc = run_recipe(tiny_args(tiny_encoder_dir, data_dir, out, old_config, "training.epochs=1",
                                    "output.save_model=false"), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(renamed_warnings(caplog)) == 1
    assert [p.name for p in (out / "runs").iterdir()] == [NEW_FOLDER]
    # the folder as a launch before the rename left it: the old folder name, label and parameters
    (out / "runs" / NEW_FOLDER).rename(out / "runs" / OLD_FOLDER)
    results_path = out / "runs" / OLD_FOLDER / "all_results.json"
    results = json.loads(results_path.read_text())
    results.update(run=OLD_FOLDER, label="soft_truncation(k=1.0, variant=one_minus_softmax)",
                   params={"k": 1.0, "variant": "one_minus_softmax"})
    results_path.write_text(json.dumps(results))
    new_config = "sweep.losses=[{name: soft_truncation, k: 1.0, form: one_minus_softmax}]"
    proc = run_recipe(tiny_args(tiny_encoder_dir, data_dir, out, new_config, "training.epochs=1",
                                "output.save_model=false"), tmp_path)
    assert proc.returncode == 0 and proc.stderr.count("results exist, skipped") == 1, proc.stderr[-2000:]
    assert [p.name for p in (out / "runs").iterdir()] == [OLD_FOLDER]
    summary = json.loads((out / "summary.json").read_text())
    assert {r["loss"] for r in summary["table"]} == {loss_label(NEW)}
    assert summary["runs"][0]["run"] == OLD_FOLDER and summary["runs"][0]["params"]["form"] == "one_minus_softmax"
