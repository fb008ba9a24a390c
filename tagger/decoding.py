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
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tagger.data.schemes import entities, normalize_scheme, parse_tag
from tagger.errors import InputError
from tagger.metrics import score_sequences

logger = logging.getLogger(__name__)

#: Decoding algorithms: ``training.decoding``, ``Tagger(decoding=...)``, ``tagger predict --decoding``.
DECODINGS: tuple[str, ...] = ("argmax", "viterbi")
#: Suffix of a decoding whose O bias was tuned on validation.
THRESHOLD_SUFFIX = "+threshold"
#: What one trained model is scored with (``sweep.decodings`` picks the summary's rows among them).
VARIANTS: tuple[str, ...] = ("argmax", "viterbi", "argmax+threshold", "viterbi+threshold")
#: The summary's rows unless ``sweep.decodings`` says otherwise.
DEFAULT_SWEEP_DECODINGS: tuple[str, ...] = ("argmax", "viterbi", "viterbi+threshold")
#: Schemes whose chunks :func:`allowed_transitions` knows (IOB1 opens chunks with ``I-``: not these rules).
DECODABLE_SCHEMES: tuple[str, ...] = ("IOB2", "IOBES", "BILOU")
#: O biases tried on validation: 0 to 6 in steps of 0.25, as (start, stop inclusive, step).
O_BIAS_GRID: tuple[float, float, float] = (0.0, 6.0, 0.25)
#: Equal-width bins of :func:`calibration` over [0, 1].
CALIBRATION_BINS = 10

_CONTINUING = frozenset("IEL")  # prefixes that continue a chunk opened before them
_OPEN = frozenset("BI")  # prefixes after which the chunk is still open

ScoredEntity = tuple[str, int, int, float]  # type, first word, last word (inclusive), probability
Allowed = tuple[np.ndarray, np.ndarray, np.ndarray]  # start [C], trans [C, C], end [C], bool

#: A CRF head's files in a model folder (written by :func:`tagger.crf.save_crf`): its parameters, and
#: its labels and scheme. ``AutoModelForTokenClassification`` ignores both.
CRF_WEIGHTS = "crf.safetensors"
CRF_CONFIG = "crf.json"


class ChainScores(NamedTuple):
    """Log-space scores of a linear chain over C labels, added to the words' emissions along a path:
    ``start [C]`` (first word), ``transitions [C, C]`` (row -> column), ``end [C]`` (last word), float64.
    The scheme's 0/1 rules are 0 / -inf (:func:`rule_scores`); a CRF's are learned, forbidden steps
    included (:meth:`tagger.crf.CRF.chain_scores`)."""

    start: np.ndarray
    transitions: np.ndarray
    end: np.ndarray


# ------------------------------------------------------------------------------------------ names


def split_variant(name: str) -> tuple[str, bool]:
    """``"viterbi+threshold"`` -> ``("viterbi", True)``; ValueError for a name outside :data:`VARIANTS`."""
    if name not in VARIANTS:
        raise ValueError(f"unknown decoding {name!r}: choose from {', '.join(VARIANTS)}")
    method = name.removesuffix(THRESHOLD_SUFFIX)
    return method, method != name


def check_decoding(name: str) -> str:
    """``name`` if it is one of :data:`DECODINGS`, else ValueError listing them."""
    if name not in DECODINGS:
        raise ValueError(f"unknown decoding {name!r}: choose from {', '.join(DECODINGS)}")
    return name


def o_bias_grid(start: float = O_BIAS_GRID[0], stop: float = O_BIAS_GRID[1],
                step: float = O_BIAS_GRID[2]) -> list[float]:
    """The biases ``start, start + step, ..., stop`` (computed as ``start + i * step``: no drift)."""
    if step <= 0 or stop < start:
        raise ValueError(f"an O bias grid needs step > 0 and stop >= start, got {start}, {stop}, {step}")
    return [start + i * step for i in range(int(round((stop - start) / step)) + 1)]


# ------------------------------------------------------------------------------------------ transitions


def label_scheme(labels: Sequence[str]) -> str:
    """The scheme a label list is decoded in: BILOU with ``L-``/``U-`` labels, IOBES with ``E-``/``S-``,
    else IOB2. (IOB1 labels look like IOB2 ones: a model trained on IOB1 says so in its run file.)"""
    prefixes = {parse_tag(label)[0] for label in labels}
    if prefixes & {"L", "U"}:
        return "BILOU"
    if prefixes & {"E", "S"}:
        return "IOBES"
    return "IOB2"


