"""``pipeline("token-classification", model=DIR, pipeline_class=TaggerPipeline)`` with tagger's decoding.

    >>> from transformers import pipeline
    >>> from tagger.integrations.pipeline import TaggerPipeline
    >>> ner = pipeline("token-classification", model="runs/.../model", pipeline_class=TaggerPipeline)
    >>> ner("Paul Walker visited New York")
    [{'entity_group': 'person', 'score': 0.97, 'word': 'Paul Walker', 'start': 0, 'end': 11}, ...]

Importing this module also registers the task ``"tagger-ner"`` (``PIPELINE_REGISTRY.register_pipeline``),
so ``pipeline("tagger-ner", model=DIR)`` works too; no ``trust_remote_code`` is involved.

What differs from the stock pipeline is the decoding, which is ``tagger predict --pre-tokenizer
tokenizer``'s: the same words (:func:`tagger.text_words.encode_like_pipeline`), long texts cut into
tagger's overlapping windows (``max_length``/``stride`` from the folder's ``tagger_run.json``; the
stock pipeline truncates), each word tagged from its first subword in the window that owns it, and
words chunked into entities like conlleval. The entities are those of ``Tagger.predict_text(texts,
pre_tokenizer="tokenizer")``; ``score`` is the mean over the entity's words of the probability of the
word's tag, ``word`` the entity's text. The model runs inside the pipeline (its device, its
``batch_size``): one window is one model input.

Document context is not supported: the pipeline takes texts one at a time, with no document around them,
so a model trained with ``data.context`` > 0 tags each text alone, as ``Tagger`` does without documents,
and the log says so once. ``Tagger.predict_text(texts, documents=...)`` uses the context.

Seam: ``decoder`` maps the word probabilities of one text ``[N, C]`` to N label ids. The default is
the decoding the model folder saved in ``tagger_run.json`` with its O bias and per-type biases, as ``Tagger``
applies them
(:func:`folder_decoder`, :mod:`tagger.decoding`), else :func:`first_subword_argmax`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForTokenClassification, TokenClassificationPipeline
from transformers.pipelines import PIPELINE_REGISTRY

from tagger.data.align import encode_subwords
from tagger.data.running_text import words_as_in_running_text
from tagger.data.schemes import entities
from tagger.decoding import Decoder, load_chain_scores
from tagger.model_loading import check_max_length, check_model_folder
from tagger.predict import Tagger
from tagger.saved_settings import saved_decoding
from tagger.text_words import encode_like_pipeline
from tagger.train.evaluate import merge_window_predictions

logger = logging.getLogger(__name__)

#: the task name under which importing this module registers :class:`TaggerPipeline`
TASK = "tagger-ner"

WordDecoder = Callable[[np.ndarray], list[int]]


def first_subword_argmax(word_probs: np.ndarray) -> list[int]:
    """Each word's most probable label at its first subword: word_probs [N, C] -> N label ids."""
    return word_probs.argmax(axis=-1).tolist()


def folder_decoder(model_dir: str | Path | None, labels: list[str]) -> WordDecoder:
    """The decoding a model folder saved (``tagger_run.json``: decoding, O bias and per-type biases; a CRF
    head's Viterbi when the folder has one, as :class:`~tagger.predict.Tagger`), as a word decoder;
    :func:`first_subword_argmax` for a folder without either."""
    name, bias, scheme, types = saved_decoding(model_dir) if model_dir else ("argmax", 0.0, None, {})
    chain = load_chain_scores(model_dir, labels) if model_dir else None
    if chain is None and name == "argmax" and not bias and not any(types.values()):
        return first_subword_argmax
    decoder = (Decoder(labels, "viterbi", o_bias=bias, chain=chain[0], type_bias=types) if chain is not None
               else Decoder(labels, name, o_bias=bias, scheme=scheme, type_bias=types))
    return lambda word_probs: decoder.decode(np.log(word_probs.astype(np.float64)))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _run_hyperparameters(model_dir: str | Path | None) -> dict[str, Any]:
    run_file = Path(model_dir) / "tagger_run.json" if model_dir else None
    if run_file is not None and run_file.is_file():
        return json.loads(run_file.read_text(encoding="utf-8")).get("hyperparameters", {})
    return {}


def run_windows(model_dir: str | Path | None) -> tuple[int, int]:
    """(max_length, stride) of a model folder's training run, else :class:`~tagger.predict.Tagger`'s defaults."""
    hp = _run_hyperparameters(model_dir)
    return int(hp.get("max_length", Tagger.max_length)), int(hp.get("stride", Tagger.stride))


