"""`tagger data-stats` and dataset_stats: pinned counts on the real data, truncation losses, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tagger.cli import main
from tagger.data import load_ner_dataset
from tagger.data.stats import dataset_stats

ASSETS = Path(__file__).parent / "assets" / "data"


def test_wnut17_stats_pinned(data_dir, tokenizer):
    stats = dataset_stats(load_ner_dataset("wnut17", data_dir=str(data_dir)), tokenizer=tokenizer, max_length=128)
    test = stats["splits"]["test"]
    assert (test["sentences"], test["tokens"], test["entities_total"]) == (1287, 23394, 1079)
    assert test["entities"] == {"corporation": 66, "creative-work": 142, "group": 165, "location": 150,
                                "person": 429, "product": 127}
    # what transformers' run_ner.py (truncation at 128) hides on WNUT-17 test: 30 words, 2 gold entities,
    # plus 3 lone U+FE0F words that tokenize to nothing
    assert (test["truncated_words"], test["truncated_entities"], test["truncated_sentences"]) == (30, 2, 2)
    assert test["zero_subword_words"] == 3
    assert test["length_words"]["max"] == 105 and test["length_subwords"]["max"] == 191
    assert stats["splits"]["validation"]["zero_subword_words"] == 4
    assert stats["splits"]["train"]["truncated_words"] == 0
    assert stats["splits"]["train"]["o_share"] == pytest.approx(0.95, abs=0.005)


def test_hand_counted_small_file(tokenizer):
    stats = dataset_stats(load_ner_dataset(train_file=ASSETS / "quirks.conll"), tokenizer=tokenizer, max_length=4)
    s = stats["splits"]["train"]
    assert (s["sentences"], s["tokens"], s["entities"], s["o_share"]) == (3, 8, {"LOC": 2, "PER": 1}, 0.5)
    assert s["length_words"] == {"max": 5, "mean": 8 / 3}
    # room for 2 subwords: "john smith | likes zw..." -> likes and the zero-width word are cut; U+FE0F has no subword
    assert (s["truncated_words"], s["truncated_entities"], s["zero_subword_words"]) == (2, 0, 1)


def test_cli_json_and_table(capsys, data_dir, minilm_path):
    assert main(["data-stats", "wnut17", "--data-dir", str(data_dir), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {k: v["sentences"] for k, v in doc["splits"].items()} == {"train": 3394, "validation": 1009, "test": 1287}
    assert doc["splits"]["validation"]["entities"]["person"] == 470
    assert main(["data-stats", str(ASSETS / "iob1.conll"), "--tokenizer", minilm_path, "--max-length", "4"]) == 0
    out = capsys.readouterr().out
    assert "sentences" in out and "cut at 4" in out and "PER" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-length", "8"], "--max-length needs --tokenizer"),
        (["--tokenizer", "/nonexistent/tok"], "/nonexistent/tok"),
    ],
)
def test_cli_errors(capsys, argv, message):
    assert main(["data-stats", str(ASSETS / "iob1.conll"), *argv]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1 and message in errors[0]  # beside it, INFO lines such as the scheme converted
    assert main(["data-stats", "nothere.conll"]) == 2
    assert "nothere.conll: file not found" in capsys.readouterr().err


def test_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data-stats", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "PATH_OR_NAME" in out and "--tokenizer" in out and "--max-length" in out and "--json" in out


def test_cli_finds_published_split_names(capsys, tmp_path):
    """`tagger data-stats DIR`: devel.tsv is the validation split, eng.train the train split; hand-counted."""
    folder = tmp_path / "mydata"
    folder.mkdir()
    (folder / "eng.train").write_text("Ann B-PER\nLee I-PER\nruns O\n\nRome B-LOC\n")
    (folder / "devel.tsv").write_text("Bo\tB-PER\nin\tO\nOslo\tB-LOC\n\nhi\tO\n\nyes\tO\n")
    (folder / "README.txt").write_text("about this folder\n")  # no split name: not read (all splits found)
    assert main(["data-stats", str(folder), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sources"] == {"train": "mydata/eng.train", "validation": "mydata/devel.tsv"}
    assert {k: (v["sentences"], v["tokens"], v["entities"]) for k, v in doc["splits"].items()} == {
        "train": (2, 4, {"LOC": 1, "PER": 1}), "validation": (3, 5, {"LOC": 1, "PER": 1})}


def test_cli_folder_without_split_names_is_one_line_error(capsys, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "wnut17train.conll").write_text("Ann B-PER\n")
    assert main(["data-stats", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"tagger data-stats: error: {folder}: no file named after a split among the data files "
                          "wnut17train.conll; name each file after its split")
    assert "data.train_file=" in err
