"""A CRF head's files in a model folder, read and checked with numpy alone (the ONNX path and the pipeline
decode a CRF model without torch); :func:`tagger.crf.save_crf` writes them."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagger.data.schemes import normalize_scheme
from tagger.decoding.rules import (
    DECODABLE_SCHEMES,
    ChainScores,
    allowed_transitions,
    label_scheme,
    rule_scores,
)
from tagger.errors import InputError

logger = logging.getLogger(__name__)


#: A CRF head's files in a model folder (written by :func:`tagger.crf.save_crf`): its parameters, and
#: its labels and scheme. ``AutoModelForTokenClassification`` ignores both.
CRF_WEIGHTS = "crf.safetensors"


CRF_CONFIG = "crf.json"


def json_type_name(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string"}.get(type(value), type(value).__name__)


def folder_says_crf(folder: str | Path) -> bool:
    """Whether a model folder was saved with a CRF head: its :data:`CRF_CONFIG`, or its ``tagger_run.json``
    (a ``crf`` entry, ``hyperparameters.head: crf``)."""
    from tagger.model_loading import read_run_info

    folder = Path(folder)
    info = read_run_info(folder)
    hp = info.get("hyperparameters")
    return (folder / CRF_CONFIG).is_file() or bool(info.get("crf")) or (isinstance(hp, dict) and hp.get("head") == "crf")


def _crf_config(folder: Path, labels: Sequence[str] | None) -> dict[str, Any]:
    """:data:`CRF_CONFIG`, checked: an object with ``labels`` (the model's, where given) and a ``scheme``
    that viterbi decodes and the labels are written in."""
    path = folder / CRF_CONFIG
    if not path.is_file():
        raise InputError(f"{CRF_WEIGHTS} without {CRF_CONFIG} (its labels and scheme)", path=folder)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"not valid JSON: {err}", path=path) from None
    if not isinstance(config, dict):
        raise InputError(f"holds a JSON {json_type_name(config)}, not an object with labels and scheme", path=path)
    crf_labels = config.get("labels")
    if not isinstance(crf_labels, list) or not crf_labels or not all(isinstance(x, str) for x in crf_labels):
        raise InputError("labels: missing, or not a list of tags", path=path)
    scheme = config.get("scheme")
    try:
        name = normalize_scheme(scheme)
    except (ValueError, TypeError, AttributeError):
        name = None
    if name not in DECODABLE_SCHEMES:
        raise InputError(f"scheme: {scheme!r} is not one a CRF decodes ({', '.join(DECODABLE_SCHEMES)})", path=path)
    try:
        written = label_scheme(crf_labels)
    except ValueError as err:
        raise InputError(f"labels: {err}", path=path) from None
    if written != name:
        raise InputError(f"scheme: {scheme} does not match the labels, which are {written} tags", path=path)
    if labels is not None and list(labels) != crf_labels:
        raise InputError(f"the CRF's labels {crf_labels} are not the model's {list(labels)}", path=folder)
    return {**config, "scheme": name}


def _crf_tensors(folder: Path, num_labels: int) -> dict[str, np.ndarray]:
    """:data:`CRF_WEIGHTS` as float64 arrays, checked: complete, the three tensors, shaped for
    ``num_labels`` labels, finite."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from tagger.model_loading import safetensors_header

    path = folder / CRF_WEIGHTS
    safetensors_header(path)
    try:
        saved = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise InputError(f"cannot read: {str(err).splitlines()[0] if str(err) else type(err).__name__}",
                         path=path) from None
    shapes = {"transitions": (num_labels, num_labels), "start": (num_labels,), "end": (num_labels,)}
    out = {}
    for key, shape in shapes.items():
        if key not in saved:
            raise InputError(f"{key}: missing (a CRF head has transitions, start and end)", path=path)
        if tuple(saved[key].shape) != shape:
            raise InputError(f"{key}: shape {list(saved[key].shape)}, the {num_labels} labels of {CRF_CONFIG} "
                             f"need {list(shape)}", path=path)
        out[key] = saved[key].astype(np.float64)
        if not np.isfinite(out[key]).all():
            raise InputError(f"{key}: holds NaN or infinite scores", path=path)
    return out


def read_crf(folder: str | Path, labels: Sequence[str] | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """A model folder's CRF head, checked, read with numpy alone: (``{"labels", "scheme"}`` of
    :data:`CRF_CONFIG`, the ``transitions [C, C]``, ``start [C]`` and ``end [C]`` float64 arrays of
    :data:`CRF_WEIGHTS`), or None for a folder without a CRF head. ``labels``: the token classifier's, in
    id order. InputError naming the file and the key for a head that is missing its weights (the folder
    says it has one: :func:`folder_says_crf`), unreadable, shaped for other labels, not finite or of a
    scheme its labels are not written in."""
    folder = Path(folder)
    if not (folder / CRF_WEIGHTS).is_file():
        if folder_says_crf(folder):
            raise InputError(f"no {CRF_WEIGHTS}: the folder was saved with a CRF head, and without it the "
                             "model would decode as if it had none", path=folder)
        return None
    config = _crf_config(folder, labels)
    return config, _crf_tensors(folder, len(config["labels"]))


def read_crf_config(folder: str | Path, labels: Sequence[str] | None = None) -> dict[str, Any] | None:
    """The ``{"labels", "scheme"}`` of a model folder's CRF head (:func:`read_crf`), or None."""
    crf = read_crf(folder, labels)
    return None if crf is None else crf[0]


def load_chain_scores(folder: str | Path, labels: Sequence[str] | None = None) -> tuple[ChainScores, str] | None:
    """A model folder's CRF head as chain scores and its scheme, read with numpy alone (no torch), or None.

    The learned scores plus the scheme's rules: a forbidden step is -inf here where the torch head adds
    a large negative constant, which gives the same paths and the same probabilities (exp of either is 0).
    """
    crf = read_crf(folder, labels)
    return None if crf is None else (crf_chain(crf), crf[0]["scheme"])


def crf_chain(saved: tuple[dict[str, Any], dict[str, np.ndarray]]) -> ChainScores:
    """The chain scores of a CRF head as :func:`read_crf` returns it: learned scores plus the scheme's rules."""
    config, tensors = saved
    rules = rule_scores(allowed_transitions(config["labels"], config["scheme"]))
    learned = ChainScores(*(tensors[name] for name in ChainScores._fields))
    return ChainScores(*(x + r for x, r in zip(learned, rules)))


#: the names of a CRF head's three tensors in :data:`CRF_WEIGHTS`
CRF_TENSORS = ("transitions", "start", "end")


def write_crf(folder: str | Path, labels: Sequence[str], scheme: str, arrays: dict[str, np.ndarray]) -> None:
    """Write a CRF head into a model folder: :data:`CRF_WEIGHTS` (``transitions [C, C]``, ``start [C]``,
    ``end [C]`` as float32) and :data:`CRF_CONFIG` (its labels and scheme), each file atomically and under
    the umask (:func:`tagger.io.atomic_path`)."""
    from safetensors.numpy import save_file

    from tagger.io import atomic_path, atomic_write_json

    folder = Path(folder)
    tensors = {name: np.ascontiguousarray(arrays[name], dtype=np.float32) for name in CRF_TENSORS}
    with atomic_path(folder / CRF_WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})  # "pt": torch's loaders read it as their own
    atomic_write_json(folder / CRF_CONFIG, {"labels": list(labels), "scheme": scheme})