def allowed_transitions(labels: Sequence[str], scheme: str) -> Allowed:
    """Which tag sequences ``scheme`` allows over ``labels``: ``start [C]``, ``trans [C, C]``
    (``trans[a, b]``: label ``b`` may follow label ``a``) and ``end [C]``, all bool.

    Every scheme: a continuing tag (``I-X``, and IOBES's ``E-X`` / BILOU's ``L-X``) only right after
    ``B-X`` or ``I-X`` of its own type, never first. IOBES and BILOU also close every chunk: after
    ``B-X`` or ``I-X`` only ``I-X`` or the closing ``E-X``/``L-X`` may follow, and a sentence may not
    end there. Labels are read by their prefix, also one outside ``scheme`` (kept from data).
    ValueError for IOB1 (its ``I-X`` opens chunks) or an unknown scheme or label.
    """
    name = normalize_scheme(scheme)
    if name not in DECODABLE_SCHEMES:
        raise ValueError(f"viterbi decodes {', '.join(DECODABLE_SCHEMES)} tags, not {name} (train on IOB2)")
    parsed = [parse_tag(label) for label in labels]
    closes = name != "IOB2"  # IOBES/BILOU: a chunk must be closed by its own last tag
    prefix = np.array([p for p, _ in parsed])
    types = [t for _, t in parsed]
    continuing = np.isin(prefix, list(_CONTINUING))
    still_open = np.isin(prefix, list(_OPEN))
    same_type = np.array([[a == b and a is not None for b in types] for a in types])
    start = ~continuing
    # a continuing tag needs an open chunk of its type before it; any other tag needs (in IOBES/BILOU) none
    trans = np.where(continuing[None, :], still_open[:, None] & same_type,
                     ~still_open[:, None] if closes else np.ones_like(same_type))
    end = ~still_open if closes else np.ones(len(labels), dtype=bool)
    return start, trans.astype(bool), end


def rule_scores(allowed: Allowed) -> ChainScores:
    """The scheme's rules as chain scores: 0 where a step is allowed, -inf where it is not."""
    start, trans, end = (np.where(m, 0.0, -np.inf) for m in allowed)
    return ChainScores(start, trans, end)


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """log Σ exp(x) along ``axis``; -inf where every term is -inf (no NaN)."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)


# ------------------------------------------------------------------------------------------ decoding


def apply_o_bias(log_probs: np.ndarray, o_index: int | None, bias: float) -> np.ndarray:
    """``log_probs: [T, C]`` with ``bias`` subtracted from column ``o_index`` and each row renormalised
    (float64); unchanged values (as float64) when the bias is 0 or there is no O label."""
    lp = np.asarray(log_probs, dtype=np.float64)
    if not bias or o_index is None or lp.size == 0:
        return lp
    lp = lp.copy()
    lp[:, o_index] -= bias
    return lp - _logsumexp(lp, axis=1)[:, None]


def viterbi(log_probs: np.ndarray, allowed: Allowed) -> list[int]:
    """The most probable allowed label sequence for ``log_probs: [T, C]`` (ties: the lower label id).

    ValueError when ``allowed`` admits no sequence of length T.
    """
    return chain_viterbi(log_probs, rule_scores(allowed))


def chain_viterbi(log_probs: np.ndarray, chain: ChainScores) -> list[int]:
    """The label sequence of ``log_probs: [T, C]`` with the highest emissions + ``chain`` score
    (ties: the lower label id); ValueError when every sequence of length T scores -inf."""
    lp = np.asarray(log_probs, dtype=np.float64)
    if lp.shape[0] == 0:
        return []
    start, trans, end = chain
    num_words, num_labels = lp.shape
    score = start + lp[0]
    back = np.zeros((num_words, num_labels), dtype=np.int64)
    cols = np.arange(num_labels)
    for t in range(1, num_words):
        cand = score[:, None] + trans  # [C_prev, C]
        back[t] = cand.argmax(axis=0)
        score = cand[back[t], cols] + lp[t]
    score = score + end
    best = int(score.argmax())
    if not np.isfinite(score[best]):
        raise ValueError(f"the label list allows no tag sequence of {num_words} words")
    path = [best]
    for t in range(num_words - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


def chain_viterbi_many(log_probs: Sequence[np.ndarray], chain: ChainScores, block: int = 512) -> list[list[int]]:
    """:func:`chain_viterbi` of every sentence (``log_probs``: one ``[T_s, C]`` array each), computed for
    ``block`` sentences of similar length at once: the same additions in the same order, so the same paths
    and ties, without a Python step per word and sentence."""
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
        alpha[t] = _logsumexp(alpha[t - 1][:, None] + trans, axis=0) + lp[t]
    beta[-1] = end
    for t in range(num_words - 2, -1, -1):
        beta[t] = _logsumexp(trans + (lp[t + 1] + beta[t + 1])[None, :], axis=1)
    return alpha, beta, float(_logsumexp(alpha[-1] + end, axis=0))


def finite_o_bias(value: Any) -> float | None:
    """``value`` as an O bias (a finite number), None when it is not one (a string, a list, NaN, an infinity:
    an infinite bias tags every word as an entity or none)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        return None
    return float(value)


