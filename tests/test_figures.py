"""The figures the docs show are the ones their committed JSON renders (scripts/figures.py)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("figures", REPO / "scripts" / "figures.py")
figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures)


def test_every_block_and_reference_card_matches_its_json() -> None:
    assert figures.stale() == [], "run: python scripts/figures.py --write"


def test_both_reference_cards_are_rendered_from_committed_json() -> None:
    assert {"wnut17-minilm", "conll2003-minilm"} <= set(figures.reference_cards())


def test_blocks_name_a_renderer_and_a_committed_json() -> None:
    """Every block's JSON is committed, or awaited (then its block is empty: see the next test)."""
    found = set()
    for page in figures.PAGES:
        for json_path, table, _ in figures.blocks((REPO / page).read_text(encoding="utf-8")):
            assert table in figures.RENDERERS, f"{page}: unknown table={table}"
            assert (REPO / json_path).is_file() or json_path in figures.AWAITED, f"{page}: {json_path} is not committed"
            found.add((page, json_path, table))
    assert {("README.md", "readme"), ("README.md", "readme-cost"), ("README.md", "readme-levers"),
            ("docs/levers.md", "levers"), ("docs/levers.md", "comparison"),
            ("docs/decoding.md", "decoding-crf"), ("docs/results.md", "best-line"), ("docs/results.md", "conll"),
            ("docs/results.md", "epochs-line"), ("docs/levers.md", "context-cost"),
            ("docs/decoding.md", "ce-decodings"), ("README.md", "best-line"),
            ("docs/levers.md", "runs-line")} <= {(p, t) for p, _, t in found}
    train, checks, losses = "results/bench-train.json", "results/bench-train-checks.json", "results/bench-losses.json"
    perf = "docs/performance.md"
    assert {(perf, train, "train-summary"), (perf, train, "train-table"), (perf, train, "train-checks"),
            (perf, train, "loss-steps"), (perf, checks, "train-checks"), (perf, checks, "train-processes"),
            (perf, losses, "losses-summary"), (perf, losses, "losses-alone"),
            (perf, "results/bench-predict.json", "predict-summary")} <= found
    scan, neg = "results/int8-scan.json", "results/wnut17-neg-softmax.json"
    assert {("docs/integrations.md", scan, "int8-scan"), ("docs/integrations.md", scan, "int8-scan-line"),
            ("docs/results.md", neg, "comparison"), ("docs/results.md", neg, "comparison-line")} <= found


def test_awaited_json_files_are_not_committed_yet() -> None:
    """figures.AWAITED lets a block stay empty only while its JSON is missing: once the file is committed it
    must leave the list, and from then on the blocks must render it (the first test)."""
    committed = sorted(path for path in figures.AWAITED if (REPO / path).is_file())
    assert committed == [], f"committed: remove {committed} from figures.AWAITED, then python scripts/figures.py --write"


def test_an_awaited_block_renders_empty_and_any_other_missing_json_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    awaited = "results/awaited.json"  # whatever the list holds when this runs (it is empty once all landed)
    monkeypatch.setattr(figures, "AWAITED", frozenset({awaited}))
    page = f"<!-- figures: {awaited} table=train-table -->\nstale figure\n<!-- /figures -->\n"
    assert figures.render_page(page, tmp_path) == f"<!-- figures: {awaited} table=train-table -->\n<!-- /figures -->\n"
    with pytest.raises(FileNotFoundError, match="results/missing.json"):
        figures.render_page("<!-- figures: results/missing.json table=train-table -->\n<!-- /figures -->\n", tmp_path)


def test_performance_page_states_training_and_loss_figures_only_in_rendered_blocks() -> None:
    """Outside its figure blocks and commands, performance.md's training, losses and processes prose holds no
    measured figure (a decimal, a ratio, a percentage, a time or a size), so none can drift from its JSON."""
    text = (REPO / "docs" / "performance.md").read_text(encoding="utf-8")
    head, rest = text.split("\n## Prediction", 1)
    prose = head + "\n## " + rest.split("\n## Processes", 1)[1].split("\n## GPU", 1)[0]
    outside = re.sub(r"```.*?```", "", figures.BLOCK.sub("", prose), flags=re.DOTALL)
    assert re.findall(r"\d+\.\d+|\b\d[\d,]*x\b|\d+%|\d+ (?:ms|s|MB|GFLOP/s)\b|20\d\d-\d\d-\d\d", outside) == []


MEASURED = r"\d+\.\d+|\b\d[\d,]*x\b|\d+%|\d+ (?:ms|s|MB|GFLOP/s)\b|20\d\d-\d\d-\d\d"


