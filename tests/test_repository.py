"""The repository keeps the shape its contributors rely on: short functions, docs about the present,
no machine-specific paths, a library that stands without the recipes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 80


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))


def _markdown_files() -> list[Path]:
    skip = {".git", ".venv", "outputs", "build", "dist"}
    return sorted(p for p in REPO.rglob("*.md") if not skip & set(p.relative_to(REPO).parts))


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES, root: Path = REPO) -> list[str]:
    """``file:line name (N lines)`` for every function longer than ``limit`` lines, decorators excluded."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
            if length > limit:
                out.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return out


def test_long_functions_are_found(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(80))
    (tmp_path / "m.py").write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n")
    assert long_functions(tmp_path / "m.py", root=tmp_path) == ["m.py:5 long (81 lines)"]
    assert long_functions(tmp_path / "m.py", limit=81, root=tmp_path) == []


def test_no_function_in_the_library_or_recipes_exceeds_80_lines() -> None:
    found = [hit for p in _python_files("tagger", "recipes") for hit in long_functions(p)]
    assert not found, "split these functions:\n" + "\n".join(found)


def test_the_library_never_imports_the_recipes() -> None:
    offenders = []
    for path in _python_files("tagger"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in ("recipes", "scripts")]
    assert not offenders


# Words that belong to a work tracker's story, not to a user's documentation.
_HISTORY = re.compile(r"\b(session|issue)s?\b", re.IGNORECASE)


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_documents_speak_about_the_project_as_it_is(path: Path) -> None:
    hits = [f"{path.relative_to(REPO)}:{i}: {line.strip()[:120]}"
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if _HISTORY.search(line)]
    assert not hits, "\n".join(hits)


# An absolute path of one machine in code means the code works on that machine only.
_MACHINE_PATH = re.compile(r"""["'](/work|/root|/home/\w+|/Users/\w+)(/|["'])""")


def test_no_machine_paths_in_code() -> None:
    hits = []
    for path in _python_files("tagger", "recipes", "scripts") + [REPO / ".ci" / "run"]:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _MACHINE_PATH.search(line) and not line.lstrip().startswith(">>>"):  # doctest examples are fine
                hits.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_reference_cards_carry_the_numbers_of_their_summary_json() -> None:
    """model_cards/<name>.summary.json is the sweep behind <name>.md: every row of its table appears in the
    card with the same validation and test F1 (mean ± std, as the table prints them), and the card's model
    is the summary's best run."""
    import json

    root = Path(__file__).resolve().parents[1] / "model_cards"
    summaries = sorted(root.glob("*.summary.json"))
    assert root / "wnut17-minilm.summary.json" in summaries
    for path in summaries:
        summary = json.loads(path.read_text(encoding="utf-8"))
        card = (root / path.name.replace(".summary.json", ".md")).read_text(encoding="utf-8")
        for row in summary["table"]:
            if row.get("peer"):
                continue
            cells = [f"{100 * row[f'{split}_f1_mean']:.1f} ± {100 * row[f'{split}_f1_std']:.1f}"
                     for split in ("validation", "test")]
            assert any(row["label"] in line and " | ".join(cells) in line for line in card.splitlines()), row["label"]
        assert summary["best_run"].split("-seed")[0] in card or summary["best"] in card
