"""A model folder that cannot load: one line naming it, exit code 2, for `tagger predict` and the recipe."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_recipe import REPO, run_recipe

from tagger.errors import InputError

sys.path.insert(0, str(REPO / "scripts"))
from fault_probe import BROKEN_MODELS, Workspace, broken_model  # noqa: E402


@pytest.fixture()
def ws(probe_workspace: Workspace) -> Workspace:
    """The tiny encoder, a 3-label classifier saved from it and generated data (scripts/fault_probe.py)."""
    return probe_workspace


@pytest.mark.parametrize("name", sorted(BROKEN_MODELS))
def test_a_broken_model_folder_is_one_line_naming_it(name: str, ws: Workspace, tmp_path: Path, capfd) -> None:
    from tagger.cli import main
    from tagger.predict import Tagger

    folder = broken_model(ws, name, tmp_path)
    with pytest.raises(InputError) as err:
        Tagger.from_pretrained(folder)
    message = str(err.value)
    assert message.startswith(f"{folder}: ") and BROKEN_MODELS[name][1] in message and "\n" not in message

    (tmp_path / "in.txt").write_text("Anna lives in Oslo\n")
    capfd.readouterr()
    code = main(["predict", "--model", str(folder), "--input", str(tmp_path / "in.txt"),
                 "--output", str(tmp_path / "out.jsonl")])
    assert code == 2 and capfd.readouterr().err.splitlines() == [f"tagger predict: error: {message}"]
    assert not (tmp_path / "out.jsonl").exists()


def test_the_messages_say_what_is_wrong(ws: Workspace, tmp_path: Path) -> None:
    from tagger.model_loading import check_loadable

    expected = {
        "malformed-config": "config.json is not valid JSON: Expecting property name enclosed in double quotes "
                            "(line 1, column 23)",
        "list-config": "config.json holds a JSON list, not an object",
        "no-model-type": "config.json has no model_type, so the architecture is unknown",
        "label-count": "the classifier has 3 outputs (classifier.weight [3, 32] in model.safetensors), not the 5 "
                       "labels of config.json",
        "no-weights": "no weights (no .safetensors file)",
    }
    for name, text in expected.items():
        folder = broken_model(ws, name, tmp_path / name)
        with pytest.raises(InputError) as err:
            check_loadable(folder)
        assert str(err.value) == f"{folder}: {text}"
    folder = broken_model(ws, "truncated-weights", tmp_path / "truncated")
    with pytest.raises(InputError, match=r"model.safetensors is truncated or damaged: [\d,]+ bytes, its header "
                                         r"describes [\d,]+$"):
        check_loadable(folder)


def test_a_truncated_header_and_remote_code_allowed(ws: Workspace, tmp_path: Path) -> None:
    from tagger.model_loading import check_loadable

    folder = broken_model(ws, "remote-code", tmp_path)
    check_loadable(folder, trust_remote_code=True)  # allowed: transformers runs the folder's code, not our check
    good = broken_model(ws, "no-weights", tmp_path / "header")
    (good / "model.safetensors").write_bytes(b"\x05\x00")
    with pytest.raises(InputError, match="model.safetensors is truncated or not a safetensors file"):
        check_loadable(good)


def test_the_label_list_given_must_match_a_saved_classifier(ws: Workspace) -> None:
    from tagger.model_loading import check_loadable, load_model

    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    with pytest.raises(InputError, match="the classifier has 3 outputs .* not the 5 labels of the label list given"):
        load_model(ws.model(), num_labels=5, id2label=dict(enumerate(labels)),
                   label2id={t: i for i, t in enumerate(labels)})
    check_loadable(ws.encoder(), num_labels=5)  # an encoder without a head takes any label count


def test_the_check_leaves_the_seeded_random_stream_alone(ws: Workspace) -> None:
    """The recipe loads its model after set_seed: a fresh head's initial weights must not change."""
    import torch

    from tagger.model_loading import check_loadable

    torch.manual_seed(3)
    expected = torch.rand(5)
    torch.manual_seed(3)
    check_loadable(ws.encoder(), num_labels=5)  # builds the classifier on the meta device
    assert torch.equal(torch.rand(5), expected)


def test_what_transformers_still_raises_becomes_one_line(ws: Workspace, tmp_path: Path) -> None:
    from tagger.model_loading import load_model, load_tokenizer

    folder = broken_model(ws, "no-weights", tmp_path)  # the tokenizer needs no weights
    (folder / "tokenizer.json").write_text("{broken")
    with pytest.raises(InputError) as err:
        load_tokenizer(folder)
    assert str(err.value).startswith(f"{folder}: cannot load the tokenizer: ") and "\n" not in str(err.value)
    missing = tmp_path / "no" / "such" / "folder"  # not a folder: transformers takes it for a Hub id
    with pytest.raises(InputError) as err:
        load_model(missing)
    assert str(err.value).startswith(f"{missing}: cannot load the model: ") and "\n" not in str(err.value)


@pytest.mark.parametrize("name, needle", [("truncated-weights", "truncated or damaged"),
                                          (None, "not the 5 labels of the label list given")])
def test_the_recipe_stops_at_launch_on_a_broken_encoder_folder(name: str | None, needle: str, ws: Workspace,
                                                               tmp_path: Path) -> None:
    # None: a saved 3-label classifier as the encoder of 5-label data
    folder = broken_model(ws, name, tmp_path) if name else ws.model()
    out = tmp_path / "out"
    proc = run_recipe([*ws.recipe_args(out), f"model.name_or_path={folder}"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower() or "Traceback" in line]
    assert len(errors) == 1 and errors[0].startswith(f"recipes/ner.py: error: {folder}: ") and needle in errors[0]
    assert not (out / "runs").exists()
