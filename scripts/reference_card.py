#!/usr/bin/env python
"""Publish a finished sweep as a reference card in model_cards/, or render it again from what is committed.

    python scripts/reference_card.py outputs/wnut17-minilm --name wnut17-minilm \
        --command "accelerate launch recipes/ner.py" --peer outputs/peer-wnut17.json
    python scripts/reference_card.py --rerender wnut17-minilm      # after a change to the template or cards.py
    python scripts/reference_card.py --check wnut17-minilm         # exit 1 when the committed card differs

From a sweep folder it writes ``model_cards/<name>.md`` (the card of the sweep's best model, rendered
from ``model_cards/template.md``, which carries the comparison of every loss), followed by the sweep's
summary (table, paired bootstrap against ce) and its plot, drawn to ``model_cards/<name>.png``; the
sweep's ``summary.json`` (peers included) as ``model_cards/<name>.summary.json``, so that a program can
check every number of the card; and ``model_cards/<name>.card.json``, the best run's description
(``tagger_run.json``, sanitised) without the scores that summary.json already holds for that run, with the
launch command and the card's note.

``--rerender`` and ``--check`` need no sweep folder: they render the card from those two committed JSON
files alone, so a card follows its template and never drifts from its summary.json.
``--peer`` adds the row of a peer run (``scripts/bench_train.py --peer-json``) to the tables and the plot.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tagger.cards import assert_card_clean, render_model_card, sanitize_info
from tagger.io import atomic_write_text
from tagger.peer import PeerRecord
from tagger.summary import add_peer
from tagger.summary_files import format_table, plot_summary, summary_markdown

REPO = Path(__file__).resolve().parents[1]
CARDS = REPO / "model_cards"

# What summary.json holds for every run: the card takes these from there (one home per measured fact).
MEASURED_KEYS = ("best_epoch", "validation", "test", "train_seconds", "hardware")


def card_paths(name: str, folder: Path = CARDS) -> dict[str, Path]:
    """The committed files of reference card ``name``."""
    return {"md": folder / f"{name}.md", "png": folder / f"{name}.png",
            "summary": folder / f"{name}.summary.json", "card": folder / f"{name}.card.json"}


def best_run_record(summary: dict[str, Any]) -> dict[str, Any]:
    """summary.json's entry of the best run (the model the card describes)."""
    hits = [r for r in summary["runs"] if r.get("run") == summary["best_run"]]
    if len(hits) != 1:
        raise ValueError(f"summary.json has {len(hits)} runs named {summary['best_run']!r}")
    return hits[0]


def render_card(name: str, summary: dict[str, Any], card: dict[str, Any]) -> str:
    """The reference card's text: the best run's card, the whole sweep's summary and the note.

    ``summary``: summary.json as committed (peers included); ``card``: ``{"run": the best run's description
    without MEASURED_KEYS, "command": the launch command, "note": a paragraph or ""}``.
    """
    summary = {**summary, "table_text": format_table(summary)}
    best = best_run_record(summary)
    info = {**card["run"], **{k: best[k] for k in MEASURED_KEYS if k in best}}
    info["command"] = card["command"]
    info["sweep"] = {"table": summary["table"], "best": summary["best"]}
    text = str(render_model_card(sanitize_info(info)))
    md_summary = summary_markdown(summary, f"{name}.png").replace("# Sweep summary", "## The whole sweep")
    text = text.rstrip() + "\n\n" + md_summary
    if card.get("note"):
        text += "\n" + str(card["note"]).strip() + "\n"
    text += (f"\nReproduce the sweep: `{card['command']}`, then `python scripts/reference_card.py ...` as "
             "above; the card alone, from its committed JSON: `python scripts/reference_card.py --rerender "
             f"{name}`.\n")
    assert_card_clean(text)
    return text


def render_committed(name: str, folder: Path = CARDS) -> str:
    """The card ``name`` rendered from its committed summary.json and card.json."""
    paths = card_paths(name, folder)
    return render_card(name, json.loads(paths["summary"].read_text(encoding="utf-8")),
                       json.loads(paths["card"].read_text(encoding="utf-8")))


def from_sweep(args: argparse.Namespace) -> int:
    sweep = Path(args.sweep_dir)
    summary = json.loads((sweep / "summary.json").read_text())
    for peer_file in args.peer:
        summary = add_peer(summary, PeerRecord.load(peer_file))
    summary = {k: v for k, v in summary.items() if k != "table_text"}
    info = json.loads((sweep / "runs" / summary["best_run"] / "model" / "tagger_run.json").read_text())
    run = {k: v for k, v in sanitize_info(info).items() if k not in (*MEASURED_KEYS, "command", "sweep")}
    card = {"run": run, "command": args.command, "note": args.note.strip()}
    text = render_card(args.name, summary, card)
    paths = card_paths(args.name)
    plot_summary({**summary, "table_text": format_table(summary)}, paths["png"])
    atomic_write_text(paths["md"], text)
    atomic_write_text(paths["summary"], json.dumps(summary, indent=1) + "\n")
    atomic_write_text(paths["card"], json.dumps(card, indent=1) + "\n")
    sys.stdout.write(f"wrote model_cards/{args.name}.md, .png, .summary.json, .card.json "
                     f"(best run: {summary['best_run']})\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dir", nargs="?", help="output_dir of a finished sweep (holds summary.json and runs/)")
    p.add_argument("--name", help="card name, e.g. wnut17-minilm")
    p.add_argument("--command", help="the exact command that reproduces the sweep")
    p.add_argument("--peer", action="append", default=[],
                   help="a peer's JSON from scripts/bench_train.py --peer-json (repeatable): one more table row")
    p.add_argument("--note", default="", help="a paragraph added under the summary (e.g. fewer seeds than usual)")
    p.add_argument("--rerender", metavar="NAME", help="render model_cards/NAME.md again from its committed JSON")
    p.add_argument("--check", metavar="NAME", help="exit 1 when model_cards/NAME.md differs from its JSON's rendering")
    args = p.parse_args(argv)

    if args.rerender or args.check:
        name = args.rerender or args.check
        text = render_committed(name)
        target = card_paths(name)["md"]
        if args.check:
            if target.read_text(encoding="utf-8") != text:
                sys.stderr.write(f"model_cards/{name}.md differs from its rendering; run "
                                 f"python scripts/reference_card.py --rerender {name}\n")
                return 1
            return 0
        atomic_write_text(target, text)
        sys.stdout.write(f"wrote model_cards/{name}.md\n")
        return 0
    if not (args.sweep_dir and args.name and args.command):
        p.error("a sweep folder needs --name and --command (or use --rerender / --check NAME)")
    return from_sweep(args)


if __name__ == "__main__":
    sys.exit(main())
