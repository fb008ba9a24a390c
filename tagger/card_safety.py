"""What keeps a model card safe to publish: path-bearing fields of a run description reduced to names, and
a rendered card refused when it still holds an absolute local path or a Hugging Face token."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from tagger.errors import TaggerError


class CardSafetyError(TaggerError, ValueError):
    """A rendered card would leak a local path or a token; nothing is written."""


_WIN_ABS = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
# Roots under which local files usually live; a URL path such as https://host/home/x is not matched
# because the root must start a token (after whitespace, a quote, '(', '=', ':', 'file://' or the line
# start) and be followed by '/' or the token's end.
_ABS_PATH = re.compile(
    r"(?:^|[\s\"'`(\[=,:]|(?<=file://))(~/|/(?:root|home|work|Users|tmp|mnt|media|private|var|opt|srv|scratch|"
    r"data|content|kaggle|gpfs|lustre|nfs|workspace|usr)(?=[/\s\"'`)\],;]|$))",
    re.MULTILINE,
)
_WIN_PATH = re.compile(r"(?:^|[^A-Za-z0-9])([A-Za-z]:\\)")
HF_TOKEN = re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{20,}")


def is_abs_path(value: str) -> bool:
    return value.startswith(("/", "~")) or bool(_WIN_ABS.match(value))


def sanitize_path(value: str) -> str:
    """Keep only the last component of an absolute or home-relative path; anything else unchanged.

    >>> sanitize_path("/home/me/models/my-encoder/")
    'my-encoder'
    >>> sanitize_path("sentence-transformers/all-MiniLM-L6-v2")
    'sentence-transformers/all-MiniLM-L6-v2'
    """
    if not is_abs_path(value):
        return value
    pure = PureWindowsPath(value) if _WIN_ABS.match(value) else PurePosixPath(value)
    return pure.name or str(value).strip("/\\") or "model"


def _sanitize_command(command: str) -> str:
    # Config paths on the command line are the usual leak; keep the file names, they are informative.
    out = []
    for word in command.split():
        key, sep, val = word.rpartition("=")
        if sep and is_abs_path(val):
            out.append(f"{key}={sanitize_path(val)}")
        elif is_abs_path(word):
            out.append(sanitize_path(word))
        else:
            out.append(word)
    return " ".join(out)


def sanitize_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a run description with the known path-bearing fields reduced to safe names.

    Covers ``base_model``, ``dataset.sources`` and ``command``. Tokens are deliberately not stripped:
    one that reaches a card means a secret leaked upstream, so :func:`assert_card_clean` refuses it.
    """
    out = dict(info)
    if isinstance(out.get("base_model"), str):
        out["base_model"] = sanitize_path(out["base_model"].rstrip("/\\") or out["base_model"])
    dataset = out.get("dataset")
    if isinstance(dataset, Mapping):
        dataset = dict(dataset)
        if isinstance(dataset.get("sources"), Mapping):
            dataset["sources"] = {k: sanitize_path(v) if isinstance(v, str) else v
                                  for k, v in dataset["sources"].items()}
        for key in ("name", "hub_id"):
            if isinstance(dataset.get(key), str):
                dataset[key] = sanitize_path(dataset[key])
        out["dataset"] = dataset
    if isinstance(out.get("command"), str):
        out["command"] = _sanitize_command(out["command"])
    return out


def card_problems(text: str) -> list[str]:
    """What makes ``text`` unsafe to publish (empty when clean); a found token is never echoed."""
    problems = []
    for m in _ABS_PATH.finditer(text):
        start = text.rfind("\n", 0, m.start(1)) + 1
        line = text[start:].split("\n", 1)[0].strip()
        problems.append(f"an absolute local path ({m.group(1)!r} in {line[:80]!r})")
    for m in _WIN_PATH.finditer(text):
        problems.append(f"absolute Windows path starting {m.group(1)!r}")
    if HF_TOKEN.search(text):
        problems.append("a Hugging Face token (hf_...)")
    return problems


def assert_card_clean(text: str) -> None:
    """Raise :class:`CardSafetyError` if ``text`` holds an absolute local path or a token-like string."""
    problems = card_problems(text)
    if problems:
        raise CardSafetyError("model card not written, it would publish " + "; ".join(dict.fromkeys(problems)))
