"""Error classes, the overlap rule and the confusion matrix on hand-worked sentences; `tagger error-analysis`."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tagger.cli import main
from tagger.error_analysis import (
    CLASSES,
    ErrorAnalysis,
    Outcome,
    analyse_errors,
    bracketed,
    classify,
    prediction_classes,
)
from tagger.metrics import MODES, score_sequences

ASSETS = Path(__file__).parent / "assets" / "data"

# The module docstring's worked example.
DOC_TOKENS = ["Ann", "Lee", "saw", "New", "York", "Times", "today"]
DOC_GOLD = ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "I-ORG", "O"]
DOC_PRED = ["B-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-LOC"]

# Hand-worked sentences, one idea each: (tokens, gold, pred, expected outcomes as (class, gold, match)).
SENTENCES = [
    # correct; an I- after O starts an entity, like conlleval
    (["John", "Smith", "left"], ["I-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"],
     [("correct", ("PER", 0, 1), ("PER", 0, 1))]),
    # wrong type: same span
    (["in", "New", "York"], ["O", "B-LOC", "I-LOC"], ["O", "B-ORG", "I-ORG"],
     [("wrong_type", ("LOC", 1, 2), ("ORG", 1, 2))]),
    # missed; and a spurious prediction elsewhere in the sentence
    (["iPhones", "sell", "well", "today"], ["B-MISC", "O", "O", "O"], ["O", "O", "O", "B-PER"],
     [("missed", ("MISC", 0, 0), None), ("spurious", None, ("PER", 3, 3))]),
    # overlap rule: one gold entity split into two predictions counts once, neither piece is spurious;
    # the piece of the same type wins although both share two words
    (["Bank", "of", "New", "England"], ["B-ORG", "I-ORG", "I-ORG", "I-ORG"], ["B-LOC", "I-LOC", "B-ORG", "I-ORG"],
     [("wrong_boundary", ("ORG", 0, 3), ("ORG", 2, 3))]),
    # one prediction covering two gold entities is the match of both
    (["Ann", "and", "Bob"], ["B-PER", "O", "B-PER"], ["B-PER", "I-PER", "I-PER"],
     [("wrong_boundary", ("PER", 0, 0), ("PER", 0, 2)), ("wrong_boundary", ("PER", 2, 2), ("PER", 0, 2))]),
    # same type beats a longer overlap of another type
    (["The", "Old", "Vic", "Theatre"], ["B-ORG", "I-ORG", "I-ORG", "I-ORG"], ["B-LOC", "I-LOC", "I-LOC", "B-ORG"],
     [("wrong_boundary", ("ORG", 0, 3), ("ORG", 3, 3))]),
    # within a class the longest overlap wins: ORG shares 3 words, LOC 1
    (["a", "b", "c", "d", "e"], ["B-PER", "I-PER", "I-PER", "I-PER", "I-PER"], ["B-LOC", "O", "B-ORG", "I-ORG", "I-ORG"],
     [("wrong_boundary_type", ("PER", 0, 4), ("ORG", 2, 4))]),
    # an empty sentence and one without entities add nothing
    ([], [], [], []),
    (["nothing", "here"], ["O", "O"], ["O", "O"], []),
]


def as_tuples(outcomes: list[Outcome]) -> list[tuple]:
    return [(o.cls, o.gold, o.pred) for o in outcomes]


def test_worked_example_of_the_docstring():
    outcomes = classify(DOC_GOLD, DOC_PRED)
    assert as_tuples(outcomes) == [("wrong_boundary", ("PER", 0, 1), ("PER", 0, 0)),
                                   ("wrong_boundary_type", ("ORG", 3, 5), ("LOC", 3, 4)),
                                   ("spurious", None, ("LOC", 6, 6))]
    result = analyse_errors([DOC_GOLD], [DOC_PRED])
    doc = result.to_json()
    assert doc["confusion"]["labels"] == ["LOC", "ORG", "PER", "O"]
    assert doc["confusion"]["matrix"] == [[0, 0, 0, 0],   # gold LOC
                                          [1, 0, 0, 0],   # gold ORG -> LOC
                                          [0, 0, 1, 0],   # gold PER -> PER
                                          [1, 0, 0, 0]]   # O -> LOC (spurious)
    assert sum(map(sum, doc["confusion"]["matrix"])) == 3 == doc["gold"] + doc["totals"]["spurious"]
    assert bracketed(DOC_TOKENS, [("PER", 0, 1), ("ORG", 3, 5)]) == "[Ann Lee]PER saw [New York Times]ORG today"


@pytest.mark.parametrize("tokens, gold, pred, expected", SENTENCES)
def test_hand_worked_sentences(tokens, gold, pred, expected):
    assert as_tuples(classify(gold, pred)) == expected


def test_every_class_is_covered_by_the_hand_worked_sentences():
    seen = {c for *_, expected in SENTENCES for c, _, _ in expected}
    assert seen == set(CLASSES)


def test_counts_confusion_and_examples_over_all_sentences():
    tokens = [s[0] for s in SENTENCES]
    gold, pred = [s[1] for s in SENTENCES], [s[2] for s in SENTENCES]
    result = analyse_errors(gold, pred, tokens=tokens, examples=1)
    doc = result.to_json()
    # per type, worked by hand from SENTENCES (the spurious PER counts under PER)
    assert doc["per_type"] == {
        "LOC": {"correct": 0, "wrong_type": 1, "wrong_boundary": 0, "wrong_boundary_type": 0, "missed": 0, "spurious": 0},
        "MISC": {"correct": 0, "wrong_type": 0, "wrong_boundary": 0, "wrong_boundary_type": 0, "missed": 1, "spurious": 0},
        "ORG": {"correct": 0, "wrong_type": 0, "wrong_boundary": 2, "wrong_boundary_type": 0, "missed": 0, "spurious": 0},
        "PER": {"correct": 1, "wrong_type": 0, "wrong_boundary": 2, "wrong_boundary_type": 1, "missed": 0, "spurious": 1},
    }
    assert doc["totals"] == {"correct": 1, "wrong_type": 1, "wrong_boundary": 4, "wrong_boundary_type": 1,
                             "missed": 1, "spurious": 1}
    assert (doc["sentences"], doc["gold"], doc["predicted"]) == (9, 8, 10)
    labels = doc["confusion"]["labels"]
    assert labels == ["LOC", "MISC", "ORG", "PER", "O"]
    cell = {(g, p): n for g, row in zip(labels, doc["confusion"]["matrix"]) for p, n in zip(labels, row) if n}
    assert cell == {("LOC", "ORG"): 1, ("MISC", "O"): 1, ("ORG", "ORG"): 2, ("PER", "PER"): 3, ("PER", "ORG"): 1,
                    ("O", "PER"): 1}
    total = sum(map(sum, doc["confusion"]["matrix"]))
    assert total == doc["gold"] + doc["totals"]["spurious"] == 9
    # examples: the first sentence of each error class (numbered from 1), none for correct
    assert {c: [e["sentence"] for e in v] for c, v in doc["examples"].items()} == {
        "wrong_type": [2], "wrong_boundary": [4], "wrong_boundary_type": [7], "missed": [3], "spurious": [3]}
    assert doc["examples"]["missed"][0]["tokens"] == ["iPhones", "sell", "well", "today"]
    assert doc["examples"]["missed"][0]["entities"] == [{"class": "missed", "gold": ["MISC", 0, 0], "pred": None}]
    assert json.loads(json.dumps(doc)) == doc


def test_prediction_classes_name_the_other_piece_of_a_split_entity():
    gold, pred = ["B-ORG", "I-ORG", "I-ORG", "I-ORG", "O"], ["B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER"]
    outcomes = classify(gold, pred)
    assert prediction_classes(outcomes, [("LOC", 0, 1), ("ORG", 2, 3), ("PER", 4, 4)]) == {
        ("ORG", 2, 3): "wrong_boundary", ("LOC", 0, 1): "wrong_boundary", ("PER", 4, 4): "spurious"}


def _random_tags(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(["O", "O", "O", "B-A", "I-A", "B-B", "I-B", "I-C"]) for _ in range(n)]


@pytest.mark.parametrize("mode", MODES)
def test_invariants_against_the_metric_on_random_tags(mode):
    rng = random.Random(7)
    gold, pred = [], []
    for _ in range(300):
        n = rng.randint(0, 12)
        gold.append(_random_tags(rng, n))
        pred.append(_random_tags(rng, n))
    doc = analyse_errors(gold, pred, mode=mode).to_json()
    scores = score_sequences(gold, pred, mode=mode)
    assert doc["mode"] == mode
    for typ, per in doc["per_type"].items():
        ref = scores["per_type"][typ]
        assert per["correct"] == ref["tp"]
        assert sum(per[c] for c in CLASSES[:5]) == ref["gold"]  # each gold entity exactly one class
    assert doc["gold"] == scores["gold"] and doc["predicted"] == scores["predicted"]
    assert sum(map(sum, doc["confusion"]["matrix"])) == doc["gold"] + doc["totals"]["spurious"]
    matrix, labels = doc["confusion"]["matrix"], doc["confusion"]["labels"]
    diagonal = sum(matrix[i][i] for i in range(len(labels) - 1))
    assert diagonal == doc["totals"]["correct"] + doc["totals"]["wrong_boundary"]
    assert matrix[-1][-1] == 0


def test_strict_mode_reads_entities_like_the_strict_metric():
    # strict IOB2: an I- that opens a chunk is no entity, so the conlleval PER here does not exist
    gold, pred = ["I-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "I-LOC"]
    assert as_tuples(classify(gold, pred)) == [("correct", ("PER", 0, 1), ("PER", 0, 1)),
                                               ("correct", ("LOC", 3, 3), ("LOC", 3, 3))]
    assert as_tuples(classify(gold, pred, mode="strict")) == [("missed", ("LOC", 3, 3), None),
                                                              ("spurious", None, ("PER", 0, 1))]
    # BILOU, read as one corpus: the U- in the prediction makes the B-only gold sentence BILOU too
    doc = analyse_errors([["B-ORG", "L-ORG"], ["B-PER", "O"]], [["B-ORG", "L-ORG"], ["U-PER", "O"]],
                         mode="strict").to_json()
    assert doc["totals"]["correct"] == 1 and doc["totals"]["spurious"] == 1 and doc["gold"] == 1


def test_combine_sums_counts_and_drops_examples():
    a = analyse_errors([DOC_GOLD], [DOC_PRED], tokens=[DOC_TOKENS], examples=3)
    b = analyse_errors([SENTENCES[2][1]], [SENTENCES[2][2]])
    both = ErrorAnalysis.combine([a, b]).to_json()
    ref = analyse_errors([DOC_GOLD, SENTENCES[2][1]], [DOC_PRED, SENTENCES[2][2]]).to_json()
    assert both == {**ref, "examples": {}}


def test_library_errors_on_bad_input():
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        analyse_errors([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        analyse_errors([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="X-PER"):
        classify(["X-PER"], ["O"])
    with pytest.raises(ValueError, match="mode must be one of"):
        analyse_errors([["O"]], [["O"]], mode="lenient")
    with pytest.raises(ValueError, match="different modes"):
        ErrorAnalysis.combine([analyse_errors([["O"]], [["O"]]), analyse_errors([["O"]], [["O"]], mode="strict")])


# ------------------------------------------------------------------------------------------ the command


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_equals_the_library_for_both_layouts(capsys):
    # three.conll holds the same words and tags as gold.conll + pred.conll
    for files in ((str(ASSETS / "gold.conll"), str(ASSETS / "pred.conll")), (str(ASSETS / "three.conll"),)):
        code, out, _ = run(capsys, "error-analysis", *files, "--json")
        assert code == 0
        doc = json.loads(out)
        # hand-worked: PER and ORG correct, LOC New York -> New (boundary), MISC iPhones missed
        assert doc["totals"] == {"correct": 2, "wrong_type": 0, "wrong_boundary": 1, "wrong_boundary_type": 0,
                                 "missed": 1, "spurious": 0}
        assert doc["examples"] == {}


def test_cli_errors_is_the_same_command(capsys):
    files = (str(ASSETS / "gold.conll"), str(ASSETS / "pred.conll"))
    assert run(capsys, "errors", *files, "--json")[1] == run(capsys, "error-analysis", *files, "--json")[1]


def test_cli_strict_mode(capsys, tmp_path):
    path = tmp_path / "s.conll"
    path.write_text("John I-PER B-PER\nSmith I-PER I-PER\n")
    _, out, _ = run(capsys, "error-analysis", str(path), "--json")
    assert json.loads(out)["totals"]["correct"] == 1
    _, out, _ = run(capsys, "error-analysis", str(path), "--json", "--mode", "strict")
    doc = json.loads(out)
    assert (doc["mode"], doc["totals"]["spurious"], doc["gold"]) == ("strict", 1, 0)
    # two schemes in one corpus cannot be read strictly: one line, exit 2
    path.write_text("a B-PER U-PER\nb E-PER O\n")
    code, _, err = run(capsys, "error-analysis", str(path), "--mode", "strict")
    assert code == 2 and "s.conll: " in err and len(err.strip().splitlines()) == 1


def test_cli_text_with_examples(capsys, tmp_path):
    path = tmp_path / "doc.conll"
    path.write_text("".join(f"{t} {g} {p}\n" for t, g, p in zip(DOC_TOKENS, DOC_GOLD, DOC_PRED)))
    code, out, _ = run(capsys, "error-analysis", str(path), "--examples", "1")
    assert code == 0
    assert "total        0           0               1                        1       0         1" in out
    assert "wrong boundary and type: sentence 1" in out
    assert "  gold: [Ann Lee]PER saw [New York Times]ORG today" in out
    assert "  pred: [Ann]PER Lee saw [New York]LOC Times [today]LOC" in out
    code, out, _ = run(capsys, "error-analysis", str(path), "--json", "--examples", "1")
    assert json.loads(out)["examples"]["spurious"][0]["tokens"] == DOC_TOKENS


@pytest.mark.parametrize("argv, message", [
    ((str(ASSETS / "gold.conll"), str(ASSETS / "pred_short.conll")), "pred_short.conll:"),
    ((str(ASSETS / "gold.conll"),), "gold.conll:1: expected 'token gold pred' columns"),
    (("missing.conll",), "missing.conll: file not found"),
    ((str(ASSETS / "three.conll"), "--examples", "-1"), "--examples must be 0 or more"),
])
def test_cli_bad_input_names_the_place(capsys, argv, message):
    code, _, err = run(capsys, "error-analysis", *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
