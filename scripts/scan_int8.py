#!/usr/bin/env python
"""What int8 quantization costs and gains, group of matrix products by group: test F1 and words per second
of an ONNX export quantized in several ways, against the same export in fp32.

    python scripts/scan_int8.py MODEL_DIR --data wnut17 --json results/int8-scan.json
    python scripts/scan_int8.py MODEL_DIR --onnx MODEL_DIR/onnx        # reuse an fp32 export
    python scripts/scan_int8.py MODEL_DIR --smoke                       # 32 sentences, one round (the test)

The model is exported once in fp32 (``tagger.export.export_onnx``, or the export --onnx gives), then
quantized by ``tagger.export.quantize_int8`` (ONNX Runtime's dynamic quantization, as ``tagger export --int8``)
in each setup of :data:`SETUPS`: every matrix product int8 (weights per tensor; per output channel; per
channel with ``reduce_range``), then per channel with one group left in fp32 at a time (the attention output
projections, the first layer, the last layer, the classifier, the feed-forward down-projections), and last
what ``tagger export --int8`` keeps in fp32 (:func:`tagger.export.fp32_matmuls`: the down-projections and the
classifier). The groups are found by the module each matrix product computes, which the exporter records
in the graph.

Every setup predicts the test split of --data with ``Tagger.from_pretrained(folder)`` (the folder's saved
decoding, or --decoding without biases); timings alternate between the setups (median over rounds, as
``scripts/bench_predict.py`` times them), and each setup's tags are scored (test F1, conlleval) and compared
with fp32's. ``--json`` writes the record that docs/integrations.md renders (``scripts/figures.py``).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench_common as common  # noqa: E402

common.use_this_checkout()
import bench_predict  # noqa: E402
from _bench_predict_quality import unscorable  # noqa: E402

FP32 = "fp32"  # the reference setup: the export unquantized
TAGGER = "tagger"  # what `tagger export --int8` writes

#: the groups of matrix products a setup may leave in fp32, as the table names them
GROUPS = {"attention_output": "attention output projections", "first_layer": "first layer",
          "last_layer": "last layer", "classifier": "classifier",
          "down_projections": "feed-forward down-projections"}
#: the module names of attention output projections (BERT, RoBERTa, DeBERTa, ELECTRA; DistilBERT; others)
ATTENTION_OUTPUT = ("attention.output.dense", "attention.out_lin", "attn.out_proj", "attn.o_proj")
LAYER = re.compile(r"\.(?:layer|layers)\.(\d+)\.")
NAME_SCOPES = "pkg.torch.onnx.name_scopes"  # the exporter's record of the modules a node sits in


@dataclass(frozen=True)
class Setup:
    """One way of quantizing: weights per channel or per tensor, 7-bit weights or not, groups left in fp32."""

    name: str
    per_channel: bool = True
    reduce_range: bool = False
    fp32_groups: tuple[str, ...] = ()


SETUPS = {
    "per_tensor": Setup("every matrix product int8, per tensor", per_channel=False),
    "per_channel": Setup("every matrix product int8, per channel"),
    "reduce_range": Setup("every matrix product int8, per channel, reduce_range", reduce_range=True),
    **{f"keep_{g}": Setup(f"per channel, {GROUPS[g]} in fp32", fp32_groups=(g,))
       for g in ("attention_output", "first_layer", "last_layer", "classifier", "down_projections")},
    TAGGER: Setup("`tagger export --int8`: down-projections and classifier in fp32",
                  fp32_groups=("down_projections", "classifier")),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a model folder written by the recipe (runs/<run>/model)")
    p.add_argument("--data", choices=list(common.DATA_SETS), default="wnut17", help="the test split (default wnut17)")
    p.add_argument("--onnx", help="reuse this fp32 export (tagger export MODEL --onnx) instead of exporting")
    p.add_argument("--decoding", help="decode every setup this way, without biases (default: the folder's saved "
                                      "decoding and biases)")
    p.add_argument("--sentences", type=int, help="first N test sentences (default: all)")
    p.add_argument("--batch-tokens", type=int, help="Tagger's subword budget per batch (default: PREDICT_BATCH_TOKENS)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per setup (alternating)")
    p.add_argument("--smoke", action="store_true", help="tiny: 32 sentences, 1 round")
    p.add_argument("--json", help="write the record to this JSON file")
    args = p.parse_args(argv)
    if args.smoke:
        args.sentences = args.sentences or 32
        args.rounds = 1
    return args


# ------------------------------------------------------------------------------------------------ the graph


def matmul_modules(onnx_path: Path) -> dict[str, str]:
    """Every constant-weight MatMul node of the graph -> the module it computes, as the model names it
    (``bert.encoder.layer.0.attention.output.dense``): the exporter's deepest name scope, less the wrapper's."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    weights = {init.name for init in graph.initializer if len(init.dims) == 2}
    out = {}
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in weights:
            continue
        scopes = next((ast.literal_eval(p.value) for p in node.metadata_props if p.key == NAME_SCOPES), [])
        modules = [s for s in scopes if "." in s]
        out[node.name] = modules[-1].partition(".")[2] if modules else ""
    return out


