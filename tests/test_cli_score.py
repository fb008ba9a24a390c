"""`tagger score`: hand-scored files, both layouts, quirks and the errors that name a line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tagger.cli import main

ASSETS = Path(__file__).parent / "assets" / "data"
GOLD, PRED = str(ASSETS / "gold.conll"), str(ASSETS / "pred.conll")
# hand-scored: gold PER LOC ORG MISC; pred PER, LOC cut short (New only), ORG; York and iPhones mistagged
OVERALL = {"precision": 2 / 3, "recall": 0.5, "f1": 4 / 7, "tp": 2, "predicted": 3, "gold": 4}
PER_TYPE = {"LOC": (0, 1, 1), "MISC": (0, 0, 1), "ORG": (1, 1, 1), "PER": (1, 1, 1)}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("files", [(GOLD, PRED), (str(ASSETS / "three.conll"),)])
def test_json_hand_scored(capsys, files):
    code, out, _ = run(capsys, "score", *files, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["overall"] == pytest.approx(OVERALL)
    assert {t: (v["tp"], v["predicted"], v["gold"]) for t, v in doc["per_type"].items()} == PER_TYPE
    assert doc["per_type"]["ORG"]["f1"] == 1.0 and doc["per_type"]["LOC"]["precision"] == 0.0
    assert doc["accuracy"] == pytest.approx(6 / 8)


def test_text_report_and_text_mismatch_warning(capsys, caplog):
    code, out, _ = run(capsys, "score", GOLD, PRED)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "processed 8 tokens with 4 phrases; found: 3 phrases; correct: 2."
    assert lines[1] == "accuracy:  75.00%; precision:  66.67%; recall:  50.00%; FB1:  57.14"
    assert any(line.strip().startswith("MISC: precision:   0.00%") for line in lines)
    # CRLF pred file without final newline, tabs vs spaces: same result; 'apple' vs 'Apple' warned
    assert "1 word(s) differ in text" in caplog.text and "pred.conll:7" in caplog.text


def test_strict_mode(capsys, tmp_path):
    pred = tmp_path / "p.conll"
    pred.write_text("a I-PER\nb I-PER\nc O\nd O\ne O\n\nf B-ORG\ng O\nh O\n")
    _, out, _ = run(capsys, "score", GOLD, str(pred), "--json")
    assert json.loads(out)["overall"]["tp"] == 2  # I-PER I-PER reads as PER in conlleval mode
    _, out, _ = run(capsys, "score", GOLD, str(pred), "--json", "--mode", "strict")
    assert json.loads(out)["overall"] == pytest.approx({"precision": 1.0, "recall": 0.25, "f1": 0.4, "tp": 1,
                                                        "predicted": 1, "gold": 4})


@pytest.mark.parametrize(
    "argv, message",
    [
        ((GOLD, str(ASSETS / "pred_short.conll")),
         "pred_short.conll:5: sentence 1 has 4 words here but 5 in the gold file; the files part here and at "),
        ((GOLD, str(ASSETS / "pred_bad.conll")), "pred_bad.conll:5: tag 'PER' is not O or PREFIX-TYPE"),
        ((GOLD,), "gold.conll:1: expected 'token gold pred' columns, got 2 column(s)"),
        ((GOLD, "missing.conll"), "missing.conll: file not found"),
    ],
)
def test_errors_one_line_exit_2(capsys, argv, message):
    code, out, err = run(capsys, "score", *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("tagger score: error: ")


def test_sentence_count_mismatch_names_the_line(capsys, tmp_path):
    one = tmp_path / "one.conll"
    one.write_text("John B-PER\nSmith I-PER\nvisited O\nNew B-LOC\nYork I-LOC\n")
    _, _, err = run(capsys, "score", GOLD, str(one))
    assert "gold.conll:7: 2 sentences but only 1 in the prediction file" in err
    _, _, err = run(capsys, "score", str(one), GOLD)
    assert "gold.conll:7: 2 sentences here but 1 in the gold file" in err


def test_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["score", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "GOLD" in out and "--mode" in out and "conlleval" in out and "--json" in out
