"""Words <-> subwords: the one place where subword positions map back to words.

Training, evaluation and ``tagger predict`` all encode with :func:`encode_sentences` and read
predictions back with :func:`words_from_windows`, so every word of every sentence gets exactly one
prediction and every gold entity is scored:

* the first subword of each word carries its label; the other subwords get -100 (or, with
  ``label_all_subwords``, the word's label with ``B-X`` turned into ``I-X``); special tokens get -100;
* a sentence longer than the model's window is cut into windows of ``max_length`` subwords
  (special tokens included) overlapping by ``stride`` subwords; each word is *owned* by the window
  where its first subword has the most context on both sides (largest min(left, right)), ties to
  the earlier window; only the owner labels and predicts it;
* a word that the tokenizer turns into zero subwords (a lone U+FE0F, an empty string, a space) is
  encoded as the tokenizer's unknown token instead, so it still has a position and a prediction;
* with document context (``context`` > 0 and ``documents``), a window that its sentence's subwords
  leave room in is filled with subwords of the neighbouring sentences of the same document, up to
  ``context`` on each side (:mod:`tagger.data.documents`): they get -100 and no word index, so they are
  never labelled, trained on or scored. Windows of a long sentence are cut as without context, so a
  full window takes none.

:func:`encode_subwords` windows text that is already tokenized (subword ids and the word of each
subword, as ``tagger predict --pre-tokenizer tokenizer`` gets them from the tokenizer's own encoding
of raw text) by the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tagger.data.documents import context_sizes, neighbour_subwords

IGNORE = -100


def _special_affixes(tokenizer: Any) -> tuple[list[int], list[int]]:
    """Ids the tokenizer puts before and after one sequence (e.g. [CLS] and [SEP])."""
    enc = tokenizer([["a"]], is_split_into_words=True, add_special_tokens=True)
    ids, wids = enc["input_ids"][0], enc.word_ids(0)
    first = wids.index(0)
    last = len(wids) - 1 - wids[::-1].index(0)
    return list(ids[:first]), list(ids[last + 1 :])


def _window_starts(length: int, content: int, stride: int) -> list[int]:
    """Start offsets of windows of ``content`` subwords covering ``length`` subwords.

    Consecutive windows overlap by ``stride``; the last one is moved back to end at the last subword
    so that it is full (its overlap with the previous one may then exceed ``stride``).
    """
    if length <= content:
        return [0]
    step = content - stride
    starts = [0]
    while starts[-1] + content < length:
        starts.append(min(starts[-1] + step, length - content))
    return starts


def encode_sentences(
    tokens: Sequence[Sequence[str]],
    tokenizer: Any,
    *,
    tag_ids: Sequence[Sequence[int]] | None = None,
    max_length: int = 128,
    stride: int = 32,
    label_all_subwords: bool = False,
    label_list: Sequence[str] | None = None,
    documents: Sequence[int] | None = None,
    context: int = 0,
) -> dict[str, list]:
    """Tokenize words (``is_split_into_words``) in one batch call and cut them into windows.

    Args:
        tokens: S sentences of words.
        tokenizer: a fast tokenizer (``word_ids()`` is needed).
        tag_ids: S sequences of label ids, one per word (optional).
        max_length: subwords per window, special tokens included.
        stride: overlap in subwords between consecutive windows of one sentence (< content length).
        label_all_subwords: label continuation subwords too (B-X -> I-X, needs ``label_list``).
        label_list: id -> label, used only with ``label_all_subwords``.
        documents: S document numbers (consecutive sentences of one document share one); None: every
            sentence is a document of its own.
        context: subwords of document context on each side of a window (0: none).

    Returns:
        W windows as columns: ``input_ids`` [W][<= max_length] (with special tokens), ``labels``
        [W][same] (only with ``tag_ids``), ``word_index`` [W][same] (word index in its sentence at the
        first subword of each word this window owns, else -1), ``sentence_id`` [W], ``num_words`` [W]
        (words in that sentence) and ``context`` [W] (context subwords taken: left, right). A sentence
        with no words gives no window.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("a fast tokenizer is needed (word_ids() maps subwords to words)")
    content = _content_length(tokenizer, max_length, stride)
    if tag_ids is not None and len(tag_ids) != len(tokens):
        raise ValueError(f"{len(tag_ids)} tag sequences for {len(tokens)} sentences")
    continuation: list[int] | None = None
    if label_all_subwords and tag_ids is not None:
        if label_list is None:
            raise ValueError("label_all_subwords needs label_list (to turn B-X into I-X)")
        index = {lab: i for i, lab in enumerate(label_list)}
        continuation = [index.get("I-" + lab[2:], i) if lab.startswith("B-") else i for i, lab in enumerate(label_list)]

    words = [list(s) for s in tokens]
    # materialise once: datasets' lazy columns are slow to index row by row
    tag_rows = [list(t) for t in tag_ids] if tag_ids is not None else None
    enc = tokenizer(words, is_split_into_words=True, add_special_tokens=False,
                    return_attention_mask=False, return_token_type_ids=False, verbose=False)
    all_ids: list[list[int]] = list(enc["input_ids"])
    all_wids: list[list[int | None]] = [enc.word_ids(i) for i in range(len(words))]
    # words with zero subwords: re-encode only the sentences that hold one, with the unknown token
    # in their place (one more batch call, and only when needed)
    fix = [i for i, (s, w) in enumerate(zip(words, all_wids)) if len(set(x for x in w if x is not None)) < len(s)]
    if fix:
        unk = tokenizer.unk_token if tokenizer.unk_token is not None else "_"
        patched = []
        for i in fix:
            present = set(x for x in all_wids[i] if x is not None)
            patched.append([w if j in present else unk for j, w in enumerate(words[i])])
        enc2 = tokenizer(patched, is_split_into_words=True, add_special_tokens=False,
                         return_attention_mask=False, return_token_type_ids=False, verbose=False)
        for k, i in enumerate(fix):
            all_ids[i] = list(enc2["input_ids"][k])
            all_wids[i] = enc2.word_ids(k)
    return _windows(all_ids, all_wids, [len(w) for w in words], tokenizer, content, stride,
                    tag_rows=tag_rows, continuation=continuation, neighbours=_neighbours(all_ids, documents, context))


