"""The report of ``scripts/bench_predict.py``: its setup ids (the keys of its JSON's rows and quality) and its
tables as text, rendered from the figures its ``--json`` holds. The script prints them after measuring, and
``scripts/figures.py`` renders the committed JSON through the same functions (``_figures_predict``).
"""

from __future__ import annotations

from typing import Any

import _bench_common as common

CLI_REPEATS = 3  # one-line `tagger predict` runs per model folder, their median reported

# setup ids: the keys of the JSON's rows and quality; PIPELINE is the reference of every ratio
PIPELINE, STRINGS, TORCH, ONNX, INT8 = "pipeline", "pipeline_strings", "torch", "onnx", "onnx_int8"
VITERBI = "torch_viterbi"  # PyTorch again, decoded by Viterbi instead of argmax: what the decoding costs
CLI_TORCH, CLI_INT8 = "cli_torch", "cli_onnx_int8"
TAGGER_SETUPS = (TORCH, VITERBI, ONNX, INT8)
NAMES = {TORCH: "PyTorch", VITERBI: "PyTorch, viterbi", ONNX: "ONNX fp32", INT8: "ONNX int8"}


def labels(batch_size: int) -> dict[str, str]:
    return {PIPELINE: f"pipeline (is_split_into_words, batch_size={batch_size})",
            STRINGS: f"pipeline (joined strings, batch_size={batch_size})",
            **{k: f"tagger {NAMES[k]} (Tagger.predict, word lists)" for k in TAGGER_SETUPS},
            CLI_TORCH: "tagger predict CLI, PyTorch (start + load incl.)",
            CLI_INT8: "tagger predict CLI, ONNX int8 (start + load incl.)"}


def verdicts(result: dict[str, Any], prefix: str) -> list[str]:
    found = [c for c in result["checks"] if c["key"].startswith(prefix)]
    return ([""] if found else []) + [f"  {c['text']}   {'PASS' if c['pass'] else 'FAIL'}" for c in found]


def report_text(result: dict[str, Any], meta: dict[str, Any]) -> str:
    """One data set's tables as the script prints them, from its figures (``--json``'s ``results[NAME]``)
    and the run's settings (the JSON's top level: rounds, batch_size, torch, torch_threads, onnxruntime);
    docs render the committed JSON through this function (scripts/figures.py)."""
    lines = format_speed(result, meta) + format_quality(result, meta)
    if result.get("cli"):
        lines += format_cli(result)
    return "\n".join(lines + format_entities(result, result["sentences"])) + "\n"


def format_speed(result: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    lines = [f"bench_predict: {common.DATA_SETS[result['data']]} test, {result['sentences']:,} sentences, "
             f"{result['words']:,} words, model {result['model']}; CPU, torch {meta['torch'].split('+')[0]}, "
             f"{meta['torch_threads']} threads" + (f", onnxruntime {meta['onnxruntime']}" if meta["onnxruntime"] else "")
             + f"; median of {meta['rounds']} round(s)"]
    for key, e in result["exports"].items():
        how = "reused" if e["reused"] else f"exported here in {e['seconds']:.1f} s"
        diff = e["max_abs_logit_diff_vs_torch"]
        lines.append(f"  {NAMES[key]}: {e['folder']} ({how}; {e['file']}, {e['megabytes']:.1f} MB"
                     + ("" if diff is None else f", max |logit diff| vs PyTorch at export {diff:.2g}") + ")")
    names = labels(meta["batch_size"])
    head = f"{'setup':<52} {'seconds':>8} {'words/s':>9} {'sent/s':>8} {'x pipeline':>10}"
    lines += [head, "-" * len(head)]
    for k, r in result["rows"].items():
        failed = f"  FAILED rc={r['returncode']}" if r.get("returncode") else ""
        lines.append(f"{names[k]:<52} {r['seconds']:>8.2f} {r['words_per_second']:>9,.0f} "
                     f"{r['sentences_per_second']:>8,.1f} {r['ratio_to_pipeline']:>9.2f}x{failed}")
    return lines + verdicts(result, "words_per_second_") + verdicts(result, "seconds_viterbi")


def format_quality(result: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    q = result["quality"]
    head = f"{'setup':<52} {'tags identical':>14} {'sentences':>10} {'test F1':>8}"
    lines = ["", f"Quality against tagger PyTorch on the same {result['words']:,} words "
             "(sentences: identical entities; test F1: conlleval)", head, "-" * len(head)]
    names = labels(meta["batch_size"])

    def pct(x: float | None, width: int) -> str:
        return f"{100 * x:>{width - 1}.2f}%" if x is not None else f"{'-':>{width}}"

    for key, v in q["setups"].items():
        f1 = f"{100 * v['test_f1']:>8.2f}" if v["test_f1"] is not None else f"{'-':>8}"
        lines.append(f"{names[key]:<52} {pct(v['tags_identical'], 14)} {pct(v['sentences_identical'], 10)} {f1}")
    if q["f1_not_scored"]:
        lines.append(f"  test F1 not scored: {q['f1_not_scored']}")
    return lines + verdicts(result, "test_f1_")


def format_cli(result: dict[str, Any]) -> list[str]:
    starts = result["cli"]["one_line"]
    lines = ["", f"`tagger predict` on a one-line text file, process start included (median of {CLI_REPEATS}):"]
    for key, s in starts.items():
        runs = ", ".join(f"{x:.2f}" for x in s["all_seconds"])
        failed = f"  FAILED rc={s['returncode']}" if s["returncode"] else ""
        lines.append(f"  {NAMES[key] + ' (' + s['folder'] + ')':<70} {s['seconds']:>6.2f} s   ({runs}){failed}")
    return lines + verdicts(result, "cli_")


def format_entities(check: dict[str, Any], sentences: int) -> list[str]:
    lines = ["", f"Entities: tagger {check['entities_tagger']:,}, pipeline {check['entities_pipeline']:,}; "
             f"sentences with identical entities {sentences - check['differing_sentences']:,} / {sentences:,}",
             f"  sentences where every data word is one pipeline word: {check['one_word_each']:,}; differing "
             "sentences by cause:"]
    lines += [f"    {n:>5}  {why}" for why, n in sorted(check["differ_by_cause"].items(), key=lambda kv: -kv[1])]
    lines.append("  identical on every sentence where each data word is one pipeline word: "
                 f"{'yes' if check['same_on_clean'] else 'NO'}")
    return lines + [f"  unexplained: {ex}" for ex in check.get("examples", [])]
