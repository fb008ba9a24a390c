"""Typed configuration: dataclasses read from YAML and overridden on the command line.

``recipes/ner.py --config recipes/configs/wnut17.yaml training.learning_rate=1e-4 --loss.name focal``

Every key is checked: an unknown key or a value of the wrong type raises :class:`ConfigError`
naming the key and listing the valid ones, before any data is read or model loaded.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from tagger.catalog import PACKAGED_ENCODER
from tagger.errors import ConfigError
from tagger.metrics import MODES
from tagger.train.precision import PRECISIONS



@dataclass
class ModelConfig:
    name_or_path: str = field(
        default=PACKAGED_ENCODER,
        metadata={"help": f"Encoder: a Hub id, a local HF folder, or '{PACKAGED_ENCODER}' (the packaged MiniLM)."},
    )
    revision: str | None = field(default=None, metadata={"help": "Hub revision (branch, tag or commit) of the encoder."})
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Run model code shipped with a Hub repository (off: only transformers' own code)."}
    )
    allow_pickle_weights: bool = field(
        default=False,
        metadata={"help": "Allow loading pickle (.bin) weights; by default only safetensors load, as pickle can run code."},
    )
    attn_implementation: str | None = field(
        default=None, metadata={"help": "Attention kernel: 'sdpa', 'eager' or null for the transformers default."}
    )


@dataclass
class DataConfig:
    name: str | None = field(
        default="wnut17",
        metadata={"help": "'wnut17', 'conll2003', a local folder with train/validation/test files, or a Hub data set id."},
    )
    train_file: str | None = field(default=None, metadata={"help": "Explicit training file (CoNLL columns or JSON lines)."})
    validation_file: str | None = field(default=None, metadata={"help": "Explicit validation file."})
    test_file: str | None = field(default=None, metadata={"help": "Explicit test file."})
    data_dir: str | None = field(default=None, metadata={"help": "Where named data sets live (else $TAGGER_DATA_DIR, data/, ../shared/data/)."})
    tokens_column: str | None = field(default=None, metadata={"help": "Column of words in a Hub data set (detected if null)."})
    tags_column: str | None = field(default=None, metadata={"help": "Column of tags in a Hub data set (detected if null)."})
    scheme: str = field(default="IOB2", metadata={"help": "Tagging scheme to train on: IOB2, IOBES or BILOU."})
    max_length: int = field(default=128, metadata={"help": "Subwords per window, special tokens included."})
    stride: int = field(default=32, metadata={"help": "Overlap in subwords between consecutive windows of a long sentence."})
    label_all_subwords: bool = field(default=False, metadata={"help": "Train on every subword (default: first subword of each word)."})
    max_train_sentences: int | None = field(default=None, metadata={"help": "Use only the first N training sentences (quick runs)."})
    max_eval_sentences: int | None = field(default=None, metadata={"help": "Use only the first N validation and test sentences."})
    cache: bool = field(default=True, metadata={"help": "Cache the tokenized splits on disk under output_dir/.cache."})


@dataclass
class TrainingConfig:
    # The defaults are the measured default sweep (WNUT-17, packaged MiniLM, 2 CPU cores), so a config
    # file that leaves a key out trains as that sweep did. Small batches because on this data the
    # number of optimizer steps matters more than the batch size: 3 epochs of 4,096-token batches at
    # lr 3e-4 reached validation F1 39.3, 32-sentence batches at 5e-5 reached 43.8.
    epochs: int = field(default=2, metadata={"help": "Passes over the training split."})
    learning_rate: float = field(default=1.5e-4, metadata={"help": "Peak learning rate of AdamW."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (never on biases and LayerNorm weights)."})
    warmup_ratio: float = field(default=0.1, metadata={"help": "Share of optimizer steps spent warming up linearly."})
    max_tokens_per_batch: int = field(
        default=1024, metadata={"help": "Token budget of a training batch: sentences x longest length (padding included)."}
    )
    max_sentences_per_batch: int = field(default=32, metadata={"help": "Upper bound on sentences in a training batch."})
    eval_max_tokens_per_batch: int = field(default=8192, metadata={"help": "Token budget of an evaluation batch."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm (0 disables clipping)."})
    patience: int | None = field(default=None, metadata={"help": "Stop after N epochs without a better validation F1."})
    max_steps: int | None = field(default=None, metadata={"help": "Stop after N optimizer steps (tests, quick checks)."})
    seed: int = field(default=1, metadata={"help": "Seed when the sweep lists no seeds."})
    metric_mode: str = field(default="conlleval", metadata={"help": "seqeval mode: 'conlleval' (official CoNLL/WNUT) or 'strict'."})
    checkpointing: str = field(default="epoch", metadata={"help": "'epoch' (save_state after every epoch) or 'no'."})
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "A checkpoint folder, or 'latest' for the newest one of each run."}
    )
    max_nonfinite_steps: int = field(
        default=10, metadata={"help": "Stop a run after this many consecutive optimizer steps with a NaN/inf loss or gradient."}
    )
    num_threads: int | None = field(default=None, metadata={"help": "torch intra-op threads on CPU (null: the cores available divided by the local processes)."})
    fast_dropout: bool = field(
        default=True,
        metadata={"help": "On CPU, draw dropout masks 4 per 64-bit random word instead of PyTorch's per-element "
                          "Bernoulli (MiniLM training steps 4-9% faster; drop probability rounded to a multiple of 2^-15). "
                          "No effect on GPU or in evaluation."},
    )
    log_every_steps: int = field(default=20, metadata={"help": "Optimizer steps between logged training losses."})
    mixed_precision: str | None = field(
        default="auto",
        metadata={"help": "'auto': bf16/fp16 if `accelerate launch --mixed_precision` or `accelerate config` asks "
                          "for it, else bf16 autocast where the hardware multiplies bf16 natively (a CPU with "
                          "AVX512-BF16/AMX: MiniLM steps 1.7-1.9x faster on Zen 4; a GPU from Ampere on), else fp32. "
                          "'no' (fp32), 'bf16' or 'fp16' force it; null leaves it to Accelerate. Weights, "
                          "optimizer and loss stay fp32."},
    )


@dataclass
class SweepConfig:
    losses: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={"help": "Losses to compare, each {name: ..., <params>}; empty: the single `loss`."},
    )
    seeds: list[int] = field(default_factory=list, metadata={"help": "Seeds for every loss; empty: training.seed."})


@dataclass
class OutputConfig:
    output_dir: str = field(default="outputs/wnut17-minilm", metadata={"help": "Folder of the sweep; every run writes below it."})
    overwrite: bool = field(default=False, metadata={"help": "Redo runs whose results already exist (default: skip them)."})
    save_model: bool = field(default=True, metadata={"help": "Save each run's best model in HF format."})
    report_to: str = field(default="auto", metadata={"help": "'auto' (TensorBoard if installed, else JSON lines), 'jsonl', 'tensorboard' or 'none'."})
    push_to_hub: bool = field(default=False, metadata={"help": "Publish the best model of the sweep to the Hub."})
    hub_repo_id: str | None = field(default=None, metadata={"help": "Hub repository for push_to_hub, e.g. 'me/wnut17-minilm-focal'."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repository as private."})


@dataclass
class RecipeConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    loss: dict[str, Any] = field(default_factory=lambda: {"name": "ce"}, metadata={"help": "The loss: {name: ..., <params>}."})
    sweep: SweepConfig = field(default_factory=SweepConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def run_specs(self) -> list[tuple[dict[str, Any], int]]:
        """Every (loss spec, seed) pair of the sweep, losses outermost."""
        losses = self.sweep.losses or [self.loss]
        seeds = self.sweep.seeds or [self.training.seed]
        return [(dict(spec), seed) for spec in losses for seed in seeds]


# ---------------------------------------------------------------------------------------------------------------
# Parsing and type checking


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check_value(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted (and converted) for floats."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_value(key, value, arg)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if tp is Any:
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r} ({type(value).__name__})")
        (item_tp,) = typing.get_args(tp) or (Any,)
        return [_check_value(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r} ({type(value).__name__})")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r} ({type(value).__name__})")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads "5e-5" (no dot) as a string; people write it that way
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r} ({type(value).__name__})")
        return float(value)
    if tp is str:
        if isinstance(value, bool):
            # YAML 1.1 reads a bare no/yes as a boolean; for a string option it meant the word
            return "yes" if value else "no"
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r} ({type(value).__name__})")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")  # a bug in the dataclasses, not user input


def _unknown_key(prefix: str, key: str, valid: Sequence[str]) -> ConfigError:
    full = f"{prefix}{key}"
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
    return ConfigError(f"unknown config key '{full}'{hint}; valid keys: {', '.join(prefix + v for v in valid)}")


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = _field_types(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise _unknown_key(prefix, str(key), names)
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value if value is not None else {}, f"{prefix}{key}.")
        else:
            kwargs[key] = _check_value(f"{prefix}{key}", value, tp)
    return cls(**kwargs)


def _set_nested(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _parse_overrides(args: Sequence[str]) -> list[tuple[str, Any]]:
    """Accept ``key.sub=value``, ``--key.sub=value`` and ``--key.sub value``; values are parsed as YAML."""
    out: list[tuple[str, Any]] = []
    i = 0
    args = list(args)
    while i < len(args):
        arg = args[i]
        key = arg[2:] if arg.startswith("--") else arg
        if "=" in key:
            key, raw = key.split("=", 1)
        elif arg.startswith("--"):
            if i + 1 >= len(args):
                raise ConfigError(f"override '{arg}' has no value")
            i += 1
            raw = args[i]
        else:
            raise ConfigError(f"cannot read override '{arg}': use key.sub=value or --key.sub value")
        key = key.replace("-", "_")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        out.append((key, value))
        i += 1
    return out


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> RecipeConfig:
    """Read ``path`` (YAML; may be None for the defaults), apply overrides and type-check the result."""
    tree: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
            raise ConfigError(f"{where}: not valid YAML: {getattr(err, 'problem', err)}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: expected a mapping at the top level")
        tree = loaded
    for key, value in _parse_overrides(overrides):
        if key.startswith("loss.") and key != "loss.name":
            # loss parameters are free-form here and checked by the loss registry
            tree.setdefault("loss", {"name": "ce"})
        _set_nested(tree, key, value)
    # A --loss.* override applies to the single loss, and replaces a sweep's list of losses.
    if any(k.startswith("loss") for k, _ in _parse_overrides(overrides)):
        tree.setdefault("sweep", {})
        if isinstance(tree["sweep"], dict):
            tree["sweep"]["losses"] = []
    cfg = _build(RecipeConfig, tree)
    for key, allowed in CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if value is not None and value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")
    for i, spec in enumerate(cfg.run_specs()):
        if "name" not in spec[0]:
            raise ConfigError(f"loss spec {spec[0]!r} has no 'name'")
    return cfg


CHOICES: dict[str, tuple[str, ...]] = {
    "training.metric_mode": MODES,
    "training.checkpointing": ("epoch", "no"),
    "training.mixed_precision": PRECISIONS,
    "output.report_to": ("auto", "jsonl", "tensorboard", "none"),
}


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def help_text() -> str:
    """Every key with its type, default and help, for ``recipes/ner.py --help``."""
    lines = []

    def walk(cls: type, prefix: str) -> None:
        hints = _field_types(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                walk(tp, f"{prefix}{f.name}.")
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            lines.append(f"  {prefix}{f.name} ({_type_name(tp)}, default {default!r})\n      {f.metadata.get('help', '')}")

    walk(RecipeConfig, "")
    return "\n".join(lines)
