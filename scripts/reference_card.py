#!/usr/bin/env python
"""Publish a finished sweep as a reference card in model_cards/.

    python scripts/reference_card.py outputs/wnut17-minilm --name wnut17-minilm \
        --command "accelerate launch recipes/ner.py" --peer outputs/peer-wnut17.json

Writes ``model_cards/<name>.md`` (the card of the sweep's best model, rendered from
``model_cards/template.md``, which carries the comparison of every loss), followed by the sweep's
summary (table, paired bootstrap against ce) and its plot, drawn to ``model_cards/<name>.png``, and
the sweep's ``summary.json`` (peers included) as ``model_cards/<name>.summary.json``, so that a
program can check every number of the card.
``--peer`` adds the row of a peer run (``scripts/bench_train.py --peer-json``) to the tables and the plot.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tagger.cards import assert_card_clean, render_model_card, sanitize_info
from tagger.io import atomic_write_text
from tagger.peer import PeerRecord
from tagger.sweep import add_peer, format_table, plot_summary, summary_markdown

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dir", help="output_dir of a finished sweep (holds summary.json and runs/)")
    p.add_argument("--name", required=True, help="card name, e.g. wnut17-minilm")
    p.add_argument("--command", required=True, help="the exact command that reproduces the sweep")
    p.add_argument("--peer", action="append", default=[],
                   help="a peer's JSON from scripts/bench_train.py --peer-json (repeatable): one more table row")
    p.add_argument("--note", default="", help="a paragraph added under the summary (e.g. fewer seeds than usual)")
    args = p.parse_args(argv)

    sweep = Path(args.sweep_dir)
    summary = json.loads((sweep / "summary.json").read_text())
    summary["table_text"] = format_table(summary)
    for peer_file in args.peer:
        summary = add_peer(summary, PeerRecord.load(peer_file))
    best_run = summary["best_run"]
    info = json.loads((sweep / "runs" / best_run / "model" / "tagger_run.json").read_text())
    info["command"] = args.command
    info["sweep"] = {"table": summary["table"], "best": summary["best"]}
    card = str(render_model_card(sanitize_info(info)))

    out_png = REPO / "model_cards" / f"{args.name}.png"
    plot_summary(summary, out_png)
    md_summary = summary_markdown(summary, out_png.name).replace("# Sweep summary", "## The whole sweep")
    text = card.rstrip() + "\n\n" + md_summary
    if args.note:
        text += "\n" + args.note.strip() + "\n"
    text += f"\nReproduce: `{args.command}` (then `python scripts/reference_card.py ...` as above).\n"
    assert_card_clean(text)
    atomic_write_text(REPO / "model_cards" / f"{args.name}.md", text)
    kept = {k: v for k, v in summary.items() if k != "table_text"}
    atomic_write_text(REPO / "model_cards" / f"{args.name}.summary.json", json.dumps(kept, indent=1) + "\n")
    sys.stdout.write(f"wrote model_cards/{args.name}.md and {out_png.name} (best run: {best_run})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
