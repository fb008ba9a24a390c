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


# ------------------------------------------------------------------------------ sharding over processes


def _wnut_like_lengths(n: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [min(128, 3 + int(rng.expovariate(1 / 24))) for _ in range(n)]


def _shards(sampler: TokenBudgetBatchSampler, n: int) -> list[list[list[int]]]:
    """What each of ``n`` processes receives from Accelerate's own sharding of ``sampler``."""
    from accelerate.data_loader import BatchSamplerShard

    return [list(BatchSamplerShard(sampler, num_processes=n, process_index=r)) for r in range(n)]


@pytest.mark.parametrize("num_sentences", [384, 400, 500, 3394])
@pytest.mark.parametrize("n", [2, 3, 4])
def test_every_process_gets_the_same_number_of_steps_and_every_window_once(num_sentences: int, n: int) -> None:
    lengths = _wnut_like_lengths(num_sentences)
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=1024, max_sentences=32, seed=1, num_shards=n)
    from accelerate.data_loader import BatchSamplerShard

    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        shards = _shards(sampler, n)
        steps = {len(s) for s in shards}
        assert steps == {len(sampler) // n} == {len(BatchSamplerShard(sampler, num_processes=n, process_index=0))}
        assert all(batch for s in shards for batch in s)  # no empty batch on any rank
        seen = sorted(i for s in shards for batch in s for i in batch)
        assert seen == list(range(num_sentences))
        assert sampler.repeated_windows == 0
        for s in shards:
            assert all(len(b) * max(lengths[i] for i in b) <= 1024 and len(b) <= 32 for b in s)


def test_costs_are_balanced_across_processes_round_by_round() -> None:
    lengths = _wnut_like_lengths(3394)
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=1024, max_sentences=32, seed=1, num_shards=2)
    a, b = _shards(sampler, 2)
    cost = lambda batch: len(batch) * max(lengths[i] for i in batch)  # noqa: E731
    # a step waits for the slower rank: the waste is the gap between the two batches of each round
    wasted = sum(abs(cost(x) - cost(y)) for x, y in zip(a, b))
    assert wasted / sum(cost(x) + cost(y) for x, y in zip(a, b)) < 0.05


def test_fewer_windows_than_processes_repeat_windows_and_say_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        sampler = TokenBudgetBatchSampler([5, 7, 9], max_tokens=1024, num_shards=4)
    shards = _shards(sampler, 4)
    assert [len(s) for s in shards] == [1, 1, 1, 1]
    seen = [i for s in shards for b in s for i in b]
    assert sorted(set(seen)) == [0, 1, 2] and len(seen) == 4
    assert sampler.repeated_windows == 1
    assert "1 windows repeat" in caplog.text


def test_one_process_keeps_the_single_process_order() -> None:
    """num_shards=1 is the order the reference runs were trained with: pack by length, shuffle batches."""
    lengths = _wnut_like_lengths(500)
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=1024, max_sentences=32, seed=7)
    sampler.set_epoch(3)
    rng = random.Random(7 * 1_000_003 + 3)
    keys = [(n, rng.random()) for n in lengths]
    expected = pack_by_length(lengths, 1024, 32, sorted(range(len(lengths)), key=keys.__getitem__))
    rng.shuffle(expected)
    assert list(sampler) == expected


def test_resume_skips_exactly_the_batches_already_done_on_each_process() -> None:
    from accelerate.data_loader import BatchSamplerShard, SkipBatchSampler

    lengths = _wnut_like_lengths(400)
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=1024, max_sentences=32, seed=2, num_shards=2)
    sampler.set_epoch(1)
    for rank in (0, 1):
        full = list(BatchSamplerShard(sampler, num_processes=2, process_index=rank))
        resumed = list(SkipBatchSampler(BatchSamplerShard(sampler, num_processes=2, process_index=rank), 5))
        assert resumed == full[5:]
