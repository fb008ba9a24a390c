"""Export a trained token classifier to ONNX, optionally quantized to int8 for CPU serving.

The exporter is ``torch.onnx.export(..., dynamo=True)``, the ``torch.export``-based exporter that
is torch's default and maintained path since 2.9 (it needs ``onnxscript``, in the ``onnx`` extra).
With torch 2.13 both exporters run offline on BERT-style encoders, but the legacy TorchScript one
(``dynamo=False``) is deprecated and traces transformers' attention-mask code by running it, so
its Python branches on shapes are frozen into the graph (it warns "the trace might not generalize
to other inputs"); ``torch.export`` records the batch and sequence axes as symbols instead.
Optimum was not chosen: one more dependency for what torch does itself. Int8 is ONNX Runtime's
dynamic quantization (``quantize_dynamic``: int8 weights, activations quantized per batch at run
time), which needs no calibration data and targets CPU. Two settings guard its F1: weights per
output channel, and every matrix product that narrows its input left in fp32 (:func:`fp32_matmuls`):
the feed-forward down-projections, whose input is the wide post-GELU activation where a per-batch
int8 scale is coarsest, and the classifier. How much that matters depends on the model:
``scripts/scan_int8.py`` measures what each choice costs and gains on one (its figures:
docs/integrations.md, rendered from ``results/int8-scan.json``).

The folder written is self-describing: ``model.onnx`` (or ``model.int8.onnx``), ``config.json``
(labels), the tokenizer files and ``tagger_run.json`` with an ``export`` entry (format, file,
quantization, opset, the largest logit difference from PyTorch measured at export).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from tagger.decoding import CRF_CONFIG, CRF_WEIGHTS
from tagger.errors import InputError
from tagger.runtime import ONNX_EXTRA, ONNX_FILES, OnnxBackend, TokenizerFile, read_id2label

logger = logging.getLogger(__name__)

OPSET = 18
#: the sentences the export is checked on (logits of PyTorch vs ONNX Runtime, tokenizer without transformers)
CHECK_TEXTS = (["Empire", "State", "Building", "in", "New", "York", "is", "tall", "."], ["@paulwalk", "hi"],
               ["Caf\u00e9", "don't", "U.S.", "#TBT", "\U0001F642", "\ufe0f", "x"])


#: how ``--int8`` quantizes (tagger_run.json's ``export.quantization``)
QUANTIZATION = "int8-dynamic-per-channel"


def fp32_matmuls(onnx_path: str | Path) -> list[str]:
    """Names of the constant-weight MatMul nodes that narrow their input (weight ``[K, N]`` with K > N):
    the feed-forward down-projections and the classifier, which int8 export leaves in fp32."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    shapes = {init.name: list(init.dims) for init in graph.initializer}
    return [node.name for node in graph.node if node.op_type == "MatMul" and len(shapes.get(node.input[1], [])) == 2
            and shapes[node.input[1]][0] > shapes[node.input[1]][1]]


def quantize_int8(fp32_path: str | Path, out_path: str | Path, *, per_channel: bool = True, reduce_range: bool = False,
                  fp32_nodes: list[str] | None = None) -> list[str]:
    """Write the dynamic int8 quantization of the ONNX graph ``fp32_path`` to ``out_path``; returns the names of
    the matrix products left in fp32: ``fp32_nodes``, by default :func:`fp32_matmuls` (what ``--int8`` keeps).
    ``per_channel``: one weight scale per output channel (else per tensor); ``reduce_range``: 7-bit weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    kept = fp32_matmuls(fp32_path) if fp32_nodes is None else list(fp32_nodes)
    quantize_dynamic(str(fp32_path), str(out_path), weight_type=QuantType.QInt8, per_channel=per_channel,
                     reduce_range=reduce_range, nodes_to_exclude=kept)
    return kept


#: written into every export folder: `tagger export` replaces only a folder that holds it (or an empty one)
EXPORT_MARKER = ".tagger-export"


def check_export_target(model_dir: Path, out: Path) -> None:
    """OutputError unless the export may replace ``out``: a folder that does not exist, an empty one, or
    an earlier export (:data:`EXPORT_MARKER`); never the model folder or a folder holding it (its run
    folder), whose files the swap would delete."""
    from tagger.errors import OutputError
    from tagger.io import foreign_files

    source, target = model_dir.resolve(), out.resolve()
    if target == source or target in source.parents:
        what = "is the model folder" if target == source else f"holds the model folder {model_dir}"
        raise OutputError(f"{out} {what}: the export replaces its output folder, so give --out a new folder "
                          f"(default: {default_out_dir(model_dir)})")
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(f"cannot write {out}: it is a file, not a folder")
    shown = foreign_files(out, EXPORT_MARKER)
    if shown:
        raise OutputError(f"{out} holds files tagger export did not write ({shown}) and no {EXPORT_MARKER}: "
                          "give --out a new or empty folder")


def default_out_dir(model_dir: str | Path, int8: bool = False) -> Path:
    """``MODEL_DIR/onnx`` (``onnx-int8`` when quantized): next to the weights it came from."""
    return Path(model_dir) / ("onnx-int8" if int8 else "onnx")


def _load(model_dir: Path, allow_pickle_weights: bool) -> tuple[Any, Any]:
    """The model and tokenizer, after the checks ``tagger predict`` makes: a folder it would refuse
    (no tokenizer of its own, a broken CRF head, bad decoding settings) is not exported."""
    from tagger.model_loading import check_loadable, check_model_folder, load_model, load_tokenizer
    from tagger.saved_settings import config_labels, saved_decoding

    if not model_dir.is_dir():
        raise InputError("model folder not found", path=model_dir)
    check_loadable(model_dir, allow_pickle_weights=allow_pickle_weights)
    tokenizer = load_tokenizer(model_dir)  # words as in running text, and so is the tokenizer.json it saves
    if not getattr(tokenizer, "is_fast", False):
        raise InputError("the tokenizer is not a fast tokenizer (tokenizer.json is needed)", path=model_dir)
    check_model_folder(model_dir, config_labels(model_dir), len(tokenizer))
    saved_decoding(model_dir)
    return load_model(model_dir, allow_pickle_weights=allow_pickle_weights).eval(), tokenizer


def _export_graph(model: Any, sample: dict[str, Any], path: Path, opset: int) -> None:
    import torch

    try:
        import onnxscript  # noqa: F401 - the dynamo exporter's translator
    except ImportError:
        raise InputError(f"ONNX export needs onnx and onnxscript: {ONNX_EXTRA}") from None

    class LogitsOnly(torch.nn.Module):
        """input_ids, attention_mask [B, T] -> logits [B, T, C]: one plain tensor out, two in."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    axes = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
    # one file: models this size (< 2 GB) need no external data
    big = sum(p.numel() * p.element_size() for p in model.parameters()) > 1.8e9
    # eval(): the wrapper too, or the exporter warns that it traces a module in training mode
    torch.onnx.export(LogitsOnly(model).eval(), (sample["input_ids"], sample["attention_mask"]), str(path),
                      input_names=["input_ids", "attention_mask"], output_names=["logits"], dynamic_shapes=axes,
                      opset_version=opset, dynamo=True, external_data=big, verbose=False)


