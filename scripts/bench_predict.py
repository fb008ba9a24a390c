#!/usr/bin/env python
"""Inference speed of ``tagger predict`` (PyTorch, ONNX fp32, ONNX int8) against transformers'
token-classification pipeline, with how far each setup's tags and test F1 move from PyTorch's.

    python scripts/bench_predict.py --model outputs/wnut17-minilm/runs/ce-seed1/model --cli
    python scripts/bench_predict.py --data all --model wnut17=WNUT_MODEL_DIR --model conll2003=CONLL_MODEL_DIR --cli
    python scripts/bench_predict.py --model DIR --onnx DIR/onnx --onnx-int8 DIR/onnx-int8   # reuse exports
    python scripts/bench_predict.py                  # trains a quick model with the recipe first (WNUT-17: ~3 min)
    python scripts/bench_predict.py --smoke          # tiny: 32 sentences, one round (the test)

Every setup predicts the same test sentences of --data (given as word lists) on CPU:

  pipeline   ``pipeline("token-classification", model=DIR, aggregation_strategy="first", batch_size=32)``
             called with ``is_split_into_words=True``: the reference (and, for reference, on the
             space-joined strings)
  PyTorch    ``Tagger.from_pretrained(DIR).predict(words)``: sentences sorted by length, token-budget
             batches, inference_mode, one tag per data word (windows of the model's training length)
  PyTorch, viterbi  the same model decoded by Viterbi under the scheme's rules: what well-formed
             output costs over argmax (the others decode by argmax without O bias, as the pipeline)
  ONNX fp32  the same Tagger on ``tagger.export.export_onnx(DIR)``: ONNX Runtime, tokenizer.json
  ONNX int8  the same on ``export_onnx(DIR, int8=True)``: dynamic int8 quantization (per channel, the
             narrowing matrix products left in fp32: tagger/export.py)

The exports are written into a temporary work folder, or reused with --onnx / --onnx-int8. Timings
alternate between the setups (median over rounds). Quality is measured against PyTorch on the same
words: the share of identical tags, of sentences with identical entities, and the test F1 (conlleval)
where the split's gold entity types are the model's. --cli times the ``tagger predict`` command on the
whole split and on a one-line text file (process start included; median of 3), for the PyTorch folder
and the int8 export. The entity check compares, per sentence, PyTorch's entities with the pipeline's as
(type, char start, char end) in the space-joined sentence, and explains every sentence that differs.

--model, --onnx and --onnx-int8 take a folder for every data set, or NAME=DIR for one (--data all
with two models: ``--model wnut17=DIR1 --model conll2003=DIR2``); a data set without a model gets a
quick one trained by the recipe.

This script measures; ``_bench_predict_quality`` judges the outputs (quality, targets) and
``_bench_predict_text`` renders the report from the figures, here and in the docs (scripts/figures.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench_common as common  # noqa: E402
from _bench_predict_quality import (TARGET, TARGET_CLI_ONNX, TARGET_F1_DROP, TARGET_INT8,  # noqa: E402
                                    TARGET_VITERBI, checks, entity_check, quality)
from _bench_predict_text import (CLI_INT8, CLI_REPEATS, CLI_TORCH, INT8, ONNX, PIPELINE,  # noqa: E402
                                 STRINGS, TORCH, VITERBI, labels, report_text)

common.use_this_checkout()  # its tagger here, as child_env gives the recipe and the CLI
from tagger.catalog import PACKAGED_ENCODER  # noqa: E402

REPO = common.REPO
EXPORTS = {ONNX: False, INT8: True}  # export setup -> int8


def per_data_set(values: list[str] | None, data_sets: list[str], flag: str, p: argparse.ArgumentParser
                 ) -> dict[str, str]:
    """``[NAME=]DIR`` values -> {data set: DIR}: a bare DIR serves every data set of the run."""
    out: dict[str, str] = {}
    for value in values or []:
        name, sep, folder = value.partition("=")
        if sep and name in common.DATA_SETS:
            if name not in data_sets:
                p.error(f"{flag} {value}: {name} is not among --data ({', '.join(data_sets)})")
            names = [name]
        else:  # a folder, even one whose name holds "="
            names, folder = data_sets, value
        for n in names:
            if n in out:
                p.error(f"{flag} gives {n} two folders")
            out[n] = folder
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=[*common.DATA_SETS, "all"], default="wnut17",
                   help="the test split to predict; all: each in turn, one table each (default wnut17)")
    p.add_argument("--model", action="append", metavar="[NAME=]DIR",
                   help="a model folder written by the recipe (runs/<run>/model); default: train one")
    p.add_argument("--onnx", action="append", metavar="[NAME=]DIR",
                   help="reuse this fp32 export (tagger export MODEL --onnx) instead of exporting --model")
    p.add_argument("--onnx-int8", action="append", metavar="[NAME=]DIR",
                   help="reuse this int8 export (tagger export MODEL --onnx --int8) instead of exporting --model")
    p.add_argument("--no-onnx", action="store_true", help="PyTorch and the pipeline only (no onnxruntime needed)")
    p.add_argument("--sentences", type=int,
                   help="first N test sentences (default: all, 1,287 of WNUT-17 and 3,453 of CoNLL-2003)")
    p.add_argument("--batch-size", type=int, default=32, help="the pipeline's batch_size")
    p.add_argument("--batch-tokens", type=int, default=None,
                   help="Tagger's subword budget per batch (default: tagger.predict.PREDICT_BATCH_TOKENS)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per setup (alternating)")
    p.add_argument("--no-strings", action="store_true", help="skip timing the pipeline on joined strings")
    p.add_argument("--cli", action="store_true",
                   help="also time the `tagger predict` command (process start included): on the split and, "
                        f"median of {CLI_REPEATS}, on one line")
    p.add_argument("--smoke", action="store_true", help="tiny: 32 sentences, 1 round")
    p.add_argument("--json", help="write the figures to this JSON file")
    args = p.parse_args(argv)
    args.data_sets = list(common.DATA_SETS) if args.data == "all" else [args.data]
    # from here on each of the three is {data set: folder}
    args.model = per_data_set(args.model, args.data_sets, "--model", p)
    args.onnx = per_data_set(args.onnx, args.data_sets, "--onnx", p)
    args.onnx_int8 = per_data_set(args.onnx_int8, args.data_sets, "--onnx-int8", p)
    if args.no_onnx and (args.onnx or args.onnx_int8):
        p.error("--no-onnx with --onnx / --onnx-int8")
    if args.smoke:
        args.sentences = args.sentences or 32
        args.rounds = 1
    return args


def onnx_missing(args: argparse.Namespace) -> str | None:
    """What the ONNX setups lack here: onnxruntime to run, onnx and onnxscript to export as well."""
    need = ["onnxruntime"]
    if any(n not in args.onnx or n not in args.onnx_int8 for n in args.data_sets):
        need += ["onnx", "onnxscript"]
    absent = [n for n in need if importlib.util.find_spec(n) is None]
    if not absent:
        return None
    from tagger.runtime import ONNX_EXTRA

    return f"the ONNX setups need {', '.join(absent)} ({ONNX_EXTRA}); --no-onnx leaves them out"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.no_onnx and (missing := onnx_missing(args)):
        raise SystemExit(missing)
    with tempfile.TemporaryDirectory(prefix="bench_predict-") as tmp:
        return bench(args, Path(tmp))


def train_quick_model(work: Path, smoke: bool, data: str) -> str:
    """A model folder from the recipe: the packaged MiniLM, CE, 2 epochs on ``data`` (1 epoch, 64 sentences
    if smoke)."""
    out = work / f"quick-{data}"
    # no data.data_dir: the recipe finds the data set where this script did (common.child_env)
    args = [f"model.name_or_path={PACKAGED_ENCODER}", f"data.name={data}", "sweep.losses=[]", "sweep.seeds=[]",
            "loss.name=ce", "training.checkpointing='no'", f"output.output_dir={out}", "output.report_to=none",
            "output.overwrite=true"]
    args += (["data.max_train_sentences=64", "data.max_eval_sentences=32", "training.epochs=1"] if smoke
             else ["training.epochs=2", "data.max_eval_sentences=200"])
    print(f"training a quick model: python recipes/ner.py {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, str(REPO / "recipes" / "ner.py"), *args], env=common.child_env(data),
                          cwd=work, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"recipe failed:\n{proc.stderr[-3000:]}")
    found = sorted((out / "runs").glob("*/model"))
    if not found:
        raise SystemExit(f"the recipe wrote no model under {out}/runs")
    return str(found[0])


# ------------------------------------------------------------------------------------------------ the exports


def export_info(folder: Path) -> dict[str, Any]:
    """What an export folder says of itself (tagger_run.json's export entry) and the size of its graph."""
    from tagger.runtime import find_onnx_file

    graph = find_onnx_file(folder)
    if graph is None:
        raise SystemExit(f"{folder}: no .onnx file (made by `tagger export MODEL_DIR --onnx`)")
    run_file = folder / "tagger_run.json"
    entry = json.loads(run_file.read_text(encoding="utf-8")).get("export", {}) if run_file.is_file() else {}
    return {"folder": str(folder), "file": graph.name, "megabytes": graph.stat().st_size / 1e6,
            "quantization": entry.get("quantization"),
            "max_abs_logit_diff_vs_torch": entry.get("max_abs_logit_diff_vs_torch")}


def reuse_export(folder: str, model_dir: str, int8: bool) -> dict[str, Any]:
    """A given export, checked to be the kind asked for and to name the model's labels."""
    from tagger.runtime import ONNX_FILES, read_id2label

    info = export_info(Path(folder))
    is_int8 = info["quantization"] is not None or info["file"] == ONNX_FILES[1]
    if is_int8 != int8:
        flag = "--onnx-int8" if int8 else "--onnx"
        raise SystemExit(f"{flag} {folder}: {info['file']} is {'int8' if is_int8 else 'fp32'}, not "
                         f"{'int8' if int8 else 'fp32'}")
    if read_id2label(folder) != read_id2label(model_dir):
        raise SystemExit(f"{folder}: its labels are not those of {model_dir}: an export of another model?")
    return {**info, "reused": True, "seconds": None}


def make_export(model_dir: str, out: Path, int8: bool) -> dict[str, Any]:
    from tagger.export import export_onnx

    print(f"exporting {model_dir} to ONNX{' int8' if int8 else ''} -> {out}", flush=True)
    t0 = time.perf_counter()
    folder = export_onnx(model_dir, out, int8=int8)
    return {**export_info(folder), "reused": False, "seconds": time.perf_counter() - t0}


def model_folders(args: argparse.Namespace, name: str, work: Path, made: dict[tuple[str, bool], dict[str, Any]]
                  ) -> dict[str, Any]:
    """The model folder of data set ``name`` and its exports: given, or trained / exported here (once per
    model, ``made``)."""
    model = args.model.get(name) or train_quick_model(work, args.smoke, name)
    exports: dict[str, dict[str, Any]] = {}
    for key, int8 in ({} if args.no_onnx else EXPORTS).items():
        given = (args.onnx_int8 if int8 else args.onnx).get(name)
        if given:
            exports[key] = reuse_export(given, model, int8)
        elif (model, int8) in made:
            exports[key] = made[(model, int8)]
        else:
            made[(model, int8)] = exports[key] = make_export(model, work / "exports" / f"{len(made)}-{key}", int8)
    return {"model": model, "exports": exports}


# ------------------------------------------------------------------------------------------------ timing


def time_setups(steps: dict[str, Callable[[], Any]], words: list[list[str]], rounds: int,
                tick: Callable[[], Any] | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Seconds per setup, alternating over the rounds (median), and each setup's last output; ``tick`` is
    called after every timed call (a progress bar's update)."""
    n_words = sum(len(w) for w in words)
    times: dict[str, list[float]] = {k: [] for k in steps}
    outputs: dict[str, Any] = {}
    for _ in range(rounds):
        for k, fn in steps.items():
            t0 = time.perf_counter()
            outputs[k] = fn()
            times[k].append(time.perf_counter() - t0)
            if tick is not None:
                tick()
    rows = {k: {"seconds": statistics.median(t), "words_per_second": n_words / statistics.median(t),
                "sentences_per_second": len(words) / statistics.median(t), "all_seconds": t} for k, t in times.items()}
    return rows, outputs


def prediction_steps(taggers: dict[str, Any], pipe: Any, words: list[list[str]], args: argparse.Namespace
                     ) -> dict[str, Callable[[], Any]]:
    """The timed calls, the reference first; each warmed up on 32 sentences (first-call costs are no setup's)."""
    strings = [" ".join(w) for w in words]
    steps: dict[str, Callable[[], Any]] = {
        PIPELINE: lambda: pipe(words, is_split_into_words=True, batch_size=args.batch_size)}
    if not args.no_strings:
        steps[STRINGS] = lambda: pipe(strings, batch_size=args.batch_size)
    for key, tagger in taggers.items():
        steps[key] = lambda tagger=tagger: tagger.predict(words)
    for tagger in taggers.values():
        tagger.predict(words[:32])
    pipe(words[:32], is_split_into_words=True, batch_size=args.batch_size)
    return steps


def run_cli(folder: str, input_path: Path, work: Path) -> dict[str, Any]:
    """One `tagger predict` process on ``input_path``, process start and model load included."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tagger.cli", "predict", "--model", folder, "--input",
                           str(input_path), "--output", str(work / f"pred-{input_path.name}"), "--device", "cpu",
                           "--decoding", "argmax", "--o-bias", "0"],
                          env=common.child_env(), capture_output=True, text=True)
    return {"seconds": time.perf_counter() - t0, "returncode": proc.returncode, "stderr_tail": proc.stderr[-500:]}


def time_cli(folders: dict[str, Any], test: list[tuple[list[str], list[str]]], work: Path,
             one_line_cache: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`tagger predict` on the split (rows beside the setups) and on a one-line text file (median of
    CLI_REPEATS runs; measured once per folder, ``one_line_cache``), for PyTorch and the int8 export."""
    conll = work / "test.conll"
    conll.write_text("".join("".join(f"{w}\t{t}\n" for w, t in zip(ws, ts)) + "\n" for ws, ts in test))
    one_line = work / "one-line.txt"  # .txt: the text format, as a user's one-line file would be read
    one_line.write_text(" ".join(test[0][0]) + "\n")
    n_words = sum(len(w) for w, _ in test)
    rows: dict[str, dict[str, Any]] = {}
    starts: dict[str, dict[str, Any]] = {}
    targets = {TORCH: (CLI_TORCH, folders["model"])}
    if INT8 in folders["exports"]:
        targets[INT8] = (CLI_INT8, folders["exports"][INT8]["folder"])
    for key, (row, folder) in targets.items():
        r = run_cli(folder, conll, work)
        rows[row] = {**r, "words_per_second": n_words / r["seconds"],
                     "sentences_per_second": len(test) / r["seconds"]}
        if folder not in one_line_cache:
            runs = [run_cli(folder, one_line, work) for _ in range(CLI_REPEATS)]
            seconds = [x["seconds"] for x in runs]
            worst = max(runs, key=lambda x: x["returncode"] != 0)
            one_line_cache[folder] = {"folder": folder, "seconds": statistics.median(seconds), "all_seconds": seconds,
                                      "returncode": worst["returncode"], "stderr_tail": worst["stderr_tail"]}
        starts[key] = one_line_cache[folder]
    return {"rows": rows, "one_line": starts}


# ------------------------------------------------------------------------------------------------ the run


def runtimes(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    ort = None if args.no_onnx else importlib.import_module("onnxruntime").__version__
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads(), "onnxruntime": ort}


def bench_data_set(args: argparse.Namespace, name: str, work: Path, made: dict[tuple[str, bool], dict[str, Any]],
                   one_line_cache: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every setup on the test split of ``name``: its table printed, its figures returned."""
    from transformers import pipeline

    from tagger.predict import Tagger

    folders = model_folders(args, name, work, made)
    test = common.read_split(name, "test")[: args.sentences]
    words = [w for w, _ in test]
    # the pipeline's decoding (argmax, no O bias), whatever the model folder saved: the same computation, timed
    argmax = {"device": "cpu", "decoding": "argmax", "o_bias": 0, "batch_tokens": args.batch_tokens}  # None: default
    taggers = {TORCH: Tagger.from_pretrained(folders["model"], **argmax),
               VITERBI: Tagger.from_pretrained(folders["model"], **{**argmax, "decoding": "viterbi"})}
    taggers.update({k: Tagger.from_pretrained(e["folder"], **argmax) for k, e in folders["exports"].items()})
    pipe = pipeline("token-classification", model=folders["model"], aggregation_strategy="first", device="cpu")
    rows, outputs = time_setups(prediction_steps(taggers, pipe, words, args), words, args.rounds)
    cli = time_cli(folders, test, work, one_line_cache) if args.cli else None
    rows.update(cli["rows"] if cli else {})
    for r in rows.values():
        r["ratio_to_pipeline"] = r["words_per_second"] / rows[PIPELINE]["words_per_second"]
    check = entity_check(words, outputs[TORCH], outputs[PIPELINE], pipe.tokenizer, taggers[TORCH].max_length)
    result: dict[str, Any] = {
        "data": name, "sentences": len(words), "words": sum(len(w) for w in words), "model": folders["model"],
        "exports": folders["exports"], "rows": rows, "cli": {"one_line": cli["one_line"]} if cli else None,
        "quality": quality(test, outputs, check, list(taggers[TORCH].id2label.values())),
        **{k: v for k, v in check.items() if k != "examples"}}
    result["checks"] = checks(result)
    meta = {"rounds": args.rounds, "batch_size": args.batch_size, **runtimes(args)}
    print("\n" + report_text({**result, "examples": check["examples"]}, meta), end="", flush=True)
    return result


def portable(result: dict[str, Any], work: Path) -> dict[str, Any]:
    """``result`` with its folders as a committed JSON may name them: relative to the repository, or to the
    temporary work folder (``work/...``), never an absolute path of the machine that measured."""
    from _bench_report import portable_folder

    def name(folder: str) -> str:
        return portable_folder(folder, work)

    def quiet(entry: dict[str, Any]) -> dict[str, Any]:  # a process's stderr only where it failed
        return {k: v for k, v in entry.items() if k != "stderr_tail" or entry.get("returncode")}

    out = {**result, "model": name(result["model"]),
           "exports": {k: {**e, "folder": name(e["folder"])} for k, e in result["exports"].items()},
           "rows": {k: quiet(r) for k, r in result["rows"].items()}}
    if result.get("cli"):
        out["cli"] = {"one_line": {k: quiet({**s, "folder": name(s["folder"])})
                                   for k, s in result["cli"]["one_line"].items()}}
    return out


def bench(args: argparse.Namespace, work: Path) -> int:
    from transformers.utils import logging as hf_logging

    from tagger.predict import PREDICT_BATCH_TOKENS

    hf_logging.set_verbosity_error()
    made: dict[tuple[str, bool], dict[str, Any]] = {}
    one_line_cache: dict[str, dict[str, Any]] = {}
    results = {name: bench_data_set(args, name, work, made, one_line_cache) for name in args.data_sets}
    if args.json:
        results = {name: portable(result, work) for name, result in results.items()}
        Path(args.json).write_text(json.dumps({
            "data": args.data_sets, "rounds": args.rounds, "batch_size": args.batch_size,
            "batch_tokens": args.batch_tokens or PREDICT_BATCH_TOKENS,
            "sentence_limit": args.sentences, **runtimes(args), "labels": labels(args.batch_size),
            "targets": {"words_per_second_torch_over_pipeline": TARGET,
                        "words_per_second_onnx_int8_over_pipeline": TARGET_INT8,
                        "test_f1_onnx_int8_minus_torch_points": -TARGET_F1_DROP,
                        "seconds_viterbi_over_argmax": TARGET_VITERBI,
                        "cli_one_line_onnx_int8_seconds": TARGET_CLI_ONNX},
            "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