class TaggerPipeline(TokenClassificationPipeline):
    """A token-classification pipeline that decodes words and entities as ``tagger predict`` does.

    Extra arguments (at construction or per call): ``max_length``, ``stride`` (window length and
    overlap in subwords); at construction, ``decoder`` (default: the folder's saved decoding, see the
    module docstring). Input: a text or a list of texts (``is_split_into_words`` is not supported:
    tagger's word mode is ``Tagger.predict``).
    """

    def __init__(self, *args: Any, max_length: int | None = None, stride: int | None = None,
                 decoder: WordDecoder | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        folder = getattr(self.model, "name_or_path", None)
        folder = folder if folder and Path(folder).is_dir() else None
        default_length, default_stride = run_windows(folder)
        self.max_length = max_length or default_length
        self.stride = default_stride if stride is None else stride
        labels = [self.model.config.id2label[i] for i in range(len(self.model.config.id2label))]
        if folder is not None:  # the checks of every other way a model folder loads (tagger.model_loading)
            check_model_folder(folder, labels, len(self.tokenizer))
            check_max_length(self.max_length, folder, "max_length")
            context = int(_run_hyperparameters(folder).get("context", 0))
            if context:
                from tagger.console import info_once

                info_once(logger, f"TaggerPipeline tags each text alone: this model's document context ({context} "
                                  "subwords a side) is not used; Tagger.predict_text(texts, documents=...) uses it")
        self.decoder = decoder if decoder is not None else folder_decoder(folder, labels)
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError("TaggerPipeline needs a fast tokenizer (character offsets of subwords)")
        # pipeline() loaded the tokenizer itself: words are encoded as in training (tagger.data.running_text)
        words_as_in_running_text(self.tokenizer)

    def _sanitize_parameters(self, max_length: int | None = None, stride: int | None = None,
                             aggregation_strategy: Any = None, is_split_into_words: bool = False,
                             **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        if is_split_into_words:
            raise ValueError("TaggerPipeline takes texts; for lists of words use tagger.predict.Tagger.predict")
        if aggregation_strategy not in (None, "first") and str(aggregation_strategy).lower() != "first":
            raise ValueError(f"TaggerPipeline aggregates words like aggregation_strategy='first', "
                             f"got {aggregation_strategy!r}")
        pre: dict[str, Any] = {}
        if max_length is not None:
            pre["max_length"] = max_length
        if stride is not None:
            pre["stride"] = stride
        return pre, {}, {}

    def __call__(self, inputs: str | list[str], **kwargs: Any) -> Any:
        # the parent's argument handling is for its word mode and offset mappings; a text is a text here
        return super(TokenClassificationPipeline, self).__call__(inputs, **kwargs)

    def preprocess(self, text: str, max_length: int | None = None,  # type: ignore[override]
                   stride: int | None = None) -> Iterator[dict[str, Any]]:
        """One model input per window: ``input_ids``/``attention_mask`` [1, T], ``word_index`` (T ints)."""
        if not isinstance(text, str):
            raise ValueError(f"TaggerPipeline takes texts, got {type(text).__name__}")
        (enc,) = encode_like_pipeline([text], self.tokenizer)
        windows = encode_subwords([enc.subword_ids], [enc.word_ids], [len(enc.offsets)], self.tokenizer,
                                  max_length=max_length or self.max_length,
                                  stride=self.stride if stride is None else stride)
        rows = list(zip(windows["input_ids"], windows["word_index"]))
        if not rows:  # a text without words still passes through the model (the pipeline expects one input)
            ids = self.tokenizer("")["input_ids"]
            rows = [(ids, [-1] * len(ids))]
        for i, (ids, word_index) in enumerate(rows):
            yield {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
                   "word_index": list(word_index), "text": text if i == 0 else None,
                   "offsets": enc.offsets if i == 0 else None, "is_last": i == len(rows) - 1}

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
        meta = {k: model_inputs.pop(k) for k in ("word_index", "text", "offsets", "is_last")}
        output = self.model(input_ids=model_inputs["input_ids"], attention_mask=model_inputs["attention_mask"])
        logits = output["logits"] if isinstance(output, dict) else output[0]
        return {"logits": logits, **meta}

    def word_probabilities(self, all_outputs: list[dict[str, Any]], num_words: int) -> np.ndarray:
        """Softmax at each word's first subword in the window that owns it: -> [num_words, C]."""
        probs, word_rows, flat_rows = [], [], []
        start = 0
        for out in all_outputs:
            word_index = out["word_index"]
            logits = out["logits"][0].float().cpu().numpy()[: len(word_index)]  # [T, C]; batching pads T
            probs.append(_softmax(logits))
            word_rows.append(word_index)
            flat_rows.append(list(range(start, start + len(word_index))))
            start += len(word_index)
        # tagger's own merge, fed row numbers: it returns the row of each word's owning position
        (owner,) = merge_window_predictions([num_words], zip([0] * len(word_rows), word_rows, flat_rows))
        return np.concatenate(probs)[owner]

    def postprocess(self, all_outputs: list[dict[str, Any]], **_: Any) -> list[dict[str, Any]]:  # type: ignore[override]
        text, offsets = all_outputs[0]["text"], all_outputs[0]["offsets"]
        if not offsets:
            return []
        word_probs = self.word_probabilities(all_outputs, len(offsets))
        ids = self.decoder(word_probs)
        id2label = self.model.config.id2label
        tags = [id2label[i] for i in ids]
        out = []
        # chunked and placed as tagger predict's text output (tagger.text_words.char_entities)
        for typ, first, last in entities(tags):
            start, end = offsets[first][0], offsets[last][1]
            score = float(np.mean([word_probs[w, ids[w]] for w in range(first, last + 1)]))
            out.append({"entity_group": typ, "score": score, "word": text[start:end], "start": start, "end": end})
        return out


PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=TaggerPipeline, pt_model=AutoModelForTokenClassification,
                                    type="text")

__all__ = ["TASK", "TaggerPipeline", "WordDecoder", "first_subword_argmax", "folder_decoder", "run_windows"]
