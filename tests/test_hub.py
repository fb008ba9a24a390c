"""`tagger push` against a fake Hub on 127.0.0.1, driven by the real huggingface_hub client."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from tagger.cards import sanitize_info, write_model_card
from tagger.errors import PushError
from tagger.hub import NO_TOKEN_MESSAGE, push_model

REPO = Path(__file__).resolve().parents[1]
TOKEN = "hf_" + "FakeTokenForTests0123456789abcdefgh"
REPO_ID = "alice/wnut17-tiny-focal"

# The push subcommand alone: the CLI's real main() (error mapping, exit codes), independent of the
# other subcommands' modules.
CLI = "import sys, tagger.cli as c; c.SUBCOMMANDS = ('push',); sys.exit(c.main())"


# ------------------------------------------------------------------------------------------ fake Hub


class FakeHub:
    """What huggingface_hub's create_repo / create_branch / upload_folder call, recorded."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.repos: dict[str, dict[str, Any]] = {}
        self.branches: set[tuple[str, str]] = set()
        self.commits: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.url = ""

    def commit_files(self, i: int = -1) -> dict[str, bytes]:
        return {f["path"]: base64.b64decode(f["content"]) for f in self.commits[i]["files"]}


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the client keeps connections alive

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: int, obj: Any) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._body()
            with hub.lock:
                hub.calls.append({"method": "GET", "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
            self._send(404, {"error": "not implemented by the fake Hub"})

        def do_POST(self) -> None:
            raw = self._body()
            path = unquote(urlparse(self.path).path)
            call = {"method": "POST", "path": path, "headers": {k.lower(): v for k, v in self.headers.items()}, "raw": raw}
            with hub.lock:
                hub.calls.append(call)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"error": "Invalid credentials in Authorization header"})
            if path == "/api/repos/create":
                payload = json.loads(raw)
                repo_id = "/".join(p for p in (payload.get("organization"), payload["name"]) if p)
                call["json"] = payload
                if repo_id in hub.repos:
                    return self._send(409, {"error": "You already created this model repo", "url": f"{hub.url}/{repo_id}"})
                hub.repos[repo_id] = payload
                return self._send(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id, "id": "0" * 24})
            if path == "/api/validate-yaml":
                call["json"] = json.loads(raw)
                return self._send(200, {"errors": [], "warnings": []})
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(preupload|commit|branch)/(.+)", path)
            if not m or m.group(1) not in hub.repos:
                return self._send(404, {"error": "Repository not found"})
            repo_id, action, rev = m.groups()
            if action == "branch":
                if (repo_id, rev) in hub.branches:
                    return self._send(409, {"error": "Reference already exists"})
                hub.branches.add((repo_id, rev))
                return self._send(200, {})
            if action == "preupload":
                files = json.loads(raw)["files"]
                # Regular (non-LFS) mode for every file: the commit then carries the content inline,
                # so the test can compare bytes without an LFS or Xet server.
                return self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                  for f in files]})
            lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
            commit = {"repo_id": repo_id, "revision": rev, "header": lines[0]["value"],
                      "files": [x["value"] for x in lines[1:] if x["key"] == "file"],
                      "other": [x for x in lines[1:] if x["key"] != "file"]}
            oid = hashlib.sha1(raw).hexdigest()
            with hub.lock:
                hub.commits.append(commit)
            return self._send(200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{oid}", "commitOid": oid, "success": True})

    return Handler


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on exit: connections are refused


# ---------------------------------------------------------------------------------------- model folder


@pytest.fixture(scope="module")
def built_model(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: str) -> Path:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    labels = ["O", "B-person", "I-person"]
    out = tmp_path_factory.mktemp("model")
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_encoder_dir, num_labels=3, id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(out)
    pt = {"person": {"precision": 0.5, "recall": 0.4, "f1": 0.444, "support": 10}}
    info = {
        "base_model": tiny_encoder_dir,  # an absolute temporary path: must not reach the card
        "dataset": {"name": "wnut17", "hub_id": "wnut_17", "sources": {"train": "wnut17/train.conll"}},
        "label_list": labels,
        "loss": {"name": "focal", "params": {"gamma": 2.0}, "formula": "-alpha_t (1 - p_t)^gamma log p_t"},
        "hyperparameters": {"learning_rate": 5e-5, "epochs": 1, "seed": 1},
        "validation": {"precision": 0.5, "recall": 0.4, "f1": 0.444, "accuracy": 0.9, "per_type": pt},
        "test": {"precision": 0.5, "recall": 0.4, "f1": 0.444, "accuracy": 0.9, "per_type": pt},
        "train_seconds": 1.0, "hardware": "CPU", "tagger_version": "0.1.0",
    }
    write_model_card(out, info)  # the card never holds the absolute path
    # Saved as the recipe should save it: known paths reduced to names (else push warns about them).
    (out / "tagger_run.json").write_text(json.dumps(sanitize_info(info)), encoding="utf-8")
    assert tiny_encoder_dir not in (out / "README.md").read_text()
    return out


@pytest.fixture
def model_dir(built_model: Path, tmp_path: Path) -> Path:
    """A fresh copy with training leftovers that must not be uploaded."""
    out = tmp_path / "model"
    shutil.copytree(built_model, out)
    (out / "checkpoints" / "epoch-1").mkdir(parents=True)
    (out / "checkpoints" / "epoch-1" / "optimizer.pt").write_bytes(b"state")
    (out / ".model.safetensors.abc.tmp").write_bytes(b"partial")
    (out / ".DS_Store").write_bytes(b"x")
    return out


def folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        st = p.stat()
        h.update(f"{p.relative_to(folder)}|{p.is_dir()}|{st.st_mtime_ns}|{st.st_mode}".encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def cli_env(endpoint: str, hf_home: Path, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(hf_home), HF_HUB_OFFLINE="0", HF_HUB_DISABLE_TELEMETRY="1",
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, "push", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=60)


# ---------------------------------------------------------------------------------------------- tests


def test_push_uploads_weights_config_tokenizer_and_card(fake_hub: FakeHub, model_dir: Path) -> None:
    before = folder_digest(model_dir)
    url = push_model(model_dir, REPO_ID, private=True, token=TOKEN, endpoint=fake_hub.url, commit_message="first")

    create = [c for c in fake_hub.calls if c["path"] == "/api/repos/create"]
    assert len(create) == 1 and create[0]["json"]["organization"] == "alice"
    assert create[0]["json"]["name"] == "wnut17-tiny-focal" and create[0]["json"].get("visibility") == "private"
    assert len(fake_hub.commits) == 1
    commit = fake_hub.commits[0]
    assert commit["repo_id"] == REPO_ID and commit["revision"] == "main" and commit["header"]["summary"] == "first"
    files = fake_hub.commit_files()
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "README.md",
            "tagger_run.json"} <= set(files)
    assert not [p for p in files if p.startswith(("checkpoints/", ".")) or p.endswith(".tmp")]
    for name in ("model.safetensors", "config.json", "README.md"):
        assert files[name] == (model_dir / name).read_bytes()
    assert json.loads(files["config.json"])["id2label"] == {"0": "O", "1": "B-person", "2": "I-person"}
    assert url == f"{fake_hub.url}/{REPO_ID}/commit/{url.rsplit('/', 1)[1]}"
    assert all(c["headers"].get("authorization") == f"Bearer {TOKEN}" for c in fake_hub.calls)
    assert folder_digest(model_dir) == before


def test_push_to_existing_repo_and_new_branch(fake_hub: FakeHub, model_dir: Path) -> None:
    push_model(model_dir, REPO_ID, token=TOKEN, endpoint=fake_hub.url)
    push_model(model_dir, REPO_ID, token=TOKEN, endpoint=fake_hub.url, revision="v1-test")  # repo exists: 409 is fine
    push_model(model_dir, REPO_ID, token=TOKEN, endpoint=fake_hub.url, revision="v1-test")  # branch exists too
    assert [c["revision"] for c in fake_hub.commits] == ["main", "v1-test", "v1-test"]
    assert fake_hub.branches == {(REPO_ID, "v1-test")}
    assert "README.md" in fake_hub.commit_files(1)


@pytest.mark.parametrize("remove, what", [("model.safetensors", "weights"), ("README.md", "model card"),
                                          ("config.json", "config"), ("tokenizer.json tokenizer_config.json", "tokenizer")])
def test_incomplete_folder_is_refused_before_any_request(fake_hub: FakeHub, model_dir: Path, remove: str,
                                                         what: str) -> None:
    for name in remove.split():
        (model_dir / name).unlink()
    with pytest.raises(PushError, match=f"missing: {what}"):
        push_model(model_dir, REPO_ID, token=TOKEN, endpoint=fake_hub.url)
    assert fake_hub.calls == []


def test_card_with_local_path_is_refused(fake_hub: FakeHub, model_dir: Path) -> None:
    (model_dir / "README.md").write_text("---\nlicense: mit\n---\ntrained in /home/alice/runs\n")
    with pytest.raises(PushError, match="absolute local path"):
        push_model(model_dir, REPO_ID, token=TOKEN, endpoint=fake_hub.url)
    assert fake_hub.calls == []


def test_token_in_a_file_is_refused(fake_hub: FakeHub, model_dir: Path) -> None:
    (model_dir / "notes.txt").write_text(f"my token is {TOKEN}\n")
    with pytest.raises(PushError, match="notes.txt contains your Hugging Face token") as err:
        push_model(model_dir, REPO_ID, token=TOKEN, endpoint=fake_hub.url)
    assert TOKEN not in str(err.value) and fake_hub.calls == []


def test_token_resolution_order(fake_hub: FakeHub, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    from tagger.hub import resolve_token

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(PushError) as err:
        push_model(model_dir, REPO_ID, endpoint=fake_hub.url)
    assert str(err.value) == NO_TOKEN_MESSAGE and err.value.exit_code == 1 and fake_hub.calls == []

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "cached")
    assert resolve_token() == "cached"
    monkeypatch.setenv("HF_TOKEN", "from-env")
    assert resolve_token() == "from-env"
    assert resolve_token("explicit") == "explicit"
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # the env token is the one sent
    push_model(model_dir, REPO_ID, endpoint=fake_hub.url)
    assert fake_hub.calls[-1]["headers"]["authorization"] == f"Bearer {TOKEN}"


def test_rejected_token_is_one_line_without_the_token(fake_hub: FakeHub, model_dir: Path) -> None:
    wrong = "hf_" + "WrongToken0123456789abcdefghijklmn"
    before = folder_digest(model_dir)
    with pytest.raises(PushError) as err:
        push_model(model_dir, REPO_ID, token=wrong, endpoint=fake_hub.url)
    msg = str(err.value)
    assert "\n" not in msg and REPO_ID in msg and "401" in msg and wrong not in msg
    assert folder_digest(model_dir) == before


def test_cli_push_via_hf_endpoint(fake_hub: FakeHub, model_dir: Path, tmp_path: Path) -> None:
    before = folder_digest(model_dir)
    proc = run_cli(["--model", str(model_dir), "--repo-id", REPO_ID, "--revision", "release", "--commit-message",
                    "from the CLI"], cli_env(fake_hub.url, tmp_path / "hf-home", TOKEN))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(f"{fake_hub.url}/{REPO_ID}/commit/")
    assert TOKEN not in proc.stdout + proc.stderr
    commit = fake_hub.commits[-1]
    assert commit["revision"] == "release" and commit["header"]["summary"] == "from the CLI"
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "README.md"} <= set(
        fake_hub.commit_files())
    assert {c["headers"].get("authorization") for c in fake_hub.calls} == {f"Bearer {TOKEN}"}
    assert folder_digest(model_dir) == before
    assert not list((tmp_path / "hf-home").rglob("*token*"))  # nothing cached by the push


