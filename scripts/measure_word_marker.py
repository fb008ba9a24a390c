"""How each rule for a byte-level BPE tokenizer's word-start marker encodes the words of an NER data set.

    python scripts/measure_word_marker.py            # WNUT-17 and CoNLL-2003 train (TAGGER_DATA_DIR)

A RoBERTa-style tokenizer (byte-level BPE, ``add_prefix_space=False``, 8,000 pieces) is trained here on
the split's sentences as running text (no Hub access). For three ways of handing it a sentence's
words, it counts the words whose subwords are those the word has in running text, both inside the
space-joined sentence alone and after a preceding sentence (as a sentence sits in a document), and
the subwords per word:

* ``none``: each word alone without its marker (``is_split_into_words`` with ``add_prefix_space=False``,
  the tokenizer's own setting);
* ``all``: the marker on every word (``add_prefix_space=True``, what tagger does);
* ``all-but-first``: the space-joined sentence, words read back by character offsets.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench_common as common  # noqa: E402


def _tokenizer(texts: list[str]) -> tuple[object, object]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=8000, special_tokens=["<unk>"],
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    marked = Tokenizer.from_str(backend.to_str())
    marked.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    return backend, marked


def _in_text(tok: object, words: list[str], prefix: str) -> list[list[str]]:
    """Each word's subwords inside ``prefix + " ".join(words)`` (a subword belongs to the word it starts in)."""
    text = prefix + " ".join(words)
    starts, pos = [], len(prefix)
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    enc = tok.encode(text)
    out: list[list[str]] = [[] for _ in words]
    for token, (s, _e) in zip(enc.tokens, enc.offsets):
        s += text[s:s + 1] == " "  # without a trimming post-processor a marked subword's span holds its space
        if s < len(prefix):
            continue
        word = max(i for i, st in enumerate(starts) if st <= max(s, starts[0]))
        out[word].append(token)
    return out


def _alone(tok: object, words: list[str]) -> list[list[str]]:
    enc = tok.encode(words, is_pretokenized=True)
    out: list[list[str]] = [[] for _ in words]
    for token, w in zip(enc.tokens, enc.word_ids):
        out[w].append(token)
    return out


def measure(name: str, sentences: list[list[str]]) -> None:
    texts = [" ".join(ws) for ws in sentences]
    plain, marked = _tokenizer(texts)
    previous = ["It rained ."] + texts[:-1]
    counts = {rule: [0, 0, 0] for rule in ("none", "all", "all-but-first")}  # same alone, same after, subwords
    seconds = {rule: 0.0 for rule in counts}
    words_total = sum(len(ws) for ws in sentences)
    for ws, before in zip(sentences, previous):
        alone_ref = _in_text(plain, ws, "")
        after_ref = _in_text(plain, ws, before + " ")
        for rule, count in counts.items():
            t = time.perf_counter()
            got = (_alone(plain, ws) if rule == "none" else _alone(marked, ws) if rule == "all" else _in_text(plain, ws, ""))
            seconds[rule] += time.perf_counter() - t
            count[0] += sum(a == b for a, b in zip(got, alone_ref))
            count[1] += sum(a == b for a, b in zip(got, after_ref))
            count[2] += sum(len(x) for x in got)
    print(f"\n{name}: {len(sentences):,} sentences, {words_total:,} words")
    print(f"{'rule':<14} {'= in sentence':>14} {'= after a sentence':>19} {'subwords/word':>14} {'encode s':>9}")
    for rule, (alone, after, pieces) in counts.items():
        print(f"{rule:<14} {100 * alone / words_total:>13.1f}% {100 * after / words_total:>18.1f}% "
              f"{pieces / words_total:>14.3f} {seconds[rule]:>9.2f}")


def main() -> None:
    data = common.data_dir()
    for name in ("wnut17", "conll2003"):
        measure(f"{name} train", [ws for ws, _ in common.read_conll(data / name / "train.conll")])


if __name__ == "__main__":
    main()
