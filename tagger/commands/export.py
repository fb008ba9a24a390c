"""`tagger export`: a trained model folder as ONNX (optionally int8) for serving without torch."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a trained model to ONNX",
        description=(
            "Export a model folder to ONNX with dynamic batch and sequence axes. The output folder holds\n"
            "model.onnx (model.int8.onnx with --int8), config.json, the tokenizer files and tagger_run.json;\n"
            "`tagger predict --model OUT` then runs it on ONNX Runtime without importing torch.\n"
            "Needs the onnx extra: pip install 'tagger[onnx]'."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL_DIR", help="model folder (save_pretrained format)")
    p.add_argument("--onnx", action="store_true", required=True, help="export to ONNX (the only format so far)")
    p.add_argument("--int8", action="store_true", help="dynamic int8 quantization of the weights (CPU)")
    p.add_argument("--out", help="output folder (default: MODEL_DIR/onnx, or MODEL_DIR/onnx-int8 with --int8)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 18)")
    p.add_argument("--allow-pickle", action="store_true", help="allow pickle (.bin) weights, which can run code")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tagger.export import OPSET, export_onnx

    out = export_onnx(args.model, args.out, int8=args.int8, opset=args.opset or OPSET,
                      allow_pickle_weights=args.allow_pickle)
    sys.stderr.write(f"tagger export: {out}\n")
    return 0
