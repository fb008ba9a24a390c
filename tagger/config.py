"""The recipe's configuration loaded and checked: a YAML file and ``key=value`` overrides read into a
:class:`RecipeConfig`, loss parameters written under an earlier name renamed, and the checks that need
more than one key (every loss of the sweep built once on dummy labels, decodings and CRF heads against
the scheme, the window against the tokenizer), so that a bad value stops the launch before any data is
read or model loaded.

``recipes/ner.py --config recipes/configs/wnut17.yaml training.learning_rate=1e-4 --loss.name focal``

The sections and keys, with their defaults, help and per-key rules, are :mod:`tagger.config_schema`'s
(their names are imported from here too); reading, overrides and the rules in field metadata are
:mod:`tagger.typed_config`'s.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tagger.config_schema import (
    MAX_SEED,
    DataConfig,
    ModelConfig,
    OutputConfig,
    RecipeConfig,
    SearchConfig,
    SweepConfig,
    TrainingConfig,
    help_text,
)
from tagger.decoding import DECODABLE_SCHEMES, split_scoring
from tagger.errors import ConfigError
from tagger.losses.labels import current_spec, lever_error, split_spec
from tagger.search import MAX_GRID_POINTS, SEARCHABLE_TRAINING, split_search
from tagger.typed_config import (
    build,
    check_item,
    check_sections,
    check_value,
    field_types,
    parse_overrides,
    read_yaml_file,
    set_nested,
)

__all__ = [
    "MAX_SEED", "DataConfig", "ModelConfig", "OutputConfig", "RecipeConfig", "SearchConfig", "SweepConfig",
    "TrainingConfig", "check_window", "help_text", "load_config", "validate",
]


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> RecipeConfig:
    """Read ``path`` (YAML; may be None for the defaults), apply overrides, type-check the result and
    check every value against its rules (:func:`validate`), so that a bad value stops the launch."""
    tree: dict[str, Any] = read_yaml_file(path) if path is not None else {}
    parsed = parse_overrides(overrides)
    for key, value in parsed:
        if key.startswith("loss.") and key != "loss.name":
            # loss parameters are free-form here and checked by the loss registry
            tree.setdefault("loss", {"name": "ce"})
        set_nested(tree, key, value)
    # A --loss.* override applies to the single loss, and replaces a sweep's list of losses.
    if any(k.startswith("loss") for k, _ in parsed):
        tree.setdefault("sweep", {})
        if isinstance(tree["sweep"], dict):
            tree["sweep"]["losses"] = []
    _rename_loss_params(tree)
    cfg = build(RecipeConfig, tree)
    validate(cfg)
    return cfg


def _rename_loss_params(tree: dict[str, Any]) -> None:
    """Loss parameters written under an earlier name (``variant`` of soft_truncation) read under the name now."""
    if isinstance(tree.get("loss"), dict):
        tree["loss"] = current_spec(tree["loss"], "loss")
    sweep = tree.get("sweep")
    if isinstance(sweep, dict) and isinstance(sweep.get("losses"), list):
        sweep["losses"] = [current_spec(e, f"sweep.losses[{i}]") if isinstance(e, dict) else e
                           for i, e in enumerate(sweep["losses"])]


def _check_losses(cfg: RecipeConfig) -> None:
    """Build every loss of the sweep on dummy labels, so that a bad name or parameter of any of them
    stops the launch rather than the sweep after the runs before it."""
    from tagger.losses import build_loss

    specs = [(f"sweep.losses[{i}]", s) for i, s in enumerate(cfg.sweep.losses)] or [("loss", cfg.loss)]
    for key, entry in specs:
        if not isinstance(entry, dict) or "name" not in entry:
            raise ConfigError(f"{key}: loss spec {entry!r} has no 'name'")
        spec, search = split_search(entry)
        params, levers = split_spec(spec)
        for lever, value in levers.items():
            problem = lever_error(lever, value)
            if problem:
                raise ConfigError(f"{key}.{lever}: {problem}")
        if search is not None and importlib.util.find_spec("optuna") is None:
            raise ConfigError(f"{key}.search: a search keeps its studies with Optuna: pip install 'tagger[search]'")
        if search == {} and not cfg.sweep.search.learning_rate:
            raise ConfigError(f"{key}.search: nothing to search: list values of a loss parameter there, "
                              "or learning rates in sweep.search.learning_rate")
        for point in _loss_points(key, search, cfg.training):
            # A per-label list (alpha: [..]) fixes the number of labels; anything else is checked on 3.
            num_labels = next((len(v) for v in (params | point).values() if isinstance(v, list)), 3)
            try:
                build_loss(spec["name"], num_labels=num_labels, o_label_id=0, class_counts=[1] * num_labels,
                           **(params | point))
            except (ValueError, TypeError) as err:
                where = f" ({', '.join(f'{k}={v}' for k, v in point.items())} of its search)" if point else ""
                raise ConfigError(f"{key}{where}: {err}") from None


def _loss_points(key: str, search: Any, training: TrainingConfig) -> list[dict[str, Any]]:
    """The loss parameters of every point of an entry's ``search`` (``[{}]`` for an entry without one);
    the training keys of the search are checked against their own rules here."""
    if search is None:
        return [{}]
    if not isinstance(search, dict):
        raise ConfigError(f"{key}.search: expected a mapping of parameter -> list of values, got {search!r}")
    for param, values in search.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{key}.search.{param}: expected a non-empty list of values, got {values!r}")
        if any(isinstance(v, (list, dict)) or v is None for v in values):
            raise ConfigError(f"{key}.search.{param}: a grid holds single values (numbers, strings, true/false), "
                              f"got {values!r}")
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) < len(values):
            raise ConfigError(f"{key}.search.{param}: a value is listed twice in {values!r}")
    hints = field_types(TrainingConfig)
    for f in dataclasses.fields(TrainingConfig):
        for i, value in enumerate(search.get(f.name, []) if f.name in SEARCHABLE_TRAINING else []):
            checked = check_value(f"{key}.search.{f.name}[{i}]", value, hints[f.name])
            check_item(f"{key}.search.{f.name}[{i}]", checked, f, training, "training.", False)
    grid = {k: v for k, v in search.items() if k not in SEARCHABLE_TRAINING}
    size = math.prod(len(v) for v in grid.values())
    if size > MAX_GRID_POINTS:
        raise ConfigError(f"{key}.search: {size:,} points; a grid search is for at most {MAX_GRID_POINTS:,}")
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def _check_decodings(cfg: RecipeConfig) -> None:
    """Viterbi needs a scheme whose chunks it knows (not IOB1, where I- opens a chunk)."""
    from tagger.data.schemes import normalize_scheme

    if normalize_scheme(cfg.data.scheme) in DECODABLE_SCHEMES:
        return
    wanted = [("training.decoding", cfg.training.decoding)]
    wanted += [(f"sweep.decodings[{i}]", d) for i, d in enumerate(cfg.sweep.decodings)]
    for key, name in wanted:
        if split_scoring(name).decoding == "viterbi":
            raise ConfigError(f"{key}: viterbi decodes {', '.join(DECODABLE_SCHEMES)} tags, not data.scheme "
                              f"{cfg.data.scheme}; use argmax decodings or data.scheme=IOB2")


def _check_crf_scheme(cfg: RecipeConfig) -> None:
    """A CRF run needs a scheme whose transition rules the CRF knows (IOB1 opens chunks with I-)."""
    from tagger.data.schemes import normalize_scheme

    if "crf" in {str(spec.get("head")) for spec, _ in cfg.run_specs()}:
        scheme = normalize_scheme(cfg.data.scheme)
        if scheme not in DECODABLE_SCHEMES:
            raise ConfigError(f"data.scheme: a CRF head trains on {', '.join(DECODABLE_SCHEMES)} tags, not {scheme}")


def validate(cfg: RecipeConfig) -> None:
    """Check every key of ``cfg`` against the rules in its field's metadata, every loss of the sweep and
    that viterbi decodings and CRF heads can read ``data.scheme``;
    the first broken rule raises a one-line :class:`ConfigError` naming the key and what it allows."""
    check_sections(cfg)
    _check_losses(cfg)
    _check_decodings(cfg)
    _check_crf_scheme(cfg)


def check_window(max_length: int, stride: int, num_special_tokens: int) -> None:
    """The tokenizer-aware check of ``data.max_length`` and ``data.stride``, once the tokenizer is known.

    A window holds ``num_special_tokens`` (``tokenizer.num_special_tokens_to_add()``) and at least one
    subword of text; consecutive windows overlap by ``stride`` subwords, fewer than the text a window holds.
    """
    content = max_length - num_special_tokens
    if content < 1:
        raise ConfigError(f"data.max_length: must be > {num_special_tokens} (the tokenizer's "
                          f"{num_special_tokens} special tokens and one subword), got {max_length}")
    if not 0 <= stride < content:
        raise ConfigError(f"data.stride: must be >= 0 and < {content} (data.max_length {max_length} less the "
                          f"tokenizer's {num_special_tokens} special tokens), got {stride}")

