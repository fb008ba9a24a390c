"""The figures the docs show are the ones their committed JSON renders (scripts/figures.py)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("figures", REPO / "scripts" / "figures.py")
figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures)


def test_every_block_and_reference_card_matches_its_json() -> None:
    assert figures.stale() == [], "run: python scripts/figures.py --write"


def test_the_wnut17_card_is_rendered_from_committed_json() -> None:
    assert "wnut17-minilm" in figures.reference_cards()


def test_blocks_name_a_renderer_and_a_committed_json() -> None:
    found = set()
    for page in figures.PAGES:
        for json_path, table, _ in figures.blocks((REPO / page).read_text(encoding="utf-8")):
            assert table in figures.RENDERERS, f"{page}: unknown table={table}"
            assert (REPO / json_path).is_file(), f"{page}: {json_path} is not committed"
            found.add((page, table))
    assert {("README.md", "readme"), ("README.md", "readme-cost"), ("README.md", "readme-levers"),
            ("docs/levers.md", "levers"), ("docs/levers.md", "comparison"),
            ("docs/decoding.md", "decoding-crf"), ("docs/results.md", "best-line")} <= found


def test_a_changed_figure_is_caught() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    body = figures.blocks(text)[0][2]
    tampered = text.replace(body, body.replace("46.0 ± 1.5", "46.1 ± 1.5"), 1)
    assert tampered != text and figures.render_page(tampered) == text


def test_readme_results_state_numbers_only_in_rendered_blocks() -> None:
    """Every number of the README's results paragraph comes from the JSON: outside the figure blocks the
    section holds no decimal figure (a number there could drift from summary.json)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    outside = figures.BLOCK.sub("", section)
    assert re.findall(r"\d+\.\d+", outside) == []
    rendered = "".join(body for _, _, body in figures.blocks(section))
    for number in ("38.9 ± 3.4", "46.0 ± 1.5"):
        assert number in rendered