def _type_name(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string"}.get(type(value), type(value).__name__)


def check_decoding_entry(entry: Any, path: str | Path) -> dict[str, Any]:
    """The ``decoding`` entry of a model folder's ``tagger_run.json`` (``path``), checked: a mapping whose
    ``default`` is one of :data:`DECODINGS`, ``o_bias`` a mapping of decoding -> finite number and
    ``scheme`` one that viterbi decodes; InputError naming the file and the key otherwise. ``{}`` for None."""
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        raise InputError(f"decoding: a {_type_name(entry)} where a mapping of the decoding settings is expected",
                         path=path)
    default = entry.get("default", "argmax")
    if default not in DECODINGS:
        raise InputError(f"decoding.default: unknown decoding {default!r}: choose from {', '.join(DECODINGS)}",
                         path=path)
    biases = entry.get("o_bias") or {}
    if not isinstance(biases, dict):
        raise InputError(f"decoding.o_bias: a {_type_name(biases)} where a mapping of decoding -> O bias is expected",
                         path=path)
    for name, bias in biases.items():
        if finite_o_bias(bias) is None:
            raise InputError(f"decoding.o_bias.{name}: {bias!r} is not a finite number", path=path)
    scheme = entry.get("scheme")
    if scheme is not None:
        try:
            normalize_scheme(scheme)
        except (ValueError, TypeError, AttributeError):
            raise InputError(f"decoding.scheme: {scheme!r} is not a tagging scheme", path=path) from None
    return entry


def folder_says_crf(folder: str | Path) -> bool:
    """Whether a model folder was saved with a CRF head: its :data:`CRF_CONFIG`, or its ``tagger_run.json``
    (a ``crf`` entry, ``hyperparameters.head: crf``)."""
    from tagger.model_loading import read_run_info

    folder = Path(folder)
    info = read_run_info(folder)
    hp = info.get("hyperparameters")
    return (folder / CRF_CONFIG).is_file() or bool(info.get("crf")) or (isinstance(hp, dict) and hp.get("head") == "crf")


def _crf_config(folder: Path, labels: Sequence[str] | None) -> dict[str, Any]:
    """:data:`CRF_CONFIG`, checked: an object with ``labels`` (the model's, where given) and a ``scheme``
    that viterbi decodes and the labels are written in."""
    path = folder / CRF_CONFIG
    if not path.is_file():
        raise InputError(f"{CRF_WEIGHTS} without {CRF_CONFIG} (its labels and scheme)", path=folder)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"not valid JSON: {err}", path=path) from None
    if not isinstance(config, dict):
        raise InputError(f"holds a JSON {_type_name(config)}, not an object with labels and scheme", path=path)
    crf_labels = config.get("labels")
    if not isinstance(crf_labels, list) or not crf_labels or not all(isinstance(x, str) for x in crf_labels):
        raise InputError("labels: missing, or not a list of tags", path=path)
    scheme = config.get("scheme")
    try:
        name = normalize_scheme(scheme)
    except (ValueError, TypeError, AttributeError):
        name = None
    if name not in DECODABLE_SCHEMES:
        raise InputError(f"scheme: {scheme!r} is not one a CRF decodes ({', '.join(DECODABLE_SCHEMES)})", path=path)
    try:
        written = label_scheme(crf_labels)
    except ValueError as err:
        raise InputError(f"labels: {err}", path=path) from None
    if written != name:
        raise InputError(f"scheme: {scheme} does not match the labels, which are {written} tags", path=path)
    if labels is not None and list(labels) != crf_labels:
        raise InputError(f"the CRF's labels {crf_labels} are not the model's {list(labels)}", path=folder)
    return {**config, "scheme": name}


