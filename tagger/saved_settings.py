"""A saved model folder's inference settings: the decoding, O bias, scheme and per-type biases its
``tagger_run.json`` names (the caller's arguments first), and the labels of its ``config.json``.

Read with the standard library and numpy alone: an ONNX model folder predicts without torch or transformers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from tagger.cards import RUN_INFO_NAME
from tagger.decoding import check_decoding, check_decoding_entry, finite_o_bias
from tagger.errors import InputError
from tagger.model_loading import read_run_info


class SavedDecoding(NamedTuple):
    """What a model folder's decoding settings say, after the caller's overrides (:func:`saved_decoding`)."""

    decoding: str
    o_bias: float
    scheme: str | None
    type_bias: dict[str, float]


def saved_decoding(model_dir: str | Path, decoding: str | None = None, o_bias: float | None = None,
                   type_bias: Mapping[str, float] | None = None) -> SavedDecoding:
    """The decoding, O bias, scheme and per-type biases to apply: the arguments, else what the folder's
    ``tagger_run.json`` saved, else argmax without bias. The saved biases are those tuned for the decoding
    in use; the saved per-type biases apply on top of the saved O bias only (they were tuned on top of it):
    an ``o_bias`` given without ``type_bias`` drops them. ``type_bias={}`` turns them off."""
    saved = check_decoding_entry(read_run_info(model_dir).get("decoding"), Path(model_dir) / RUN_INFO_NAME)
    name = check_decoding(decoding if decoding is not None else saved.get("default", "argmax"))
    if o_bias is not None and finite_o_bias(o_bias) is None:
        raise InputError(f"o_bias must be a finite number, got {o_bias!r}")
    bias = o_bias if o_bias is not None else (saved.get("o_bias") or {}).get(name) or 0.0
    if type_bias is None:
        type_bias = ((saved.get("type_bias") or {}).get(name) or {}) if o_bias is None else {}
    return SavedDecoding(name, float(bias), saved.get("scheme"), {t: float(b) for t, b in type_bias.items()})


def config_labels(model_dir: str | Path) -> list[str]:
    """The labels of a local model folder's ``config.json`` in id order (``[]`` for a Hub id)."""
    if not Path(model_dir).is_dir():
        return []
    from tagger.model_loading import read_config

    id2label = read_config(Path(model_dir)).get("id2label") or {}
    return [label for _, label in sorted((int(k), v) for k, v in id2label.items())]

