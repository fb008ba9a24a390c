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
The reference cards are whole documents: each ``model_cards/<name>.md`` with a ``<name>.card.json`` is
compared with what ``scripts/reference_card.py --rerender <name>`` writes (its code, not a copy).

Only figures whose JSON is committed are rendered here; a figure without one (timings, CoNLL-2003) is
stated once, on the page that owns it, with the command that measures it.
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

import reference_card  # noqa: E402

#: Pages that may hold figure blocks.
PAGES = ("README.md", "docs/levers.md", "docs/results.md", "docs/decoding.md")

BLOCK = re.compile(r"(<!-- figures: (?P<json>\S+) table=(?P<table>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures -->)",
                   re.DOTALL)

BASELINE = "ce · argmax"
FOCAL = "focal(gamma=2.0)"
OVERSAMPLED = f"{FOCAL} + oversample_rare"
CRF = f"{OVERSAMPLED} + crf"  # a row without decoding in sweeps made before CRF runs were scored per decoding


def _crf(summary: dict[str, Any]) -> str:
    """The CRF run's plain row: ``CRF`` in older summaries, ``CRF · viterbi`` (its own Viterbi, no bias) since."""
    return CRF if any(r.get("label") == CRF for r in summary["table"]) else f"{CRF} · viterbi"


# ------------------------------------------------------------------------------------------ helpers


def _row(summary: dict[str, Any], label: str) -> dict[str, Any]:
    hits = [r for r in summary["table"] if r.get("label") == label]
    if len(hits) != 1:
        raise KeyError(f"summary.json has {len(hits)} rows labelled {label!r}")
    return hits[0]


def _pct(x: float) -> str:
    return f"{x * 100:.1f}"


def _pm(row: dict[str, Any], key: str) -> str:
    return f"{row[key + '_mean'] * 100:.1f} ± {row[key + '_std'] * 100:.1f}"


def _rare_types(summary: dict[str, Any]) -> list[str]:
    """The rare types oversample_rare chose (recorded by the oversampled runs), else every type."""
    for run in summary["runs"]:
        rare = (run.get("sampling") or {}).get("rare_types")
        if rare:
            return list(rare)
    return list(summary["types"])


def _verdict(summary: dict[str, Any], label: str) -> str:
    sig = summary.get("significance", {}).get(label)
    if sig is None:
        return ""
    return {"noise": "noise"}.get(sig["verdict"], sig["verdict"].replace(f"than {BASELINE}", "on every seed")
                                  .replace("better than ce", "better on every seed")
                                  .replace("worse than ce", "worse on every seed"))


def _short(label: str) -> str:
    """A row label as the docs write it: ``focal`` for ``focal(gamma=2.0)``."""
    return label.replace(FOCAL, "focal")


def _gap(a: dict[str, Any], b: dict[str, Any]) -> float:
    return (a["test_f1_mean"] - b["test_f1_mean"]) * 100


# ---------------------------------------------------------------------------------------- renderers


README_ROWS = (
    (BASELINE, "`ce` · argmax"),
    (f"{FOCAL} · viterbi+threshold", "`focal` · Viterbi + tuned `O` threshold"),
    (f"{OVERSAMPLED} · viterbi", "`focal` + `oversample_rare` · Viterbi"),
    (None, "`focal` + `oversample_rare` + CRF head"),  # None: the CRF row, :func:`_crf`
)


def readme_table(summary: dict[str, Any]) -> str:
    """README's WNUT-17 table: test F1, the rare types' F1 and the verdict of the rows it shows."""
    rare = _rare_types(summary)
    lines = [f"| WNUT-17 | test F1 | rare types ({' / '.join(rare)}) | verdict |", "|---|---|---|---|"]
    for label, shown in README_ROWS:
        label = label or _crf(summary)
        row = _row(summary, label)
        f1 = _pm(row, "test_f1")
        if label == summary["best"]:
            shown, f1 = f"{shown} (**best by validation**)", f"**{f1}**"
        types = " / ".join(_pct(row["per_type_f1_mean"][t]) for t in rare)
        lines.append(f"| {shown} | {f1} | {types} | {_verdict(summary, label)} |")
    return "\n".join(lines) + "\n"