def test_cli_without_token(fake_hub: FakeHub, model_dir: Path, tmp_path: Path) -> None:
    before = folder_digest(model_dir)
    proc = run_cli(["--model", str(model_dir), "--repo-id", REPO_ID], cli_env(fake_hub.url, tmp_path / "empty-home", None))
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"tagger push: error: {NO_TOKEN_MESSAGE}"]
    assert proc.stdout == "" and fake_hub.calls == []
    assert folder_digest(model_dir) == before


def test_cli_unreachable_hub(model_dir: Path, tmp_path: Path) -> None:
    before = folder_digest(model_dir)
    endpoint = f"http://127.0.0.1:{closed_port()}"
    proc = run_cli(["--model", str(model_dir), "--repo-id", REPO_ID], cli_env(endpoint, tmp_path / "hf-home", TOKEN))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tagger push: error: push to {REPO_ID} failed: cannot reach the Hub")
    assert TOKEN not in proc.stdout + proc.stderr
    assert folder_digest(model_dir) == before


def test_token_like_string_in_run_info_is_refused(fake_hub: FakeHub, model_dir: Path) -> None:
    run = json.loads((model_dir / "tagger_run.json").read_text())
    run["command"] = "recipe --token hf_" + "SomebodyElsesToken0123456789abcdef"
    (model_dir / "tagger_run.json").write_text(json.dumps(run))
    with pytest.raises(PushError, match="tagger_run.json holds a Hugging Face token"):
        push_model(model_dir, REPO_ID, token=TOKEN, endpoint=fake_hub.url)
    assert fake_hub.calls == []


