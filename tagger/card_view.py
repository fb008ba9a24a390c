"""What a model card shows, pre-formatted from a run description (``tagger_run.json``) so that the template
(``model_cards/template.md``) stays about layout: the data set, the loss and its levers, the scores, the
sweep's table with this model's row, the decodings, the reproduce command and the citations."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from tagger.catalog import DatasetInfo, find_dataset

_GENERIC_DOMAIN = ("the domain, language and time period of the training data set; check its documentation "
                   "before using the model on other text")

HYPERPARAMETER_NAMES: dict[str, str] = {
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
    "context": "document context, subwords a side (tagger/data/documents.py)",
    "head": "head over the token classifier (tagger/crf.py)",
    "freeze_layers": "lowest encoder layers frozen, with the embeddings (tagger/train/freeze.py)",
    "num_threads": "torch threads (CPU)",
}


def hardware_text(recorded: Any) -> str:
    """A run's recorded hardware line as a card or page shows it (runs recorded "1 torch threads" before
    ``tagger.train.run_info.hardware`` wrote the singular)."""
    return re.sub(r"\b1 torch threads\b", "1 torch thread", str(recorded)) if recorded else "not recorded"


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
    """The run's levers beside the loss (augmentation, sampling, context, then head), as the sweep names them:
    ``mention_replacement``, ``oversample_rare``, ``context=64``, ``crf``."""
    hp = info.get("hyperparameters") or {}
    out = []
    if hp.get("augment") not in (None, "none"):
        out.append(str(hp["augment"]))
    if hp.get("sampling") not in (None, "none"):
        out.append(str(hp["sampling"]))
    if hp.get("context"):
        out.append(f"context={hp['context']}")
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
    if "context" in hp:
        words.append(f"data.context={hp['context']}")
    words.append("model.head=crf" if "crf" in levers else "model.head=linear")
    if "freeze_layers" in hp:
        words.append(f"model.freeze_layers={hp['freeze_layers']}")
    if hp.get("num_threads"):  # sums split between threads round differently: the same count repeats the run
        words.append(f"training.num_threads={hp['num_threads']}")
    if hp.get("seed") is not None:
        words.append(f"'sweep.seeds=[{hp['seed']}]'")
    return " ".join(words)


def looks_like_hub_id(value: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?", value)) and ".." not in value


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


def applied_scores(info: Mapping[str, Any]) -> dict[str, Any] | None:
    """The scores of the scoring ``Tagger`` applies by default (:func:`_default_scoring`) where it adds
    thresholds to the run's own decoding, from ``tagger_run.json``'s ``decoding.scorings``: ``{"scoring",
    "plain", "validation_f1", "test_f1", "test_precision", "test_recall"}`` (fractions); None when it adds
    none (the run's own ``validation``/``test`` scores are then the applied ones) or the run recorded no
    such scoring. ``plain`` is the decoding the run's own scores were taken with."""
    scoring = _default_scoring(info)  # None unless decoding is a mapping with a default
    decoding = info.get("decoding")
    if scoring is None or scoring == str(decoding["default"]):
        return None
    scorings = decoding.get("scorings", decoding.get("variants"))
    entry = scorings.get(scoring) if isinstance(scorings, Mapping) else None
    if not isinstance(entry, Mapping) or not isinstance(entry.get("test_f1"), (int, float)):
        return None
    return {"scoring": scoring, "plain": str(decoding["default"]),
            **{k: entry.get(k) for k in ("validation_f1", "test_f1", "test_precision", "test_recall")}}


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
    from tagger.losses.labels import current_label, current_result  # imported here, as in _loss_facts

    # a folder saved under earlier loss parameter names shows and matches its rows under the names now
    table = [current_result(row) for row in sweep["table"]]
    types = sorted({t for row in table for t in (row.get("per_type_f1_mean") or {})})
    best = current_label(sweep["best"]) if isinstance(sweep.get("best"), str) else sweep.get("best")
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


def _scheme_view(info: Mapping[str, Any]) -> dict[str, str]:
    """The tagging scheme of the model's labels (``decoding.scheme`` of tagger_run.json; IOB2 when a run
    did not record one) and what its tags mean."""
    from tagger.data.schemes import SCHEME_TEXT, normalize_scheme

    decoding = info.get("decoding")
    name = decoding.get("scheme") if isinstance(decoding, Mapping) else None
    try:
        name = normalize_scheme(str(name)) if name else "IOB2"
    except ValueError:
        name = "IOB2"
    return {"name": name, "text": SCHEME_TEXT[name]}


def _applied_view(info: Mapping[str, Any]) -> dict[str, str] | None:
    """The headline's scores when the default scoring adds thresholds to the plain decoding."""
    applied = applied_scores(info)
    if applied is None:
        return None
    return {"scoring": applied["scoring"], "plain": applied["plain"], "f1": _pct(applied["test_f1"]),
            "precision": _pct(applied["test_precision"]), "recall": _pct(applied["test_recall"])}


def card_view(info: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the template shows, pre-formatted so the template stays about layout."""
    from tagger.losses.labels import current_params  # imported here, as in _loss_facts

    loss = dict(info.get("loss") or {"name": "ce", "params": {}})
    loss["params"] = current_params(str(loss.get("name") or ""), loss.get("params") or {}, "tagger_run.json")
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
        "base_model_url": f"https://huggingface.co/{base_model}" if "/" in base_model and looks_like_hub_id(base_model) else None,
        "base_model_note": note,
        "uncased": uncased,
        "dataset_name": ds.get("name") or "unknown",
        "dataset_hub_id": ds.get("hub_id"),
        "dataset_pretty": ds_entry.pretty if ds_entry else (ds.get("name") or "an unnamed data set"),
        "dataset_known": ds_entry is not None,
        "sources": {k: v for k, v in (ds.get("sources") or {}).items() if isinstance(v, str)},
        "domain": ds_entry.domain if ds_entry else _GENERIC_DOMAIN,
        "entity_types": _entity_types(info),
        "scheme": _scheme_view(info),
        "labels": list(info.get("label_list") or []),
        "loss_name": loss.get("name") or "ce",
        "levers": _levers(info),
        "reproduce": _reproduce_command(info, loss),
        "loss_params": _params_text(loss.get("params")),
        "loss_param_rows": [(k, _fmt_value(v)) for k, v in (loss.get("params") or {}).items()],
        "loss_formula": loss.get("formula") or "",
        "loss_why": _loss_facts(str(loss.get("name") or ""))[0],
        "hyperparameters": [(HYPERPARAMETER_NAMES.get(k, k.replace("_", " ")), _fmt_value(v)) for k, v in hyper.items()],
        "first_subword_labels": first_sub,
        "crf": info.get("crf") if isinstance(info.get("crf"), Mapping) else None,  # head: crf (tagger/crf.py)
        "best_epoch": info.get("best_epoch"),
        "metric_mode": info.get("metric_mode") or "conlleval",
        "overall": overall,
        "per_type": per_type,
        "sweep": sweep,
        "decoding": _decoding_view(info),
        "applied": _applied_view(info),
        "train_time": _duration(info.get("train_seconds")),
        "hardware": hardware_text(info.get("hardware")),
        "command": info.get("command"),
        "weak_types": _weak_types(info),
        "citations": _citations(info, loss, ds_entry),
        "tagger_version": info.get("tagger_version") or "",
    }
