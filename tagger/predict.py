"""Inference: ``Tagger.from_pretrained(dir).predict(sentences)``, one tag per word, long sentences windowed.

The same word-level rule as in training and evaluation (:mod:`tagger.data.align`): every word is
predicted from its first subword in the window where it has the most context; a word that
tokenizes to nothing is read as the unknown token. Input is processed in chunks of sentences, each
sorted by length and packed into token-budget batches, so memory stays flat on any input size.

Raw text is split into words by one of two pre-tokenizers (:data:`PRE_TOKENIZERS`, :mod:`tagger.text_words`):
``"words"`` (default, :func:`split_words`) keeps ``U.S``, ``don't``, ``state-of-the-art`` one word as in
CoNLL and WNUT data; ``"tokenizer"`` (:func:`tokenizer_words`) takes the words that
``pipeline("token-classification", aggregation_strategy="first")`` sees.

Words get their tags from per-word log-probabilities by a decoding (:mod:`tagger.decoding`):
``argmax`` (the pipeline's rule) or ``viterbi`` (the best sequence the scheme allows), after an
optional O bias. A model folder the recipe saved names its decoding and the bias tuned on validation
in ``tagger_run.json`` (``decoding``); :meth:`Tagger.from_pretrained` applies them unless told
otherwise (:func:`tagger.saved_settings.saved_decoding`), and falls back to ``argmax`` without bias for
any other folder. With ``scores=True`` every entity carries its probability
(:meth:`tagger.decoding.Decoder.scored`).

Document context: a model trained with ``data.context`` > 0 saved it in ``tagger_run.json``, and given the
document of each sentence (``documents=``) it predicts with the same context as in evaluation: subwords of
the neighbouring sentences of the same document around each window (:mod:`tagger.data.documents`). Without
documents every sentence is predicted alone, and that is said once in the log.

The text and word helpers (:func:`split_words`, :func:`encode_like_pipeline`, :func:`tokenizer_words`,
:func:`word_entities`) and the saved settings (:func:`saved_decoding`, :func:`config_labels`) are imported
from here as well.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # imported where used: an ONNX model folder predicts without torch or transformers
    import torch

    from tagger.crf import CRF, CRFDecoder

from tagger.data.align import encode_sentences, encode_subwords
from tagger.data.documents import document_chunks
from tagger.data.running_text import words_as_in_running_text
from tagger.data.schemes import entities
from tagger.decoding import ChainScores, Decoder, crf_chain
from tagger.errors import InputError
from tagger.model_loading import (
    check_loadable,
    check_max_length,
    check_model_folder,
    load_model,
    load_tokenizer,
    read_run_info,
)
from tagger.saved_settings import SavedDecoding, config_labels, saved_decoding
from tagger.text_words import (
    PRE_TOKENIZERS,
    WORD_PATTERN,
    PreTokenizer,
    TextEncoding,
    char_entities,
    check_pre_tokenizer,
    encode_like_pipeline,
    split_words,
    tokenizer_words,
    word_entities,
)
from tagger.train.evaluate import is_logits_backend, merge_window_log_probs, predict_windows
from tagger.train.packing import pack_by_length

__all__ = [
    "PREDICT_BATCH_TOKENS", "PRE_TOKENIZERS", "WORD_PATTERN", "PreTokenizer", "SavedDecoding", "Tagger",
    "TextEncoding", "check_pre_tokenizer", "config_labels", "encode_like_pipeline", "saved_decoding",
    "split_words", "tokenizer_words", "word_entities",
]

logger = logging.getLogger(__name__)


#: Subword budget of a prediction batch (sentences sorted by length, padded within a batch). On 2 CPU
#: cores small batches are faster per word: with the packaged MiniLM on the WNUT-17 and CoNLL-2003 test
#: sets, 1,024-subword batches gave PyTorch 1.1-1.3x and ONNX fp32 and int8 1.3-1.4x the words per
#: second of 8,192-subword ones (docs/integrations.md, ONNX export and serving).
PREDICT_BATCH_TOKENS = 1024


@dataclass
class Tagger:
    """A trained token classifier that predicts one tag per word.

    ``model``: a torch token classifier, or a :class:`~tagger.train.evaluate.LogitsBackend` such as
    :class:`tagger.runtime.OnnxBackend` (then ``device`` is unused). ``decoding``
    (:data:`tagger.decoding.DECODINGS`) turns each word's probabilities into tags after subtracting
    ``o_bias`` from the ``O`` log-probability and adding ``type_bias[X]`` to every label of type ``X``;
    ``scheme`` is the tagging scheme viterbi decodes in (None: :func:`tagger.decoding.label_scheme` of the
    labels). ``crf``: a CRF head, which then decodes instead (its Viterbi over each sentence, after the same
    biases): a :class:`tagger.crf.CRF` on the torch path, its :class:`~tagger.decoding.ChainScores` on the
    ONNX path (read without torch).
    """

    model: torch.nn.Module | Any
    tokenizer: Any
    max_length: int = 128
    stride: int = 32
    batch_tokens: int = PREDICT_BATCH_TOKENS
    chunk_sentences: int = 2048
    device: torch.device | str = "cpu"  # a name, not torch.device(...): the ONNX path never imports torch
    pre_tokenizer: PreTokenizer = "words"
    decoding: str = "argmax"
    o_bias: float = 0.0
    scheme: str | None = None
    crf: CRF | ChainScores | None = None
    context: int = 0  # subwords of document context a side, used when predict is given documents
    type_bias: dict[str, float] | None = None

    def __post_init__(self) -> None:
        check_pre_tokenizer(self.pre_tokenizer)
        # a tokenizer handed in directly encodes words as one from load_tokenizer does
        words_as_in_running_text(self.tokenizer)
        self.decoder()  # an unknown decoding, or viterbi over labels it cannot read, fails here

    def decoder(self) -> Decoder | CRFDecoder:
        """The :class:`~tagger.decoding.Decoder` of the current settings, or the CRF's when there is one."""
        labels = [self.id2label[i] for i in range(len(self.id2label))]
        try:
            if isinstance(self.crf, ChainScores):
                return Decoder(labels, "viterbi", o_bias=self.o_bias, chain=self.crf, type_bias=self.type_bias)
            if self.crf is not None:
                from tagger.crf import CRFDecoder

                return CRFDecoder(self.crf, o_bias=self.o_bias, type_bias=self.type_bias)
            return Decoder(labels, self.decoding, o_bias=self.o_bias, scheme=self.scheme, type_bias=self.type_bias)
        except ValueError as err:
            raise InputError(f"decoding {'crf' if self.crf is not None else self.decoding}: {err}") from None

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
        batch_tokens: int | None = None,
        pre_tokenizer: PreTokenizer = "words",
        decoding: str | None = None,
        o_bias: float | None = None,
        type_bias: Mapping[str, float] | None = None,
        context: int | None = None,
    ) -> Tagger:
        """Load a model folder saved by the recipe (or any HF token classifier with a fast tokenizer).

        Weights load from safetensors only unless ``allow_pickle_weights``: a pickle file can run
        code when loaded. ``max_length``/``stride`` default to the run's training values (else 128/32);
        ``pre_tokenizer`` is the default of :meth:`predict_text` (one of :data:`PRE_TOKENIZERS`).
        A folder holding an ``.onnx`` file (``tagger export --onnx``) runs on ONNX Runtime, with the
        tokenizer read by the ``tokenizers`` package: neither torch nor transformers is imported.
        ``decoding``, ``o_bias`` and ``type_bias`` (a bias per entity type) default to what the run saved in
        ``tagger_run.json`` (its decoding and the biases tuned for it on validation), else ``argmax`` and no
        bias; ``o_bias=0`` turns the biases off, ``type_bias={}`` the per-type ones (:func:`saved_decoding`).
        ``context`` defaults to the run's document context (else 0); it applies where documents are given.
        A folder with a CRF head (:data:`tagger.crf.CRF_WEIGHTS`) decodes with it instead.
        """
        check_pre_tokenizer(pre_tokenizer)
        model_dir = str(model_dir)
        run = read_run_info(model_dir)
        hp: dict[str, Any] = run.get("hyperparameters") if isinstance(run.get("hyperparameters"), dict) else {}
        name, bias, scheme, types = saved_decoding(model_dir, decoding, o_bias, type_bias)
        length = max_length or hp.get("max_length", 128)
        check_max_length(length, model_dir, "max_length")  # before any weight is read
        settings = dict(max_length=length, stride=stride or hp.get("stride", 32),
                        batch_tokens=batch_tokens or PREDICT_BATCH_TOKENS, pre_tokenizer=pre_tokenizer,
                        decoding=name, o_bias=bias, scheme=scheme, type_bias=types or None,
                        context=int(hp.get("context", 0) if context is None else context))
        from tagger.runtime import find_onnx_file

        if find_onnx_file(model_dir) is not None:
            from tagger.runtime import load_onnx

            backend, tok = load_onnx(model_dir, device=None if device is None else str(device))
            labels = [backend.config.id2label[i] for i in range(len(backend.config.id2label))]
            saved_crf = check_model_folder(model_dir, labels, tok.size)
            return cls(model=backend, tokenizer=tok, crf=crf_chain(saved_crf) if saved_crf else None, **settings)
        import torch

        check_loadable(model_dir, allow_pickle_weights=allow_pickle_weights, trust_remote_code=trust_remote_code)
        tokenizer = load_tokenizer(model_dir, trust_remote_code=trust_remote_code)
        if not getattr(tokenizer, "is_fast", False):
            raise InputError("the tokenizer is not a fast tokenizer (word_ids() is needed)", path=model_dir)
        # the folder's other files are checked before its weights load: a refusal costs no work
        saved_crf = check_model_folder(model_dir, config_labels(model_dir), len(tokenizer))
        model = load_model(model_dir, allow_pickle_weights=allow_pickle_weights, trust_remote_code=trust_remote_code)
        dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model.to(dev).eval()
        from tagger.crf import crf_from_saved

        crf = crf_from_saved(saved_crf).to(dev) if saved_crf else None
        return cls(model=model, tokenizer=tokenizer, device=dev, crf=crf, **settings)

    @property
    def id2label(self) -> dict[int, str]:
        return {int(k): v for k, v in self.model.config.id2label.items()}

    def _predict_chunk(self, sentences: Sequence[Sequence[str]], documents: Sequence[int] | None = None
                       ) -> list[np.ndarray]:
        """Per sentence its words' log-probabilities ``[num_words, C]`` (sentences without words: ``[0, C]``);
        ``documents``: each sentence's document number, for the context."""
        nonempty = [i for i, s in enumerate(sentences) if len(s)]
        out = [np.zeros((0, len(self.id2label))) for _ in sentences]
        if not nonempty:
            return out
        words = [list(sentences[i]) for i in nonempty]
        enc = encode_sentences(words, self.tokenizer, max_length=self.max_length, stride=self.stride,
                               **self._context([documents[i] for i in nonempty] if documents else None))
        for i, lp in zip(nonempty, self._predict_windows(enc, [len(w) for w in words])):
            out[i] = lp
        return out

    def _context(self, documents: list[int] | None) -> dict[str, Any]:
        """The encoders' document arguments: the Tagger's context where there are documents."""
        return {"documents": documents, "context": self.context} if documents is not None else {}

    def _chunks(self, items: Iterable[Any], documents: Iterable[Any] | None) -> Iterator[tuple[list[Any], Any]]:
        if documents is None and self.context:
            from tagger.console import info_once

            info_once(logger, f"this model was trained with {self.context} subwords of document context; without "
                              "documents each sentence is predicted alone (no context)")
        return document_chunks(items, documents, self.chunk_sentences)

    def _predict_windows(self, enc: dict[str, list], num_words: Sequence[int]) -> list[np.ndarray]:
        """Log-probabilities ``[num_words, C]`` per sentence from windows of :mod:`tagger.data.align`."""
        if not enc["input_ids"]:
            return [np.zeros((0, len(self.id2label))) for _ in num_words]
        lengths = [len(x) for x in enc["input_ids"]]
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        pad_id = self.tokenizer.pad_token_id or 0
        if is_logits_backend(self.model):
            collate = self.model.collator(pad_id)
        else:
            from tagger.train.batching import WindowCollator

            collate = WindowCollator(pad_id)
        rows = [{"input_ids": enc["input_ids"][i], "word_index": enc["word_index"][i], "sentence_id": enc["sentence_id"][i]}
                for i in range(len(lengths))]
        batches = (collate([rows[i] for i in b]) for b in pack_by_length(lengths, self.batch_tokens, 10**9, order))
        windows = predict_windows(self.model, batches, self.device, log_probs=True)
        return merge_window_log_probs(num_words, windows)

    def predict_stream(self, sentences: Iterable[Sequence[str]], scores: bool = False,
                       documents: Iterable[Any] | None = None) -> Iterator[list[str]] | Iterator[dict[str, Any]]:
        """Tags for each sentence, in input order, reading ``chunk_sentences`` at a time (whole documents);
        with ``scores`` ``{"tags", "entities": [{"type", "start", "end", "score"}]}`` per sentence (word spans,
        end exclusive). ``documents``: each sentence's document id (a string or an integer, the same for
        consecutive sentences of a document), which gives the model's document context."""
        decoder = self.decoder()
        for chunk, numbers in self._chunks(sentences, documents):
            log_probs = self._predict_chunk(chunk, numbers)
            if scores:  # the chunk's sentences decoded together: one Viterbi pass per block of sentences
                for tags, scored in decoder.scored_many(log_probs):
                    yield {"tags": tags, "entities": word_entities(scored)}
            else:
                yield from decoder.split_tags(log_probs)

    def predict(self, sentences: Sequence[Sequence[str]] | Sequence[str], scores: bool = False,
                documents: Sequence[Any] | None = None
                ) -> list[list[str]] | list[list[dict[str, Any]]] | list[dict[str, Any]]:
        """Word lists -> one tag per word; strings -> entities with character offsets (see :meth:`predict_text`).

        With ``scores`` every entity carries its probability: word lists give
        ``{"tags", "entities": [{"type", "start", "end", "score"}]}`` per sentence (word spans, end exclusive).
        ``documents``: the document id of each sentence (consecutive sentences of a document share it), for
        a model trained with document context; without, each sentence is predicted alone.
        """
        if sentences and isinstance(sentences[0], str):
            return self.predict_text(sentences, scores=scores, documents=documents)  # type: ignore[arg-type]
        return list(self.predict_stream(sentences, scores=scores, documents=documents))  # type: ignore[arg-type]

    def predict_text(
        self, texts: Sequence[str], pre_tokenizer: PreTokenizer | None = None, scores: bool = False,
        documents: Sequence[Any] | None = None,
    ) -> list[list[dict[str, Any]]]:
        """Raw text -> entities ``{"type", "start", "end", "text"}`` per text, offsets into the text, and
        ``"score"`` (the entity's probability, :meth:`tagger.decoding.Decoder.scored`) with ``scores``.

        ``pre_tokenizer`` (default: the Tagger's, ``"words"`` unless set at load time) splits the text
        into words: ``"words"`` with :func:`split_words`, ``"tokenizer"`` as the token-classification
        pipeline does (:func:`encode_like_pipeline`). Words are chunked into entities like conlleval
        (:func:`tagger.data.schemes.entities`); an entity runs from its first word's start to its last word's end.
        ``documents``: each text's document id, as in :meth:`predict`.
        """
        return list(self.predict_text_stream(texts, pre_tokenizer, scores=scores, documents=documents))

    def predict_text_stream(
        self, texts: Iterable[str], pre_tokenizer: PreTokenizer | None = None, scores: bool = False,
        documents: Iterable[Any] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """:meth:`predict_text` over any iterable, in input order, reading ``chunk_sentences`` at a time."""
        mode = check_pre_tokenizer(pre_tokenizer if pre_tokenizer is not None else self.pre_tokenizer)
        decoder = self.decoder()
        for chunk, numbers in self._chunks(texts, documents):
            if mode == "words":
                split = [split_words(t) for t in chunk]
                offsets = [o for _, o in split]
                log_probs = self._predict_chunk([w for w, _ in split], numbers)
            else:
                encs = encode_like_pipeline(chunk, self.tokenizer)
                offsets = [e.offsets for e in encs]
                num_words = [len(o) for o in offsets]
                windows = encode_subwords([e.subword_ids for e in encs], [e.word_ids for e in encs], num_words,
                                          self.tokenizer, max_length=self.max_length, stride=self.stride,
                                          **self._context(numbers))
                log_probs = self._predict_windows(windows, num_words)
            spans = ([ents for _, ents in decoder.scored_many(log_probs)] if scores
                     else [entities(tags) for tags in decoder.split_tags(log_probs)])
            for text, offs, found in zip(chunk, offsets, spans):
                yield char_entities(text, offs, found)
