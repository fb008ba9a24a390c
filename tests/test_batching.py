import random

import pytest
import torch

from tagger.train.batching import TokenBudgetBatchSampler, WindowCollator, pack_by_length


def test_budget_respected_and_every_index_once():
    rng = random.Random(0)
    lengths = [rng.randint(3, 128) for _ in range(1000)]
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=1024, max_sentences=40, seed=1)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        flat = sorted(i for b in batches for i in b)
        assert flat == list(range(1000))
        for b in batches:
            assert max(lengths[i] for i in b) * len(b) <= 1024
            assert len(b) <= 40


def test_order_is_a_function_of_seed_and_epoch():
    lengths = [5, 5, 5, 5, 9, 9, 9, 9, 20, 20] * 10
    a = TokenBudgetBatchSampler(lengths, 64, seed=3)
    b = TokenBudgetBatchSampler(lengths, 64, seed=3)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b)
    b.set_epoch(3)
    assert list(a) != list(b)


def test_padding_share_small_on_skewed_lengths():
    rng = random.Random(1)
    lengths = [max(3, int(rng.lognormvariate(3.3, 0.5))) for _ in range(3000)]
    lengths = [min(n, 128) for n in lengths]
    batches = pack_by_length(lengths, 2048, 64, sorted(range(len(lengths)), key=lengths.__getitem__))
    real = sum(lengths)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert 1 - real / padded < 0.05


def test_window_longer_than_budget_is_an_error():
    with pytest.raises(ValueError, match="below the longest window"):
        TokenBudgetBatchSampler([10, 300], max_tokens=256)


def test_collator_pads_with_ignore_values():
    feats = [
        {"input_ids": [101, 7, 102], "labels": [-100, 3, -100], "word_index": [-1, 0, -1], "sentence_id": 4},
        {"input_ids": [101, 8, 9, 10, 102], "labels": [-100, 1, 2, -100, -100], "word_index": [-1, 0, 1, -1, -1],
         "sentence_id": 2},
    ]
    batch = WindowCollator(pad_token_id=0)(feats)
    assert batch["input_ids"].tolist() == [[101, 7, 102, 0, 0], [101, 8, 9, 10, 102]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"][0].tolist() == [-100, 3, -100, -100, -100]
    assert batch["word_index"][0].tolist() == [-1, 0, -1, -1, -1]
    assert batch["sentence_id"].tolist() == [4, 2]
    assert batch["num_tokens"] == 8
    assert batch["input_ids"].dtype == torch.long