def encode_subwords(
    subword_ids: Sequence[Sequence[int]],
    word_ids: Sequence[Sequence[int | None]],
    num_words: Sequence[int],
    tokenizer: Any,
    *,
    max_length: int = 128,
    stride: int = 32,
    documents: Sequence[int] | None = None,
    context: int = 0,
) -> dict[str, list]:
    """Window sentences that are already tokenized, by the same rules as :func:`encode_sentences`.

    Args:
        subword_ids: S sentences of subword ids, without special tokens.
        word_ids: S rows as long as ``subword_ids``: the word (0-based, ascending) of each subword, or
            None for a subword that belongs to no word (it stays in the model input, unpredicted).
        num_words: words per sentence; every word must own at least one subword.
        tokenizer: gives the special tokens put around each window.
        max_length, stride, documents, context: as in :func:`encode_sentences`.

    Returns:
        The columns of :func:`encode_sentences` without ``labels``.
    """
    content = _content_length(tokenizer, max_length, stride)
    if not len(subword_ids) == len(word_ids) == len(num_words):
        raise ValueError(f"{len(subword_ids)} id rows, {len(word_ids)} word-id rows, {len(num_words)} word counts")
    for sid, (ids, wids) in enumerate(zip(subword_ids, word_ids)):
        if len(ids) != len(wids):
            raise ValueError(f"sentence {sid}: {len(ids)} subwords but {len(wids)} word ids")
        if any(w is not None and not 0 <= w < num_words[sid] for w in wids):
            raise ValueError(f"sentence {sid}: a word id outside 0..{num_words[sid] - 1}")
    ids = [list(x) for x in subword_ids]
    return _windows(ids, [list(x) for x in word_ids], list(num_words), tokenizer, content, stride,
                    neighbours=_neighbours(ids, documents, context))


def _neighbours(all_ids: list[list[int]], documents: Sequence[int] | None, context: int
                ) -> tuple[list[list[int]], list[list[int]]] | None:
    """Each sentence's context on offer (left, right), or None without documents or context."""
    if context < 0:
        raise ValueError(f"context must be >= 0, got {context}")
    if not context or documents is None:
        return None
    return neighbour_subwords(all_ids, list(documents), context)


def _content_length(tokenizer: Any, max_length: int, stride: int) -> int:
    """Subwords of text per window (``max_length`` less the special tokens); ValueError on a bad stride."""
    n_special = tokenizer.num_special_tokens_to_add()
    content = max_length - n_special
    if content < 1:
        raise ValueError(f"max_length={max_length} leaves no room next to {n_special} special tokens")
    if not 0 <= stride < content:
        raise ValueError(f"stride={stride} must be >= 0 and < max_length - special tokens = {content}")
    return content


def _first_positions(wids: Sequence[int | None], n_words: int, sid: int) -> list[int]:
    """The position of each word's first subword in its sentence."""
    first_pos = [-1] * n_words
    prev = None
    for p, w in enumerate(wids):
        if w is not None and w != prev and first_pos[w] < 0:
            first_pos[w] = p
        prev = w
    if min(first_pos) < 0:
        raise ValueError(f"sentence {sid}: word {first_pos.index(-1)} has no subword")
    return first_pos


