"""Typed configuration from YAML: dataclasses whose fields carry their rules, read from a file, overridden on
the command line and checked, with one-line errors naming the key.

This is the part of tagger's configuration that knows nothing of NER (:mod:`tagger.config` holds the
recipe's schema). It is tagger's own because the errors are the point: an unknown key names the valid ones
and the closest match, a value outside its range names the key and the range (declared next to the
key's help, so ``--help-config`` shows it), and the YAML reader refuses aliases that expand to more than
:data:`MAX_YAML_VALUES` values. OmegaConf (Hydra's config) gives typed dataclass configs and dotted
overrides, but reports type errors in its own multi-line format and checks no ranges; pydantic checks
ranges but brings its own model classes and messages; neither guards against alias bombs in YAML.

Rules of a key live in its field's metadata next to its help, and :func:`check_sections` checks them all:
  "min" / "gt" / "max" / "lt": value >= / > / <= / < the bound (a number, or a Sibling key of the
      same section); applied to each item of a list; a null value of an optional key passes;
  "choices": one of these; "unique": a list holds each item once;
  "required_if": the key must be set when the named key of its section is true;
  "check": a function raising ValueError whose message says what is wrong.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import operator
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml

from tagger.errors import ConfigError, missing_file

MAX_YAML_VALUES = 100_000  # far above any config; a "billion laughs" document expands past it at once


@dataclass(frozen=True)
class Sibling:
    """A bound that is another key of the same section plus ``offset``, e.g. ``Sibling("max_length", -2)``."""

    name: str
    offset: int = 0

    def text(self, section: str) -> str:
        sign = f" - {-self.offset}" if self.offset < 0 else f" + {self.offset}" if self.offset else ""
        return f"{section}{self.name}{sign}"


# ---------------------------------------------------------------------------------------------------------------
# Reading YAML


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _oversized_node(root: yaml.Node, limit: int) -> yaml.Node | None:
    """The first node (innermost first) that holds more than ``limit`` values once its aliases are
    expanded, or one that holds itself; None if the document stays within ``limit``.

    Sizes are memoised per node, so this takes time in the size of the text, not of the expansion.
    """
    sizes: dict[int, int] = {}
    open_nodes = {id(root)}
    stack = [(root, iter(_children(root)))]
    while stack:
        node, pending = stack[-1]
        child = next(pending, None)
        if child is not None:
            if id(child) in open_nodes:
                return child
            if id(child) not in sizes:
                open_nodes.add(id(child))
                stack.append((child, iter(_children(child))))
            continue
        stack.pop()
        open_nodes.discard(id(node))
        sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
        if sizes[id(node)] > limit:
            return node
    return None


def safe_load(text: str, source: str) -> Any:
    """``yaml.safe_load`` that refuses alias bombs and deep nesting (ConfigError); yaml.YAMLError as is."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        big = _oversized_node(node, MAX_YAML_VALUES)
        if big is not None:
            raise ConfigError(f"{source}:{big.start_mark.line + 1}: YAML aliases (*name) here expand to more "
                              f"than {MAX_YAML_VALUES:,} values; write the values out instead")
        return loader.construct_document(node)
    except RecursionError:
        raise ConfigError(f"{source}: YAML nested too deeply") from None
    finally:
        loader.dispose()


def load_yaml(text: str, source: str) -> Any:
    """Parse ``text`` like ``yaml.safe_load``; :class:`ConfigError` starting with ``source`` (a file
    name) and the line for invalid YAML, deep nesting, or aliases (``*name``) that expand to more than
    :data:`MAX_YAML_VALUES` values (a "billion laughs" document)."""
    try:
        return safe_load(text, source)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError(f"{where}: not valid YAML: {getattr(err, 'problem', None) or err}") from None


# ---------------------------------------------------------------------------------------------------------------
# Parsing and type checking


def field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def check_value(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted (and converted) for floats."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return check_value(key, value, arg)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if tp is Any:
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r} ({type(value).__name__})")
        (item_tp,) = typing.get_args(tp) or (Any,)
        return [check_value(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value)]
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
        return _check_float(key, value)
    if tp is str:
        if isinstance(value, bool):
            # YAML 1.1 reads a bare no/yes as a boolean; for a string option it meant the word
            return "yes" if value else "no"
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r} ({type(value).__name__})")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")  # a bug in the dataclasses, not user input


def _check_float(key: str, value: Any) -> float:
    if isinstance(value, str):
        # YAML 1.1 reads "5e-5" (no dot) as a string; people write it that way
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}: expected a number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    return float(value)


def _unknown_key(prefix: str, key: str, valid: Sequence[str]) -> ConfigError:
    full = f"{prefix}{key}"
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
    return ConfigError(f"unknown config key '{full}'{hint}; valid keys: {', '.join(prefix + v for v in valid)}")


