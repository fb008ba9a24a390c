"""docs/architecture.md names every module of the ``tagger`` package, and only modules that exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"


def _layout_block() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1]
    return section.split("```", 2)[1].splitlines()


def layout_modules() -> set[str]:
    """Modules the layout lists: the comma-separated ``x.py`` paths of its lines indented by two spaces
    (they sit under ``tagger/``; a description column starts after two or more spaces)."""
    names: set[str] = set()
    for line in _layout_block():
        if not line.startswith("  ") or line.startswith("   "):
            continue
        paths = re.split(r"\s{2,}", line.strip())[0]
        names.update("tagger/" + p.strip() for p in paths.split(",") if p.strip().endswith(".py"))
    return names


def package_modules() -> set[str]:
    return {p.relative_to(REPO).as_posix() for p in (REPO / "tagger").rglob("*.py") if "__pycache__" not in p.parts}


def test_every_package_module_is_in_the_layout() -> None:
    missing = package_modules() - layout_modules()
    assert not missing, f"docs/architecture.md's layout does not name: {sorted(missing)}"


def test_every_module_the_doc_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = layout_modules() | set(re.findall(r"\btagger/[\w/]+\.py\b", text))
    absent = sorted(n for n in named if not (REPO / n).is_file())
    assert not absent, f"docs/architecture.md names modules that do not exist: {absent}"


def test_layout_names_each_module_once() -> None:
    seen: list[str] = []
    for line in _layout_block():
        if line.startswith("  ") and not line.startswith("   "):
            seen += [p.strip() for p in re.split(r"\s{2,}", line.strip())[0].split(",") if p.strip().endswith(".py")]
    dupes = sorted({n for n in seen if seen.count(n) > 1})
    assert not dupes, f"docs/architecture.md's layout names these twice: {dupes}"
