"""Model cards: every trained model folder gets a ``README.md`` the Hub can read.

The card is rendered from the Jinja template ``model_cards/template.md`` with ``huggingface_hub``'s
:class:`~huggingface_hub.ModelCard` / :class:`~huggingface_hub.ModelCardData`, so the YAML front
matter (``model-index`` included) is produced by the same code that the Hub uses to read it back.

Input is the run description the recipe saves as ``tagger_run.json`` (see :func:`write_model_card`).
Cards are public once pushed, so known path-bearing fields are sanitised before rendering and
:func:`assert_card_clean` refuses any card that still holds an absolute local path or a token.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

from tagger.catalog import DatasetInfo, find_dataset
from tagger.errors import TaggerError
from tagger.io import atomic_write_text

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

logger = logging.getLogger(__name__)

# model_cards/template.md in a checkout; a wheel carries it as package data (a symlink in the repo).
_REPO_TEMPLATE = Path(__file__).resolve().parents[1] / "model_cards" / "template.md"
TEMPLATE_PATH = _REPO_TEMPLATE if _REPO_TEMPLATE.is_file() else Path(__file__).resolve().parent / "model_card_template.md"
CARD_NAME = "README.md"
RUN_INFO_NAME = "tagger_run.json"


class CardSafetyError(TaggerError, ValueError):
    """A rendered card would leak a local path or a token; nothing is written."""


# ------------------------------------------------------------------------------------- known data sets

_GENERIC_DOMAIN = ("the domain, language and time period of the training data set; check its documentation "
                   "before using the model on other text")

_HP_NAMES: dict[str, str] = {
    "learning_rate": "learning rate",
    "epochs": "epochs",
    "max_tokens_per_batch": "tokens per batch (max)",
    "max_sentences_per_batch": "sentences per batch (max)",
    "max_length": "window length (subwords)",
    "stride": "window overlap (subwords)",
    "warmup_ratio": "warm-up ratio",
    "weight_decay": "weight decay",
    "gradient_accumulation_steps": "gradient accumulation steps",
    "max_grad_norm": "gradient clipping (max norm)",
    "seed": "seed",
    "mixed_precision": "mixed precision",
    "num_processes": "processes",
    "label_all_subwords": "label all subwords",
    "augment": "training sentences augmented (tagger/train/augment.py)",
    "sampling": "training sentences sampled (tagger/train/sampling.py)",
    "head": "head over the token classifier (tagger/crf.py)",
}

# ---------------------------------------------------------------------------------------- sanitising

_WIN_ABS = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
# Roots under which local files usually live; a URL path such as https://host/home/x is not matched
# because the root must start a token (after whitespace, a quote, '(', '=', ':', 'file://' or the line
# start) and be followed by '/' or the token's end.
_ABS_PATH = re.compile(
    r"(?:^|[\s\"'`(\[=,:]|(?<=file://))(~/|/(?:root|home|work|Users|tmp|mnt|media|private|var|opt|srv|scratch|"
    r"data|content|kaggle|gpfs|lustre|nfs|workspace|usr)(?=[/\s\"'`)\],;]|$))",
    re.MULTILINE,
)
_WIN_PATH = re.compile(r"(?:^|[^A-Za-z0-9])([A-Za-z]:\\)")
_HF_TOKEN = re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{20,}")


def _is_abs_path(value: str) -> bool:
    return value.startswith(("/", "~")) or bool(_WIN_ABS.match(value))


def sanitize_path(value: str) -> str:
    """Keep only the last component of an absolute or home-relative path; anything else unchanged.

    >>> sanitize_path("/home/me/models/my-encoder/")
    'my-encoder'
    >>> sanitize_path("sentence-transformers/all-MiniLM-L6-v2")
    'sentence-transformers/all-MiniLM-L6-v2'
    """
    if not _is_abs_path(value):
        return value
    pure = PureWindowsPath(value) if _WIN_ABS.match(value) else PurePosixPath(value)
    return pure.name or str(value).strip("/\\") or "model"


def _sanitize_command(command: str) -> str:
    # Config paths on the command line are the usual leak; keep the file names, they are informative.
    out = []
    for word in command.split():
        key, sep, val = word.rpartition("=")
        if sep and _is_abs_path(val):
            out.append(f"{key}={sanitize_path(val)}")
        elif _is_abs_path(word):
            out.append(sanitize_path(word))
        else:
            out.append(word)
    return " ".join(out)


def sanitize_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a run description with the known path-bearing fields reduced to safe names.

    Covers ``base_model``, ``dataset.sources`` and ``command``. Tokens are deliberately not stripped:
    one that reaches a card means a secret leaked upstream, so :func:`assert_card_clean` refuses it.
    """
    out = dict(info)
    if isinstance(out.get("base_model"), str):
        out["base_model"] = sanitize_path(out["base_model"].rstrip("/\\") or out["base_model"])
    dataset = out.get("dataset")
    if isinstance(dataset, Mapping):
        dataset = dict(dataset)
        if isinstance(dataset.get("sources"), Mapping):
            dataset["sources"] = {k: sanitize_path(v) if isinstance(v, str) else v
                                  for k, v in dataset["sources"].items()}
        for key in ("name", "hub_id"):
            if isinstance(dataset.get(key), str):
                dataset[key] = sanitize_path(dataset[key])
        out["dataset"] = dataset
    if isinstance(out.get("command"), str):
        out["command"] = _sanitize_command(out["command"])
    return out