def _owners(first_pos: list[int], starts: list[int], length: int, content: int) -> list[int]:
    """The window that owns each word: where its first subword has the most context on both sides."""
    if len(starts) == 1:
        return [0] * len(first_pos)
    owner = []
    for p in first_pos:
        best, best_ctx = 0, -1
        for k, s in enumerate(starts):
            e = min(s + content, length)
            if s <= p < e:
                ctx = min(p - s, e - 1 - p)
                if ctx > best_ctx:
                    best, best_ctx = k, ctx
        owner.append(best)
    return owner


def _windows(
    all_ids: list[list[int]],
    all_wids: list[list[int | None]],
    num_words: list[int],
    tokenizer: Any,
    content: int,
    stride: int,
    *,
    tag_rows: list[list[int]] | None = None,
    continuation: list[int] | None = None,
    neighbours: tuple[list[list[int]], list[list[int]]] | None = None,
) -> dict[str, list]:
    """Cut tokenized sentences into windows, choose the owner window of each word, label and index them;
    ``neighbours``: each sentence's context on offer (left, right), put around the windows that have room."""
    prefix, suffix = _special_affixes(tokenizer)
    pre_pad, suf_pad = [-1] * len(prefix), [-1] * len(suffix)
    pre_ign, suf_ign = [IGNORE] * len(prefix), [IGNORE] * len(suffix)

    out: dict[str, list] = {"input_ids": [], "word_index": [], "sentence_id": [], "num_words": [], "context": []}
    if tag_rows is not None:
        out["labels"] = []
    for sid, (ids, wids) in enumerate(zip(all_ids, all_wids)):
        n_words = num_words[sid]
        if n_words == 0:
            continue
        length = len(ids)
        first_pos = _first_positions(wids, n_words, sid)
        starts = _window_starts(length, content, stride)
        owner = _owners(first_pos, starts, length, content)
        tags = tag_rows[sid] if tag_rows is not None else None
        if tags is not None and len(tags) != n_words:
            raise ValueError(f"sentence {sid}: {len(tags)} tags for {n_words} words")
        left, right = (neighbours[0][sid], neighbours[1][sid]) if neighbours is not None else ([], [])
        for k, s in enumerate(starts):
            e = min(s + content, length)
            windex = []
            labels = []
            for p in range(s, e):
                w = wids[p]
                if w is None:  # a subword outside every word (only from encode_subwords)
                    windex.append(-1)
                    labels.append(IGNORE)
                    continue
                own = owner[w] == k
                if own and first_pos[w] == p:
                    windex.append(w)
                    labels.append(tags[w] if tags is not None else IGNORE)
                else:
                    windex.append(-1)
                    labels.append(continuation[tags[w]] if (continuation is not None and own and tags is not None)
                                  else IGNORE)
            n_left, n_right = context_sizes(content - (e - s), len(left), len(right))
            before, after = left[len(left) - n_left:], right[:n_right]
            ctx_pad, ctx_ign = [-1] * n_left, [IGNORE] * n_left
            out["input_ids"].append(prefix + before + list(ids[s:e]) + after + suffix)
            out["word_index"].append(pre_pad + ctx_pad + windex + [-1] * n_right + suf_pad)
            out["sentence_id"].append(sid)
            out["num_words"].append(n_words)
            out["context"].append((n_left, n_right))
            if tag_rows is not None:
                out["labels"].append(pre_ign + ctx_ign + labels + [IGNORE] * n_right + suf_ign)
    return out


def words_from_windows(
    num_words: Sequence[int],
    sentence_ids: Sequence[int],
    word_index: Sequence[Sequence[int]],
    predictions: Sequence[Sequence[int]],
) -> list[list[int]]:
    """Scatter window predictions back to one label id per word.

    Args:
        num_words: words per sentence, S entries (sentences are 0..S-1).
        sentence_ids: W, the sentence of each window; windows may come in any order or twice.
        word_index: W rows; word index at the positions a window owns, -1 elsewhere (padding too).
        predictions: W rows of label ids, each as long as its ``word_index`` row (extra positions ignored).

    Returns:
        S lists of label ids, ``num_words[s]`` long. ValueError if a word got no prediction.
    """
    out: list[list[int | None]] = [[None] * n for n in num_words]
    for sid, windex, preds in zip(sentence_ids, word_index, predictions):
        sid = int(sid)
        if not 0 <= sid < len(out):
            raise ValueError(f"window of sentence {sid}, but there are {len(out)} sentences")
        row = out[sid]
        for w, p in zip(windex, preds):
            w = int(w)
            if w < 0:
                continue
            if w >= len(row):
                raise ValueError(f"sentence {sid}: word index {w} but the sentence has {len(row)} words")
            row[w] = int(p)
    for sid, row in enumerate(out):
        if None in row:
            raise ValueError(f"sentence {sid}: word {row.index(None)} got no prediction (a window is missing)")
    return out  # type: ignore[return-value]
