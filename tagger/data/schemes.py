"""Tagging schemes (IOB1, IOB2, IOBES, BILOU): parse, detect, chunk into entities, convert, order labels.

:func:`entities` is the one entity chunker: the metrics, the sweep's paired bootstrap, ``tagger
predict``, the data statistics and the conversions all read entities through it, in one of two modes
(:data:`tagger.metrics.MODES`). The conlleval reading starts a chunk at ``B-``/``S-``/``U-``, or at
``I-``/``E-``/``L-`` when the previous word is ``O``, has another type or closed its chunk
(``E-``/``S-``/``L-``/``U-``). Conversions go through it, so they never lose or invent an entity; the
reading is the same for IOB1 and IOB2, which is why IOB1 data converts losslessly to IOB2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

SCHEMES: dict[str, tuple[str, ...]] = {
    "IOB1": ("B", "I"),
    "IOB2": ("B", "I"),
    "IOBES": ("B", "I", "E", "S"),
    "BILOU": ("B", "I", "L", "U"),
}
#: What the tags of each scheme mean, in words (model cards, docs).
SCHEME_TEXT: dict[str, str] = {
    "IOB1": "`I-TYPE` marks a word inside an entity, `B-TYPE` only the first word of an entity that directly "
            "follows another of its type, `O` is outside",
    "IOB2": "`B-TYPE` begins an entity, `I-TYPE` continues it, `O` is outside",
    "IOBES": "`B-TYPE` begins an entity of several words, `I-TYPE` continues it, `E-TYPE` ends it, `S-TYPE` is an "
             "entity of one word, `O` is outside",
    "BILOU": "`B-TYPE` begins an entity of several words, `I-TYPE` continues it, `L-TYPE` is its last word, "
             "`U-TYPE` is an entity of one word, `O` is outside",
}
_ALIASES = {"IOB": "IOB2", "BIO": "IOB2", "BIOES": "IOBES", "IOBES": "IOBES", "BILOU": "BILOU", "IOB1": "IOB1",
            "IOB2": "IOB2"}
# order of prefixes inside one type: B before I, then the closing tags
_PREFIX_ORDER = {"B": 0, "I": 1, "E": 2, "L": 2, "S": 3, "U": 3}
_TAG_RE = re.compile(r"^([BIESLU])-(\S.*)$")
# prefixes that close the chunk they belong to, and those that always open one
_CLOSING = frozenset("ESLU")
_OPENING = frozenset("BSU")
# strict mode: per scheme, the prefix that closes a multi-word entity and the one-word prefix
_STRICT_CLOSING: dict[str, tuple[str | None, str | None]] = {"IOB2": (None, None), "IOBES": ("E", "S"),
                                                             "BILOU": ("L", "U")}


def normalize_scheme(name: str) -> str:
    """Canonical scheme name ("IOB2", ...) for a user spelling ("bio", "BIOES", ...); ValueError if unknown."""
    key = str(name).upper().replace("-", "")
    if key not in _ALIASES:
        raise ValueError(f"unknown tagging scheme {name!r} (expected one of IOB1, IOB2, IOBES/BIOES, BILOU)")
    return _ALIASES[key]


def parse_tag(tag: str) -> tuple[str, str | None]:
    """Split a tag into (prefix, type): ``"B-PER" -> ("B", "PER")``, ``"O" -> ("O", None)``.

    Types may hold dashes (``B-creative-work``); ValueError on anything that is not ``O`` or
    ``PREFIX-TYPE`` with a prefix among B, I, E, S, L, U.
    """
    if tag == "O":
        return "O", None
    m = _TAG_RE.match(tag) if isinstance(tag, str) else None
    if m is None:
        raise ValueError(f"tag {tag!r} is not O or PREFIX-TYPE (PREFIX one of B, I, E, S, L, U)")
    return m.group(1), m.group(2)


def entities(tags: Sequence[str], mode: str = "conlleval",
             scheme: str | None = None) -> list[tuple[str, int, int]]:
    """Entities of one sentence as (type, first word, last word inclusive), in word order.

    ``mode="conlleval"`` reads chunks like conlleval and seqeval's default reader (module doc): an
    ``I-X`` after ``O``, after another type or after a closed chunk starts an entity; ``E-``/``S-``
    and BILOU's ``L-``/``U-`` close one, so two ``U-X`` words are two entities. Tags of every scheme
    are read, mixed or not; ``scheme`` is not used.

    ``mode="strict"`` is seqeval's strict mode for one scheme: an entity is ``B-X`` followed by ``I-X``
    words (IOB2), and in IOBES / BILOU it must end with ``E-X`` / ``L-X``; ``S-X`` / ``U-X`` is a
    one-word entity. Anything else (an ``I-X`` that opens a chunk, a ``B-X I-X`` that is never closed
    in IOBES) is no entity. ``scheme`` is the scheme to read ("IOB2", "IOBES" or "BILOU", any
    :func:`normalize_scheme` spelling): pass the corpus's, :func:`strict_scheme` of gold and
    predictions together, so that a sentence is read as its corpus is (a sentence of only ``B-``/``I-``
    tags in a BILOU corpus is read as BILOU). ``None`` detects it from these tags alone.

    ValueError on a tag that is not a tag (:func:`parse_tag`), an unknown mode, or in strict mode a
    scheme outside those three or a prefix that ``scheme`` does not use.
    """
    if mode == "conlleval":
        return _conlleval_entities(tags)
    if mode == "strict":
        return _strict_entities(tags, strict_scheme([tags]) if scheme is None else _strict_name(scheme))
    from tagger.metrics import MODES  # imported here: tagger.metrics imports this module

    raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")


def _conlleval_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    cur_type: str | None = None
    cur_start = 0
    prev_prefix = "O"
    for i, tag in enumerate(tags):
        prefix, typ = parse_tag(tag)
        starts = (
            prefix in _OPENING
            or (prefix != "O" and (cur_type is None or typ != cur_type or prev_prefix in _CLOSING))
        )
        if cur_type is not None and (prefix == "O" or starts):
            out.append((cur_type, cur_start, i - 1))
            cur_type = None
        if prefix != "O" and starts:
            cur_type, cur_start = typ, i
        prev_prefix = prefix
    if cur_type is not None:
        out.append((cur_type, cur_start, len(tags) - 1))
    return out


def strict_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """The scheme strict mode reads these tags in: "BILOU" if any tag is ``L-``/``U-``, else "IOBES" if
    any is ``E-``/``S-``, else "IOB2" (IOB1 data too: strict IOB2 reads its ``I-`` starts as no entity)."""
    detected = detect_scheme(tag_sequences)
    return "IOB2" if detected == "IOB1" else detected


def _strict_name(scheme: str) -> str:
    name = normalize_scheme(scheme)
    if name not in _STRICT_CLOSING:
        raise ValueError(f"strict mode reads IOB2, IOBES or BILOU chunks, not {name} (convert the tags first)")
    return name


def _strict_entities(tags: Sequence[str], scheme: str) -> list[tuple[str, int, int]]:
    parsed = [parse_tag(t) for t in tags]
    allowed = set(SCHEMES[scheme]) | {"O"}
    for tag, (prefix, _) in zip(tags, parsed):
        if prefix not in allowed:
            raise ValueError(f"tag {tag!r} is not of the {scheme} scheme "
                             "(strict mode reads one scheme per corpus)")
    last, single = _STRICT_CLOSING[scheme]
    out: list[tuple[str, int, int]] = []
    i, n = 0, len(parsed)
    while i < n:
        prefix, typ = parsed[i]
        if prefix == single:
            out.append((typ, i, i))  # type: ignore[arg-type]
            i += 1
            continue
        if prefix != "B":
            i += 1
            continue
        j = i + 1
        while j < n and parsed[j] == ("I", typ):
            j += 1
        if last is None:  # IOB2: whatever follows the I- words ends the entity
            out.append((typ, i, j - 1))  # type: ignore[arg-type]
        elif j < n and parsed[j] == (last, typ):
            out.append((typ, i, j))  # type: ignore[arg-type]
            j += 1
        # an unclosed chunk is no entity; its I- words open nothing, so reading goes on after them
        i = j
    return out


def detect_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """Guess the scheme of tagged sentences: "IOB1" | "IOB2" | "IOBES" | "BILOU".

    L-/U- tags mean BILOU, E-/S- tags IOBES. Among B/I data, IOB1 starts chunks with I- and uses B-
    only right after a chunk of the same type; IOB2 starts every chunk with B-. A few stray I- starts
    (annotation slips in IOB2 data) do not make a file IOB1: the more frequent pattern wins. Data
    without any entity counts as IOB2.
    """
    seen: set[str] = set()
    i_starts = b_free = 0  # I- opening a chunk; B- not following the same type
    for seq in tag_sequences:
        prev_prefix, prev_type = "O", None
        for tag in seq:
            prefix, typ = parse_tag(tag)
            seen.add(prefix)
            if prefix == "I" and (prev_prefix == "O" or prev_type != typ):
                i_starts += 1
            elif prefix == "B" and (prev_prefix == "O" or prev_type != typ):
                b_free += 1
            prev_prefix, prev_type = prefix, typ
    if seen & {"L", "U"}:
        return "BILOU"
    if seen & {"E", "S"}:
        return "IOBES"
    return "IOB1" if i_starts > b_free else "IOB2"


def _emit(length: int, spans: list[tuple[str, int, int]], target: str) -> list[str]:
    out = ["O"] * length
    prev_end, prev_type = -2, None
    for typ, start, end in spans:
        if target == "IOB1":
            # IOB1 marks B- only where a chunk directly follows one of the same type
            out[start] = f"B-{typ}" if (prev_end == start - 1 and prev_type == typ) else f"I-{typ}"
            for i in range(start + 1, end + 1):
                out[i] = f"I-{typ}"
        elif target == "IOB2":
            out[start] = f"B-{typ}"
            for i in range(start + 1, end + 1):
                out[i] = f"I-{typ}"
        else:
            single, last = ("S", "E") if target == "IOBES" else ("U", "L")
            if start == end:
                out[start] = f"{single}-{typ}"
            else:
                out[start] = f"B-{typ}"
                for i in range(start + 1, end):
                    out[i] = f"I-{typ}"
                out[end] = f"{last}-{typ}"
        prev_end, prev_type = end, typ
    return out


def tags_for_entities(length: int, spans: Sequence[tuple[str, int, int]], scheme: str) -> list[str]:
    """The tags of a sentence of ``length`` words holding ``spans`` (type, first word, last word inclusive;
    in word order, not overlapping) in ``scheme`` (any :func:`normalize_scheme` spelling), e.g.
    ``tags_for_entities(3, [("LOC", 1, 2)], "BILOU") == ["O", "B-LOC", "L-LOC"]``."""
    return _emit(length, list(spans), normalize_scheme(scheme))


def convert_tags(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Re-tag one sentence from ``source`` to ``target`` scheme, keeping every chunk (type and span).

    ``source`` is accepted for symmetry and validated; the chunk reading (module doc) already
    understands all four schemes, including tags that do not follow ``source`` strictly.
    """
    normalize_scheme(source)
    return _emit(len(tags), entities(tags), normalize_scheme(target))


def sort_labels(labels: Iterable[str]) -> list[str]:
    """Deterministic label order: ``O`` first, then by type (alphabetical), inside a type B, I, E/L, S/U.

    Duplicates are dropped; ValueError on a label that is not a tag (see :func:`parse_tag`).
    """
    uniq = set(labels)
    keyed = []
    for label in uniq:
        prefix, typ = parse_tag(label)
        keyed.append(((0, "", 0) if typ is None else (1, typ, _PREFIX_ORDER[prefix]), label))
    return [label for _, label in sorted(keyed)]


def labels_for_types(types: Iterable[str], scheme: str) -> list[str]:
    """Every label of ``scheme`` for these entity types, in :func:`sort_labels` order, ``O`` first."""
    prefixes = SCHEMES[normalize_scheme(scheme)]
    return sort_labels(["O"] + [f"{p}-{t}" for t in types for p in prefixes])
