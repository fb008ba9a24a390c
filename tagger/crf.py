"""A linear-chain CRF head over word-level emission scores: ``model.head: crf``.

The token classifier still gives every word its emission scores ``[C]`` (its logits at the word's
first subword); the CRF adds learned scores for the first tag (``start [C]``), for each pair of
consecutive tags (``transitions [C, C]``, from row to column) and for the last tag (``end [C]``).
A tag sequence ``y`` of ``L`` words scores

    s(y) = start[y_1] + sum_t emissions[t, y_t] + sum_t transitions[y_t, y_t+1] + end[y_L]

and ``P(y) = exp s(y) / Z`` over all ``C^L`` sequences. Tag pairs that the scheme forbids
(``O I-X``, ``B-X I-Y``, an IOBES/BILOU chunk left open, ...) carry a
constant :data:`FORBIDDEN` added to the learned score, so training can never make them likely
(the rules of :func:`tagger.decoding.allowed_transitions`, for IOB2, IOBES and BILOU).

Training sees windows of sentences (:mod:`tagger.data.align`): a window that starts in the middle
of a sentence pays no start score and may start with ``I-X`` (``starts`` False), and likewise at its
end (``ends``). Prediction decodes whole sentences (:meth:`CRF.decode`), after the windows' word
scores were merged. Every computation runs in float32 at least, also under bf16 autocast.

A trained CRF is saved beside the token classifier: :data:`CRF_WEIGHTS` (the three parameters) and
:data:`CRF_CONFIG` (labels and scheme); ``AutoModelForTokenClassification`` ignores both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tagger.data.schemes import normalize_scheme
from tagger.decoding import (
    CRF_TENSORS,
    ChainScores,
    adjust_split,
    allowed_transitions,
    apply_label_bias,
    chain_viterbi_many,
    label_biases,
    read_crf,
    span_scores_many,
    write_crf,
)

#: ``model.head`` / ``sweep.heads``: the token classifier alone, or with a CRF on top (the first is off).
HEADS: tuple[str, ...] = ("linear", "crf")
# Added to a forbidden step's score: exp() of it is exactly 0 in float32, yet unlike -inf it keeps
# every sum finite, so log-sum-exp and its gradient never meet -inf - -inf.
FORBIDDEN = -1e4
# Sentences decoded together by CRF.decode: bounds the padded [S, L, C] block of a long input.
DECODE_SENTENCES = 512


def _compute_dtype(emissions: torch.Tensor) -> torch.dtype:
    # float32 at least: bf16 would lose the small differences between large path scores
    return torch.promote_types(emissions.dtype, torch.float32)


class CRF(nn.Module):
    """Linear-chain CRF over ``C = len(labels)`` tags with the scheme's forbidden steps masked.

    Parameters: ``transitions [C, C]``, ``start [C]``, ``end [C]``, all starting at 0. Inputs are
    word-level: ``emissions [B, L, C]``, ``mask [B, L]`` bool, True on a prefix of each row (the
    row's words), ``starts``/``ends [B]`` bool: the row begins at its sentence's first word / ends at
    its last. ``forward`` is :meth:`nll`, so that a DDP wrapper sees the call.
    """

    def __init__(self, labels: Sequence[str], scheme: str) -> None:
        super().__init__()
        self.labels = list(labels)
        self.scheme = normalize_scheme(scheme)
        allowed = allowed_transitions(self.labels, self.scheme)
        num = len(self.labels)
        self.transitions = nn.Parameter(torch.zeros(num, num))
        self.start = nn.Parameter(torch.zeros(num))
        self.end = nn.Parameter(torch.zeros(num))
        # constants derived from labels and scheme: not saved, rebuilt on load
        for name, ok in zip(("start_penalty", "transition_penalty", "end_penalty"), allowed):
            self.register_buffer(name, torch.where(torch.from_numpy(ok), 0.0, FORBIDDEN), persistent=False)

    def scores(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(start [C], transitions [C, C], end [C])`` in ``dtype``, forbidden steps included."""
        return (self.start.to(dtype) + self.start_penalty.to(dtype),
                self.transitions.to(dtype) + self.transition_penalty.to(dtype),
                self.end.to(dtype) + self.end_penalty.to(dtype))

    def chain_scores(self) -> ChainScores:
        """The three scores as float64 numpy arrays, forbidden steps included: what
        :class:`tagger.decoding.Decoder` takes for Viterbi and entity marginals without torch."""
        with torch.no_grad():
            return ChainScores(*(x.detach().cpu().numpy() for x in self.scores(torch.float64)))

    def forward(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor, starts: torch.Tensor,
                ends: torch.Tensor) -> torch.Tensor:
        return self.nll(emissions, tags, mask, starts, ends)

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor, starts: torch.Tensor,
            ends: torch.Tensor) -> torch.Tensor:
        """``-log P(tags)`` per row, ``[B]`` (0 for a row without words): ``log Z - s(tags)``.

        ``tags [B, L]`` int64, read where ``mask`` is True (-100 elsewhere is fine).
        """
        with torch.autocast(emissions.device.type, enabled=False):
            em = emissions.to(_compute_dtype(emissions))
            start, trans, end = self.scores(em.dtype)
            log_z = _log_partition(em, mask, starts, ends, start, trans, end)
            gold = _sequence_score(em, tags, mask, starts, ends, start, trans, end)
            nll = torch.where(mask.any(dim=1), log_z - gold, 0.0)
            if em.shape[1] < 2:
                # no step between words: DDP still expects every parameter in the graph
                nll = nll + 0.0 * self.transitions.sum()
            return nll

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor, starts: torch.Tensor,
                      ends: torch.Tensor) -> torch.Tensor:
        """``log Z`` per row, ``[B]``: log-sum-exp of ``s(y)`` over every tag sequence of the row's length."""
        with torch.autocast(emissions.device.type, enabled=False):
            em = emissions.to(_compute_dtype(emissions))
            return _log_partition(em, mask, starts, ends, *self.scores(em.dtype))

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor, starts: torch.Tensor,
              ends: torch.Tensor) -> torch.Tensor:
        """``s(tags)`` per row, ``[B]``."""
        with torch.autocast(emissions.device.type, enabled=False):
            em = emissions.to(_compute_dtype(emissions))
            return _sequence_score(em, tags, mask, starts, ends, *self.scores(em.dtype))

    def decode(self, word_scores: Sequence[np.ndarray | torch.Tensor]) -> list[list[int]]:
        """The best tag sequence of whole sentences from their per-word scores ``[num_words, C]`` each, by
        tagger's one Viterbi (:func:`tagger.decoding.chain_viterbi_many`) over this CRF's chain.

        The scores may be the logits at each word or their log-softmax (per-word log-probabilities):
        a constant added to every tag of one word adds the same to every path, so the best path is
        the same.
        """
        rows = [np.asarray(s.detach().float().cpu().numpy() if isinstance(s, torch.Tensor) else s, dtype=np.float64)
                for s in word_scores]
        return chain_viterbi_many(rows, self.chain_scores(), block=DECODE_SENTENCES)


