"""Inference without torch: an ONNX Runtime backend and a tokenizer read by the ``tokenizers`` package.

``Tagger.from_pretrained(folder)`` uses these when the folder holds an ``.onnx`` file (written by
``tagger export --onnx``): the model runs on ONNX Runtime and the tokenizer is ``tokenizer.json``
read by ``tokenizers.Tokenizer.from_file``, so ``tagger predict`` starts without importing torch or
transformers. Windowing, packing, word merging and output are tagger's own, shared with the torch
path: :class:`OnnxBackend` is only the :class:`~tagger.train.evaluate.LogitsBackend` that maps
padded ``input_ids``/``attention_mask`` to logits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from tagger.data.running_text import words_as_in_running_text
from tagger.errors import InputError

logger = logging.getLogger(__name__)

#: the file names ``tagger export`` writes, in the order a folder holding several is read
ONNX_FILES = ("model.onnx", "model.int8.onnx")
ONNX_EXTRA = "pip install 'tagger[onnx]'"


def find_onnx_file(model_dir: str | Path) -> Path | None:
    """The ONNX model of a folder: ``model.onnx``, else ``model.int8.onnx``, else its only ``.onnx`` file."""
    folder = Path(model_dir)
    if not folder.is_dir():
        return None
    for name in ONNX_FILES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.onnx"))
    if len(found) > 1:
        raise InputError(f"several .onnx files ({', '.join(p.name for p in found)}); keep one", path=folder)
    return found[0] if found else None


def _token_name(value: Any) -> str | None:
    # tokenizer_config.json holds a special token as a string or as a serialized AddedToken
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


class _Batch(dict):
    """What a transformers fast tokenizer's call returns, as far as tagger reads it."""

    def __init__(self, columns: dict[str, list], encodings: list[Any]) -> None:
        super().__init__(columns)
        self._encodings = encodings

    def word_ids(self, i: int = 0) -> list[int | None]:
        return self._encodings[i].word_ids


class TokenizerFile:
    """``tokenizer.json`` through the ``tokenizers`` package, with the part of the transformers fast
    tokenizer API that tagger uses (``__call__`` with ``is_split_into_words``, offsets and special
    tokens mask, ``word_ids``, ``num_special_tokens_to_add``, the special token ids).

    The file's own truncation and padding settings are switched off, as transformers does for a call
    that asks for neither: windows are cut by :mod:`tagger.data.align`.
    """

    is_fast = True

    def __init__(self, backend: Any, special: dict[str, str | None]) -> None:
        backend.no_truncation()
        backend.no_padding()
        self.backend_tokenizer = backend
        self.unk_token = special.get("unk_token")
        self.pad_token = special.get("pad_token")
        self.unk_token_id = self._id(self.unk_token)
        self.pad_token_id = self._id(self.pad_token)

    @classmethod
    def from_dir(cls, folder: str | Path) -> TokenizerFile:
        from tokenizers import Tokenizer

        path = Path(folder) / "tokenizer.json"
        if not path.is_file():
            raise InputError("no tokenizer.json (a fast tokenizer's file) next to the ONNX model", path=folder)
        special: dict[str, str | None] = {}
        for name in ("special_tokens_map.json", "tokenizer_config.json"):  # the later file wins, as in transformers
            cfg = Path(folder) / name
            if cfg.is_file():
                data = json.loads(cfg.read_text(encoding="utf-8"))
                special.update({k: _token_name(v) for k, v in data.items() if k in ("unk_token", "pad_token")})
        tokenizer = cls(Tokenizer.from_file(str(path)), special)
        # as the torch path does: a tokenizer.json written elsewhere still gets the marker on every word
        words_as_in_running_text(tokenizer)
        return tokenizer

    @property
    def size(self) -> int:
        """Tokens in the vocabulary, added tokens included: ``len()`` of a transformers tokenizer."""
        return int(self.backend_tokenizer.get_vocab_size(with_added_tokens=True))

    def _id(self, token: str | None) -> int | None:
        return None if token is None else self.backend_tokenizer.token_to_id(token)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self.backend_tokenizer.num_special_tokens_to_add(pair)

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.backend_tokenizer.id_to_token(i) for i in ids]

    def __call__(self, batch: Sequence[Any], *, is_split_into_words: bool = False, add_special_tokens: bool = True,
                 return_offsets_mapping: bool = False, return_special_tokens_mask: bool = False,
                 **_ignored: Any) -> _Batch:
        """``batch``: texts, or lists of words with ``is_split_into_words`` -> columns of lists."""
        encs = self.backend_tokenizer.encode_batch(list(batch), is_pretokenized=is_split_into_words,
                                                   add_special_tokens=add_special_tokens)
        cols: dict[str, list] = {"input_ids": [e.ids for e in encs]}
        if return_offsets_mapping:
            cols["offset_mapping"] = [e.offsets for e in encs]
        if return_special_tokens_mask:
            cols["special_tokens_mask"] = [e.special_tokens_mask for e in encs]
        return _Batch(cols, encs)


