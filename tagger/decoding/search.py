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
        for row, i in enumerate(group):
            best = int(final[row].argmax())
            if not np.isfinite(final[row, best]):
                raise ValueError(f"the label list allows no tag sequence of {lengths[row]} words")
            path = [best]
            for t in range(lengths[row] - 1, 0, -1):
                path.append(int(back[t, row, path[-1]]))
            out[i] = path[::-1]
    return out


def forward_backward(log_probs: np.ndarray, allowed: Allowed) -> tuple[np.ndarray, np.ndarray, float]:
    """Log forward and backward tables of the constrained chain, ``alpha, beta: [T, C]``, and ``log Z``.

    ``alpha[t, c]``: log-sum over allowed prefixes ending in ``c`` at ``t``, emissions 0..t included;
    ``beta[t, c]``: log-sum over allowed continuations after ``c`` at ``t`` (end rule included).
    """
    return chain_forward_backward(log_probs, rule_scores(allowed))


def chain_forward_backward(log_probs: np.ndarray, chain: ChainScores) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`forward_backward` of the chain with scores ``chain``: ``alpha, beta: [T, C]`` and ``log Z``."""
    lp = np.asarray(log_probs, dtype=np.float64)
    start, trans, end = chain
    num_words = lp.shape[0]
    alpha = np.empty_like(lp)
    beta = np.empty_like(lp)
    alpha[0] = start + lp[0]
    for t in range(1, num_words):
        alpha[t] = logsumexp(alpha[t - 1][:, None] + trans, axis=0) + lp[t]
    beta[-1] = end
    for t in range(num_words - 2, -1, -1):
        beta[t] = logsumexp(trans + (lp[t + 1] + beta[t + 1])[None, :], axis=1)
    return alpha, beta, float(logsumexp(alpha[-1] + end, axis=0))
