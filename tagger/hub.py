"""Publishing a trained model folder to the Hugging Face Hub.

Only reads the local folder: a failed push (no token, no network, refused) leaves it as it was and
surfaces as a one-line :class:`~tagger.errors.PushError`. The token is passed to ``huggingface_hub``
and nowhere else: it is never logged, never put in an error message and never written to disk.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from tagger.card_safety import HF_TOKEN as HF_TOKEN_PATTERN
from tagger.card_safety import card_problems
from tagger.errors import PushError

logger = logging.getLogger(__name__)

REQUIRED_FILES: dict[str, tuple[str, ...]] = {
    "config": ("config.json",),
    "weights": ("model.safetensors", "model.safetensors.index.json"),
    "tokenizer": ("tokenizer.json", "tokenizer_config.json"),
    "model card": ("README.md",),
}
# Training leftovers that must not be published: resumable checkpoints, optimizer state, temp files
# of interrupted atomic writes, and hidden files (editor and OS litter, local caches).
IGNORE_PATTERNS: list[str] = [
    "checkpoints/*", "checkpoints/**", "*/checkpoints/*",
    ".*", "*/.*",
    "*.tmp",
    "optimizer.pt", "scheduler.pt", "rng_state*.pth", "*.ckpt",
]
NO_TOKEN_MESSAGE = "no Hugging Face token: set HF_TOKEN or run `hf auth login`"
ALLOW_FLAG = "--allow-token-like-strings"  # `tagger push`'s override of the hf_... scan
_SCAN_LIMIT = 50 * 1024 * 1024  # text files larger than this are weights, not configs


def resolve_token(token: str | None = None) -> str:
    """Explicit token, else ``HF_TOKEN``, else huggingface_hub's cached login; none raises PushError."""
    if token:
        return token
    env = os.environ.get("HF_TOKEN", "").strip()
    if env:
        return env
    import huggingface_hub

    try:
        cached = huggingface_hub.get_token()
    except Exception as err:  # e.g. a failed OIDC exchange; its message holds no secret
        raise PushError(f"{NO_TOKEN_MESSAGE} ({type(err).__name__})") from None
    if not cached:
        raise PushError(NO_TOKEN_MESSAGE)
    return cached


def check_model_folder(model_dir: Path, allow_token_like_strings: bool = False) -> None:
    """Raise PushError naming what a publishable folder lacks (config, weights, tokenizer, card) or what
    its card would publish; ``allow_token_like_strings`` lets ``hf_...`` strings through."""
    if not model_dir.is_dir():
        raise PushError(f"model folder not found: {model_dir}")
    missing = [f"{what} ({' or '.join(names)})" for what, names in REQUIRED_FILES.items()
               if not any((model_dir / n).is_file() for n in names)]
    if missing:
        raise PushError(f"{model_dir} is not a complete model folder, missing: {', '.join(missing)}")
    problems = [p for p in card_problems((model_dir / "README.md").read_text(encoding="utf-8", errors="replace"))
                if not (allow_token_like_strings and _is_token_problem(p))]
    if problems:
        raise PushError(f"{model_dir / 'README.md'} would publish {problems[0]}; rewrite it with "
                        "tagger.cards.write_model_card before pushing")
    run_info = model_dir / "tagger_run.json"
    if run_info.is_file():
        # Published as it is (it documents the run); warn rather than refuse, paths are not secrets.
        for problem in card_problems(run_info.read_text(encoding="utf-8", errors="replace")):
            if _is_token_problem(problem):
                if allow_token_like_strings:
                    continue
                raise PushError(f"{run_info.name} holds {problem}; remove it before pushing, or pass "
                                f"{ALLOW_FLAG} if it is not a token")
            logger.warning("%s will publish %s", run_info.name, problem)


def _files_to_upload(model_dir: Path) -> list[Path]:
    from huggingface_hub.utils import filter_repo_objects

    rel = [p.relative_to(model_dir).as_posix() for p in sorted(model_dir.rglob("*")) if p.is_file()]
    return [model_dir / r for r in filter_repo_objects(rel, ignore_patterns=IGNORE_PATTERNS)]


def _assert_inside(files: list[Path], model_dir: Path) -> None:
    """Refuse a file, or a linked folder, that a symbolic link leads out of the folder: the upload
    follows links, so a secret next to the model would be published under the link's name."""
    from huggingface_hub.utils import filter_repo_objects

    root = model_dir.resolve()
    links = [p.relative_to(model_dir).as_posix() for p in sorted(model_dir.rglob("*")) if p.is_symlink()]
    uploaded_links = [model_dir / r for r in filter_repo_objects(links, ignore_patterns=IGNORE_PATTERNS)]
    for path in [*files, *uploaded_links]:
        target = path.resolve()
        if not target.is_relative_to(root):
            # the user copies in what the link names, so say whether that is one file or a whole folder
            kind, fix = ("folder", "copy its files") if target.is_dir() else ("file", "copy the file")
            raise PushError(f"{path.relative_to(model_dir).as_posix()} is a symbolic link to a {kind} outside "
                            f"{model_dir}; {fix} into the folder or remove the link before pushing")


