"""Tagging schemes: parsing, detection, lossless conversion and label order."""

from __future__ import annotations

import pytest

from tagger.data.schemes import chunks, convert_tags, detect_scheme, parse_tag, sort_labels

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
    assert chunks(tags) == SPANS
    assert detect_scheme([tags, ["O"]]) == name


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
