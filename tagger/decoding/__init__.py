"""Levers after the loss: decoding per-word log-probabilities into tags, an O bias tuned on validation,
and a probability for every predicted entity. None of them retrains the model.

Input is one sentence's per-word log-probabilities ``log_probs: [T, C]`` (T words, C labels): the
log-softmax of each word's first subword, merged over windows
(:func:`tagger.train.evaluate.merge_window_log_probs`).

Decodings (:data:`DECODINGS`):

* ``argmax``: each word its most probable label, the transformers pipeline's rule. The sequence can
  be ill-formed (``O I-X``), which conlleval chunking reads one way and strict mode another.
* ``viterbi``: the most probable tag sequence among those the scheme allows
  (:func:`allowed_transitions`), so the output is always well-formed.

The model behind ``viterbi`` and its entity scores: the per-word distributions are independent
emissions and the scheme's rules are hard 0/1 transitions, with no learned parameter:
``P(y) ∝ Π_t p_t(y_t)`` over the allowed sequences ``y`` (start, every consecutive pair, end), 0
otherwise. Viterbi returns ``argmax_y P(y)``; an entity's score is the marginal probability that
exactly this span carries this type (forward-backward over the same chain, :func:`span_marginal`).
Under ``argmax`` an entity's score is the smallest probability among its words' predicted tags.
A CRF head (:mod:`tagger.crf`) is the same chain with learned start, transition and end scores
(:class:`ChainScores`) in place of the 0/1 rules: :class:`Decoder` takes them as ``chain``, and its
Viterbi and span marginals then follow the CRF. :func:`load_chain_scores` reads them from a model
folder with numpy alone, so the ONNX path and the pipeline decode a CRF model without torch.

The O bias ``b`` (:data:`O_BIAS_GRID`, :func:`tune_o_bias`) is subtracted from every word's ``O``
log-probability, and each word's distribution is renormalised, before decoding and scoring: ``b > 0``
trades precision for recall. It is chosen on validation data only; :func:`score_decodings` scores
the variants (:data:`VARIANTS`) a run reports.

The package has one module per concern: :mod:`~tagger.decoding.rules` (the decodings' names, the
scheme's transition rules as chain scores), :mod:`~tagger.decoding.search` (the one Viterbi and
forward-backward), :mod:`~tagger.decoding.marginals` (entity scores, calibration),
:mod:`~tagger.decoding.scoring` (the decoder, the O bias, scoring a run under every decoding) and
:mod:`~tagger.decoding.crf_files` (a CRF head's files, read with numpy alone). Their public names are
importable from ``tagger.decoding``.
"""

from tagger.decoding.crf_files import (
    CRF_CONFIG,
    CRF_TENSORS,
    CRF_WEIGHTS,
    crf_chain,
    folder_says_crf,
    json_type_name,
    load_chain_scores,
    read_crf,
    read_crf_config,
    write_crf,
)
from tagger.decoding.marginals import (
    CALIBRATION_BINS,
    ScoredEntity,
    calibration,
    span_marginal,
    span_scores,
    span_tags,
)
from tagger.decoding.rules import (
    CONTINUING_PREFIXES,
    DECODABLE_SCHEMES,
    DECODINGS,
    DEFAULT_SWEEP_DECODINGS,
    O_BIAS_GRID,
    THRESHOLD_SUFFIX,
    VARIANTS,
    Allowed,
    ChainScores,
    allowed_transitions,
    check_decoding,
    decodable_variants,
    label_scheme,
    o_bias_grid,
    rule_scores,
    split_variant,
)
from tagger.decoding.scoring import (
    Decoder,
    DecodingScores,
    check_decoding_entry,
    decode_split,
    decoding_entry,
    finite_o_bias,
    score_decodings,
    tune_o_bias,
)
from tagger.decoding.search import (
    apply_o_bias,
    chain_forward_backward,
    chain_viterbi,
    chain_viterbi_many,
    forward_backward,
    logsumexp,
    viterbi,
)

__all__ = ['Allowed', 'CALIBRATION_BINS', 'CONTINUING_PREFIXES', 'CRF_CONFIG', 'CRF_TENSORS', 'CRF_WEIGHTS', 'ChainScores', 'DECODABLE_SCHEMES', 'DECODINGS', 'DEFAULT_SWEEP_DECODINGS', 'Decoder', 'O_BIAS_GRID', 'DecodingScores', 'ScoredEntity', 'THRESHOLD_SUFFIX', 'VARIANTS', 'allowed_transitions', 'apply_o_bias', 'calibration', 'chain_forward_backward', 'chain_viterbi', 'chain_viterbi_many', 'check_decoding', 'check_decoding_entry', 'crf_chain', 'decodable_variants', 'decode_split', 'decoding_entry', 'finite_o_bias', 'folder_says_crf', 'forward_backward', 'json_type_name', 'label_scheme', 'load_chain_scores', 'logsumexp', 'o_bias_grid', 'read_crf', 'read_crf_config', 'rule_scores', 'score_decodings', 'span_marginal', 'span_scores', 'span_tags', 'split_variant', 'tune_o_bias', 'viterbi', 'write_crf']