def _crf_tensors(folder: Path, num_labels: int) -> dict[str, np.ndarray]:
    """:data:`CRF_WEIGHTS` as float64 arrays, checked: complete, the three tensors, shaped for
    ``num_labels`` labels, finite."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from tagger.model_loading import safetensors_header

    path = folder / CRF_WEIGHTS
    safetensors_header(path)
    try:
        saved = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise InputError(f"cannot read: {str(err).splitlines()[0] if str(err) else type(err).__name__}",
                         path=path) from None
    shapes = {"transitions": (num_labels, num_labels), "start": (num_labels,), "end": (num_labels,)}
    out = {}
    for key, shape in shapes.items():
        if key not in saved:
            raise InputError(f"{key}: missing (a CRF head has transitions, start and end)", path=path)
        if tuple(saved[key].shape) != shape:
            raise InputError(f"{key}: shape {list(saved[key].shape)}, the {num_labels} labels of {CRF_CONFIG} "
                             f"need {list(shape)}", path=path)
        out[key] = saved[key].astype(np.float64)
        if not np.isfinite(out[key]).all():
            raise InputError(f"{key}: holds NaN or infinite scores", path=path)
    return out


def read_crf(folder: str | Path, labels: Sequence[str] | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """A model folder's CRF head, checked, read with numpy alone: (``{"labels", "scheme"}`` of
    :data:`CRF_CONFIG`, the ``transitions [C, C]``, ``start [C]`` and ``end [C]`` float64 arrays of
    :data:`CRF_WEIGHTS`), or None for a folder without a CRF head. ``labels``: the token classifier's, in
    id order. InputError naming the file and the key for a head that is missing its weights (the folder
    says it has one: :func:`folder_says_crf`), unreadable, shaped for other labels, not finite or of a
    scheme its labels are not written in."""
    folder = Path(folder)
    if not (folder / CRF_WEIGHTS).is_file():
        if folder_says_crf(folder):
            raise InputError(f"no {CRF_WEIGHTS}: the folder was saved with a CRF head, and without it the "
                             "model would decode as if it had none", path=folder)
        return None
    config = _crf_config(folder, labels)
    return config, _crf_tensors(folder, len(config["labels"]))


def read_crf_config(folder: str | Path, labels: Sequence[str] | None = None) -> dict[str, Any] | None:
    """The ``{"labels", "scheme"}`` of a model folder's CRF head (:func:`read_crf`), or None."""
    crf = read_crf(folder, labels)
    return None if crf is None else crf[0]


def load_chain_scores(folder: str | Path, labels: Sequence[str] | None = None) -> tuple[ChainScores, str] | None:
    """A model folder's CRF head as chain scores and its scheme, read with numpy alone (no torch), or None.

    The learned scores plus the scheme's rules: a forbidden step is -inf here where the torch head adds
    a large negative constant, which gives the same paths and the same probabilities (exp of either is 0).
    """
    crf = read_crf(folder, labels)
    return None if crf is None else (crf_chain(crf), crf[0]["scheme"])


def crf_chain(saved: tuple[dict[str, Any], dict[str, np.ndarray]]) -> ChainScores:
    """The chain scores of a CRF head as :func:`read_crf` returns it: learned scores plus the scheme's rules."""
    config, tensors = saved
    rules = rule_scores(allowed_transitions(config["labels"], config["scheme"]))
    learned = ChainScores(*(tensors[name] for name in ChainScores._fields))
    return ChainScores(*(x + r for x, r in zip(learned, rules)))


def span_tags(typ: str, length: int, scheme: str) -> list[str]:
    """The only tags an allowed sequence can give a span of ``length`` words of type ``typ``:
    ``B I .. I`` (IOB2), ``S`` or ``B I .. E`` (IOBES), ``U`` or ``B I .. L`` (BILOU)."""
    name = normalize_scheme(scheme)
    if name in ("IOBES", "BILOU"):
        single, last = ("S", "E") if name == "IOBES" else ("U", "L")
        if length == 1:
            return [f"{single}-{typ}"]
        return [f"B-{typ}"] + [f"I-{typ}"] * (length - 2) + [f"{last}-{typ}"]
    return [f"B-{typ}"] + [f"I-{typ}"] * (length - 1)