def _prose(text: str) -> str:
    """``text`` without its figure blocks and fenced code (commands)."""
    return re.sub(r"```.*?```", "", figures.BLOCK.sub("", text), flags=re.DOTALL)


def test_integrations_onnx_and_start_up_sections_state_figures_only_in_rendered_blocks() -> None:
    text = (REPO / "docs" / "integrations.md").read_text(encoding="utf-8")
    sections = text.split("## 2. ONNX", 1)[1].split("## 4. ", 1)[0]
    assert re.findall(MEASURED, _prose(sections)) == []


def test_results_neg_softmax_and_peer_sections_state_figures_only_in_rendered_blocks() -> None:
    text = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    sections = text.split("### The literal soft truncation weight", 1)[1].split("## CoNLL-2003", 1)[0]
    assert re.findall(MEASURED, _prose(sections)) == []


def test_a_changed_figure_is_caught() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    body = figures.blocks(text)[0][2]
    tampered = text.replace(body, body.replace("44.8 ± 0.7", "44.9 ± 0.7"), 1)
    assert tampered != text and figures.render_page(tampered) == text


def test_readme_results_state_numbers_only_in_rendered_blocks() -> None:
    """Every number of the README's results paragraph comes from the JSON: outside the figure blocks the
    section holds no decimal figure (a number there could drift from summary.json)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    outside = figures.BLOCK.sub("", section)
    assert re.findall(r"\d+\.\d+", outside) == []
    rendered = "".join(body for _, _, body in figures.blocks(section))
    for number in ("38.0 ± 1.8", "44.8 ± 0.7"):
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


# ------------------------------------------------------------------ training and loss figures (hand-made records)


def _train_report(**extra: object) -> dict:
    """A bench_train JSON report with (a) and (b) over two seeds, as --json writes it (hand-made figures)."""
    settings = {"data": "wnut17", "setups": "ab", "precision": "auto", "tagger_precision": "no", "seeds": [1, 2],
                "train_sentences": None, "eval_sentences": None, "epochs": 3, "learning_rate": 5e-05,
                "batch_size": 32, "max_length": 128, "token_budget": 993, "loss_rounds": 16, "seed": 1}
    checks = [
        {"text": "tokens/s tagger / (b) = 1.20x", "target": ">= 1.5x", "ok": False, "ratio": 1.2,
         "key": "tokens_per_second_a_over_b"},
        {"text": "wall time tagger / (b) = 0.83", "target": "(info)", "ok": None, "ratio": 0.83,
         "key": "train_seconds_a_over_b"},
        {"text": "mean validation F1 tagger - (b) = -0.25 points", "target": ">= -1.0", "ok": True, "points": -0.25,
         "key": "validation_f1_a_minus_b"},
        {"text": "peak RSS tagger 1,800 MB vs (b) 1,850 MB", "target": "<= (b)", "ok": True, "key": "peak_rss"},
        {"text": "utilisation of tagger's loop = 41.2% of a 173 GFLOP/s fp32 matmul", "target": ">= 25%", "ok": True,
         "utilisation": 0.4123, "key": "utilisation_a"}]
    setups = {v: {"seeds": [1, 2], "runs": 2, "peak_rss_mb_max": rss} for v, rss in (("a", 1800.4), ("b", 1849.6))}
    loss_costs = [{"loss": "ce", "step_ms": 300.0, "ratio": 1.0, "ratio_median_paired": 1.0},
                  {"loss": "focal(gamma=2.0)", "step_ms": 310.26, "ratio": 1.0342, "ratio_median_paired": 1.0121},
                  {"loss": "dice", "step_ms": 296.04, "ratio": 0.9868, "ratio_median_paired": 0.9954}]
    return {"settings": settings, "data": {"name": "wnut17", "title": "WNUT-17"}, "torch": "2.13.0+cpu",
            "torch_threads": 2, "cpu_count": 2, "plan": [{"setup": v, "seed": s} for s in (1, 2) for v in "ab"],
            "setups": setups, "checks": checks, "loss_costs": loss_costs, **extra}


def test_train_summary_is_the_checks_with_targets_and_verdicts() -> None:
    assert figures.RENDERERS["train-summary"](_train_report()) == (
        "| what | measured | target | verdict |\n"
        "|---|---|---|---|\n"
        "| training tokens/s, tagger's loop / (b) Trainer at `run_ner.py` defaults | **1.20x** | >= 1.5x | FAIL |\n"
        "| mean validation F1, tagger's loop − (b) | -0.25 points | >= -1.0 | PASS |\n"
        "| peak RSS, tagger's loop / (b) (the largest of their runs) | 1,800 MB / 1,850 MB | <= (b) | PASS |\n"
        "| tagger's loop: training FLOP/s / a 2048x2048 matmul of its precision | 41.2% | >= 25% | PASS |\n"
        "| every loss, one training step / CE's (paired median, 2 losses) | 0.995-1.012 | <= 1.03 | PASS |\n"
        "\n"
        "WNUT-17 train (all sentences), 3 epoch(s), seeds (a) 1 2, (b) 1 2; tagger's loop in fp32; torch 2.13.0, "
        "2 threads, 2 CPUs.\n")
    # a report that records the machine names it
    machine = {"cpu_model": "AMD EPYC 9B14", "cpu_capability": "AVX2", "native_bf16": False}
    assert figures.RENDERERS["train-summary"](_train_report(machine=machine)).endswith(
        "torch 2.13.0, 2 threads, 2 CPUs, AMD EPYC 9B14 (CPU capability AVX2).\n")


def test_loss_steps_are_the_printed_per_loss_table() -> None:
    lines = figures.RENDERERS["loss-steps"](_train_report()).splitlines()
    assert lines[:3] == ["```", "machine: torch 2.13.0, 2 threads, 2 CPUs", ""] and lines[-1] == "```"
    assert lines[3].startswith("Loss cost end to end: one training step") and "over 16 rounds" in lines[3]
    assert "batches of 32 sentences" in lines[3]
    assert lines[4] == "  loss" + " " * 42 + "  step ms    x CE  paired  target <= 1.03"
    assert lines[5] == "  ce" + " " * 44 + "    300.0   1.000   1.000"  # no verdict for CE itself, no trailing blank
    assert lines[6] == "  focal(gamma=2.0)" + " " * 30 + "    310.3   1.034   1.012  PASS"


def test_train_checks_render_what_ran_and_nothing_for_what_did_not() -> None:
    assert figures.RENDERERS["train-checks"](_train_report()) == ""  # no A/B timing in this run
    threads = {"default_threads": 2, "step_ms": {"1": 657.4, "2": 404.0}, "tokens_per_second": {"1": 1460.0, "2": 2376.2}}
    compiled = {"eager": {"step_ms_min": 400.0, "tokens_per_second": 2400.0, "first_pass_seconds": 3.14},
                "compiled": {"step_ms_min": 410.0, "tokens_per_second": 2341.46, "first_pass_seconds": 23.4},
                "speedup": 0.9756, "speedup_median_paired": 0.981, "shapes": [[32, 32]]}
    assert figures.RENDERERS["train-checks"](_train_report(threads=threads, compile=compiled, processes=None)) == (
        "```\n"
        "machine: torch 2.13.0, 2 threads, 2 CPUs\n"
        "\n"
        "Threads (default 2): 1 thread(s) 657 ms/step (1,460 tok/s), 2 thread(s) 404 ms/step (2,376 tok/s)\n"
        "\n"
        "torch.compile (inductor, CPU), batches [[32, 32]] interleaved: eager 400 ms/step (2,400 tok/s), compiled "
        "410 ms/step (2,341 tok/s) = 0.98x (paired median 0.98x); first pass (compilation) 23 s vs 3.1 s eager\n"
        "```\n")
    assert figures.RENDERERS["train-processes"](_train_report(processes=None)) == ""


def test_train_processes_is_the_printed_layout_table() -> None:
    runs = [{"name": "1 process x 2 threads", "tokens_per_second": 942.3, "train_seconds": 32.81, "optimizer_steps": 34,
             "validation_f1": 0.3012},
            {"name": "2 processes x 1 thread", "tokens_per_second": 2392.0, "train_seconds": 13.04,
             "optimizer_steps": 17, "validation_f1": 0.2987}]
    report = _train_report(processes={"runs": runs, "ratio": 2.5384}, plan=[])
    report["settings"].update(train_sentences=1000, epochs=1)
    assert figures.RENDERERS["train-processes"](report) == (
        "```\n"
        "machine: torch 2.13.0, 2 threads, 2 CPUs\n"
        "\n"
        "Processes on this machine (the recipe on WNUT-17 train (1000 sentences), 1 epoch(s), (a)'s settings, seed 1):\n"
        "  layout                       tokens/s   train s  steps  val F1\n"
        "  1 process x 2 threads             942      32.8     34   30.12\n"
        "  2 processes x 1 thread          2,392      13.0     17   29.87\n"
        "  2 processes x 1 thread / 1 process x 2 threads: 2.54x tokens/s\n"
        "```\n")


def test_train_table_headline_names_the_runs_and_the_machine() -> None:
    report = _train_report(runs=[], padding_by_batching={"random batches of 32 (Trainer default)": 0.444},
                           flop_formula="FLOPs = 6 P n",
                           efficiency={"matmul_measurements": [{"no": 1.224e11}, {"no": 1.186e11}],
                                       "non_embedding_params": 10650634, "layers": 6, "hidden": 384,
                                       "train_flops_per_epoch": 6.9e12})
    report["setups"], report["checks"] = {}, []
    lines = figures.RENDERERS["train-table"](report).splitlines()
    assert lines[1] == ("bench_train: WNUT-17 train (all sentences), setups (a), (b), seeds 1 2 (4 runs), 3 epoch(s), "
                        "lr 5e-05, 32 sentences/batch, max length 128, CE; (a) precision fp32 (--precision auto); "
                        "(a) batches: up to 993 subwords each, padding included (= (b)'s mean); torch 2.13.0, 2 threads, "
                        "2 CPUs")
    assert lines[3] == ("Efficiency: FLOPs = 6 P n; P = 10,650,634, L = 6, H = 384; 6.90 TFLOP per epoch; matmul peak = "
                        "best of fp32 122, 119 GFLOP/s (start, end) at 2 threads; each run's utilisation is against the "
                        "peak of its precision")
    assert lines[-2] == "  random batches of 32 (Trainer default)          44.4%"


def _losses_record(share: bool = True) -> dict:
    """A bench_losses JSON record (hand-made): the reference, one loss within the target, one over it."""
    losses = [{"loss": "F.cross_entropy", "best_ms": 2.0, "median_ms": 2.5, "ratio_best": 1.0, "ratio_median": 1.0,
               "pass": None},
              {"loss": "ce", "best_ms": 2.2, "median_ms": 2.6, "ratio_best": 1.1, "ratio_median": 1.04, "pass": True},
              {"loss": "sigmoid_focal(gamma=2.0, alpha=0.25)", "best_ms": 5.4, "median_ms": 6.0, "ratio_best": 2.7,
               "ratio_median": 2.4, "pass": False}]
    step = {"batch": 32, "length": 40, "rounds": 7, "step_ms": 1171.3,
            "losses": [{"loss": "ce", "ms": 0.282, "share": 0.282 / 1171.3},
                       {"loss": "sigmoid_focal(gamma=2.0, alpha=0.25)", "ms": 0.532, "share": 0.532 / 1171.3}]}
    return {"torch": "2.13.0+cpu", "torch_threads": 2, "device": "CPU", "dtype": "float32", "tokens": 32768,
            "classes": 13, "rounds": 15, "inner": 5, "target": 2.5, "losses": losses, "failed": 1,
            "step_share": step if share else None}


def test_losses_summary_and_table_are_the_records_figures() -> None:
    # 0.532 / 1171.3 = 0.045%
    assert figures.RENDERERS["losses-summary"](_losses_record()) == (
        "Every loss alone, forward + backward on 32,768 tokens x 13 classes (float32, 2 threads): 1.10-2.70x "
        "`F.cross_entropy`'s time in the best round, target <= 2.5x: 1 of 2 FAIL; at most 0.05% of a MiniLM training "
        "step (32 sentences x 40 subwords).\n")
    assert figures.RENDERERS["losses-summary"](_losses_record(share=False)).endswith("target <= 2.5x: 1 of 2 FAIL.\n")
    lines = figures.RENDERERS["losses-alone"](_losses_record()).splitlines()
    assert lines[1] == ("torch 2.13.0+cpu, 2 threads, CPU, float32, 32768 tokens x 13 classes, forward + backward, "
                        "15 rounds")
    assert lines[3] == "F.cross_entropy" + " " * 37 + "    2.000   1.00      2.500   1.00"
    assert lines[5] == "sigmoid_focal(gamma=2.0, alpha=0.25)" + " " * 16 + "    5.400   2.70      6.000   2.40  FAIL"
    assert lines[6] == "1 over target"
    assert lines[8] == ("One training step of the default model (MiniLM-L6, 32 sentences x 40 subwords, forward + "
                        "backward + AdamW): 1171.3 ms")
    assert lines[-2] == "sigmoid_focal(gamma=2.0, alpha=0.25)" + " " * 16 + "           0.532          0.05%"


# ------------------------------------------------------------------------- the int8 scan (a hand-made record)


def _scan_setup(name: str, groups: list[str] | None, kept: int, f1: float, same: float, wps: float) -> dict:
    return {"name": name, "per_channel": None if groups is None else True, "reduce_range": None if groups is None else False,
            "fp32_groups": groups, "matmuls_fp32": kept, "quantize_seconds": None, "megabytes": 30.0,
            "seconds": 23394 / wps, "words_per_second": wps, "sentences_per_second": 1287 / (23394 / wps),
            "all_seconds": [23394 / wps], "test_f1": f1, "tags_identical": same, "sentences_identical": same,
            "ratio_to_fp32": wps / 3000.0}


def _scan_record() -> dict:
    setups = {"fp32": _scan_setup("ONNX fp32, no quantization", None, 37, 0.4557, 1.0, 3000.0),
              "per_channel": _scan_setup("every matrix product int8, per channel", [], 0, 0.4459, 0.9876, 4200.0),
              "keep_classifier": _scan_setup("per channel, classifier in fp32", ["classifier"], 1, 0.4447, 0.985, 3916.0),
              "tagger": _scan_setup("`tagger export --int8`: down-projections and classifier in fp32",
                                    ["down_projections", "classifier"], 7, 0.4553, 0.9951, 3177.0)}
    return {"model": "outputs/wnut17-minilm/runs/ce-seed1/model", "data": "wnut17", "sentences": 1287, "words": 23394,
            "sentence_limit": None, "rounds": 3, "batch_tokens": 1024, "decoding": "viterbi", "o_bias": 0.0,
            "type_bias": {}, "torch": "2.13.0+cpu", "torch_threads": 2, "onnxruntime": "1.32.0", "cpu_count": 2,
            "machine": {"cpu_model": "AMD EPYC 9B14"}, "matmuls": 37, "groups": {"classifier": 1, "down_projections": 6},
            "f1_not_scored": None, "reference": "fp32", "setups": setups}


def test_int8_scan_table_and_line_are_the_records_figures() -> None:
    table = figures.RENDERERS["int8-scan"](_scan_record()).splitlines()
    assert table[:3] == ["| setup | matrix products in fp32 | test F1 | vs fp32 | tags as fp32 | words/s | x fp32 |",
                         "|---|---|---|---|---|---|---|",
                         "| ONNX fp32, no quantization | all 37 | 45.57 |  | 100.00% | 3,000 | 1.00x |"]
    # 44.59 - 45.57 = -0.98; 4200 / 3000 = 1.40x; 3177 / 3000 = 1.06x
    assert table[3] == "| every matrix product int8, per channel | none | 44.59 | -0.98 | 98.76% | 4,200 | 1.40x |"
    assert table[5] == ("| `tagger export --int8`: down-projections and classifier in fp32 | feed-forward "
                        "down-projections, classifier (7) | 45.53 | -0.04 | 99.51% | 3,177 | 1.06x |")
    assert table[-1] == ("WNUT-17 test, 1,287 sentences (23,394 words), model `outputs/wnut17-minilm/runs/ce-seed1/model`, "
                         "decoding viterbi; batches of 1,024 subwords, median of 3 round(s); onnxruntime 1.32.0, 2 CPUs, "
                         "AMD EPYC 9B14.")
    # 3916 / 3177 = 1.23x; 44.47 - 45.53 = -1.06
    assert figures.RENDERERS["int8-scan-line"](_scan_record()) == (
        "`tagger export --int8` scores 45.53 test F1 against 45.57 in fp32 (-0.04 points) and runs at 1.06x fp32's "
        "words per second; every matrix product int8 (per channel) scores 44.59 (-0.98); quantizing the "
        "down-projections too (only the classifier in fp32) runs at 1.23x tagger's int8 words per second, at -1.06 "
        "test F1 points against it.\n")


def test_runs_line_names_the_runs_and_their_machine() -> None:
    runs = [{"label": label, "seed": seed, "epochs_run": 2, "hardware": "CPU: 2 cores (x86_64), 2 torch threads"}
            for label in ("ce", "focal(gamma=2.0)") for seed in (1, 2, 3)]
    assert figures.RENDERERS["runs-line"]({"runs": runs}) == (
        "The committed summary's 6 runs (2 settings, seeds 1, 2 and 3, 2 epochs each) ran on CPU: 2 cores (x86_64), "
        "2 torch threads.\n")
    runs[0] = {**runs[0], "epochs_run": 1, "hardware": None}
    assert figures.RENDERERS["runs-line"]({"runs": runs}).startswith(
        "The committed summary's 6 runs (2 settings, seeds 1, 2 and 3, 1-2 epochs each) ran on CPU")
