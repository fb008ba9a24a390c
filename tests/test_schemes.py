"""Tagging schemes: parsing, detection, lossless conversion and label order."""

from __future__ import annotations

import itertools

import pytest

from tagger.data.schemes import convert_tags, detect_scheme, entities, parse_tag, sort_labels, strict_scheme

IOB1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "O"]
IOB2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "O"]
IOBES = ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "S-ORG", "O"]
BILOU = ["B-PER", "L-PER", "U-PER", "O", "U-LOC", "U-ORG", "O"]
SPANS = [("PER", 0, 1), ("PER", 2, 2), ("LOC", 4, 4), ("ORG", 5, 5)]


def test_parse_tag():
    assert parse_tag("O") == ("O", None)
    assert parse_tag("B-creative-work") == ("B", "creative-work")
    assert parse_tag("U-X") == ("U", "X")
    for bad in ("X-PER", "B-", "PER", "b-PER", "B_PER", "", "B- PER"):
        with pytest.raises(ValueError, match="not O or PREFIX-TYPE"):
            parse_tag(bad)


@pytest.mark.parametrize("tags, name", [(IOB1, "IOB1"), (IOB2, "IOB2"), (IOBES, "IOBES"), (BILOU, "BILOU")])
def test_same_chunks_and_detection(tags, name):
    assert entities(tags) == SPANS
    assert entities(tags, "strict") == (SPANS if name != "IOB1" else [("PER", 2, 2)])
    assert detect_scheme([tags, ["O"]]) == name


def test_conlleval_hand_read():
    assert entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 4)]
    # IOBES and BILOU close chunks at E-/S- and L-/U- (seqeval's reader alone would merge two U-X words)
    assert entities(["S-PER", "S-PER", "B-LOC", "E-LOC", "I-LOC"]) == [
        ("PER", 0, 0), ("PER", 1, 1), ("LOC", 2, 3), ("LOC", 4, 4)]
    assert entities(["U-PER", "U-PER", "B-LOC", "L-LOC", "O"]) == [("PER", 0, 0), ("PER", 1, 1), ("LOC", 2, 3)]
    assert entities([]) == [] and entities(["B-creative-work", "I-creative-work"]) == [("creative-work", 0, 1)]


def _all_sequences(tags: list[str], max_len: int):
    for n in range(max_len + 1):
        yield from (list(seq) for seq in itertools.product(tags, repeat=n))


def test_conlleval_entities_equal_seqeval_on_every_short_sequence():
    """Brute force: every sequence of up to 4 tags over two types and all six prefixes, schemes mixed.

    The reference is seqeval's default reader on the tags with BILOU's L-/U- written as E-/S- (it does
    not know L/U); its ends are inclusive like ours.
    """
    from seqeval.metrics.sequence_labeling import get_entities

    tags = ["O"] + [f"{p}-{t}" for t in ("A", "B") for p in "BIESLU"]
    as_iobes = {"L": "E", "U": "S"}
    n = 0
    for seq in _all_sequences(tags, 4):
        ref = get_entities([as_iobes.get(t[0], t[0]) + t[1:] if t != "O" else t for t in seq])
        assert entities(seq) == entities(seq, "conlleval", "BILOU") == ref, seq
        n += 1
    assert n == 1 + 13 + 13**2 + 13**3 + 13**4


@pytest.mark.parametrize("scheme, prefixes, max_len", [("IOB2", "BI", 6), ("IOBES", "BIES", 4), ("BILOU", "BILU", 4)])
def test_strict_entities_equal_seqeval_strict_on_every_short_sequence(scheme, prefixes, max_len):
    """Brute force against seqeval's strict reader (``Tokens(..., scheme).entities``, end exclusive)."""
    from seqeval import scheme as seqeval_schemes
    from seqeval.scheme import Tokens

    reader = getattr(seqeval_schemes, scheme)
    tags = ["O"] + [f"{p}-{t}" for t in ("A", "B") for p in prefixes]
    for seq in _all_sequences(tags, max_len):
        ref = [(e.tag, e.start, e.end - 1) for e in Tokens(seq, reader).entities]
        assert entities(seq, "strict", scheme) == ref, seq


def test_strict_hand_read_and_scheme_choice():
    # IOB2: an I- start is no entity, a type change ends one
    assert entities(["I-X", "B-X", "I-X", "I-Y", "O"], "strict") == [("X", 1, 2)]
    # BILOU: an unclosed B-Y I-Y is no entity; U-X U-X are two
    assert entities(["U-X", "U-X", "B-Y", "I-Y"], "strict") == [("X", 0, 0), ("X", 1, 1)]
    # a sentence of B-/I- tags alone reads as IOB2, but in a BILOU corpus as BILOU (then B-Y I-Y is unclosed)
    assert entities(["B-Y", "I-Y"], "strict") == [("Y", 0, 1)]
    assert entities(["B-Y", "I-Y"], "strict", strict_scheme([["B-Y", "I-Y"], ["U-X"]])) == []
    assert entities(["B-Y", "I-Y"], "strict", "bioes") == [] and entities(["B-Y", "E-Y"], "strict", "BIOES") == [("Y", 0, 1)]
    assert strict_scheme([IOB1]) == "IOB2" and strict_scheme([IOBES, BILOU]) == "BILOU" and strict_scheme([]) == "IOB2"
    with pytest.raises(ValueError, match="not of the BILOU scheme"):
        entities(["S-X", "U-X"], "strict", "BILOU")
    with pytest.raises(ValueError, match="not of the IOB2 scheme"):
        entities(["E-X"], "strict", "IOB2")
    with pytest.raises(ValueError, match="not IOB1"):
        entities(["B-X"], "strict", "IOB1")
    with pytest.raises(ValueError, match="mode must be one of conlleval, strict"):
        entities(["B-X"], "lenient")
    with pytest.raises(ValueError, match="not O or PREFIX-TYPE"):
        entities(["B-X", "PER"])


def test_detection_tolerates_stray_i_starts_in_iob2():
    assert detect_scheme([["B-PER", "O", "B-LOC"], ["I-PER"], ["B-ORG", "I-ORG"]]) == "IOB2"
    assert detect_scheme([["O", "O"]]) == "IOB2"


@pytest.mark.parametrize("src_name, src", [("IOB1", IOB1), ("IOB2", IOB2), ("IOBES", IOBES), ("BILOU", BILOU)])
@pytest.mark.parametrize("dst_name, dst", [("IOB1", IOB1), ("IOB2", IOB2), ("IOBES", IOBES), ("BILOU", BILOU)])
def test_convert_every_pair(src_name, src, dst_name, dst):
    assert convert_tags(src, src_name, dst_name) == dst


def test_convert_aliases_and_type_changes():
    # a type change inside a chunk splits it; an I- after E- starts a new chunk
    assert convert_tags(["B-PER", "I-LOC", "I-LOC"], "IOB2", "BIOES") == ["S-PER", "B-LOC", "E-LOC"]
    assert convert_tags(["B-X", "E-X", "I-X"], "IOBES", "bio") == ["B-X", "I-X", "B-X"]
    with pytest.raises(ValueError, match="unknown tagging scheme"):
        convert_tags(["O"], "IOB2", "IO")


def test_sort_labels_order():
    labels = ["I-PER", "B-LOC", "O", "S-PER", "B-PER", "E-PER", "I-LOC", "B-PER"]
    assert sort_labels(labels) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER", "E-PER", "S-PER"]
    with pytest.raises(ValueError):
        sort_labels(["O", "PER"])