def card_problems(text: str) -> list[str]:
    """What makes ``text`` unsafe to publish (empty when clean); a found token is never echoed."""
    problems = []
    for m in _ABS_PATH.finditer(text):
        start = text.rfind("\n", 0, m.start(1)) + 1
        line = text[start:].split("\n", 1)[0].strip()
        problems.append(f"an absolute local path ({m.group(1)!r} in {line[:80]!r})")
    for m in _WIN_PATH.finditer(text):
        problems.append(f"absolute Windows path starting {m.group(1)!r}")
    if _HF_TOKEN.search(text):
        problems.append("a Hugging Face token (hf_...)")
    return problems


def assert_card_clean(text: str) -> None:
    """Raise :class:`CardSafetyError` if ``text`` holds an absolute local path or a token-like string."""
    problems = card_problems(text)
    if problems:
        raise CardSafetyError("model card not written, it would publish " + "; ".join(dict.fromkeys(problems)))


# -------------------------------------------------------------------------------------------- helpers


def dataset_entry(info: Mapping[str, Any]) -> DatasetInfo | None:
    """The catalog entry of the run's data set (by name or Hub id), else None."""
    ds = info.get("dataset") or {}
    return find_dataset(str(ds.get("name") or "")) or find_dataset(str(ds.get("hub_id") or ""))


def _pct(value: Any, digits: int = 2) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return "–"
    return f"{value * 100:.{digits}f}"


def _pm(mean: Any, std: Any) -> str:
    if not isinstance(mean, (int, float)) or math.isnan(mean):
        return "–"
    if not isinstance(std, (int, float)) or math.isnan(std):
        return _pct(mean, 1)
    return f"{mean * 100:.1f} ± {std * 100:.1f}"


def _fmt_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _params_text(params: Mapping[str, Any] | None) -> str:
    if not params:
        return ""
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in params.items())


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or seconds < 0:
        return "not recorded"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    text = f"{h} h {m:02d} min {sec:02d} s" if h else (f"{m} min {sec:02d} s" if m else f"{sec} s")
    return f"{text} ({seconds:.0f} s)"


def _entity_types(info: Mapping[str, Any]) -> list[str]:
    types: dict[str, None] = {}
    for label in info.get("label_list") or []:
        if isinstance(label, str) and label != "O" and "-" in label:
            types.setdefault(label.split("-", 1)[1])
    for split in ("validation", "test"):
        for t in ((info.get(split) or {}).get("per_type") or {}):
            types.setdefault(t)
    return sorted(types)


def _levers(info: Mapping[str, Any]) -> list[str]:
    """The run's levers beside the loss (augmentation, sampling, then head), as the sweep names them:
    ``mention_replacement``, ``oversample_rare``, ``crf``."""
    hp = info.get("hyperparameters") or {}
    out = []
    if hp.get("augment") not in (None, "none"):
        out.append(str(hp["augment"]))
    if hp.get("sampling") not in (None, "none"):
        out.append(str(hp["sampling"]))
    head = hp.get("head") or ("crf" if isinstance(info.get("crf"), Mapping) else None)
    if head not in (None, "linear"):
        out.append(str(head))
    return out


def _model_name(info: Mapping[str, Any], base_model: str) -> str:
    if info.get("model_name"):
        return str(info["model_name"])
    ds = (info.get("dataset") or {}).get("name") or "ner"
    loss = (info.get("loss") or {}).get("name") or "ce"
    # the levers are part of what the model is: a focal + crf model is not the focal row of a sweep
    parts = "-".join([base_model.split("/")[-1], str(ds), str(loss), *_levers(info)])
    return re.sub(r"[^A-Za-z0-9._-]+", "-", parts).strip("-")