def build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = field_types(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise _unknown_key(prefix, str(key), names)
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = build(tp, value if value is not None else {}, f"{prefix}{key}.")
        else:
            kwargs[key] = check_value(f"{prefix}{key}", value, tp)
    return cls(**kwargs)


def set_nested(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:  # an empty section (`training:` with nothing under it)
            child = {}
            node[part] = child
        elif not isinstance(child, dict):
            # Replacing it would silently drop what the file gave there.
            section = ".".join(parts[: depth + 1])
            raise ConfigError(f"{section}: expected a section (a mapping of keys), got {child!r}; "
                              f"cannot set {dotted}")
        node = child
    node[parts[-1]] = value


def parse_overrides(args: Sequence[str]) -> list[tuple[str, Any]]:
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
            value = safe_load(raw, f"override {key}") if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        out.append((key, value))
        i += 1
    return out


def read_yaml_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}" if not p.exists() else f"config file {p}: {missing_file(p)}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{p}: cannot read: {err}") from None
    loaded = load_yaml(text, str(p))
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    return loaded



_BOUNDS: tuple[tuple[str, str, Callable[[Any, Any], bool]], ...] = (
    ("min", ">=", operator.ge), ("gt", ">", operator.gt), ("max", "<=", operator.le), ("lt", "<", operator.lt),
)


def _bound_value(bound: Any, section: Any) -> Any:
    return getattr(section, bound.name) + bound.offset if isinstance(bound, Sibling) else bound


def _bound_text(bound: Any, prefix: str, section: Any) -> str:
    if isinstance(bound, Sibling):
        # with the config at hand, the value it comes to as well
        return bound.text(prefix) + ("" if section is None else f" ({_bound_value(bound, section):g})")
    return f"{bound:,}" if bound >= 10_000 else f"{bound:g}"


def _range_text(meta: Mapping[str, Any], prefix: str, nullable: bool, section: Any = None) -> str:
    """The bounds and choices of a key in words, e.g. ``">= 0 and < 1"``; empty when it has none."""
    parts = [f"{sign} {_bound_text(meta[name], prefix, section)}" for name, sign, _ in _BOUNDS if name in meta]
    if "choices" in meta:
        parts.append("one of " + ", ".join(str(c) for c in meta["choices"]))
    text = " and ".join(parts)
    return f"{text} or null" if text and nullable else text


def rule_text(f: dataclasses.Field[Any], prefix: str = "", nullable: bool = False) -> str:
    """Everything ``f`` allows, in words, for ``--help-config``; empty for a key without rules."""
    meta = f.metadata
    text = _range_text(meta, prefix, nullable)
    if meta.get("unique"):
        text = f"each {text}, each once" if text else "each once"
    if "required_if" in meta:
        text = "; ".join(filter(None, [text, f"set when {prefix}{meta['required_if']} is true"]))
    return text


def check_item(key: str, value: Any, f: dataclasses.Field[Any], section: Any, prefix: str,
                nullable: bool) -> None:
    meta = f.metadata
    for name, _, holds in _BOUNDS:
        if name in meta and not holds(value, _bound_value(meta[name], section)):
            raise ConfigError(f"{key}: must be {_range_text(meta, prefix, nullable, section)}, got {value!r}")
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(meta['choices'])}")
    if "check" in meta:
        try:
            meta["check"](value)
        except ValueError as err:
            raise ConfigError(f"{key}: {err}") from None


def _check_field(f: dataclasses.Field[Any], tp: Any, section: Any, prefix: str) -> None:
    key, value = f"{prefix}{f.name}", getattr(section, f.name)
    meta = f.metadata
    if "required_if" in meta and getattr(section, meta["required_if"]) and not value:
        raise ConfigError(f"{key}: must be set when {prefix}{meta['required_if']} is true")
    if value is None:
        return
    nullable = type(None) in typing.get_args(tp)
    if isinstance(value, list):
        seen: dict[str, int] = {}
        for i, item in enumerate(value):
            check_item(f"{key}[{i}]", item, f, section, prefix, nullable)
            mark = json.dumps(item, sort_keys=True, default=str)
            if meta.get("unique") and mark in seen:
                raise ConfigError(f"{key}: items {seen[mark]} and {i} are the same ({item!r}); list each once")
            seen.setdefault(mark, i)
    else:
        check_item(key, value, f, section, prefix, nullable)


def check_sections(cfg: Any) -> None:
    """Check every key of every section (and section within a section) of ``cfg`` against the rules in its
    field's metadata; the first broken rule raises a one-line :class:`ConfigError` naming the key."""
    def walk(section: Any, prefix: str) -> None:
        hints = field_types(type(section))
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if dataclasses.is_dataclass(value):  # a section within a section: sweep.search
                walk(value, f"{prefix}{f.name}.")
            else:
                _check_field(f, hints[f.name], section, prefix)

    for section_field in dataclasses.fields(cfg):
        section = getattr(cfg, section_field.name)
        if dataclasses.is_dataclass(section):
            walk(section, f"{section_field.name}.")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def help_text(cls: type) -> str:
    """Every key of the dataclass ``cls`` with its type, default, allowed values and help."""
    lines = []

    def walk(section: type, prefix: str) -> None:
        hints = field_types(section)
        for f in dataclasses.fields(section):
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                walk(tp, f"{prefix}{f.name}.")
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            rules = rule_text(f, prefix, nullable=type(None) in typing.get_args(tp))
            allowed = f" [{rules}]" if rules else ""
            lines.append(f"  {prefix}{f.name} ({_type_name(tp)}, default {default!r}){allowed}\n"
                         f"      {f.metadata.get('help', '')}")

    walk(cls, "")
    return "\n".join(lines)