@dataclass
class _Chain:
    """One sentence's constrained chain, its tables computed once for all its spans."""

    lp: np.ndarray  # [T, C]
    chain: ChainScores
    alpha: np.ndarray = field(init=False)  # [T, C]
    beta: np.ndarray = field(init=False)  # [T, C]
    log_z: float = field(init=False)

    def __post_init__(self) -> None:
        self.alpha, self.beta, self.log_z = chain_forward_backward(self.lp, self.chain)
        _, self.log_trans, self.log_end = self.chain

    def span_log_prob(self, first: int, ids: Sequence[int], after: np.ndarray) -> float:
        """log P(words first.. carry ``ids`` and the next word's label is not in ``after`` [C] bool)."""
        trans, end = self.log_trans, self.log_end
        value = self.alpha[first, ids[0]]
        for k in range(1, len(ids)):
            value += trans[ids[k - 1], ids[k]] + self.lp[first + k, ids[k]]
        last = first + len(ids) - 1
        if last == self.lp.shape[0] - 1:
            value += end[ids[-1]]
        else:
            nxt = trans[ids[-1]] + self.lp[last + 1] + self.beta[last + 1]
            value += float(_logsumexp(np.where(after, -np.inf, nxt), axis=0))
        return float(value - self.log_z)


def _continues(labels: Sequence[str], typ: str) -> np.ndarray:
    """[C] bool: the labels that would extend a chunk of ``typ`` (``I-``/``E-``/``L-`` of that type)."""
    return np.array([parse_tag(label)[0] in _CONTINUING and parse_tag(label)[1] == typ for label in labels])


def span_marginal(log_probs: np.ndarray, labels: Sequence[str], scheme: str, typ: str, first: int,
                  last: int) -> float:
    """P(words ``first..last`` are exactly one entity of type ``typ``) under the constrained chain:
    the span's tags (:func:`span_tags`) and a next word that does not continue it, summed over every
    allowed sequence and divided by the sum over all of them. 0 when a needed label does not exist."""
    index = {label: i for i, label in enumerate(labels)}
    tags = span_tags(typ, last - first + 1, scheme)
    if any(t not in index for t in tags):
        return 0.0
    chain = _Chain(np.asarray(log_probs, dtype=np.float64), rule_scores(allowed_transitions(labels, scheme)))
    return float(np.exp(chain.span_log_prob(first, [index[t] for t in tags], _continues(labels, typ))))


def span_scores(log_probs: np.ndarray, labels: Sequence[str], ids: Sequence[int],
                chain: ChainScores) -> list[ScoredEntity]:
    """The entities of the path ``ids`` over ``log_probs: [T, C]`` (conlleval reading), each with its
    marginal probability under ``chain``: the span carries exactly these tags and the next word does
    not continue it, summed over every path and divided by the sum over all of them."""
    spans = entities([labels[i] for i in ids])
    if not spans:
        return []
    table = _Chain(np.asarray(log_probs, dtype=np.float64), chain)
    return [(t, s, e, float(np.exp(table.span_log_prob(s, list(ids[s:e + 1]), _continues(labels, t)))))
            for t, s, e in spans]