def _assert_message_clean(message: str, token: str, allow_token_like_strings: bool) -> None:
    """The commit message is published as the files are: the same token checks, and it is never echoed."""
    if token in message:
        raise PushError("the commit message contains your Hugging Face token; remove it before pushing")
    if not allow_token_like_strings and HF_TOKEN_PATTERN.search(message):
        raise PushError(f"the commit message contains a Hugging Face token (hf_...); remove it, or pass {ALLOW_FLAG} "
                        "if it is not a token")


def _is_token_problem(problem: str) -> bool:
    return "token" in problem  # card_problems' wording for an hf_... match


def _assert_token_absent(files: list[Path], model_dir: Path, token: str, allow_token_like_strings: bool) -> None:
    """Refuse a file that holds ``token`` (always) or any Hub-token-shaped string (unless allowed).

    A token pasted into a config or run description would be published with it, and it need not be
    the pusher's own. Neither is ever echoed.
    """
    needle = token.encode()
    for path in files:
        try:
            if path.stat().st_size > _SCAN_LIMIT:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        name = path.relative_to(model_dir).as_posix()
        if needle in data:
            raise PushError(f"{name} contains your Hugging Face token; remove it before pushing")
        # latin-1 maps every byte to one character, so the text pattern finds a token in any file
        if not allow_token_like_strings and HF_TOKEN_PATTERN.search(data.decode("latin-1")):
            raise PushError(f"{name} contains a Hugging Face token (hf_...); remove it before pushing, or pass "
                            f"{ALLOW_FLAG} if it is not a token")


def _network_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    errors: list[type[BaseException]] = [HfHubHTTPError, OfflineModeIsEnabled, OSError, ValueError]
    # The HTTP client depends on the huggingface_hub version (requests, httpx or httpx2).
    for module in ("httpx2", "httpx", "requests"):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        for name in ("HTTPError", "RequestException", "TransportError", "StreamError", "InvalidURL"):
            cls = getattr(mod, name, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                errors.append(cls)
    return tuple(dict.fromkeys(errors))


def _one_line(err: BaseException, token: str) -> str:
    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None)
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if status is not None and str(status) not in text:
        text = f"HTTP {status}: {text}"
    if isinstance(err, OSError) or "connect" in type(err).__name__.lower():
        text = f"cannot reach the Hub ({type(err).__name__}: {text})"
    return text.replace(token, "***")[:300]


def push_model(model_dir: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
               token: str | None = None, commit_message: str | None = None, endpoint: str | None = None,
               allow_token_like_strings: bool = False) -> str:
    """Create ``repo_id`` if needed and upload ``model_dir`` in one commit; return the commit URL.

    ``revision`` names a branch, created from the default branch if missing. ``endpoint`` defaults to
    ``huggingface_hub``'s (``HF_ENDPOINT``). Errors raise :class:`PushError` with one line naming the
    repository and the reason; the local folder is only read. A file that would be uploaded holding a
    Hub-token-shaped string (``hf_`` and 20 or more letters and digits) is refused, naming the file,
    unless ``allow_token_like_strings``; one holding the pusher's own token always is; the commit
    message is checked the same way. A file reached through a symbolic link that leaves the folder
    is refused.
    """
    import huggingface_hub
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    import tagger

    model_dir = Path(model_dir)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise PushError(f"invalid repository id {repo_id!r}: {str(err).splitlines()[0]}") from None
    check_model_folder(model_dir, allow_token_like_strings)
    token = resolve_token(token)
    files = _files_to_upload(model_dir)
    _assert_inside(files, model_dir)
    _assert_token_absent(files, model_dir, token, allow_token_like_strings)
    message = commit_message or f"Upload {model_dir.name} (tagger {tagger.__version__})"
    _assert_message_clean(message, token, allow_token_like_strings)

    api = huggingface_hub.HfApi(endpoint=endpoint, token=token, library_name="tagger",
                                library_version=tagger.__version__)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        logger.info("repository ready: %s", url)
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
        info = api.upload_folder(repo_id=repo_id, folder_path=model_dir, repo_type="model", revision=revision,
                                 commit_message=message, ignore_patterns=list(IGNORE_PATTERNS))
    except PushError:
        raise
    except _network_errors() as err:
        raise PushError(f"push to {repo_id} failed: {_one_line(err, token)}") from None
    logger.info("pushed %d files to %s", len(files), repo_id)
    return str(info.commit_url)


def push_best_run(out_dir: Path, summary: dict[str, Any], repo_id: str, *, private: bool = False) -> str:
    """Publish the best run of a finished sweep (``summary["best_run"]``) to ``repo_id``; its card links to the
    sweep's report, which travels with the model. Returns the repository's URL."""
    import json

    from tagger.cards import RUN_INFO_NAME, write_model_card
    from tagger.io import atomic_write_json, atomic_write_text
    from tagger.report import REPORT_NAME

    model_dir = out_dir / "runs" / summary["best_run"] / "model"
    if (out_dir / REPORT_NAME).is_file():
        atomic_write_text(model_dir / REPORT_NAME, (out_dir / REPORT_NAME).read_text(encoding="utf-8"))
        info = json.loads((model_dir / RUN_INFO_NAME).read_text())
        info.setdefault("sweep", {})["report"] = REPORT_NAME
        atomic_write_json(model_dir / RUN_INFO_NAME, info)
        write_model_card(model_dir, info)
    return push_model(model_dir, repo_id, private=private)
