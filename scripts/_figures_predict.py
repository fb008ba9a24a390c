"""The prediction figures of docs/performance.md and docs/integrations.md, rendered by ``scripts/figures.py``
from ``scripts/bench_predict.py --json`` (its text through ``_bench_predict_text``, the script's own format)
and from ``scripts/scan_int8.py --json``.
"""

from __future__ import annotations

from typing import Any

import _bench_predict_text as bp
from _figures_sweeps import _span


def _predict_report(bench: dict[str, Any], data: str) -> str:
    """One data set's tables of ``scripts/bench_predict.py --json``, as the script prints them."""
    meta = {k: bench[k] for k in ("rounds", "batch_size", "torch", "torch_threads", "onnxruntime")}
    return "```\n" + bp.report_text(bench["results"][data], meta) + "```\n"


def predict_wnut17(bench: dict[str, Any]) -> str:
    return _predict_report(bench, "wnut17")


def predict_conll2003(bench: dict[str, Any]) -> str:
    return _predict_report(bench, "conll2003")


def predict_summary(bench: dict[str, Any]) -> str:
    """performance.md's summary of prediction speed: per data set, tagger and int8 against the pipeline,
    Viterbi's cost over argmax, int8's test F1 change, and the one-line start-up."""
    parts, starts = [], {}
    for data, res in bench["results"].items():
        rows, quality = res["rows"], res["quality"]
        text = (f"{bp.common.DATA_SETS[data]}: `Tagger.predict` **{rows[bp.TORCH]['ratio_to_pipeline']:.2f}x** the "
                f"pipeline's words per second, Viterbi {rows[bp.VITERBI]['seconds'] / rows[bp.TORCH]['seconds']:.2f}x "
                f"argmax's time")
        if bp.INT8 in rows:
            text += f", ONNX int8 {rows[bp.INT8]['ratio_to_pipeline']:.2f}x the pipeline"
            if quality["f1_change_int8_points"] is not None:
                text += f" at {quality['f1_change_int8_points']:+.2f} test F1 points against PyTorch"
        parts.append(text)
        for key, start in ((res.get("cli") or {}).get("one_line") or {}).items():
            starts.setdefault(key, []).append(start["seconds"])
    line = "; ".join(parts) + f" (median of {bench['rounds']} rounds, {bench['torch_threads']} threads)."
    if starts:
        line += (" A one-line `tagger predict`, process start included, takes "
                 + " and ".join(f"{_span(v, ' s')} with {'an ONNX int8 export' if k == bp.INT8 else 'a PyTorch folder'}"
                                for k, v in starts.items()) + ".")
    return line + "\n"


def predict_table(bench: dict[str, Any]) -> str:
    """integrations.md's table: words per second, ratio to the pipeline and test F1 of each setup, one
    column group per data set of the run."""
    names = {bp.PIPELINE: f"`pipeline(batch_size={bench['batch_size']})`", bp.TORCH: "tagger PyTorch",
             bp.VITERBI: "tagger PyTorch, Viterbi", bp.ONNX: "tagger ONNX fp32", bp.INT8: "tagger ONNX int8",
             bp.CLI_INT8: "`tagger predict` CLI, ONNX int8 (start included)"}
    results = bench["results"]
    head = ["setup"] + [f"{bp.common.DATA_SETS[d]} {c}" if c == "words/s" else c
                        for d in results for c in ("words/s", "x pipeline", "test F1")]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for key, name in names.items():
        if not any(key in res["rows"] for res in results.values()):
            continue
        cells = [name]
        for res in results.values():
            row, f1 = res["rows"].get(key), (res["quality"]["setups"].get(key) or {}).get("test_f1")
            cells += [f"{row['words_per_second']:,.0f}" if row else "", f"{row['ratio_to_pipeline']:.2f}x" if row else "",
                      f"{f1 * 100:.2f}" if f1 is not None else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def int8_scan(record: dict[str, Any]) -> str:
    """integrations.md's table of ``scripts/scan_int8.py --json``, as the script prints it."""
    import scan_int8  # a sibling script, imported only where a page renders its JSON

    return scan_int8.scan_table(record)


def int8_scan_line(record: dict[str, Any]) -> str:
    """integrations.md's sentence on the scan: tagger's int8 against fp32, and the down-projections quantized too."""
    import scan_int8

    return scan_int8.scan_line(record)
