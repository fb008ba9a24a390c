"""Search over a chain: tagger's one Viterbi (:func:`chain_viterbi_many`, used by evaluation, ``Tagger``, ONNX
serving, the pipeline and the CRF head) and forward-backward, on per-word log-probabilities with numpy."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from tagger.decoding.rules import Allowed, ChainScores, rule_scores

logger = logging.getLogger(__name__)


def logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """log Σ exp(x) along ``axis``; -inf where every term is -inf (no NaN)."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)


def apply_label_bias(log_probs: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``log_probs: [T, C]`` plus ``bias: [C]`` on every word, each row renormalised (float64); the
    values unchanged (as float64) for no bias. The O bias is ``-b`` at ``O`` (:func:`apply_o_bias`), a
    type's bias ``+d`` at each of its labels (:func:`tagger.decoding.decoder.label_biases`); on a CRF's
    emissions the renormalisation changes neither the best path nor the marginals (one constant per word)."""
    lp = np.asarray(log_probs, dtype=np.float64)
    if bias is None or not np.any(bias) or lp.size == 0:
        return lp
    lp = lp + bias
    return lp - logsumexp(lp, axis=1)[:, None]


def apply_o_bias(log_probs: np.ndarray, o_index: int | None, bias: float) -> np.ndarray:
    """``log_probs: [T, C]`` with ``bias`` subtracted from column ``o_index`` and each row renormalised
    (float64); unchanged values (as float64) when the bias is 0 or there is no O label."""
    if not bias or o_index is None:
        return np.asarray(log_probs, dtype=np.float64)
    vector = np.zeros(np.shape(log_probs)[-1])
    vector[o_index] = -bias
    return apply_label_bias(log_probs, vector)


def viterbi(log_probs: np.ndarray, allowed: Allowed) -> list[int]:
    """The most probable allowed label sequence for ``log_probs: [T, C]`` (ties: the lower label id).

    ValueError when ``allowed`` admits no sequence of length T.
    """
    return chain_viterbi(log_probs, rule_scores(allowed))


def chain_viterbi(log_probs: np.ndarray, chain: ChainScores) -> list[int]:
    """The label sequence of ``log_probs: [T, C]`` with the highest emissions + ``chain`` score
    (ties: the lower label id); ValueError when every sequence of length T scores -inf.
    One sentence of :func:`chain_viterbi_many`, tagger's one Viterbi."""
    return chain_viterbi_many([np.asarray(log_probs, dtype=np.float64)], chain)[0]


def chain_viterbi_many(log_probs: Sequence[np.ndarray], chain: ChainScores, block: int = 512) -> list[list[int]]:
    """The best label sequence of every sentence (``log_probs``: one ``[T_s, C]`` array each) under the emissions
    plus ``chain`` (start, transition and end scores: the scheme's 0/-inf rules or a CRF's learned ones),
    computed in float64 for ``block`` sentences of similar length at once. Ties go to the lower label id
    (numpy's argmax), for every caller: evaluation, ``Tagger``, ONNX serving, the pipeline and the CRF.
    ValueError when every sequence of a sentence's length scores -inf."""
    start, trans, end = chain
    out: list[list[int]] = [[] for _ in log_probs]
    order = sorted((i for i, lp in enumerate(log_probs) if len(lp)), key=lambda i: len(log_probs[i]))
    for k in range(0, len(order), block):
        group = order[k:k + block]
        lengths = np.array([len(log_probs[i]) for i in group])
        longest, num_labels = int(lengths.max()), trans.shape[0]
        lp = np.zeros((len(group), longest, num_labels))
        for row, i in enumerate(group):
            lp[row, :lengths[row]] = log_probs[i]
        score = start + lp[:, 0]  # [S, C]
        back = np.zeros((longest, len(group), num_labels), dtype=np.int64)
        final = np.where((lengths == 1)[:, None], score + end, 0.0)
        for t in range(1, longest):
            live = lengths > t  # sentences sorted by length: a suffix of the rows
            first = int(np.argmax(live))
            cand = score[first:, :, None] + trans  # [S', C_prev, C]
            back[t, first:] = cand.argmax(axis=1)
            score[first:] = np.take_along_axis(cand, back[t, first:, None, :], axis=1)[:, 0] + lp[first:, t]
            ending = np.flatnonzero(lengths == t + 1)
            final[ending] = score[ending] + end
        best = final.argmax(axis=1)  # [S]
        rows = np.arange(len(group))
        dead = np.flatnonzero(~np.isfinite(final[rows, best]))
        if dead.size:
            raise ValueError(f"the label list allows no tag sequence of {lengths[dead[0]]} words")
        # back along every row at once: a row joins at its own last word, then follows its pointers
        path = np.zeros((len(group), longest), dtype=np.int64)
        for t in range(longest - 1, -1, -1):
            ending = lengths == t + 1
            path[ending, t] = best[ending]
            first = int(np.searchsorted(lengths, t + 2))  # rows longer than t + 1 words: a suffix
            if first < len(group):
                path[first:, t] = back[t + 1, rows[first:], path[first:, t + 1]]
        for row, i in enumerate(group):
            out[i] = path[row, :lengths[row]].tolist()
    return out


def forward_backward(log_probs: np.ndarray, allowed: Allowed) -> tuple[np.ndarray, np.ndarray, float]:
    """Log forward and backward tables of the constrained chain, ``alpha, beta: [T, C]``, and ``log Z``.

    ``alpha[t, c]``: log-sum over allowed prefixes ending in ``c`` at ``t``, emissions 0..t included;
    ``beta[t, c]``: log-sum over allowed continuations after ``c`` at ``t`` (end rule included).
    """
    return chain_forward_backward(log_probs, rule_scores(allowed))


def chain_forward_backward(log_probs: np.ndarray, chain: ChainScores) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`forward_backward` of the chain with scores ``chain``: ``alpha, beta: [T, C]`` and ``log Z``.
    One sentence of :func:`chain_forward_backward_many`."""
    return chain_forward_backward_many([np.asarray(log_probs, dtype=np.float64)], chain)[0]


def chain_forward_backward_many(log_probs: Sequence[np.ndarray], chain: ChainScores,
                                block: int = 512) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """:func:`chain_forward_backward` of every sentence (``log_probs``: one ``[T_s, C]`` array each, none
    empty), computed in float64 for ``block`` sentences of similar length at once, the same recursion row
    by row: ``[(alpha [T_s, C], beta [T_s, C], log Z)]`` in the order given."""
    start, trans, end = chain
    out: list[tuple[np.ndarray, np.ndarray, float]] = [None] * len(log_probs)  # type: ignore[list-item]
    if any(len(lp) == 0 for lp in log_probs):
        raise ValueError("forward-backward needs at least one word per sentence")
    order = sorted(range(len(log_probs)), key=lambda i: len(log_probs[i]))
    for k in range(0, len(order), block):
        group = order[k:k + block]
        lengths = np.array([len(log_probs[i]) for i in group])
        longest = int(lengths.max())
        lp = np.zeros((len(group), longest, trans.shape[0]))
        for row, i in enumerate(group):
            lp[row, :lengths[row]] = log_probs[i]
        alpha, beta = np.zeros_like(lp), np.zeros_like(lp)
        alpha[:, 0] = start + lp[:, 0]
        for t in range(1, longest):
            first = int(np.searchsorted(lengths, t + 1))  # rows with a word t (sorted by length: a suffix)
            alpha[first:, t] = logsumexp(alpha[first:, t - 1, :, None] + trans, axis=1) + lp[first:, t]
        for t in range(longest - 1, -1, -1):
            beta[lengths == t + 1, t] = end
            first = int(np.searchsorted(lengths, t + 2))  # rows with a word after t
            if first < len(group):
                beta[first:, t] = logsumexp(trans + (lp[first:, t + 1] + beta[first:, t + 1])[:, None, :], axis=2)
        last = alpha[np.arange(len(group)), lengths - 1] + end  # [S, C]
        log_z = logsumexp(last, axis=1)
        for row, i in enumerate(group):
            n = lengths[row]
            out[i] = (alpha[row, :n].copy(), beta[row, :n].copy(), float(log_z[row]))
    return out
