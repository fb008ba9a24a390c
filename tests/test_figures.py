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


def test_both_reference_cards_are_rendered_from_committed_json() -> None:
    assert {"wnut17-minilm", "conll2003-minilm"} <= set(figures.reference_cards())


def test_blocks_name_a_renderer_and_a_committed_json() -> None:
    found = set()
    for page in figures.PAGES:
        for json_path, table, _ in figures.blocks((REPO / page).read_text(encoding="utf-8")):
            assert table in figures.RENDERERS, f"{page}: unknown table={table}"
            assert (REPO / json_path).is_file(), f"{page}: {json_path} is not committed"
            found.add((page, table))
    assert {("README.md", "readme"), ("README.md", "readme-cost"), ("README.md", "readme-levers"),
            ("docs/levers.md", "levers"), ("docs/levers.md", "comparison"),
            ("docs/decoding.md", "decoding-crf"), ("docs/results.md", "best-line"), ("docs/results.md", "conll"),
            ("docs/results.md", "epochs-line"), ("docs/levers.md", "context-cost"),
            ("docs/decoding.md", "ce-decodings"), ("README.md", "best-line")} <= found


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


def _run(label: str, seed: int, tokens: int, steps: int, train_s: float, run_s: float, context: int = 0) -> dict:
    report = {"context": context, "windows": 100, "windows_with_context": 90, "context_subwords": 3000,
              "subwords": 5000} if context else {"context": 0}
    return {"label": label, "seed": seed, "train_tokens": tokens, "optimizer_steps": steps, "train_seconds": train_s,
            "run_seconds": run_s, "train_tokens_per_second": tokens / train_s, "context": report,
            "hardware": "CPU: 2 cores", "best_epoch": 2,
            "history": [{"epoch": 1, "validation_f1": 0.80 + seed / 100}, {"epoch": 2, "validation_f1": 0.85}]}


def test_context_cost_and_epochs_lines_are_the_runs_records_hand_computed() -> None:
    summary = {"runs": [_run("ce", 1, 2000, 10, 100.0, 150.0), _run("ce", 2, 2000, 10, 120.0, 170.0),
                        _run("ce + context=16", 1, 5000, 25, 250.0, 330.0, 16),
                        _run("ce + context=16", 2, 5000, 25, 270.0, 350.0, 16)]}
    text = figures.context_cost(summary)
    # 3000 of 5000 subwords context; 5000/2000 = 2.50x; 200 subwords a step in both; 260/110 = 2.36x the
    # training time, 340/160 = 2.12x a whole run; tokens/s (20+18.5)/2 over (20+16.67)/2 = 1.05x
    assert text == ("`ce + context=16` gave context to 90 of 100 training windows; 60% of the subwords it trained "
                    "on were context, 2.50x the subwords of `ce`, in 25 optimizer steps against 10 (200 subwords a step "
                    "against 200: batches are cut by a token budget), so its training loop took "
                    "2.36x as long (4 min 20 s a run against 1 min 50 s, at 1.05x the subwords per second) and a "
                    "whole run, evaluation with context included, 2.12x (means over seeds, CPU: 2 cores).\n")
    assert figures.epochs_line(summary) == ("`ce`'s validation F1 (its training decoding, mean over 2 seeds): 81.5 "
                                            "after epoch 1, 85.0 after epoch 2; the best epoch was the last in 2 of "
                                            "2 runs.\n")


def test_prediction_lines_are_the_bench_figures_hand_computed() -> None:
    def row(seconds: float, ratio: float) -> dict:
        return {"seconds": seconds, "words_per_second": 1000 * ratio, "sentences_per_second": 1.0,
                "ratio_to_pipeline": ratio}

    result = {"rows": {"pipeline": row(10.0, 1.0), "torch": row(4.0, 2.5), "torch_viterbi": row(4.2, 2.38),
                       "onnx_int8": row(3.0, 3.33)},
              "quality": {"setups": {"torch": {"test_f1": 0.4}, "onnx_int8": {"test_f1": 0.4032}},
                          "f1_change_int8_points": 0.32},
              "cli": {"one_line": {"torch": {"seconds": 7.04}, "onnx_int8": {"seconds": 0.72}}}}
    bench = {"rounds": 2, "batch_size": 32, "torch_threads": 2, "results": {"wnut17": result}}
    # 4.2 / 4.0 = 1.05x; one-line starts as measured, one decimal
    assert figures.predict_summary(bench) == (
        "WNUT-17: `Tagger.predict` **2.50x** the pipeline's words per second, Viterbi 1.05x argmax's time, "
        "ONNX int8 3.33x the pipeline at +0.32 test F1 points against PyTorch (median of 2 rounds, 2 threads). "
        "A one-line `tagger predict`, process start included, takes 7.0 s with a PyTorch folder and 0.7 s with "
        "an ONNX int8 export.\n")
    table = figures.predict_table(bench).splitlines()
    assert table[0] == "| setup | WNUT-17 words/s | x pipeline | test F1 |"
    assert "| tagger PyTorch | 2,500 | 2.50x | 40.00 |" in table and "| tagger ONNX int8 | 3,330 | 3.33x | 40.32 |" in table
    assert not any(line.startswith("| tagger ONNX fp32") for line in table)  # a setup that did not run
