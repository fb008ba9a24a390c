#!/usr/bin/env python
"""Render the figures the docs show from the committed JSON they come from, and check the docs against them.

    python scripts/figures.py --check      # exit 1 and name every block that differs from its JSON
    python scripts/figures.py --write      # rewrite the blocks (after a new summary.json is committed)

A figure block in a Markdown page is delimited by two HTML comments, invisible on GitHub:

    <!-- figures: model_cards/wnut17-minilm.summary.json table=readme -->
    ...rendered text...
    <!-- /figures -->

``table`` names a renderer in :data:`RENDERERS`; it receives the JSON named in the opening comment (a
summary.json as ``recipes/ner.py`` and ``scripts/reference_card.py`` write it) and returns the block's text.
The renderers live in the sibling ``_figures_*.py`` modules, one per kind of JSON they read.
The reference cards are whole documents: each ``model_cards/<name>.md`` with a ``<name>.card.json`` is
compared with what ``scripts/reference_card.py --rerender <name>`` writes (its code, not a copy).

A page states a measured figure only inside a block rendered from the committed JSON of the command that
measured it. A block whose JSON is not committed yet stays empty, and only for the files in
:data:`AWAITED`; any other missing JSON is an error, and a file of :data:`AWAITED` that is committed must
leave the list (tests/test_figures.py fails until it does), so from then on its blocks must render.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))  # reference_card is a sibling script, not a package module

import _figures_bench  # noqa: E402
import reference_card  # noqa: E402
from _figures_levers import decoding_crf_notes, levers_notes, rare_types_line, runs_line  # noqa: E402
from _figures_predict import (int8_scan, int8_scan_line, predict_conll2003, predict_summary,  # noqa: E402
                              predict_table, predict_wnut17)
from _figures_sweeps import (best_line, ce_decodings, comparison_line, comparison_table,  # noqa: E402
                             conll_table, context_cost, decoding_crf_table, epochs_line, levers_table,
                             readme_cost, readme_levers, readme_table)

#: JSON files that pages have blocks for but that are not committed yet: their blocks stay empty until the
#: command above each block has run and its file is committed (then remove the file from here).
AWAITED: frozenset[str] = frozenset()

#: Pages that may hold figure blocks.
PAGES = ("README.md", "docs/levers.md", "docs/results.md", "docs/decoding.md", "docs/performance.md",
         "docs/integrations.md")

BLOCK = re.compile(r"(<!-- figures: (?P<json>\S+) table=(?P<table>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures -->)",
                   re.DOTALL)

#: table name -> renderer: the summary and comparison figures (_figures_sweeps, _figures_levers), the
#: prediction figures (_figures_predict) and the training and loss figures (_figures_bench).
RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "int8-scan": int8_scan,
    "int8-scan-line": int8_scan_line,
    "predict-table": predict_table,
    "predict-wnut17": predict_wnut17,
    "predict-conll2003": predict_conll2003,
    "predict-summary": predict_summary,
    "ce-decodings": ce_decodings,
    "conll": conll_table,
    "context-cost": context_cost,
    "epochs-line": epochs_line,
    "comparison": comparison_table,
    "comparison-line": comparison_line,
    "readme": readme_table,
    "readme-cost": readme_cost,
    "readme-levers": readme_levers,
    "best-line": best_line,
    "levers": levers_table,
    "decoding-crf": decoding_crf_table,
    "levers-notes": levers_notes,
    "rare-types": rare_types_line,
    "runs-line": runs_line,
    "decoding-crf-notes": decoding_crf_notes,
    **_figures_bench.RENDERERS,
}


# ------------------------------------------------------------------------------------------ the docs


def load(path: str, root: Path = REPO) -> dict[str, Any] | None:
    """The JSON a block names; None for a file of :data:`AWAITED` that is not committed yet (its block
    renders empty)."""
    file = root / path
    if not file.is_file() and path in AWAITED:
        return None
    if not file.is_file():
        raise FileNotFoundError(f"{path}: a figure block names it, but it is not committed (nor in figures.AWAITED)")
    return json.loads(file.read_text(encoding="utf-8"))


def render_page(text: str, root: Path = REPO) -> str:
    """``text`` with every figure block rendered from its JSON."""
    cache: dict[str, dict[str, Any] | None] = {}

    def fill(m: re.Match[str]) -> str:
        path = m.group("json")
        if path not in cache:
            cache[path] = load(path, root)
        data = cache[path]
        return m.group(1) + ("" if data is None else RENDERERS[m.group("table")](data)) + m.group(5)

    return BLOCK.sub(fill, text)


def blocks(text: str) -> list[tuple[str, str, str]]:
    """``(json, table, body)`` of every figure block of a page."""
    return [(m.group("json"), m.group("table"), m.group("body")) for m in BLOCK.finditer(text)]


def reference_cards(root: Path = REPO) -> list[str]:
    """The reference cards that are rendered from committed JSON (those with a ``.card.json``)."""
    return sorted(p.name.removesuffix(".card.json") for p in (root / "model_cards").glob("*.card.json"))


def stale(root: Path = REPO) -> list[str]:
    """What differs from its JSON: ``page (table=...)`` per block, ``model_cards/<name>.md`` per card."""
    out = []
    for page in PAGES:
        text = (root / page).read_text(encoding="utf-8")
        rendered = dict(((j, t), b) for j, t, b in blocks(render_page(text, root)))
        out += [f"{page} (table={t})" for j, t, b in blocks(text) if rendered[(j, t)] != b]
    for name in reference_cards(root):
        card = (root / "model_cards" / f"{name}.md").read_text(encoding="utf-8")
        if card != reference_card.render_committed(name, root / "model_cards"):
            out.append(f"model_cards/{name}.md")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when a block or card differs from its JSON")
    mode.add_argument("--write", action="store_true", help="render every block and card from its JSON")
    args = p.parse_args(argv)
    if args.check:
        bad = stale()
        for item in bad:
            sys.stderr.write(f"{item} differs from its JSON: python scripts/figures.py --write\n")
        return 1 if bad else 0
    for page in PAGES:
        path = REPO / page
        text = path.read_text(encoding="utf-8")
        new = render_page(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            sys.stdout.write(f"wrote {page}\n")
    for name in reference_cards():
        reference_card.main(["--rerender", name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
