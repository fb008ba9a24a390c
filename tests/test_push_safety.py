"""`tagger push` cannot leak: a symbolic link out of the model folder is refused, and the commit message
is checked for tokens as the files are. Every case stops before any network call."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tagger.errors import PushError
from tagger.hub import push_model

OWN_TOKEN = "hf_" + "PushersOwnFakeToken0123456789abcdef"
TOKEN_LIKE = "hf_" + "SomeoneElsesFakeToken0123456789ab"


@pytest.fixture
def folder(tmp_path: Path, tiny_wnut_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A publishable copy of the tiny model (card and run file); no network: the Hub is unreachable."""
    from tagger.cards import write_model_card

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    out = Path(shutil.copytree(tiny_wnut_model_dir, tmp_path / "model"))
    scores = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "accuracy": 0.9,
              "per_type": {"person": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}}}
    info = {"base_model": "tiny", "dataset": {"name": "probe", "sources": {}}, "label_list": ["O", "B-person"],
            "loss": {"name": "ce", "params": {}}, "hyperparameters": {"epochs": 1, "seed": 1}, "validation": scores,
            "test": scores, "train_seconds": 1.0, "hardware": "CPU", "tagger_version": "test"}
    write_model_card(out, info)
    (out / "tagger_run.json").write_text(json.dumps(info))
    return out


def _no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import huggingface_hub

    calls: list[str] = []
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda *a, **k: calls.append("create_repo"))
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", lambda *a, **k: calls.append("upload_folder"))
    return calls


def test_a_symlink_out_of_the_folder_is_refused(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _no_network(monkeypatch)
    secret = tmp_path / "secret.env"
    secret.write_text("password=hunter2\n")
    (folder / "extra.txt").symlink_to(secret)
    with pytest.raises(PushError) as caught:
        push_model(folder, "me/tiny", token=OWN_TOKEN)
    assert str(caught.value) == (f"extra.txt is a symbolic link to a file outside {folder}; copy the file into the "
                                 "folder or remove the link before pushing")
    assert calls == []


def test_a_symlinked_folder_out_of_the_model_folder_is_refused(folder: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _no_network(monkeypatch)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "key.txt").write_text("secret\n")
    (folder / "more").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(PushError) as caught:
        push_model(folder, "me/tiny", token=OWN_TOKEN)
    assert str(caught.value) == (f"more is a symbolic link to a folder outside {folder}; copy its files into the "
                                 "folder or remove the link before pushing")
    assert calls == []


def test_a_symlink_inside_the_folder_is_fine(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _no_network(monkeypatch)
    (folder / "card.md").symlink_to(folder / "README.md")
    monkeypatch.setattr("huggingface_hub.HfApi.upload_folder",
                        lambda *a, **k: type("Info", (), {"commit_url": "https://hub/commit/1"})())
    assert push_model(folder, "me/tiny", token=OWN_TOKEN) == "https://hub/commit/1"
    assert calls == ["create_repo"]


@pytest.mark.parametrize(("message", "expected"), [
    (f"upload with {OWN_TOKEN}", "the commit message contains your Hugging Face token; remove it before pushing"),
    (f"upload {TOKEN_LIKE}", "the commit message contains a Hugging Face token (hf_...); remove it, or pass "
                             "--allow-token-like-strings if it is not a token"),
])
def test_a_token_in_the_commit_message_is_refused_and_not_echoed(folder: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 message: str, expected: str) -> None:
    calls = _no_network(monkeypatch)
    with pytest.raises(PushError) as caught:
        push_model(folder, "me/tiny", token=OWN_TOKEN, commit_message=message)
    assert str(caught.value) == expected
    assert calls == []


def test_the_cli_exits_1_with_one_line(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from tagger.cli import main

    _no_network(monkeypatch)
    monkeypatch.setenv("HF_TOKEN", OWN_TOKEN)
    (tmp_path / "secret").write_text("x\n")
    (folder / "link").symlink_to(tmp_path / "secret")
    assert main(["push", "--model", str(folder), "--repo-id", "me/tiny"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tagger push: error: link is a symbolic link to a file outside {folder}; copy the file into the "
                   "folder or remove the link before pushing"]
