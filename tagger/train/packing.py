"""Token-budget packing, free of torch so that inference without torch (ONNX) batches the same way.

:mod:`tagger.train.batching` builds its sampler on :func:`pack_by_length` and re-exports it.
"""

from __future__ import annotations

from collections.abc import Sequence


def pack_by_length(lengths: Sequence[int], max_tokens: int, max_sentences: int, order: Sequence[int]) -> list[list[int]]:
    """Greedily cut ``order`` (indices sorted by length) into batches within the budget."""
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for idx in order:
        n = lengths[idx]
        new_longest = max(longest, n)
        if current and (new_longest * (len(current) + 1) > max_tokens or len(current) >= max_sentences):
            batches.append(current)
            current, new_longest = [], n
        current.append(idx)
        longest = new_longest
    if current:
        batches.append(current)
    return batches