def _log_partition(em: torch.Tensor, mask: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor,
                   start: torch.Tensor, trans: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """The forward algorithm in log space: ``em [B, L, C]`` -> ``log Z [B]`` (any value for empty rows)."""
    if em.shape[1] == 0:
        return em.new_zeros(em.shape[0])
    alpha = em[:, 0] + torch.where(starts[:, None], start, 0.0)  # [B, C]
    for t in range(1, em.shape[1]):
        step = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + em[:, t]
        alpha = torch.where(mask[:, t, None], step, alpha)  # past a row's end its alpha stays final
    return torch.logsumexp(alpha + torch.where(ends[:, None], end, 0.0), dim=1)


def _sequence_score(em: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor, starts: torch.Tensor,
                    ends: torch.Tensor, start: torch.Tensor, trans: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """``s(tags)`` per row, ``[B]``, for ``em [B, L, C]`` and ``tags [B, L]`` read under ``mask``."""
    if em.shape[1] == 0:
        return em.new_zeros(em.shape[0])
    y = torch.where(mask, tags, 0)  # padding (-100) may not index
    total = torch.where(mask, em.gather(2, y.unsqueeze(2)).squeeze(2), 0.0).sum(dim=1)
    if em.shape[1] > 1:
        total = total + torch.where(mask[:, 1:], trans[y[:, :-1], y[:, 1:]], 0.0).sum(dim=1)
    lengths = mask.sum(dim=1)
    last = y.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
    nonempty = lengths > 0
    total = total + torch.where(starts & nonempty, start[y[:, 0]], 0.0)
    return total + torch.where(ends & nonempty, end[last], 0.0)


class CRFDecoder:
    """Tags from per-word log-probabilities by a CRF head: what :class:`tagger.decoding.Decoder` does for
    the token classifier alone (``adjust``, ``decode``, ``tags`` of one sentence's ``log_probs [T, C]``),
    with the CRF's Viterbi, after the same biases on its emissions (the O bias subtracted from each word's
    ``O`` log-probability, a type's bias added to each of its labels: :func:`tagger.decoding.label_biases`)."""

    def __init__(self, crf: CRF, o_bias: float = 0.0, type_bias: Mapping[str, float] | None = None) -> None:
        self.crf, self.labels, self.o_bias, self.type_bias = crf, crf.labels, o_bias, type_bias
        self.bias = label_biases(self.labels, o_bias, type_bias)  # ValueError for a bias that is not finite
        self.chain = crf.chain_scores()  # for entity marginals: read once, not per sentence

    def adjust(self, log_probs: np.ndarray) -> np.ndarray:
        return apply_label_bias(log_probs, self.bias)

    def decode(self, log_probs: np.ndarray) -> list[int]:
        """One label id per word."""
        return self.crf.decode([self.adjust(log_probs)])[0]

    def tags(self, log_probs: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.decode(log_probs)]

    def split_tags(self, log_probs: Sequence[np.ndarray]) -> list[list[str]]:
        """:meth:`tags` of every sentence of a split, decoded together (one Viterbi per block of sentences)."""
        paths = self.crf.decode(adjust_split(self, log_probs))
        return [[self.labels[i] for i in path] for path in paths]

    def scored(self, log_probs: np.ndarray) -> tuple[list[str], list[Any]]:
        """Tags, and their entities each with its marginal probability under the CRF (forward-backward
        over the CRF's chain, :func:`tagger.decoding.span_scores_many`)."""
        return self.scored_many([log_probs])[0]

    def scored_many(self, log_probs: Sequence[np.ndarray]) -> list[tuple[list[str], list[Any]]]:
        """:meth:`scored` of every sentence of a split, the paths found together (one Viterbi per block)."""
        adjusted = adjust_split(self, log_probs)
        paths = self.crf.decode(adjusted)
        scored = span_scores_many(adjusted, self.labels, paths, self.chain)
        return [([self.labels[i] for i in ids], ents) for ids, ents in zip(paths, scored)]


# ------------------------------------------------------------------------------------------ windows


@dataclass
class WordEmissions:
    """Word-level CRF inputs packed from a batch of windows (see :func:`word_emissions`)."""

    emissions: torch.Tensor  # [B, L, C]: the logits at each window's words, in order
    mask: torch.Tensor  # [B, L] bool, True on the first (words in the window) positions
    starts: torch.Tensor  # [B] bool: the window holds its sentence's first word
    ends: torch.Tensor  # [B] bool: the window holds its sentence's last word
    tags: torch.Tensor | None  # [B, L] int64 gold tags (0 under padding), when labels were given


def word_emissions(logits: torch.Tensor, word_index: torch.Tensor, num_words: torch.Tensor,
                   labels: torch.Tensor | None = None, max_words: int | None = None) -> WordEmissions:
    """Pack the positions that carry a word (``word_index >= 0``: the first subword of each word the
    window owns) into ``[B, L, C]``, in order.

    ``logits [B, T, C]``, ``word_index [B, T]`` (word position in its sentence, -1 elsewhere),
    ``num_words [B]`` (words in each window's sentence), ``labels [B, T]`` (optional). ``max_words``:
    the most words in a row (the collator's ``max_words``), else counted here (a host sync on GPU).
    """
    keep = word_index >= 0
    lengths = keep.sum(dim=1)
    width = int(lengths.max()) if max_words is None and keep.numel() else min(max_words or 0, keep.shape[1])
    # a stable sort puts a row's word positions first, in their order
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :width]
    emissions = logits.gather(1, order.unsqueeze(2).expand(-1, -1, logits.shape[2]))
    mask = torch.arange(width, device=logits.device)[None, :] < lengths[:, None]
    words = word_index.gather(1, order)
    last = words.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
    nonempty = lengths > 0
    starts = nonempty & (words[:, 0] == 0) if width else nonempty
    ends = nonempty & (last == num_words - 1)
    tags = torch.where(mask, labels.gather(1, order).clamp(min=0), 0) if labels is not None else None
    return WordEmissions(emissions, mask, starts, ends, tags)


def crf_nll_per_token(crf: nn.Module, logits: torch.Tensor, labels: torch.Tensor, word_index: torch.Tensor,
                      num_words: torch.Tensor, max_words: int | None = None) -> torch.Tensor:
    """The CRF loss of a batch of windows: the sum of the windows' sequence NLLs over the number of
    labelled tokens (``labels != -100``), a 0-dim tensor.

    Per labelled token, like the registry's losses (a mean over the same tokens), so that adding
    ``model.crf_token_weight`` x one of them weighs two things of one scale, the learning rate
    means the same with either head, and DDP's per-rank weighting by labelled tokens
    (:mod:`tagger.train.distributed`) makes it the mean over every rank's tokens. ``crf`` may be
    a DDP-wrapped :class:`CRF` (it is called, not its methods).
    """
    packed = word_emissions(logits, word_index, num_words, labels, max_words)
    nll = crf(packed.emissions, packed.tags, packed.mask, packed.starts, packed.ends)
    return nll.sum() / (labels != -100).sum().clamp(min=1)


def crf_param_group(crf: nn.Module, learning_rate: float) -> dict[str, Any]:
    """The optimizer's parameter group of a CRF head: its own learning rate, and no weight decay, as a
    transition score has no reason to shrink towards 0 (0 is not "no preference" between tags)."""
    return {"params": [p for p in crf.parameters() if p.requires_grad], "weight_decay": 0.0, "lr": learning_rate}


# ------------------------------------------------------------------------------------------ files


def save_crf(crf: CRF, folder: str | Path) -> None:
    """Write the CRF's files into a model folder (:func:`tagger.decoding.crf_files.write_crf`)."""
    arrays = {name: getattr(crf, name).detach().float().cpu().numpy() for name in CRF_TENSORS}
    write_crf(folder, crf.labels, crf.scheme, arrays)


def load_crf(folder: str | Path, labels: Sequence[str] | None = None,
             device: torch.device | str | None = None) -> CRF | None:
    """The CRF saved in a model folder, or None when it has none. ``labels``: the token classifier's
    (``id2label`` in order); InputError when the CRF's differ, as the two would not fit together, or
    for any other fault of its files (:func:`tagger.decoding.read_crf`)."""
    saved = read_crf(folder, labels)
    if saved is None:
        return None
    crf = crf_from_saved(saved)
    return crf.to(device) if device is not None else crf


def crf_from_saved(saved: tuple[dict[str, Any], dict[str, np.ndarray]]) -> CRF:
    """A :class:`CRF` of the head :func:`tagger.decoding.read_crf` read (its labels, scheme and arrays)."""
    config, tensors = saved
    crf = CRF(config["labels"], config["scheme"])
    crf.load_state_dict({name: torch.from_numpy(value).float() for name, value in tensors.items()})
    return crf