def matmul_groups(onnx_path: Path) -> dict[str, list[str]]:
    """The MatMul nodes of each group of :data:`GROUPS`; SystemExit naming a group that has none."""
    from tagger.export import fp32_matmuls

    modules = matmul_modules(onnx_path)
    layers = {n: int(m.group(1)) for n, path in modules.items() if (m := LAYER.search(f".{path}."))}
    classifier = [n for n, path in modules.items() if path.rsplit(".", 1)[-1] == "classifier"]
    groups = {
        "attention_output": [n for n, path in modules.items() if path.endswith(ATTENTION_OUTPUT)],
        "first_layer": [n for n, i in layers.items() if i == min(layers.values())] if layers else [],
        "last_layer": [n for n, i in layers.items() if i == max(layers.values())] if layers else [],
        "classifier": classifier,
        "down_projections": [n for n in fp32_matmuls(onnx_path) if n not in classifier],
    }
    for group, nodes in groups.items():
        if not nodes:
            raise SystemExit(f"{onnx_path}: no matrix product of the {GROUPS[group]} found (the modules of its "
                             f"MatMul nodes: {', '.join(sorted(set(modules.values()))[:12]) or 'not recorded'})")
    return groups


def quantized_folder(fp32_dir: Path, out: Path, setup: Setup, groups: dict[str, list[str]]) -> dict[str, Any]:
    """``fp32_dir``'s export with its graph quantized as ``setup`` says, in ``out``: what it kept and took."""
    from tagger.export import quantize_int8
    from tagger.io import atomic_write_json
    from tagger.runtime import ONNX_FILES

    out.mkdir(parents=True)
    for f in fp32_dir.iterdir():
        if f.is_file() and f.name != ONNX_FILES[0]:
            shutil.copy2(f, out / f.name)
    kept = [n for g in setup.fp32_groups for n in groups[g]]
    t0 = time.perf_counter()
    quantize_int8(fp32_dir / ONNX_FILES[0], out / ONNX_FILES[1], per_channel=setup.per_channel,
                  reduce_range=setup.reduce_range, fp32_nodes=sorted(set(kept)))
    seconds = time.perf_counter() - t0
    run = json.loads((out / "tagger_run.json").read_text(encoding="utf-8"))
    run["export"] = {**run.get("export", {}), "file": ONNX_FILES[1], "quantization": setup.name,
                     "fp32_matmuls": len(set(kept)), "max_abs_logit_diff_vs_torch": None}
    atomic_write_json(out / "tagger_run.json", run)
    return {"folder": str(out), "matmuls_fp32": len(set(kept)), "quantize_seconds": seconds,
            "megabytes": (out / ONNX_FILES[1]).stat().st_size / 1e6}


# ------------------------------------------------------------------------------------------------ the scan