def _check(model: Any, sample: dict[str, Any], onnx_path: Path, id2label: dict[int, str]) -> float:
    """Largest |logit difference| between PyTorch and ONNX Runtime on ``sample``."""
    import torch

    with torch.inference_mode():
        want = model(input_ids=sample["input_ids"], attention_mask=sample["attention_mask"]).logits.numpy()
    got = OnnxBackend(onnx_path, id2label).logits({k: v.numpy() for k, v in sample.items()})
    mask = sample["attention_mask"].numpy().astype(bool)
    return float(abs(got - want)[mask].max())


def _check_tokenizer(tokenizer: Any, folder: Path) -> None:
    """The saved ``tokenizer.json``, read by the ``tokenizers`` package as serving reads it, must give the
    windows and pipeline words that the model's transformers tokenizer gives."""
    from tagger.data.align import encode_sentences
    from tagger.text_words import encode_like_pipeline

    served = TokenizerFile.from_dir(folder)
    words = [list(w) for w in CHECK_TEXTS]
    texts = [" ".join(w) for w in words]
    if (encode_sentences(words, served) != encode_sentences(words, tokenizer)
            or encode_like_pipeline(texts, served) != encode_like_pipeline(texts, tokenizer)):
        raise InputError("tokenizer.json, read without transformers, encodes differently from the model's "
                         "tokenizer (settings outside tokenizer.json?): the ONNX folder would not predict the same",
                         path=folder)


def export_onnx(model_dir: str | Path, out_dir: str | Path | None = None, *, int8: bool = False, opset: int = OPSET,
                allow_pickle_weights: bool = False) -> Path:
    """Write an ONNX export of the token classifier in ``model_dir`` to ``out_dir``; returns ``out_dir``.

    Batch and sequence axes are dynamic. ``int8``: dynamic int8 quantization of the weights
    (``model.int8.onnx``, CPU). The folder replaces ``out_dir`` only once complete, and only a folder
    :func:`check_export_target` allows: nothing of the user's is deleted.
    """
    from tagger.io import atomic_dir, atomic_write_json, atomic_write_text

    src = Path(model_dir)
    out = Path(out_dir) if out_dir is not None else default_out_dir(src, int8)
    check_export_target(src, out)
    model, tokenizer = _load(src, allow_pickle_weights)
    # two windows of unequal length, so the export sees padding and batch > 1 (no 0/1 specialization)
    sample = tokenizer(list(CHECK_TEXTS), is_split_into_words=True, padding=True, return_tensors="pt",
                       return_token_type_ids=False)
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    with atomic_dir(out) as tmp:
        fp32 = tmp / ONNX_FILES[0]
        _export_graph(model, dict(sample), fp32, opset)
        diff = _check(model, dict(sample), fp32, id2label)
        final = fp32
        if int8:
            final = tmp / ONNX_FILES[1]
            kept = quantize_int8(fp32, final)
            fp32.unlink()
            diff = _check(model, dict(sample), final, id2label)
        model.config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _check_tokenizer(tokenizer, tmp)
        info: dict[str, Any] = {}
        if (src / "tagger_run.json").is_file():
            info = json.loads((src / "tagger_run.json").read_text(encoding="utf-8"))
        info["export"] = {"format": "onnx", "file": final.name, "quantization": QUANTIZATION if int8 else None,
                          "fp32_matmuls": len(kept) if int8 else None,
                          "opset": opset, "exporter": "torch.onnx.export(dynamo=True)",
                          "max_abs_logit_diff_vs_torch": diff}
        atomic_write_json(tmp / "tagger_run.json", info)
        # the model card travels with the model, and a CRF head with its emissions (decoded without torch)
        for extra in ("README.md", CRF_WEIGHTS, CRF_CONFIG):
            if (src / extra).is_file():
                shutil.copy2(src / extra, tmp / extra)
        read_id2label(tmp)  # the export must name its labels
        atomic_write_text(tmp / EXPORT_MARKER, "A tagger export: `tagger export` replaces this folder without asking.\n")
    logger.info("exported %s -> %s (%s, max |logit diff| vs PyTorch %.2g)", src, out, final.name, diff)
    return out