def test_local_path_in_run_info_only_warns(fake_hub: FakeHub, model_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = json.loads((model_dir / "tagger_run.json").read_text())
    run["dataset"]["sources"]["train"] = "/home/alice/data/train.conll"
    (model_dir / "tagger_run.json").write_text(json.dumps(run))
    with caplog.at_level("WARNING", logger="tagger.hub"):
        push_model(model_dir, REPO_ID, token=TOKEN, endpoint=fake_hub.url)
    assert "tagger_run.json will publish an absolute local path" in caplog.text and TOKEN not in caplog.text
    assert len(fake_hub.commits) == 1


OTHER_TOKEN = "hf_" + "SomebodyElsesToken0123456789abcdef"


@pytest.mark.parametrize("name", ["notes.txt", "configs/train.yaml", "tokenizer_config.json"])
def test_token_like_string_in_any_uploaded_file_is_refused(fake_hub: FakeHub, model_dir: Path, name: str) -> None:
    path = model_dir / name
    path.parent.mkdir(exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"\nhub_token: {OTHER_TOKEN}\n")
    with pytest.raises(PushError) as err:
        push_model(model_dir, REPO_ID, token=TOKEN, endpoint=fake_hub.url)
    msg = str(err.value)
    assert msg == (f"{name} contains a Hugging Face token (hf_...); remove it before pushing, "
                   "or pass --allow-token-like-strings if it is not a token")
    assert OTHER_TOKEN not in msg and fake_hub.calls == []


def test_token_like_strings_in_ignored_files_and_lookalikes_do_not_block(fake_hub: FakeHub, model_dir: Path) -> None:
    (model_dir / "checkpoints" / "epoch-1" / "notes.txt").write_text(OTHER_TOKEN)  # never uploaded
    (model_dir / "notes.txt").write_text("hf_short and xhf_" + "A" * 30 + " are no tokens\n")
    push_model(model_dir, REPO_ID, token=TOKEN, endpoint=fake_hub.url)
    assert "notes.txt" in fake_hub.commit_files()


def test_allow_token_like_strings_overrides_the_scan_but_never_for_your_own_token(
        fake_hub: FakeHub, model_dir: Path) -> None:
    (model_dir / "notes.txt").write_text(f"example: {OTHER_TOKEN}\n")
    run = json.loads((model_dir / "tagger_run.json").read_text())
    run["command"] = f"recipe --token {OTHER_TOKEN}"
    (model_dir / "tagger_run.json").write_text(json.dumps(run))
    push_model(model_dir, REPO_ID, token=TOKEN, endpoint=fake_hub.url, allow_token_like_strings=True)
    assert OTHER_TOKEN.encode() in fake_hub.commit_files()["notes.txt"]

    (model_dir / "notes.txt").write_text(f"mine: {TOKEN}\n")
    with pytest.raises(PushError, match="notes.txt contains your Hugging Face token") as err:
        push_model(model_dir, REPO_ID, token=TOKEN, endpoint=fake_hub.url, allow_token_like_strings=True)
    assert TOKEN not in str(err.value) and len(fake_hub.commits) == 1


def test_cli_flag_allows_token_like_strings(fake_hub: FakeHub, model_dir: Path, tmp_path: Path) -> None:
    (model_dir / "notes.txt").write_text(f"example: {OTHER_TOKEN}\n")
    env = cli_env(fake_hub.url, tmp_path / "hf-home", TOKEN)
    proc = run_cli(["--model", str(model_dir), "--repo-id", REPO_ID], env)
    assert proc.returncode == 1 and fake_hub.commits == []  # as every refused push
    assert proc.stderr.splitlines() == [
        "tagger push: error: notes.txt contains a Hugging Face token (hf_...); remove it before pushing, "
        "or pass --allow-token-like-strings if it is not a token"]
    proc = run_cli(["--model", str(model_dir), "--repo-id", REPO_ID, "--allow-token-like-strings"], env)
    assert proc.returncode == 0, proc.stderr
    assert "notes.txt" in fake_hub.commit_files()