def load_taggers(folders: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    from tagger.predict import Tagger

    chosen = {} if args.decoding is None else {"decoding": args.decoding, "o_bias": 0, "type_bias": {}}
    return {k: Tagger.from_pretrained(f, device="cpu", batch_tokens=args.batch_tokens, **chosen)
            for k, f in folders.items()}


def scored(test: list[tuple[list[str], list[str]]], outputs: dict[str, Any], labels: list[str]
           ) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Each setup's test F1 (where it means something: unscorable) and its agreement with fp32."""
    from tagger.metrics import score_sequences

    gold = [t for _, t in test]
    why_not = unscorable(gold, labels)
    out = {}
    for key, tags in outputs.items():
        f1 = None if why_not else score_sequences(gold, tags, mode="conlleval")["f1"]
        out[key] = {**common.tag_agreement(outputs[FP32], tags), "test_f1": f1}
    return out, why_not


def scan(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Export, quantize every setup, time and score them all: the record ``--json`` writes."""
    from _bench_report import portable_path
    from tqdm import tqdm

    from tagger.predict import PREDICT_BATCH_TOKENS

    fp32 = (bench_predict.reuse_export(args.onnx, args.model, int8=False) if args.onnx
            else bench_predict.make_export(args.model, work / FP32, int8=False))
    fp32_dir = Path(fp32["folder"])
    groups = matmul_groups(fp32_dir / "model.onnx")
    matmuls = len(matmul_modules(fp32_dir / "model.onnx"))
    test = common.read_split(args.data, "test")[: args.sentences]
    words = [w for w, _ in test]
    with tqdm(total=len(SETUPS) + args.rounds * (len(SETUPS) + 1), desc="int8 scan", unit="step") as bar:
        records: dict[str, dict[str, Any]] = {FP32: {"folder": str(fp32_dir), "matmuls_fp32": matmuls,
                                                     "quantize_seconds": None, "megabytes": fp32["megabytes"]}}
        for key, setup in SETUPS.items():
            records[key] = quantized_folder(fp32_dir, work / key, setup, groups)
            bar.update()
        taggers = load_taggers({k: r["folder"] for k, r in records.items()}, args)
        for tagger in taggers.values():
            tagger.predict(words[:32])  # first-call costs are no setup's
        steps = {k: (lambda tagger=tagger: tagger.predict(words)) for k, tagger in taggers.items()}
        rows, outputs = bench_predict.time_setups(steps, words, args.rounds, tick=bar.update)
    reference = taggers[FP32]
    quality, why_not = scored(test, outputs, list(reference.id2label.values()))
    setups = {}
    for key, record in records.items():
        setup = SETUPS.get(key)
        setups[key] = {"name": setup.name if setup else "ONNX fp32, no quantization",
                       "per_channel": setup.per_channel if setup else None,
                       "reduce_range": setup.reduce_range if setup else None,
                       "fp32_groups": list(setup.fp32_groups) if setup else None,
                       **{k: v for k, v in record.items() if k != "folder"}, **rows[key], **quality[key],
                       "ratio_to_fp32": rows[key]["words_per_second"] / rows[FP32]["words_per_second"]}
    runtime = bench_predict.runtimes(argparse.Namespace(no_onnx=False))
    return {"model": portable_path(args.model),
            "data": args.data, "sentences": len(words), "words": sum(map(len, words)), "sentence_limit": args.sentences,
            "rounds": args.rounds, "batch_tokens": args.batch_tokens or PREDICT_BATCH_TOKENS,
            "decoding": "crf" if reference.crf is not None else reference.decoding, "o_bias": reference.o_bias,
            "type_bias": reference.type_bias or {}, **runtime, "cpu_count": os.cpu_count(), "machine": common.machine(),
            "matmuls": matmuls, "groups": {g: len(n) for g, n in groups.items()}, "f1_not_scored": why_not,
            "reference": FP32, "setups": setups}


# ------------------------------------------------------------------------------------------------ the report


def _kept(record: dict[str, Any], setup: dict[str, Any]) -> str:
    if setup["fp32_groups"] is None:
        return f"all {record['matmuls']}"
    if not setup["fp32_groups"]:
        return "none"
    return ", ".join(GROUPS[g] for g in setup["fp32_groups"]) + f" ({setup['matmuls_fp32']})"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x * 100:.2f}"


def scan_table(record: dict[str, Any]) -> str:
    """The scan as a Markdown table, every setup against fp32, then what ran on what (the script prints it;
    docs/integrations.md renders it from the committed JSON through scripts/figures.py)."""
    head = ["setup", "matrix products in fp32", "test F1", "vs fp32", "tags as fp32", "words/s", "x fp32"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    fp32_f1 = record["setups"][record["reference"]]["test_f1"]
    for setup in record["setups"].values():
        change = None if setup["test_f1"] is None else setup["test_f1"] - fp32_f1
        cells = [setup["name"], _kept(record, setup), _pct(setup["test_f1"]),
                 "" if change is None or setup["fp32_groups"] is None else f"{change * 100:+.2f}",
                 f"{setup['tags_identical'] * 100:.2f}%", f"{setup['words_per_second']:,.0f}",
                 f"{setup['ratio_to_fp32']:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    caption = (f"\n{common.DATA_SETS[record['data']]} test, {record['sentences']:,} sentences ({record['words']:,} "
               f"words), model `{record['model']}`, decoding {record['decoding']}; batches of "
               f"{record['batch_tokens']:,} subwords, median of {record['rounds']} round(s); onnxruntime "
               f"{record['onnxruntime']}, {record['cpu_count']} CPUs"
               + (f", {record['machine']['cpu_model']}" if (record.get("machine") or {}).get("cpu_model") else "")
               + ".")
    if record["f1_not_scored"]:
        caption += f" Test F1 not scored: {record['f1_not_scored']}."
    return "\n".join(lines) + "\n" + caption + "\n"


def scan_line(record: dict[str, Any]) -> str:
    """One sentence: tagger's int8 against fp32 and against every matrix product int8, and what quantizing the
    down-projections too (only the classifier in fp32) gains in speed and costs in F1."""
    s = record["setups"]
    tagger, fp32, everything, down = s[TAGGER], s[record["reference"]], s["per_channel"], s["keep_classifier"]
    speed = down["words_per_second"] / tagger["words_per_second"]
    if tagger["test_f1"] is None:
        return (f"`tagger export --int8` runs at {tagger['ratio_to_fp32']:.2f}x fp32's words per second; quantizing "
                f"the down-projections too, at {speed:.2f}x its words per second (test F1 not scored).\n")

    def gap(a: dict[str, Any], b: dict[str, Any]) -> str:
        return f"{(a['test_f1'] - b['test_f1']) * 100:+.2f}"

    return (f"`tagger export --int8` scores {_pct(tagger['test_f1'])} test F1 against {_pct(fp32['test_f1'])} "
            f"in fp32 ({gap(tagger, fp32)} points) and runs at {tagger['ratio_to_fp32']:.2f}x fp32's words per "
            f"second; every matrix product int8 (per channel) scores {_pct(everything['test_f1'])} "
            f"({gap(everything, fp32)}); quantizing the down-projections too (only the classifier in fp32) runs at "
            f"{speed:.2f}x tagger's int8 words per second, at {gap(down, tagger)} test F1 points against it.\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    need = ["onnx", "onnxruntime"] + ([] if args.onnx else ["onnxscript"])
    if absent := [n for n in need if importlib.util.find_spec(n) is None]:
        from tagger.runtime import ONNX_EXTRA

        raise SystemExit(f"the scan needs {', '.join(absent)} ({ONNX_EXTRA})")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory(prefix="scan_int8-") as tmp:
        record = scan(args, Path(tmp))
    print("\n" + scan_table(record) + "\n" + scan_line(record), end="", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