class OnnxBackend:
    """An exported token classifier on ONNX Runtime: ``logits(batch)`` -> [B, T, C] float32.

    ``config.id2label`` mirrors the transformers model's, read from ``config.json``.
    """

    def __init__(self, path: str | Path, id2label: dict[int, str], *, providers: Sequence[str] | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise InputError(f"an ONNX model needs onnxruntime: {ONNX_EXTRA}", path=path) from None
        self.path = Path(path)
        self.runner = ort.InferenceSession(str(path), providers=list(providers or ["CPUExecutionProvider"]))
        names = {i.name for i in self.runner.get_inputs()}
        if not {"input_ids", "attention_mask"} <= names:
            raise InputError(f"expected ONNX inputs input_ids and attention_mask, found {', '.join(sorted(names))}",
                             path=path)
        self.config = SimpleNamespace(id2label=dict(id2label))

    def collator(self, pad_token_id: int) -> Callable[[list[dict[str, Any]]], dict[str, np.ndarray]]:
        """Pads window rows like :class:`tagger.train.batching.WindowCollator`, into int64 numpy arrays."""

        def collate(features: list[dict[str, Any]]) -> dict[str, np.ndarray]:
            longest = max(len(f["input_ids"]) for f in features)
            bsz = len(features)
            input_ids = np.full((bsz, longest), pad_token_id, dtype=np.int64)
            attention = np.zeros((bsz, longest), dtype=np.int64)
            word_index = np.full((bsz, longest), -1, dtype=np.int64)
            for i, f in enumerate(features):
                n = len(f["input_ids"])
                input_ids[i, :n] = f["input_ids"]
                attention[i, :n] = 1
                word_index[i, :n] = f["word_index"]
            sentence_id = np.asarray([f["sentence_id"] for f in features], dtype=np.int64)
            return {"input_ids": input_ids, "attention_mask": attention, "word_index": word_index,
                    "sentence_id": sentence_id}

        return collate

    def logits(self, batch: dict[str, Any]) -> np.ndarray:
        """batch: ``input_ids``/``attention_mask`` [B, T] int64 -> logits [B, T, C]."""
        feeds = {"input_ids": np.asarray(batch["input_ids"], dtype=np.int64),
                 "attention_mask": np.asarray(batch["attention_mask"], dtype=np.int64)}
        return self.runner.run(["logits"], feeds)[0]


def read_id2label(folder: str | Path) -> dict[int, str]:
    """``id2label`` of a model folder's ``config.json``, keys as ints."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise InputError("no config.json (it names the labels)", path=folder)
    mapping = json.loads(path.read_text(encoding="utf-8")).get("id2label")
    if not mapping:
        raise InputError("config.json has no id2label", path=path)
    return {int(k): v for k, v in mapping.items()}


def load_onnx(model_dir: str | Path, *, device: str | None = None) -> tuple[OnnxBackend, TokenizerFile]:
    """The backend and tokenizer of an export folder; ``device`` ``cuda...`` asks for the CUDA provider."""
    path = find_onnx_file(model_dir)
    if path is None:
        raise InputError("no .onnx file", path=model_dir)
    providers = ["CPUExecutionProvider"]
    if device is not None and device.startswith("cuda"):
        providers.insert(0, "CUDAExecutionProvider")
    backend = OnnxBackend(path, read_id2label(model_dir), providers=providers)
    logger.debug("ONNX model %s on %s", path.name, backend.runner.get_providers())
    return backend, TokenizerFile.from_dir(model_dir)