def readme_levers(summary: dict[str, Any]) -> str:
    """README's sentence on what each lever adds on WNUT-17, every number from the summary."""
    decodings = ("argmax", "viterbi", "viterbi+threshold")
    focal_gain = [_gap(_row(summary, f"{FOCAL} · {d}"), _row(summary, f"ce · {d}")) for d in decodings]
    ce, focal, over = _row(summary, BASELINE), _row(summary, f"{FOCAL} · argmax"), _row(summary, f"{OVERSAMPLED} · argmax")
    rare = _rare_types(summary)
    lifts = ", ".join(f"`{t}` {_pct(focal['per_type_f1_mean'][t])} -> {_pct(over['per_type_f1_mean'][t])}" for t in rare)
    viterbi_gain = [_gap(_row(summary, f"{base} · viterbi"), _row(summary, f"{base} · argmax"))
                    for base in ("ce", FOCAL, OVERSAMPLED)]
    best = _row(summary, _crf(summary))
    crf_gain = _gap(best, _row(summary, f"{OVERSAMPLED} · viterbi"))
    return (f"On WNUT-17 the levers add up: focal loss gains {min(focal_gain):.1f}-{max(focal_gain):.1f} test F1 over "
            f"`ce` (argmax, Viterbi, threshold), oversampling the sentences with the rarest types moves them "
            f"under focal loss and argmax ({lifts}), Viterbi decoding adds {min(viterbi_gain):.1f}-"
            f"{max(viterbi_gain):.1f} points over argmax for free while making every output well-formed, and "
            f"a CRF head on top adds {crf_gain:.1f} more: {_pm(best, 'test_f1')} against {_pm(ce, 'test_f1')} "
            f"for `ce` · argmax.\n")


def best_line(summary: dict[str, Any]) -> str:
    """docs/results.md's sentence on the default sweep's best setting."""
    best, ce = _row(summary, summary["best"]), _row(summary, BASELINE)
    return (f"The best setting by validation F1 is `{summary['best']}`: test F1 {_pm(best, 'test_f1')} against "
            f"{_pm(ce, 'test_f1')} for `{BASELINE}`, {_verdict(summary, summary['best']) or 'the baseline'}.\n")


def _table(summary: dict[str, Any], labels: list[str], columns: list[str], dagger: bool) -> str:
    types = [t for t in columns if t in summary["types"]]
    head = ["run · decoding", "val F1", "test F1", "test P", "test R", *types, "test ECE"]
    head += ["train s", "vs ce · argmax"] if dagger else []
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for label in labels:
        row = _row(summary, label)
        name = _short(label) + (" †" if dagger else "") + (" **(best)**" if label == summary["best"] else "")
        verdict = (summary.get("significance", {}).get(label) or {}).get("verdict", "")
        cells = [name, _pm(row, "validation_f1"), _pm(row, "test_f1"), _pct(row["test_precision_mean"]),
                 _pct(row["test_recall_mean"]), *[_pct(row["per_type_f1_mean"][t]) for t in types],
                 _pct(row["test_ece_mean"])]
        if dagger:
            cells += [f"{row['train_seconds_mean']:.0f}",
                      "**better**" if verdict.startswith("better") else ("**worse**" if verdict.startswith("worse") else verdict)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def levers_table(summary: dict[str, Any]) -> str:
    """docs/levers.md: every row of the default sweep, the lever table's columns."""
    return _table(summary, [r["label"] for r in summary["table"] if not r.get("peer")], list(summary["types"]), True)


def decoding_crf_table(summary: dict[str, Any]) -> str:
    """docs/decoding.md: the CRF head against Viterbi with fixed rules, from the default sweep."""
    labels = ["ce · viterbi", f"{OVERSAMPLED} · viterbi", _crf(summary)]
    types = [t for t in summary["types"] if t not in ("location", "person")]
    return _table(summary, labels, types, False)


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "readme": readme_table,
    "readme-levers": readme_levers,
    "best-line": best_line,
    "levers": levers_table,
    "decoding-crf": decoding_crf_table,
}


# ------------------------------------------------------------------------------------------ the docs


def render_page(text: str, root: Path = REPO) -> str:
    """``text`` with every figure block rendered from its JSON."""
    cache: dict[str, dict[str, Any]] = {}

    def fill(m: re.Match[str]) -> str:
        path = m.group("json")
        if path not in cache:
            cache[path] = json.loads((root / path).read_text(encoding="utf-8"))
        return m.group(1) + RENDERERS[m.group("table")](cache[path]) + m.group(5)

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