@dataclass
class Decoder:
    """Decodes one sentence's ``log_probs: [T, C]`` over ``labels`` with ``method`` and an O bias.

    ``scheme`` (viterbi only; None: :func:`label_scheme` of the labels) sets the allowed transitions.
    ``chain``: a CRF head's learned scores (:class:`ChainScores`), which viterbi then follows instead
    of the scheme's rules alone (``method`` must be viterbi).
    """

    labels: Sequence[str]
    method: str = "argmax"
    o_bias: float = 0.0
    scheme: str | None = None
    chain: ChainScores | None = None
    o_index: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        check_decoding(self.method)
        if finite_o_bias(self.o_bias) is None:
            raise ValueError(f"the O bias must be a finite number, got {self.o_bias!r}")
        self.labels = list(self.labels)
        self.o_index = self.labels.index("O") if "O" in self.labels else None
        if self.chain is not None and self.method != "viterbi":
            raise ValueError(f"a CRF head decodes by viterbi, not {self.method}")
        if self.method == "viterbi" and self.chain is None:
            self.scheme = normalize_scheme(self.scheme) if self.scheme else label_scheme(self.labels)
            self.chain = rule_scores(allowed_transitions(self.labels, self.scheme))

    def adjust(self, log_probs: np.ndarray) -> np.ndarray:
        """``log_probs: [T, C]`` after the O bias (renormalised float64): what decoding and scores see."""
        return apply_o_bias(log_probs, self.o_index, self.o_bias)

    def decode(self, log_probs: np.ndarray) -> list[int]:
        """One label id per word."""
        return self._path(self.adjust(log_probs))

    def _path(self, lp: np.ndarray) -> list[int]:
        """Label ids of ``lp: [T, C]``, the O bias already applied."""
        if self.chain is None:
            return [int(i) for i in lp.argmax(axis=1)] if lp.shape[0] else []
        return chain_viterbi(lp, self.chain)

    def tags(self, log_probs: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.decode(log_probs)]

    def scored(self, log_probs: np.ndarray) -> tuple[list[str], list[ScoredEntity]]:
        """Tags, and the entities they chunk into (conlleval reading) each with its probability:
        viterbi's span marginal, or under argmax the smallest probability of the span's predicted tags."""
        lp = self.adjust(log_probs)
        ids = self._path(lp)
        tags = [self.labels[i] for i in ids]
        if self.chain is not None:
            return tags, span_scores(lp, self.labels, ids, self.chain)
        word_p = np.exp(lp[np.arange(len(ids)), ids])
        return tags, [(t, s, e, float(word_p[s:e + 1].min())) for t, s, e in entities(tags)]


def decode_split(decoder: Decoder, log_probs: Sequence[np.ndarray]) -> list[list[str]]:
    """Tags of every sentence of a split (``log_probs``: one ``[T_s, C]`` array per sentence); the
    sentences are decoded together (:func:`chain_viterbi_many`), with the tags of :meth:`Decoder.tags`."""
    if not log_probs:
        return []
    # the O bias of every word at once: one array op instead of one per sentence
    ends = np.cumsum([len(lp) for lp in log_probs])[:-1]
    adjusted = np.split(decoder.adjust(np.concatenate([np.asarray(lp, dtype=np.float64) for lp in log_probs])), ends)
    if decoder.chain is None:
        paths = [[int(i) for i in lp.argmax(axis=1)] if len(lp) else [] for lp in adjusted]
    else:
        paths = chain_viterbi_many(adjusted, decoder.chain)
    return [[decoder.labels[i] for i in path] for path in paths]


# ------------------------------------------------------------------------------------------ calibration