def _reproduce_command(info: Mapping[str, Any], loss: Mapping[str, Any]) -> str | None:
    """The recipe command that trains this model alone: the run's command (its config and overrides) with
    its loss, levers and seed, or None when the run was not launched by ``recipes/ner.py``."""
    command = str(info.get("command") or "")
    if "recipes/ner.py" not in command:
        return None
    hp = info.get("hyperparameters") or {}
    words = [command, f"--loss.name {loss.get('name') or 'ce'}"]
    # JSON spelling: 2.0 stays a float on the command line, as the run had it
    words += [f"--loss.{k} {json.dumps(v)}" for k, v in (loss.get("params") or {}).items()]
    levers = _levers(info)
    if hp.get("augment") not in (None, "none"):
        words.append(f"data.augment={hp['augment']}")
    words.append(f"data.sampling={hp['sampling']}" if hp.get("sampling") not in (None, "none") else "data.sampling=none")
    words.append("model.head=crf" if "crf" in levers else "model.head=linear")
    if hp.get("seed") is not None:
        words.append(f"'sweep.seeds=[{hp['seed']}]'")
    return " ".join(words)


def _looks_like_hub_id(value: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?", value)) and ".." not in value


def _eval_results(info: Mapping[str, Any], model_ds_type: str, ds_pretty: str) -> list[Any]:
    from huggingface_hub import EvalResult

    results = []
    for split, label in (("validation", "Validation"), ("test", "Test")):
        metrics = info.get(split)
        if not isinstance(metrics, Mapping):
            continue
        for key, name in (("f1", "F1"), ("precision", "Precision"), ("recall", "Recall"), ("accuracy", "Accuracy")):
            value = metrics.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
                continue
            results.append(EvalResult(
                task_type="token-classification", task_name="Named Entity Recognition",
                dataset_type=model_ds_type, dataset_name=ds_pretty, dataset_split=split,
                metric_type="seqeval", metric_name=f"{label} {name}", metric_value=round(float(value), 6),
            ))
    return results


def _metric_rows(info: Mapping[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    overall = []
    for split in ("validation", "test"):
        m = info.get(split)
        if isinstance(m, Mapping):
            overall.append({"split": split, "precision": _pct(m.get("precision")), "recall": _pct(m.get("recall")),
                            "f1": _pct(m.get("f1")), "accuracy": _pct(m.get("accuracy"))})
    per_type = []
    val_pt = (info.get("validation") or {}).get("per_type") or {}
    test_pt = (info.get("test") or {}).get("per_type") or {}
    for t in sorted(set(val_pt) | set(test_pt)):
        v, te = val_pt.get(t) or {}, test_pt.get(t) or {}
        per_type.append({
            "type": t, "val_p": _pct(v.get("precision")), "val_r": _pct(v.get("recall")), "val_f1": _pct(v.get("f1")),
            "val_n": _fmt_value(v.get("support", "–")), "test_p": _pct(te.get("precision")),
            "test_r": _pct(te.get("recall")), "test_f1": _pct(te.get("f1")), "test_n": _fmt_value(te.get("support", "–")),
        })
    return overall, per_type


def _default_scoring(info: Mapping[str, Any]) -> str | None:
    """What ``Tagger`` applies by default to this model: its decoding, ``+threshold`` when an O bias was tuned
    for it, ``+type_thresholds`` when per-type biases were too."""
    decoding = info.get("decoding")
    if not isinstance(decoding, Mapping) or not decoding.get("default"):
        return None
    default = str(decoding["default"])
    if (decoding.get("type_bias") or {}).get(default) is not None:
        return f"{default}+type_thresholds"
    return f"{default}+threshold" if (decoding.get("o_bias") or {}).get(default) is not None else default


def _this_row(table: list[Mapping[str, Any]], loss: Mapping[str, Any], scoring: str | None,
              levers: list[str]) -> int | None:
    """The row of this model: its loss and levers (a row's label is ``loss + lever + ...``), under the
    scoring it applies by default (else its plain decoding)."""
    mine = [i for i, row in enumerate(table)
            if not row.get("peer") and row.get("name", row.get("loss")) == loss.get("name")
            and (row.get("params") or {}) == (loss.get("params") or {})
            and str(row.get("loss") or "").split(" + ")[1:] == levers]
    plain = scoring.split("+")[0] if scoring else None
    for decoding in ([scoring, plain] if scoring else []) + [None]:
        hit = [i for i in mine if table[i].get("decoding") == decoding]
        if hit:
            return hit[0]
    return mine[0] if mine else None


def _sweep_view(info: Mapping[str, Any], loss: Mapping[str, Any]) -> dict[str, Any] | None:
    sweep = info.get("sweep")
    if not isinstance(sweep, Mapping) or not sweep.get("table"):
        return None
    table = sweep["table"]
    types = sorted({t for row in table for t in (row.get("per_type_f1_mean") or {})})
    best = sweep.get("best")
    this = _this_row(table, loss, _default_scoring(info), _levers(info))
    rows = []
    for i, row in enumerate(table):
        label = row.get("label") or row.get("loss") or row.get("name") or "?"
        per_type = row.get("per_type_f1_mean") or {}
        marks = (" **(best)**" if label == best else "") + (" ← this model" if i == this else "")
        rows.append({
            "label": f"*{label}*" if row.get("peer") else f"`{label}`{marks}",
            "seeds": ", ".join(str(s) for s in row.get("seeds", [])) or "–",
            "val_f1": _pm(row.get("validation_f1_mean"), row.get("validation_f1_std")),
            "test_f1": _pm(row.get("test_f1_mean"), row.get("test_f1_std")),
            "precision": _pct(row.get("precision_mean", row.get("test_precision_mean")), 1),
            "recall": _pct(row.get("recall_mean", row.get("test_recall_mean")), 1),
            "per_type": [_pct(per_type.get(t), 1) for t in types],
        })
    this_label = None if this is None else (table[this].get("label") or table[this].get("loss"))
    peers = [f"*{row.get('loss')}*: {row['description']}" for row in table if row.get("peer") and row.get("description")]
    return {"types": types, "rows": rows, "best": best, "this": this_label,
            "is_best": this_label is not None and this_label == best,
            "decoded": any(row.get("decoding") for row in table),
            "n_seeds": max((len(r.get("seeds", [])) for r in table if not r.get("peer")), default=0), "peers": peers,
            # a file published beside the card (a bare name: nothing that could point elsewhere)
            "report": report if isinstance(report := sweep.get("report"), str) and re.fullmatch(r"[\w.-]+\.html", report)
            else None}


def _type_bias_text(biases: Any) -> str:
    """A scoring's per-type biases for the card: ``group +0.8, product -0.4``, ``–`` for none."""
    if not isinstance(biases, Mapping):
        return "–"
    return ", ".join(f"{t} {b:+.2g}" for t, b in biases.items() if b) or "0"


def _decoding_view(info: Mapping[str, Any]) -> dict[str, Any] | None:
    """The scorings this model was scored with (``tagger_run.json``'s ``decoding``; ``variants`` in folders
    saved before per-type biases) and its default."""
    decoding = info.get("decoding")
    scorings = decoding.get("scorings", decoding.get("variants")) if isinstance(decoding, Mapping) else None
    if not isinstance(scorings, Mapping):
        return None
    scoring = _default_scoring(info)
    rows = []
    for name, v in scorings.items():
        bias = v.get("o_bias")
        rows.append({"name": f"`{name}`" + (" ← `tagger predict` default" if name == scoring else ""),
                     "o_bias": "–" if bias is None else f"{bias:g}", "type_bias": _type_bias_text(v.get("type_bias")),
                     "val_f1": _pct(v.get("validation_f1")),
                     "test_f1": _pct(v.get("test_f1")), "precision": _pct(v.get("test_precision")),
                     "recall": _pct(v.get("test_recall")), "ece": _pct(v.get("ece"), 1)})
    grid = decoding.get("o_bias_grid") or []
    tuning = decoding.get("type_bias_tuning") if isinstance(decoding.get("type_bias_tuning"), Mapping) else {}
    type_grid = tuning.get("grid") or []
    default = decoding.get("default")
    bias = (decoding.get("o_bias") or {}).get(default)
    types = (decoding.get("type_bias") or {}).get(default)
    return {"default": default, "scoring": scoring, "rows": rows, "o_bias": None if bias is None else f"{bias:g}",
            "type_bias": None if types is None else _type_bias_text(types),
            "typed": any(r["type_bias"] != "–" for r in rows),
            "grid": f"{grid[0]:g} to {grid[1]:g} in steps of {grid[2]:g}" if len(grid) == 3 else "a grid",
            "type_grid": f"{type_grid[0]:g} to {type_grid[1]:g} in steps of {type_grid[2]:g}"
            if len(type_grid) == 3 else "a grid", "prior": tuning.get("prior_entities")}


def _weak_types(info: Mapping[str, Any], n: int = 3) -> list[str]:
    """Up to ``n`` types scoring below the overall F1, weakest first (test split, else validation)."""
    split = info.get("test") or info.get("validation") or {}
    per_type = split.get("per_type") or {}
    overall = split.get("f1", 1.0)
    scored = [(v.get("f1", 0.0), v.get("support", 0), t) for t, v in per_type.items()
              if isinstance(v, Mapping) and v.get("f1", 0.0) < overall]
    scored.sort()
    return [f"{t} (F1 {_pct(f1, 1)}, {support} entities)" for f1, support, t in scored[:n]]


def _loss_facts(name: str) -> tuple[str, str]:
    """``(why, bibtex)`` from the loss class registered as ``name``, or ``("", "")``.

    A name the registry does not know (an old run folder whose loss was since renamed or removed)
    still renders: the card then shows the formula and citation text the run recorded.
    """
    # Imported here: the losses bring torch, which checking or rendering a card does not otherwise need.
    from tagger.losses import LOSSES

    cls = LOSSES.get(name)
    return (cls.why, cls.bibtex) if cls is not None else ("", "")


def _citations(info: Mapping[str, Any], loss: Mapping[str, Any], ds_entry: DatasetInfo | None) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if ds_entry is not None:
        out.append({"what": f"Data set: {ds_entry.pretty}", "bibtex": ds_entry.citation, "text": ""})
    elif (info.get("dataset") or {}).get("citation"):
        out.append({"what": "Data set", "bibtex": "", "text": str(info["dataset"]["citation"])})
    name = str(loss.get("name") or "")
    bib = _loss_facts(name)[1]
    text = str(loss.get("citation") or "")
    if bib or text:
        out.append({"what": f"Loss: {name}", "bibtex": bib, "text": text})
    return out


def _view(info: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the template shows, pre-formatted so the template stays about layout."""
    loss = dict(info.get("loss") or {"name": "ce", "params": {}})
    loss.setdefault("params", {})
    ds = info.get("dataset") or {}
    ds_entry = dataset_entry(info)
    base_model = str(info.get("base_model") or "unknown encoder")
    hyper = info.get("hyperparameters") or {}
    overall, per_type = _metric_rows(info)
    sweep = _sweep_view(info, loss)
    base_lower = base_model.lower()
    note = str(info.get("base_model_note") or "")
    uncased = info.get("encoder_uncased")
    if uncased is None:
        uncased = "uncased" in base_lower or "uncased" in note.lower()
    first_sub = not hyper.get("label_all_subwords", False)
    return {
        "model_name": _model_name(info, base_model),
        "repo_id": info.get("repo_id"),
        "base_model": base_model,
        "base_model_url": f"https://huggingface.co/{base_model}" if "/" in base_model and _looks_like_hub_id(base_model) else None,
        "base_model_note": note,
        "uncased": uncased,
        "dataset_name": ds.get("name") or "unknown",
        "dataset_hub_id": ds.get("hub_id"),
        "dataset_pretty": ds_entry.pretty if ds_entry else (ds.get("name") or "an unnamed data set"),
        "dataset_known": ds_entry is not None,
        "sources": {k: v for k, v in (ds.get("sources") or {}).items() if isinstance(v, str)},
        "domain": ds_entry.domain if ds_entry else _GENERIC_DOMAIN,
        "entity_types": _entity_types(info),
        "labels": list(info.get("label_list") or []),
        "loss_name": loss.get("name") or "ce",
        "levers": _levers(info),
        "reproduce": _reproduce_command(info, loss),
        "loss_params": _params_text(loss.get("params")),
        "loss_param_rows": [(k, _fmt_value(v)) for k, v in (loss.get("params") or {}).items()],
        "loss_formula": loss.get("formula") or "",
        "loss_why": _loss_facts(str(loss.get("name") or ""))[0],
        "hyperparameters": [(_HP_NAMES.get(k, k.replace("_", " ")), _fmt_value(v)) for k, v in hyper.items()],
        "first_subword_labels": first_sub,
        "crf": info.get("crf") if isinstance(info.get("crf"), Mapping) else None,  # head: crf (tagger/crf.py)
        "best_epoch": info.get("best_epoch"),
        "metric_mode": info.get("metric_mode") or "conlleval",
        "overall": overall,
        "per_type": per_type,
        "sweep": sweep,
        "decoding": _decoding_view(info),
        "train_time": _duration(info.get("train_seconds")),
        "hardware": info.get("hardware") or "not recorded",
        "command": info.get("command"),
        "weak_types": _weak_types(info),
        "citations": _citations(info, loss, ds_entry),
        "tagger_version": info.get("tagger_version") or "",
    }


# ------------------------------------------------------------------------------------------ public API


def render_model_card(info: dict, template_path: str | None = None) -> ModelCard:
    """Render the card of one trained model from its run description (``tagger_run.json``).

    Known path-bearing inputs are sanitised first (:func:`sanitize_info`); the result is checked by
    :func:`assert_card_clean`, which raises :class:`CardSafetyError` rather than publish a leak.
    """
    from huggingface_hub import ModelCard, ModelCardData

    # A path is never a Hub id, even once reduced to its last component.
    from_path = isinstance(info.get("base_model"), str) and _is_abs_path(info["base_model"])
    info = sanitize_info(info)
    view = _view(info)
    ds = info.get("dataset") or {}
    ds_entry = dataset_entry(info)
    ds_type = str(ds.get("hub_id") or ds.get("name") or "unknown")
    base = view["base_model"]
    card_data = ModelCardData(
        language=ds_entry.language if ds_entry else info.get("language"),
        license=info.get("license", "apache-2.0"),
        library_name="transformers",
        pipeline_tag="token-classification",
        tags=["token-classification", "ner", "tagger", view["loss_name"], *view["levers"]],
        datasets=[ds_type] if ds.get("hub_id") or ds.get("name") else None,
        # Only namespaced ids: the Hub links base_model to a repository, a bare local folder name would dangle.
        base_model=base if "/" in base and not from_path and _looks_like_hub_id(base) else None,
        metrics=["seqeval"],
        model_name=view["model_name"],
        eval_results=_eval_results(info, ds_type, view["dataset_pretty"]) or None,
    )
    path = Path(template_path) if template_path is not None else TEMPLATE_PATH
    if not path.is_file():
        raise TaggerError(f"model card template not found: {path.name}")
    card = ModelCard.from_template(card_data, template_path=str(path), run=view)
    # The stock jinja2.Template keeps the newlines of block tags; collapse the resulting blank runs.
    card = ModelCard(re.sub(r"\n{3,}", "\n\n", str(card)).rstrip("\n") + "\n")
    assert_card_clean(str(card))
    return card


def write_model_card(model_dir: str | Path, info: dict | None = None) -> Path:
    """Render and atomically write ``model_dir/README.md``; ``info`` defaults to ``tagger_run.json``."""
    model_dir = Path(model_dir)
    if info is None:
        run_file = model_dir / RUN_INFO_NAME
        if not run_file.is_file():
            raise TaggerError(f"{RUN_INFO_NAME} not found in the model folder {model_dir.name}")
        info = json.loads(run_file.read_text(encoding="utf-8"))
    info = dict(info)
    if "encoder_uncased" not in info:
        # The saved tokenizer knows whether it lowercases; names like "uncased" are only a hint.
        tok_cfg = model_dir / "tokenizer_config.json"
        try:
            lower = json.loads(tok_cfg.read_text(encoding="utf-8")).get("do_lower_case") if tok_cfg.is_file() else None
        except (OSError, ValueError):
            lower = None
        if isinstance(lower, bool):
            info["encoder_uncased"] = lower
    card = render_model_card(info)
    target = model_dir / CARD_NAME
    atomic_write_text(target, str(card))
    logger.debug("model card written: %s", target)
    return target



def add_sweep_to_cards(out_dir: Path, results: list[dict[str, Any]], summary: Mapping[str, Any]) -> None:
    """Each saved model of a sweep gets the comparison of the whole sweep in its ``tagger_run.json`` and card."""
    from tagger.io import atomic_write_json

    for r in results:
        model_dir = out_dir / "runs" / r["run"] / "model"
        if (model_dir / RUN_INFO_NAME).is_file():
            info = json.loads((model_dir / RUN_INFO_NAME).read_text())
            info["sweep"] = {"table": summary["table"], "best": summary["best"]}
            atomic_write_json(model_dir / RUN_INFO_NAME, info)
            write_model_card(model_dir, info)
