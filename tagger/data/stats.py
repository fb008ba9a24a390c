"""Per-split statistics of a data set, including what a plain truncation at ``max_length`` would hide."""

from __future__ import annotations

from typing import Any

from tagger.data.readers import NerData, entity_counts
from tagger.data.schemes import entities


def _subword_lengths(tokens: list[list[str]], tokenizer: Any) -> tuple[list[list[int]], int]:
    """Subwords per word (S sentences x words) in one batch call, and the special tokens per sequence."""
    enc = tokenizer(tokens, is_split_into_words=True, add_special_tokens=False, return_attention_mask=False,
                    return_token_type_ids=False, verbose=False)
    out = []
    for i, words in enumerate(tokens):
        counts = [0] * len(words)
        for w in enc.word_ids(i):
            if w is not None:
                counts[w] += 1
        out.append(counts)
    return out, tokenizer.num_special_tokens_to_add()


def dataset_stats(data: NerData, tokenizer: Any = None, max_length: int | None = None) -> dict:
    """Counts per split: ``{"name", "scheme", "label_list", "sources", "splits": {SPLIT: {...}}}``.

    Each split has ``sentences``, ``tokens``, ``entities`` ({TYPE: n}, read like conlleval),
    ``entities_total``, ``o_share`` (fraction of ``O`` tags), ``length_words`` {max, mean}; with a
    tokenizer also ``length_subwords`` {max, mean} (special tokens included) and
    ``zero_subword_words`` (words the tokenizer turns into nothing); with ``max_length`` too,
    what a plain truncation (transformers' ``run_ner.py``) would drop: ``truncated_sentences``,
    ``truncated_words`` (words whose first subword is past the cut) and ``truncated_entities`` (gold
    entities with a word past the cut). Here no word is dropped: see :mod:`tagger.data.align`.
    """
    out: dict[str, Any] = {"name": data.name, "scheme": data.scheme, "label_list": list(data.label_list),
                           "sources": dict(data.sources), "splits": {}}
    names = data.label_list
    for split, ds in data.splits.items():
        tokens: list[list[str]] = [list(t) for t in ds["tokens"]]
        tags = [[names[i] for i in row] for row in ds["ner_tags"]]
        n_tokens = sum(len(t) for t in tokens)
        per_type = entity_counts(tags)
        n_o = sum(t == "O" for row in tags for t in row)
        lengths = [len(t) for t in tokens]
        s: dict[str, Any] = {
            "sentences": len(tokens),
            "tokens": n_tokens,
            "entities": per_type,
            "entities_total": sum(per_type.values()),
            "o_share": n_o / n_tokens if n_tokens else 0.0,
            "length_words": {"max": max(lengths, default=0), "mean": n_tokens / len(tokens) if tokens else 0.0},
        }
        if tokenizer is not None:
            per_word, n_special = _subword_lengths(tokens, tokenizer)
            sub_lengths = [sum(c) + n_special for c in per_word]
            s["length_subwords"] = {"max": max(sub_lengths, default=0),
                                    "mean": sum(sub_lengths) / len(sub_lengths) if sub_lengths else 0.0}
            s["zero_subword_words"] = sum(c == 0 for row in per_word for c in row)
            if max_length is not None:
                room = max_length - n_special
                cut_sents = cut_words = cut_ents = 0
                for counts, sent_tags in zip(per_word, tags):
                    pos, cut_from = 0, len(counts)
                    for j, c in enumerate(counts):
                        # a zero-subword word has no first subword to cut; it is counted above
                        if c and pos >= room:
                            cut_from = j
                            break
                        pos += c
                    cut = [c > 0 for c in counts[cut_from:]]
                    if any(cut):
                        cut_sents += 1
                        cut_words += sum(cut)
                        cut_ents += sum(1 for _, _, end in entities(sent_tags) if end >= cut_from)
                s["max_length"] = max_length
                s["truncated_sentences"] = cut_sents
                s["truncated_words"] = cut_words
                s["truncated_entities"] = cut_ents
        out["splits"][split] = s
    return out


def format_stats(stats: dict) -> str:
    """A readable table per split of :func:`dataset_stats` output."""
    lines = [f"data set: {stats['name']}  (scheme {stats['scheme']}, {len(stats['label_list'])} labels)"]
    for split, s in stats["splits"].items():
        src = stats["sources"].get(split, "")
        lines.append("")
        lines.append(f"{split}" + (f"  [{src}]" if src else ""))
        rows = [
            ("sentences", f"{s['sentences']:,}"),
            ("tokens", f"{s['tokens']:,}"),
            ("entities", f"{s['entities_total']:,}"),
        ]
        rows += [(f"  {typ}", f"{n:,}") for typ, n in s["entities"].items()]
        rows += [
            ("O share", f"{100 * s['o_share']:.1f}%"),
            ("words/sentence", f"max {s['length_words']['max']}, mean {s['length_words']['mean']:.1f}"),
        ]
        if "length_subwords" in s:
            rows.append(("subwords/sentence",
                         f"max {s['length_subwords']['max']}, mean {s['length_subwords']['mean']:.1f} (special tokens included)"))
            rows.append(("zero-subword words", f"{s['zero_subword_words']:,}"))
        if "truncated_words" in s:
            rows.append((f"cut at {s['max_length']}",
                         f"{s['truncated_words']:,} words, {s['truncated_entities']:,} entities in "
                         f"{s['truncated_sentences']:,} sentences (plain truncation; tagger uses windows)"))
        width = max(len(k) for k, _ in rows)
        lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines) + "\n"
