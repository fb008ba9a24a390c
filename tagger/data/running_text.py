"""How a tokenizer encodes a word: as in running text, after a space.

tagger hands the tokenizer words (``is_split_into_words``) in training, evaluation and
``Tagger.predict``, and raw text in ``tagger predict --pre-tokenizer tokenizer``, ``TaggerPipeline``
and the ONNX path. Every pretrained encoder saw words inside running text, where a word that follows
a space starts with the tokenizer's word-start marker: WordPiece marks continuations (``##``) instead,
and SentencePiece's Metaspace (XLM-R, DeBERTa-v3) prepends ``▁`` to every word it is handed, so both
already encode a word alone as in text. A byte-level BPE tokenizer as ``roberta-base`` and
ModernBERT ship it (``ByteLevel(add_prefix_space=False)``) does not: handed ``Jim Henson lived`` as
words it gives ``J im H en son l iv ed``, not the ``J im ĠH en son Ġli v ed`` of the text, so
the model would be fine-tuned and run on subwords it rarely saw in pretraining.

:func:`words_as_in_running_text` is the one place that decides it: it turns the pre-tokenizer's
marker on for every word (``add_prefix_space=True``; ``prepend_scheme="always"`` for Metaspace),
the setting Hugging Face's ``run_ner.py`` uses for these tokenizers. Every word then gets the
subwords it has after a space in running text, the first word of a sentence too (it is a sentence's
first word that loses its marker only at the very start of a document). Why every word and not
every word but the first (docs/encoders.md has the measurement): one tokenizer setting does it,
saved in ``tokenizer.json`` and ``tokenizer_config.json``, so a user's ``AutoTokenizer``, the stock
``pipeline``, ``tokenizers`` alone (ONNX serving) and tagger give the same subwords for words and for
the same words as raw text; and words are never joined into one string, so no tokenizer can merge
two words into one subword. Raw text keeps its character offsets (the marker covers no character).
"""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger(__name__)

# pre-tokenizers that drop the spaces, so a later one never sees a space before a word
_SPACE_SPLITTERS = frozenset({"Whitespace", "WhitespaceSplit", "BertPreTokenizer"})


def _mark_words(node: dict[str, Any], spaces: bool, changes: list[str]) -> bool:
    """Turn on the word-start marker in a pre-tokenizer's JSON (in place); records what changed.

    ``spaces``: whether spaces still reach this pre-tokenizer (a marker stands for a space it sees);
    returns the same for the next one.
    """
    kind = node.get("type")
    if kind == "Sequence":
        for child in node.get("pretokenizers", []):
            spaces = _mark_words(child, spaces, changes)
        return spaces
    if kind in _SPACE_SPLITTERS:
        return False
    if spaces and kind == "ByteLevel" and not node.get("add_prefix_space", False):
        node["add_prefix_space"] = True
        changes.append("ByteLevel add_prefix_space=True")
    elif spaces and kind == "Metaspace" and node.get("prepend_scheme", "always") != "always":
        changes.append(f"Metaspace prepend_scheme={node.get('prepend_scheme')!r} -> 'always'")
        node["prepend_scheme"] = "always"
    return spaces


def _set_prefix_flags(node: dict[str, Any], scheme: str | None) -> None:
    """The post-processor's and decoder's copies of the same setting (offset trimming, decoding), in place."""
    for child in node.get("processors", node.get("decoders", [])) or []:
        _set_prefix_flags(child, scheme)
    if "add_prefix_space" in node:
        node["add_prefix_space"] = True
    if scheme is not None and node.get("type") == "Metaspace":
        node["prepend_scheme"] = scheme


def _replace(component: Any, state: dict[str, Any]) -> Any:
    component.__setstate__(json.dumps(state).encode())
    return component


def words_as_in_running_text(tokenizer: Any) -> list[str]:
    """Make ``tokenizer`` encode each word it is handed as that word appears after a space in text.

    ``tokenizer``: a transformers fast tokenizer, a :class:`tagger.runtime.TokenizerFile` or a
    ``tokenizers.Tokenizer``; changed in place (its backend's pre-tokenizer, post-processor and
    decoder, and the ``add_prefix_space`` that transformers saves and reads back), so that
    ``save_pretrained`` writes the setting and ``AutoTokenizer`` reproduces it. Returns what changed
    (empty for a tokenizer that already marks every word: WordPiece, Metaspace ``always``, or one
    this function changed before).
    """
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    pre = getattr(backend, "pre_tokenizer", None)
    if pre is None:
        return []
    state = json.loads(pre.__getstate__())
    changes: list[str] = []
    _mark_words(state, True, changes)
    if not changes:
        return []
    backend.pre_tokenizer = _replace(pre, state)
    scheme = "always" if any(c.startswith("Metaspace") for c in changes) else None
    for name in ("post_processor", "decoder"):
        component = getattr(backend, name, None)
        if component is not None:
            part = json.loads(component.__getstate__())
            _set_prefix_flags(part, scheme)
            setattr(backend, name, _replace(component, part))
    if isinstance(getattr(tokenizer, "init_kwargs", None), dict):
        # what save_pretrained writes to tokenizer_config.json and the tokenizer class rebuilds from on load
        tokenizer.init_kwargs["add_prefix_space"] = True
        tokenizer.add_prefix_space = True
    logger.info("tokenizer: every word gets its word-start marker, as after a space in running text (%s)",
                ", ".join(changes))
    return changes
