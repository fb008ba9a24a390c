"""Inference: ``Tagger.from_pretrained(dir).predict(sentences)``, one tag per word, long sentences windowed.

The same word-level rule as in training and evaluation (:mod:`tagger.data.align`): every word is
predicted from its first subword in the window where it has the most context; a word that
tokenizes to nothing is read as the unknown token. Input is processed in chunks of sentences, each
sorted by length and packed into token-budget batches, so memory stays flat on any input size.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

from tagger.data.align import encode_sentences
from tagger.errors import InputError
from tagger.train.batching import WindowCollator, pack_by_length
from tagger.train.evaluate import merge_window_predictions, predict_windows

logger = logging.getLogger(__name__)

# Words for raw text: runs of letters/digits (with inner hyphens, apostrophes or dots, as in
# "state-of-the-art", "don't", "U.S"), or any other single non-space character (punctuation, emoji).
WORD_PATTERN = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The documented pre-tokenizer for raw text: words and their character offsets."""
    words, offsets = [], []
    for m in WORD_PATTERN.finditer(text):
        words.append(m.group())
        offsets.append((m.start(), m.end()))
    return words, offsets


def tags_to_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first word, last word) of each entity, chunked like conlleval (seqeval's default)."""
    from seqeval.metrics.sequence_labeling import get_entities

    return [(t, s, e) for t, s, e in get_entities(list(tags))]


@dataclass
class Tagger:
    """A trained token classifier that predicts one tag per word."""

    model: torch.nn.Module
    tokenizer: Any
    max_length: int = 128
    stride: int = 32
    batch_tokens: int = 8192
    chunk_sentences: int = 2048
    device: torch.device = torch.device("cpu")

    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | Path,
        *,
        device: str | torch.device | None = None,
        allow_pickle_weights: bool = False,
        trust_remote_code: bool = False,
        max_length: int | None = None,
        stride: int | None = None,
        batch_tokens: int = 8192,
    ) -> Tagger:
        """Load a model folder saved by the recipe (or any HF token classifier with a fast tokenizer).

        Weights load from safetensors only unless ``allow_pickle_weights``: a pickle file can run
        code when loaded.
        """
        model_dir = str(model_dir)
        if Path(model_dir).is_dir():
            has_safe = any(Path(model_dir).glob("*.safetensors"))
            if not has_safe and not allow_pickle_weights and any(Path(model_dir).glob("*.bin")):
                raise InputError("only pickle (.bin) weights found; they can run code when loaded. "
                                 "Convert to safetensors or pass allow_pickle_weights=True (--allow-pickle)", path=model_dir)
        model = AutoModelForTokenClassification.from_pretrained(
            model_dir, use_safetensors=None if allow_pickle_weights else True, trust_remote_code=trust_remote_code
        )
        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
        if not getattr(tokenizer, "is_fast", False):
            raise InputError("the tokenizer is not a fast tokenizer (word_ids() is needed)", path=model_dir)
        hp: dict[str, Any] = {}
        run_file = Path(model_dir) / "tagger_run.json"
        if run_file.is_file():
            hp = json.loads(run_file.read_text(encoding="utf-8")).get("hyperparameters", {})
        dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model.to(dev).eval()
        return cls(model=model, tokenizer=tokenizer, max_length=max_length or hp.get("max_length", 128),
                   stride=stride or hp.get("stride", 32), batch_tokens=batch_tokens, device=dev)

    @property
    def id2label(self) -> dict[int, str]:
        return {int(k): v for k, v in self.model.config.id2label.items()}

    def _predict_chunk(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        nonempty = [i for i, s in enumerate(sentences) if len(s)]
        out: list[list[str]] = [[] for _ in sentences]
        if not nonempty:
            return out
        words = [list(sentences[i]) for i in nonempty]
        enc = encode_sentences(words, self.tokenizer, max_length=self.max_length, stride=self.stride)
        lengths = [len(x) for x in enc["input_ids"]]
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        collate = WindowCollator(self.tokenizer.pad_token_id or 0)
        rows = [{"input_ids": enc["input_ids"][i], "word_index": enc["word_index"][i], "sentence_id": enc["sentence_id"][i]}
                for i in range(len(lengths))]
        batches = (collate([rows[i] for i in b]) for b in pack_by_length(lengths, self.batch_tokens, 10**9, order))
        windows = predict_windows(self.model, batches, self.device)
        ids = merge_window_predictions([len(w) for w in words], windows)
        id2label = self.id2label
        for j, i in enumerate(nonempty):
            out[i] = [id2label[k] for k in ids[j]]
        return out

    def predict_stream(self, sentences: Iterable[Sequence[str]]) -> Iterator[list[str]]:
        """Tags for each sentence, in input order, reading ``chunk_sentences`` at a time."""
        it = iter(sentences)
        while True:
            chunk = list(itertools.islice(it, self.chunk_sentences))
            if not chunk:
                return
            yield from self._predict_chunk(chunk)

    def predict(self, sentences: Sequence[Sequence[str]] | Sequence[str]) -> list[list[str]] | list[list[dict[str, Any]]]:
        """Word lists -> one tag per word; strings -> entities with character offsets (see :meth:`predict_text`)."""
        if sentences and isinstance(sentences[0], str):
            return self.predict_text(sentences)  # type: ignore[arg-type]
        return list(self.predict_stream(sentences))  # type: ignore[arg-type]

    def predict_text(self, texts: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Raw text, split by :func:`split_words`: entities ``{"type", "start", "end", "text"}`` per text."""
        split = [split_words(t) for t in texts]
        tags = self.predict_stream(w for w, _ in split)
        out = []
        for text, (words, offsets), seq in zip(texts, split, tags):
            ents = []
            for typ, s, e in tags_to_entities(seq):
                start, end = offsets[s][0], offsets[e][1]
                ents.append({"type": typ, "start": start, "end": end, "text": text[start:end]})
            out.append(ents)
        return out
