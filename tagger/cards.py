"""Model cards: every trained model folder gets a ``README.md`` the Hub can read.

The card is rendered from the Jinja template ``model_cards/template.md`` with ``huggingface_hub``'s
:class:`~huggingface_hub.ModelCard` / :class:`~huggingface_hub.ModelCardData`, so the YAML front
matter (``model-index`` included) is produced by the same code that the Hub uses to read it back.

Input is the run description the recipe saves as ``tagger_run.json`` (see :func:`write_model_card`).
What the template shows comes from :func:`tagger.card_view.card_view`. Cards are public once pushed, so
known path-bearing fields are sanitised before rendering and :func:`assert_card_clean` refuses any card that
still holds an absolute local path or a token (:mod:`tagger.card_safety`).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagger.card_safety import CardSafetyError, assert_card_clean, card_problems, is_abs_path, sanitize_info
from tagger.card_view import applied_scores, card_view, dataset_entry, looks_like_hub_id
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


def _eval_results(info: Mapping[str, Any], model_ds_type: str, ds_pretty: str) -> list[Any]:
    """The model-index: F1, precision and recall of the scoring ``Tagger`` applies by default (named in the
    metric, e.g. ``Test F1 (viterbi+type_thresholds)``) where the run recorded it, else of the run's own
    decoding; token accuracy always of the run's own decoding (thresholds are not scored per token)."""
    from huggingface_hub import EvalResult

    applied = applied_scores(info)
    results = []
    for split, label in (("validation", "Validation"), ("test", "Test")):
        metrics = info.get(split)
        if not isinstance(metrics, Mapping):
            continue
        values = {key: metrics.get(key) for key in ("f1", "precision", "recall", "accuracy")}
        suffix = {key: "" for key in values}
        if applied is not None:
            # the thresholded scoring's precision and recall are recorded on test only
            for key in ("f1", "precision", "recall"):
                value = applied.get(f"{split}_{key}")
                if value is not None:
                    values[key], suffix[key] = value, applied["scoring"]
                else:
                    suffix[key] = applied["plain"]
            suffix["accuracy"] = applied["plain"]
        for key, name in (("f1", "F1"), ("precision", "Precision"), ("recall", "Recall"), ("accuracy", "Accuracy")):
            value = values[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
                continue
            results.append(EvalResult(
                task_type="token-classification", task_name="Named Entity Recognition",
                dataset_type=model_ds_type, dataset_name=ds_pretty, dataset_split=split, metric_type="seqeval",
                metric_name=f"{label} {name}" + (f" ({suffix[key]})" if suffix[key] else ""),
                metric_value=round(float(value), 6),
            ))
    return results


# ------------------------------------------------------------------------------------------ public API


def render_model_card(info: dict, template_path: str | None = None) -> ModelCard:
    """Render the card of one trained model from its run description (``tagger_run.json``).

    Known path-bearing inputs are sanitised first (:func:`sanitize_info`); the result is checked by
    :func:`assert_card_clean`, which raises :class:`CardSafetyError` rather than publish a leak.
    """
    from huggingface_hub import ModelCard, ModelCardData

    # A path is never a Hub id, even once reduced to its last component.
    from_path = isinstance(info.get("base_model"), str) and is_abs_path(info["base_model"])
    info = sanitize_info(info)
    view = card_view(info)
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
        base_model=base if "/" in base and not from_path and looks_like_hub_id(base) else None,
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


__all__ = ["CARD_NAME", "RUN_INFO_NAME", "TEMPLATE_PATH", "CardSafetyError", "add_sweep_to_cards", "assert_card_clean",
           "card_problems", "render_model_card", "sanitize_info", "write_model_card"]