def calibration(gold: Sequence[Sequence[str]], scored: Sequence[Sequence[ScoredEntity]],
                bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Expected calibration error of entity scores: ``Σ_b n_b / N · |accuracy_b - confidence_b|``.

    An entity is correct when a gold entity (conlleval reading) has its type and both boundaries;
    bins are ``bins`` equal-width intervals of [0, 1] (the last one closed). Returns ``{"ece",
    "entities", "bins": [{"low", "high", "count", "confidence", "accuracy"}]}``; ``ece`` None
    without predicted entities.
    """
    scores, correct = [], []
    for tags, ents in zip(gold, scored):
        truth = set(entities(tags))
        for typ, s, e, p in ents:
            scores.append(p)
            correct.append((typ, s, e) in truth)
    score_arr, correct_arr = np.asarray(scores, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    which = np.minimum((score_arr * bins).astype(np.int64), bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        members = which == b
        n = int(members.sum())
        conf = float(score_arr[members].mean()) if n else None
        acc = float(correct_arr[members].mean()) if n else None
        if n:
            ece += n / len(score_arr) * abs(acc - conf)  # type: ignore[operator]
        table.append({"low": b / bins, "high": (b + 1) / bins, "count": n, "confidence": conf, "accuracy": acc})
    return {"ece": ece if len(score_arr) else None, "entities": len(score_arr), "bins": table}


# ------------------------------------------------------------------------------------------ the O bias


def tune_o_bias(log_probs: Sequence[np.ndarray], gold: Sequence[Sequence[str]], labels: Sequence[str],
                method: str, *, scheme: str | None = None, mode: str = "conlleval",
                grid: Sequence[float] | None = None) -> tuple[float, dict[str, Any]]:
    """The O bias of ``grid`` (default :func:`o_bias_grid`) with the highest F1 on these sentences,
    ties to the smallest ``|b|``, and its scores (:func:`tagger.metrics.score_sequences` in ``mode``).

    Pass validation data only: whatever split this sees is the one the bias is fitted to.
    """
    best: tuple[float, dict[str, Any]] | None = None
    for bias in sorted(o_bias_grid() if grid is None else grid, key=abs):
        decoder = Decoder(labels, method, o_bias=bias, scheme=scheme)
        scores = score_sequences(gold, decode_split(decoder, log_probs), mode=mode)
        if best is None or scores["f1"] > best[1]["f1"]:
            best = (bias, scores)
    if best is None:
        raise ValueError("the O bias grid is empty")
    return best


@dataclass
class Scored:
    """One decoding variant of one trained model: its scores, test tags and calibration."""

    name: str
    o_bias: float | None  # None: no bias (a variant without threshold)
    validation: dict[str, Any]
    test: dict[str, Any]
    test_tags: list[list[str]]
    calibration: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"validation": self.validation, "test": self.test, "calibration": self.calibration}
        if self.o_bias is not None:
            out["o_bias"] = self.o_bias
        return out


def score_decodings(labels: Sequence[str], validation: tuple[Sequence[Sequence[str]], Sequence[np.ndarray]],
                    test: tuple[Sequence[Sequence[str]], Sequence[np.ndarray]], *, scheme: str | None = None,
                    mode: str = "conlleval", variants: Sequence[str] = VARIANTS,
                    grid: Sequence[float] | None = None) -> dict[str, Scored]:
    """Every variant of ``variants`` on one trained model: validation and test scores, test tags with
    calibration of their entity scores (:func:`calibration`), and for ``+threshold`` variants the O bias.

    ``validation`` and ``test`` are (gold tags, per-word log-probabilities) per sentence. The biases
    are tuned on validation (:func:`tune_o_bias`) before test is decoded; test never reaches the choice.
    """
    tuned_on_validation: dict[str, tuple[float, dict[str, Any]]] = {}
    for name in variants:
        method, tuned = split_variant(name)
        if tuned and method not in tuned_on_validation:
            tuned_on_validation[method] = tune_o_bias(validation[1], validation[0], labels, method, scheme=scheme,
                                                      mode=mode, grid=grid)
    out = {}
    for name in variants:
        method, tuned = split_variant(name)
        bias, val = tuned_on_validation[method] if tuned else (None, None)
        decoder = Decoder(labels, method, o_bias=bias or 0.0, scheme=scheme)
        if val is None:
            val = score_sequences(validation[0], decode_split(decoder, validation[1]), mode=mode)
        tags, ents = zip(*(decoder.scored(lp) for lp in test[1])) if test[1] else ((), ())
        out[name] = Scored(name, bias, val, score_sequences(test[0], list(tags), mode=mode),
                           [list(t) for t in tags], calibration(test[0], ents))
    return out


def decodable_variants(scheme: str) -> tuple[str, ...]:
    """The variants a model trained on ``scheme`` can be scored with (argmax only for IOB1)."""
    if normalize_scheme(scheme) in DECODABLE_SCHEMES:
        return VARIANTS
    return tuple(v for v in VARIANTS if split_variant(v)[0] == "argmax")


def decoding_entry(default: str, scheme: str, scored: dict[str, Scored]) -> dict[str, Any]:
    """The ``decoding`` entry of a model's ``tagger_run.json``: what :class:`tagger.predict.Tagger`
    applies by default (``default`` with its tuned O bias) and, for the card, each variant's scores.

    ``{"default", "scheme", "o_bias": {method: b}, "o_bias_grid": [start, stop, step], "tuned_on",
    "variants": {name: {"validation_f1", "test_f1", "test_precision", "test_recall", "ece", "o_bias"}}}``
    """
    variants = {}
    for name, s in scored.items():
        variants[name] = {"validation_f1": s.validation["f1"], "test_f1": s.test["f1"],
                          "test_precision": s.test["precision"], "test_recall": s.test["recall"],
                          "ece": s.calibration["ece"], "o_bias": s.o_bias}
    biases = {split_variant(name)[0]: s.o_bias for name, s in scored.items() if s.o_bias is not None}
    return {"default": check_decoding(default), "scheme": normalize_scheme(scheme), "o_bias": biases,
            "o_bias_grid": list(O_BIAS_GRID), "tuned_on": "validation", "variants": variants}
