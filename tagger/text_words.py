"""Raw text and words: raw text split into words with their character offsets, texts encoded and grouped
into words exactly as the token-classification pipeline does, and predicted entities as word spans or
character spans.

Raw text is split into words by one of two pre-tokenizers (:data:`PRE_TOKENIZERS`):

* ``"words"`` (default), :func:`split_words`: runs of letters/digits with inner ``-`` ``'`` ``.``, any
  other non-space character alone. ``U.S``, ``don't``, ``state-of-the-art`` stay one word as in
  CoNLL and WNUT data (``@user`` does not: ``@`` + ``user``), so such words are predicted from the
  subword that training labelled.
* ``"tokenizer"``, :func:`tokenizer_words`: the words that ``pipeline("token-classification",
  aggregation_strategy="first")`` sees: the model tokenizer's own encoding of the text (normalizer,
  pre-tokenizer, subwords; offsets into the original text), a word being a subword that the pipeline
  does not take for a continuation plus the continuations after it. The model input is the
  pipeline's input (text that tokenizes to nothing, such as U+FE0F, is not part of it) and the
  entities are the pipeline's, up to its truncation at the tokenizer's length where tagger windows.

Nothing here imports torch or transformers: an ONNX model folder predicts without them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from tagger.decoding import ScoredEntity
from tagger.metrics import Entity

logger = logging.getLogger(__name__)

# Words for raw text: runs of letters/digits (with inner hyphens, apostrophes or dots, as in
# "state-of-the-art", "don't", "U.S"), or any other single non-space character (punctuation, emoji).
WORD_PATTERN = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")

PreTokenizer = Literal["words", "tokenizer"]
#: pre-tokenizers for raw text: "words" (:func:`split_words`) or "tokenizer" (:func:`tokenizer_words`)
PRE_TOKENIZERS: tuple[str, ...] = get_args(PreTokenizer)


def check_pre_tokenizer(name: str) -> str:
    """``name`` if it is one of :data:`PRE_TOKENIZERS`, else ValueError listing them."""
    if name not in PRE_TOKENIZERS:
        raise ValueError(f"unknown pre-tokenizer {name!r}: choose from {', '.join(map(repr, PRE_TOKENIZERS))}")
    return name


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The ``"words"`` pre-tokenizer for raw text: words and their character offsets."""
    words, offsets = [], []
    for m in WORD_PATTERN.finditer(text):
        words.append(m.group())
        offsets.append((m.start(), m.end()))
    return words, offsets


@dataclass
class TextEncoding:
    """One text as the token-classification pipeline encodes it (see :func:`encode_like_pipeline`).

    ``subword_ids``: the tokenizer's ids without special tokens; ``word_ids``: the word of each
    subword (None for a special token written in the text, which the pipeline skips); ``offsets``:
    (start, end) of each word in the text, from its first subword's start to its last subword's end.
    """

    subword_ids: list[int]
    word_ids: list[int | None]
    offsets: list[tuple[int, int]]


_warned_fallback: list[bool] = []  # the fallback heuristic is logged once per process


def encode_like_pipeline(texts: Sequence[str], tokenizer: Any) -> list[TextEncoding]:
    """Tokenize texts and group the subwords into words exactly as ``TokenClassificationPipeline`` does.

    The pipeline (``gather_pre_entities`` and ``aggregate_words``; as read in transformers 5) tokenizes
    the text with offsets into the original string and starts a new word at every subword that is not a
    continuation. With a word-aware tokenizer (one with a continuing-subword prefix, such as
    WordPiece's ``##``) a subword is a continuation when its token string and the text it covers
    differ in length; otherwise (fallback heuristic) when it neither starts the text nor follows a
    space. The unknown token is never a continuation, and the first subword of a text always starts a
    word. Text that the tokenizer drops (U+FE0F, control characters, accents it strips) belongs to no
    subword and so to no word.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("a fast tokenizer is needed (character offsets of subwords)")
    backend = getattr(tokenizer, "backend_tokenizer", None)
    word_aware = bool(backend is not None and getattr(backend.model, "continuing_subword_prefix", None))
    if not word_aware and not _warned_fallback:
        _warned_fallback.append(True)
        logger.warning("the tokenizer marks no continuation subwords; words follow the pipeline's fallback "
                       "heuristic (a subword after a non-space character continues the word)")
    enc = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True,
                    return_special_tokens_mask=True, return_attention_mask=False, return_token_type_ids=False,
                    verbose=False)
    unk = tokenizer.unk_token_id
    out = []
    rows = zip(texts, enc["input_ids"], enc["offset_mapping"], enc["special_tokens_mask"])
    for text, ids, offs, special in rows:
        tokens = tokenizer.convert_ids_to_tokens(ids)
        word_ids: list[int | None] = []
        offsets: list[tuple[int, int]] = []
        for tok, tid, (s, e), sp in zip(tokens, ids, offs, special):
            if sp:
                word_ids.append(None)
                continue
            if word_aware:
                cont = len(tok) != len(text[s:e])
            else:
                cont = s > 0 and " " not in text[s - 1 : s + 1]
            if tid == unk:
                cont = False
            if cont and offsets:
                offsets[-1] = (offsets[-1][0], e)
            else:
                offsets.append((s, e))
            word_ids.append(len(offsets) - 1)
        out.append(TextEncoding(list(ids), word_ids, offsets))
    return out


def tokenizer_words(text: str, tokenizer: Any) -> tuple[list[str], list[tuple[int, int]]]:
    """The ``"tokenizer"`` pre-tokenizer: the pipeline's words of ``text`` and their character offsets.

    For BERT's tokenizer these are its pre-tokenizer's pieces (split at spaces and at every
    punctuation character: ``@paulwalk`` -> ``@``, ``paulwalk``; ``don't`` -> ``don``, ``'``, ``t``),
    minus the text its normalizer drops (a lone U+FE0F is no word, ``Cafe`` + U+0301 ends before the
    accent). See :func:`encode_like_pipeline`.
    """
    (enc,) = encode_like_pipeline([text], tokenizer)
    return [text[s:e] for s, e in enc.offsets], enc.offsets


def char_entities(text: str, offsets: Sequence[tuple[int, int]],
                   spans: Sequence[Entity] | Sequence[ScoredEntity]) -> list[dict[str, Any]]:
    """Entities with character offsets from word spans chunked like conlleval
    (:func:`tagger.data.schemes.entities`), with ``score`` for a span that has one.

    On IOB2 tags that is exactly how ``pipeline(..., aggregation_strategy="first")`` groups words into
    entities; the pipeline does not close chunks at ``E-``/``S-``/``L-``/``U-``, so on IOBES/BILOU models
    the two differ (``B-X E-X`` is one entity here, ``S-X S-X`` two).
    """
    ents = []
    for typ, s, e, *score in spans:
        start, end = offsets[s][0], offsets[e][1]
        ents.append({"type": typ, "start": start, "end": end, "text": text[start:end],
                     **({"score": score[0]} if score else {})})
    return ents


def word_entities(spans: Sequence[Entity] | Sequence[ScoredEntity]) -> list[dict[str, Any]]:
    """Entities as word spans ``{"type", "start", "end"}`` (end exclusive), with ``score`` for a span that has one."""
    return [{"type": t, "start": s, "end": e + 1, **({"score": score[0]} if score else {})} for t, s, e, *score in spans]
