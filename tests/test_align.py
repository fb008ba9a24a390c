"""Subword alignment and windows: every word gets exactly one prediction and every gold entity counts."""

from __future__ import annotations

import random

import pytest

from tagger.data.align import IGNORE, encode_sentences, encode_subwords, words_from_windows
from tagger.metrics import score_sequences

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_short_sentences_match_the_tokenizer_and_label_first_subwords(tokenizer):
    sents = [["John", "unaffable", "Smith"], ["in", "Paris"]]
    tags = [[1, 0, 1], [0, 3]]
    enc = encode_sentences(sents, tokenizer, tag_ids=tags)
    assert enc["input_ids"] == tokenizer(sents, is_split_into_words=True)["input_ids"]
    # "unaffable" -> una ##ffa ##ble in this vocabulary: only its first piece is labelled
    pieces = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    assert pieces == ["[CLS]", "john", "una", "##ffa", "##ble", "smith", "[SEP]"]
    assert enc["labels"][0] == [IGNORE, 1, 0, IGNORE, IGNORE, 1, IGNORE]
    assert enc["word_index"][0] == [-1, 0, 1, -1, -1, 2, -1]
    assert enc["sentence_id"] == [0, 1] and enc["num_words"] == [3, 2]


def test_label_all_subwords_turns_b_into_i(tokenizer):
    enc = encode_sentences([["unaffable", "x"]], tokenizer, tag_ids=[[3, 0]], label_all_subwords=True, label_list=LABELS)
    assert enc["labels"][0] == [IGNORE, 3, 4, 4, 0, IGNORE]
    with pytest.raises(ValueError, match="label_list"):
        encode_sentences([["a"]], tokenizer, tag_ids=[[0]], label_all_subwords=True)


def test_zero_subword_words_become_unk(tokenizer):
    sents = [["I", "\ufe0f", "", "NYC"]]
    enc = encode_sentences(sents, tokenizer, tag_ids=[[0, 0, 0, 3]])
    assert tokenizer.convert_ids_to_tokens(enc["input_ids"][0]) == ["[CLS]", "i", "[UNK]", "[UNK]", "nyc", "[SEP]"]
    assert enc["word_index"][0] == [-1, 0, 1, 2, 3, -1]
    assert enc["labels"][0] == [IGNORE, 0, 0, 0, 3, IGNORE]


def test_windows_overlap_and_ownership_by_context(tokenizer):
    # 20 one-subword words, window content 8 (10 - [CLS] - [SEP]), stride 4: starts 0, 4, 8, 12
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "the", "dog", "ran", "to", "it", "so", "we", "all", "went",
             "home", "at", "ten", "pm"]
    assert all(len(tokenizer.tokenize(w)) == 1 for w in words)
    enc = encode_sentences([words], tokenizer, max_length=10, stride=4)
    assert [len(x) for x in enc["input_ids"]] == [10, 10, 10, 10]
    owned = [[w for w in row if w >= 0] for row in enc["word_index"]]
    # window k covers words 4k..4k+7; each word goes where min(left, right) is largest, ties to the earlier window
    assert owned == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9], [10, 11, 12, 13], [14, 15, 16, 17, 18, 19]]
    with pytest.raises(ValueError, match="stride"):
        encode_sentences([words], tokenizer, max_length=10, stride=8)


def test_encode_subwords_windows_like_encode_sentences(tokenizer):
    words = ["the", "unaffable", "cat", "sat", "on", "Zürich", "and", "the", "dog", "ran"] * 3
    enc = tokenizer([words], is_split_into_words=True, add_special_tokens=False)
    ids, wids = enc["input_ids"], [enc.word_ids(0)]
    for max_length, stride in ((128, 32), (10, 4)):
        ref = encode_sentences([words], tokenizer, max_length=max_length, stride=stride)
        got = encode_subwords(ids, wids, [len(words)], tokenizer, max_length=max_length, stride=stride)
        assert got == ref
    # a subword of no word (a special token written in the text) stays in the input, unpredicted
    special = tokenizer.convert_tokens_to_ids("[SEP]")
    got = encode_subwords([[ids[0][0], special, ids[0][1]]], [[0, None, 1]], [2], tokenizer)
    assert got["input_ids"][0][1:-1] == [ids[0][0], special, ids[0][1]]
    assert got["word_index"][0] == [-1, 0, -1, 1, -1]
    with pytest.raises(ValueError, match="word id outside"):
        encode_subwords([[5, 6]], [[0, 2]], [2], tokenizer)
    with pytest.raises(ValueError, match="word 1 has no subword"):
        encode_subwords([[5, 6]], [[0, 0]], [2], tokenizer)
    with pytest.raises(ValueError, match="2 subwords but 1 word ids"):
        encode_subwords([[5, 6]], [[0]], [1], tokenizer)


def test_thousand_words_every_word_predicted_every_entity_counted(tokenizer):
    rng = random.Random(0)
    vocab = ["the", "unaffable", "Paris", "John", "x", "walked", "\ufe0f", "Zürich", "ok"]
    words = [rng.choice(vocab) for _ in range(1000)]
    gold = []
    for w in words:
        gold.append(3 if w in ("Paris", "Zürich") else 1 if w == "John" else 0)
    enc = encode_sentences([words, ["a", "John"]], tokenizer, tag_ids=[gold, [0, 1]], max_length=32, stride=8)
    assert max(len(x) for x in enc["input_ids"]) == 32
    assert len(enc["input_ids"]) > 40
    # each word labelled exactly once over all windows, at its owned first subword
    seen = [0] * 1000
    for sid, row, lab in zip(enc["sentence_id"], enc["word_index"], enc["labels"]):
        for w, y in zip(row, lab):
            if w >= 0 and sid == 0:
                seen[w] += 1
                assert y == gold[w]
    assert seen == [1] * 1000
    # an oracle that copies the labels back through the windows scores every gold entity
    order = list(range(len(enc["input_ids"])))
    rng.shuffle(order)
    order += order[:5]  # duplicated windows (several processes) are harmless
    preds = words_from_windows([1000, 2], [enc["sentence_id"][i] for i in order], [enc["word_index"][i] for i in order],
                               [enc["labels"][i] for i in order])
    assert preds == [gold, [0, 1]]
    tags = [[LABELS[i] for i in s] for s in preds]
    n_entities = sum(1 for y in gold if y) + 1
    res = score_sequences(tags, tags)
    assert res["gold"] == n_entities and res["tp"] == n_entities and res["f1"] == 1.0


def test_words_from_windows_padding_and_missing():
    # padded rows: positions with -1 are ignored whatever the prediction there
    assert words_from_windows([3], [0, 0], [[-1, 0, 1, -1], [-1, 2, -1, -1]], [[9, 4, 5, 9], [9, 6, 9, 9]]) == [[4, 5, 6]]
    with pytest.raises(ValueError, match="sentence 1: word 0 got no prediction"):
        words_from_windows([1, 1], [0], [[0]], [[2]])
    assert words_from_windows([0], [], [], []) == [[]]


def test_conll_train_encodes_fast_enough(tokenizer, data_dir):
    import time

    from tagger.data.conll import read_conll

    sents = [s.tokens for s in read_conll(data_dir / "wnut17" / "train.conll")]
    t0 = time.perf_counter()
    enc = encode_sentences(sents, tokenizer, max_length=128)
    assert time.perf_counter() - t0 < 10
    assert len(enc["input_ids"]) == 3394  # WNUT-17 train fits in 128 subwords
