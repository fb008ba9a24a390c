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
trades precision for recall. On top of it, a bias per entity type (:func:`tune_type_bias`,
:mod:`~tagger.decoding.type_bias`) is added to each of the type's labels, tuned by coordinate ascent and
shrunk toward ``b`` by the type's number of validation entities. Both are chosen on validation data only
and shift a CRF head's emissions alike; :func:`score_decodings` scores the scorings (:data:`SCORINGS`: a
decoding, alone, ``+threshold`` or ``+type_thresholds``) a run reports.

The package has one module per concern: :mod:`~tagger.decoding.rules` (the decodings' names, the
scheme's transition rules as chain scores), :mod:`~tagger.decoding.search` (the one Viterbi and
forward-backward), :mod:`~tagger.decoding.marginals` (entity scores, calibration),
:mod:`~tagger.decoding.decoder` (the decoder, the biases applied), :mod:`~tagger.decoding.type_bias`
(the per-type biases tuned), :mod:`~tagger.decoding.scoring` (the O bias, scoring a run under every
scoring, the settings a model folder keeps) and
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
from tagger.decoding.decoder import (
    Decoder,
    adjust_split,
    decode_split,
    entity_types,
    finite_o_bias,
    label_biases,
)
from tagger.decoding.marginals import (
    CALIBRATION_BINS,
    ScoredEntity,
    calibration,
    span_marginal,
    span_scores,
    span_scores_many,
    span_tags,
)
from tagger.decoding.rules import (
    CONTINUING_PREFIXES,
    DECODABLE_SCHEMES,
    DECODINGS,
    DEFAULT_SWEEP_DECODINGS,
    O_BIAS_GRID,
    SCORINGS,
    THRESHOLD_SUFFIX,
    THRESHOLDS,
    TYPE_THRESHOLDS_SUFFIX,
    Allowed,
    ChainScores,
    Scoring,
    allowed_transitions,
    check_decoding,
    label_scheme,
    o_bias_grid,
    rule_scores,
    scorings_for,
    split_scoring,
)
from tagger.decoding.scoring import (
    DecodingScores,
    check_decoding_entry,
    decoding_entry,
    score_decodings,
    tune_o_bias,
)
from tagger.decoding.search import (
    apply_label_bias,
    apply_o_bias,
    chain_forward_backward,
    chain_forward_backward_many,
    chain_viterbi,
    chain_viterbi_many,
    forward_backward,
    logsumexp,
    viterbi,
)
from tagger.decoding.type_bias import (
    TYPE_BIAS_GRID,
    TYPE_BIAS_PRIOR_ENTITIES,
    TYPE_BIAS_ROUNDS,
    TypeBiasFit,
    shrink_type_bias,
    tune_type_bias,
    type_bias_grid,
)

__all__ = ['CALIBRATION_BINS', 'CONTINUING_PREFIXES', 'CRF_CONFIG', 'CRF_TENSORS', 'CRF_WEIGHTS', 'DECODABLE_SCHEMES', 'DECODINGS', 'DEFAULT_SWEEP_DECODINGS', 'O_BIAS_GRID', 'SCORINGS', 'THRESHOLDS', 'THRESHOLD_SUFFIX', 'TYPE_BIAS_GRID', 'TYPE_BIAS_PRIOR_ENTITIES', 'TYPE_BIAS_ROUNDS', 'TYPE_THRESHOLDS_SUFFIX', 'Allowed', 'ChainScores', 'Decoder', 'DecodingScores', 'ScoredEntity', 'Scoring', 'TypeBiasFit', 'adjust_split', 'allowed_transitions', 'apply_label_bias', 'apply_o_bias', 'calibration', 'chain_forward_backward', 'chain_forward_backward_many', 'chain_viterbi', 'chain_viterbi_many', 'check_decoding', 'check_decoding_entry', 'crf_chain', 'decode_split', 'decoding_entry', 'entity_types', 'finite_o_bias', 'folder_says_crf', 'forward_backward', 'json_type_name', 'label_biases', 'label_scheme', 'load_chain_scores', 'logsumexp', 'o_bias_grid', 'read_crf', 'read_crf_config', 'rule_scores', 'score_decodings', 'scorings_for', 'shrink_type_bias', 'span_marginal', 'span_scores', 'span_scores_many', 'span_tags', 'split_scoring', 'tune_o_bias', 'tune_type_bias', 'type_bias_grid', 'viterbi', 'write_crf']
