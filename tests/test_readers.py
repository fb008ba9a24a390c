"""Readers: the real data sets as published, every quirk and every error on tiny hand-made files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import datasets
import pytest

from tagger.data import NerData, iter_conll, load_ner_dataset, read_conll, read_jsonl
from tagger.data.readers import entity_counts
from tagger.errors import InputError

ASSETS = Path(__file__).parent / "assets" / "data"


def _tags(data: NerData, split: str) -> list[list[str]]:
    return [[data.label_list[i] for i in row] for row in data.splits[split]["ner_tags"]]


@pytest.fixture(scope="session")
def conll(data_dir) -> NerData:
    return load_ner_dataset("conll2003", data_dir=str(data_dir))


@pytest.fixture(scope="session")
def wnut(data_dir) -> NerData:
    return load_ner_dataset("wnut17", data_dir=str(data_dir))


@pytest.mark.parametrize(
    "which, sentences, tokens, entities",
    [
        ("conll", (14041, 3250, 3453), (203621, 51362, 46435), (23499, 5942, 5648)),
        ("wnut", (3394, 1009, 1287), (62730, 15733, 23394), (1975, 836, 1079)),
    ],
)
def test_real_data_counts(request, which, sentences, tokens, entities):
    data: NerData = request.getfixturevalue(which)
    for k, split in enumerate(("train", "validation", "test")):
        ds = data.splits[split]
        assert len(ds) == sentences[k]
        assert sum(len(t) for t in ds["tokens"]) == tokens[k]
        assert sum(entity_counts(_tags(data, split)).values()) == entities[k]


def test_real_data_labels_sources_and_features(conll, wnut):
    assert conll.label_list == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert wnut.label_list[:3] == ["O", "B-corporation", "I-corporation"] and len(wnut.label_list) == 13
    assert wnut.sources == {s: f"wnut17/{s}.conll" for s in ("train", "validation", "test")}
    assert wnut.name == "wnut17" and wnut.scheme == "IOB2"
    feat = wnut.splits["train"].features["ner_tags"].feature
    assert isinstance(feat, datasets.ClassLabel) and feat.names == wnut.label_list
    # WNUT-17 test as published keeps its lone variation selectors as tokens
    assert sum(t == "\ufe0f" for row in wnut.splits["test"]["tokens"] for t in row) == 3
    per_type = entity_counts(_tags(wnut, "train"))
    assert per_type == {"corporation": 221, "creative-work": 140, "group": 264, "location": 548, "person": 660, "product": 142}


def test_named_set_resolution_through_env(monkeypatch, data_dir, tmp_path):
    monkeypatch.setenv("TAGGER_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)  # no data/ here: the env setting must be what finds it
    data = load_ner_dataset("wnut17")
    assert len(data.splits["validation"]) == 1009
    assert not any(Path(s).is_absolute() for s in data.sources.values())


def test_conll_quirks_hand_checked():
    sents = read_conll(ASSETS / "quirks.conll")
    assert sents == [
        (["John", "Smith", "likes", "\u200bzw\u200b", "\ufe0f"], ["B-PER", "I-PER", "O", "O", "O"], 3, 0),
        (["Paris"], ["B-LOC"], 9, 0),
        (["Berlin", "is"], ["B-LOC", "O"], 11, 1),  # a -DOCSTART- line opens the next document
    ]
    assert list(iter_conll(ASSETS / "quirks.conll")) == sents


def test_tokens_only_for_prediction_input():
    assert list(iter_conll(ASSETS / "tokens_only.conll", require_tags=False)) == [
        (["John", "lives"], None, 1, None), (["Hi"], None, 4, None)]
    with pytest.raises(InputError, match=r"tokens_only.conll:1: .*one column"):
        read_conll(ASSETS / "tokens_only.conll")


@pytest.mark.parametrize(
    "name, pattern",
    [
        ("bad_tag.conll", r"bad_tag.conll:4: tag 'X-LOC' is not O or PREFIX-TYPE"),
        ("one_column.conll", r"one_column.conll:2: .*one column 'lives'"),
        ("latin1.conll", r"latin1.conll:1: not UTF-8: byte 0xe9 at byte offset 3"),
        ("missing.conll", r"missing.conll: file not found"),
    ],
)
def test_conll_errors_name_file_and_line(name, pattern):
    with pytest.raises(InputError, match=pattern):
        read_conll(ASSETS / name)


def test_empty_split_and_missing_file_are_errors():
    with pytest.raises(InputError, match=r"docstart_only.conll: the train split has no sentences"):
        load_ner_dataset(train_file=ASSETS / "docstart_only.conll")
    with pytest.raises(InputError, match=r"nope.conll: file not found"):
        load_ner_dataset(train_file=ASSETS / "iob1.conll", test_file=ASSETS / "nope.conll")


def test_iob1_is_detected_and_converted_to_iob2_and_iobes():
    data = load_ner_dataset(train_file=ASSETS / "iob1.conll")
    assert _tags(data, "train") == [["B-PER", "I-PER", "O", "B-PER", "B-PER", "O", "B-LOC", "I-LOC"]]
    assert data.label_list == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert data.sources == {"train": "iob1.conll"} and data.name == "iob1"
    bioes = load_ner_dataset(train_file=ASSETS / "iob1.conll", scheme="BIOES")
    assert _tags(bioes, "train") == [["B-PER", "E-PER", "O", "S-PER", "S-PER", "O", "B-LOC", "E-LOC"]]
    assert bioes.scheme == "IOBES"
    assert bioes.label_list == ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "S-PER"]


def test_unseen_labels_warn_and_are_scored(tmp_path, caplog):
    (tmp_path / "train.conll").write_text("Ann B-PER\nruns O\n")
    (tmp_path / "test.conll").write_text("Rome B-LOC\nis O\n\nBo B-PER\n")
    with caplog.at_level(logging.WARNING):
        data = load_ner_dataset(str(tmp_path))
    assert data.label_list == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]  # training ids stay first
    assert "B-LOC" in caplog.text and "test" in caplog.text
    assert _tags(data, "test") == [["B-LOC", "O"], ["B-PER"]]
    assert data.name == tmp_path.name and data.sources["test"] == f"{tmp_path.name}/test.conll"


def test_forced_label_list_rejects_other_labels():
    with pytest.raises(InputError, match=r"iob1.conll:1: label 'B-LOC' is not in the given label list"):
        load_ner_dataset(train_file=ASSETS / "iob1.conll", label_list=["O", "B-PER", "I-PER"])
    data = load_ner_dataset(train_file=ASSETS / "iob1.conll", label_list=["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-X"])
    assert data.label_list == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-X"]
    assert data.splits["train"]["ner_tags"][0][:2] == [1, 2]


def test_jsonl_with_strings_ids_and_labels_file(tmp_path):
    data = load_ner_dataset(train_file=ASSETS / "train.jsonl")
    assert _tags(data, "train") == [["B-PER", "O"], ["B-PER", "I-PER", "O"]]
    ids = tmp_path / "ids.jsonl"
    ids.write_text(json.dumps({"tokens": ["Rome", "!"], "ner_tags": [1, 0]}) + "\n")
    with pytest.raises(InputError, match=r"ids.jsonl:1: integer tags need a label list"):
        load_ner_dataset(train_file=ids)
    assert _tags(load_ner_dataset(train_file=ids, label_list=["O", "B-LOC", "I-LOC"]), "train") == [["B-LOC", "O"]]
    (tmp_path / "labels.json").write_text('["O", "B-LOC", "I-LOC"]')
    assert _tags(load_ner_dataset(train_file=ids), "train") == [["B-LOC", "O"]]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tokens": ["a"], "ner_tags": ["O"]}\n{"tokens": ["a", "b"], "ner_tags": ["O"]}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: 'ner_tags' must be a list as long as"):
        load_ner_dataset(train_file=bad)


def _classlabel_dict() -> datasets.DatasetDict:
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    feats = datasets.Features({"id": datasets.Value("string"), "words": datasets.Sequence(datasets.Value("string")),
                               "ner": datasets.Sequence(datasets.ClassLabel(names=names))})
    rows = {"train": {"id": ["0", "1"], "words": [["Ann", "Lee"], ["in", "Oslo"]], "ner": [[1, 2], [0, 3]]},
            "validation": {"id": ["0"], "words": [["Bo"]], "ner": [[1]]}}
    return datasets.DatasetDict({k: datasets.Dataset.from_dict(v, features=feats) for k, v in rows.items()})


def test_hub_path_offline_on_local_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    dd = _classlabel_dict()
    hub_like = tmp_path / "hub_like"
    hub_like.mkdir()
    for split, ds in dd.items():
        ds.to_parquet(str(hub_like / f"{split}.parquet"))  # ClassLabel names travel in the parquet metadata
    with pytest.raises(InputError, match=r"no column 'nope' for tags \(columns: id, words, ner\)"):
        load_ner_dataset(str(hub_like), tags_column="nope")
    data = load_ner_dataset(str(hub_like))  # 'words' and 'ner' detected
    assert _tags(load_ner_dataset(str(hub_like), tokens_column="words", tags_column="ner"), "validation") == [["B-PER"]]
    assert set(data.splits) == {"train", "validation"}
    assert [list(t) for t in data.splits["train"]["tokens"]] == [["Ann", "Lee"], ["in", "Oslo"]]
    assert _tags(data, "train") == [["B-PER", "I-PER"], ["O", "B-LOC"]]
    saved = tmp_path / "saved"
    dd.save_to_disk(str(saved))
    again = load_ner_dataset(str(saved), tags_column="ner")
    assert _tags(again, "validation") == [["B-PER"]] and again.label_list == data.label_list


def test_fingerprint_is_deterministic():
    a = load_ner_dataset(train_file=ASSETS / "iob1.conll")
    b = load_ner_dataset(train_file=ASSETS / "iob1.conll")
    assert a.splits["train"]._fingerprint == b.splits["train"]._fingerprint


# ---------------------------------------------------------------------------------------------------------------
# Input formats and the naming rule of split files


def test_format_table_per_command():
    from tagger.data.formats import DATA_SUFFIXES, PREDICT_FORMATS, describe, file_format

    expected = {  # suffix: (training / data-stats, tagger predict)
        "a.conll": ("conll", "conll"), "a.IOB": ("conll", "conll"), "a.tsv": ("conll", "conll"),
        "a.txt": ("conll", "text"), "a.jsonl": ("jsonl", "jsonl"), "a.json": ("jsonl", "jsonl"),
        "a.NDJSON": ("jsonl", "jsonl"), "eng.testa": ("conll", "conll"), "train": ("conll", "conll"),
    }
    for name, (data, predict) in expected.items():
        assert (file_format(name), file_format(name, "predict")) == (data, predict), name
    assert set(DATA_SUFFIXES) == {".conll", ".iob", ".tsv", ".txt", ".jsonl", ".json", ".ndjson"}
    assert PREDICT_FORMATS == ("conll", "jsonl", "text")
    # the one suffix read differently says so, in both commands' help
    assert "(`tagger predict`: raw text, one sentence per line;" in describe("data")
    assert "(training and `tagger data-stats`: CoNLL columns;" in " ".join(describe("predict").split())


def test_read_file_follows_the_table(tmp_path):
    from tagger.data.readers import read_file

    (tmp_path / "a.ndjson").write_text('{"tokens": ["Rome"], "ner_tags": ["B-LOC"]}\n')
    (tmp_path / "eng.testa").write_text("Rome B-LOC\n")
    (tmp_path / "a.txt").write_text("Rome B-LOC\n")
    for name, line in (("a.ndjson", 1), ("eng.testa", 1), ("a.txt", 1)):
        assert read_file(tmp_path / name) == [(["Rome"], ["B-LOC"], line, None)]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("train.conll", ("train", 0)), ("DEV.txt", ("validation", 0)), ("devel.tsv", ("validation", 0)),
        ("valid.txt", ("validation", 0)), ("validation.jsonl", ("validation", 0)), ("testb", ("test", 0)),
        ("eng.train", ("train", 1)), ("eng.testa", ("validation", 1)), ("eng.testb", ("test", 1)),
        ("en_dev.conll", ("validation", 1)), ("emerging.dev.conll", ("validation", 1)),
        ("en_ewt-ud-test.iob", ("test", 1)), ("conll2003_train.json", ("train", 1)),
        ("train_data", ("train", 2)), ("test-2019.jsonl", ("test", 2)), ("test_predictions.conll", ("test", 2)),
        ("wnut17train.conll", None), ("contest.conll", None), ("train.parquet", None), ("train.log", None),
        ("README.md", None), ("labels.json", None), ("testing.conll", None),
    ],
)
def test_split_naming_rule(name, expected):
    from tagger.data.splits import split_of

    assert split_of(name) == expected


def _folder(folder: Path, *names: str) -> Path:
    folder.mkdir()
    for i, name in enumerate(names):
        (folder / name).write_text(f"W{i} B-PER\nruns O\n")
    return folder


def test_published_names_load_as_splits(tmp_path):
    from tagger.data.splits import split_files

    folder = _folder(tmp_path / "conll", "eng.train", "eng.testa", "eng.testb", "README.md", "labels.json")
    (folder / "labels.json").write_text('["O", "B-PER", "I-PER"]')
    data = load_ner_dataset(str(folder))
    assert data.sources == {"train": "conll/eng.train", "validation": "conll/eng.testa", "test": "conll/eng.testb"}
    assert [list(t) for t in data.splits["validation"]["tokens"]] == [["W1", "runs"]]
    # the closest name wins: a split's own name over one that starts with it
    other = _folder(tmp_path / "other", "test.conll", "test_predictions.conll", "en_dev.conll", "train_data")
    assert {k: p.name for k, p in split_files(other).items()} == {
        "train": "train_data", "validation": "en_dev.conll", "test": "test.conll"}


def test_two_files_for_one_split_are_an_error_naming_both(tmp_path):
    folder = _folder(tmp_path / "two", "train.conll", "dev.conll", "devel.tsv")
    with pytest.raises(InputError) as err:
        load_ner_dataset(str(folder))
    assert str(err.value).startswith(f"{folder}: dev.conll and devel.tsv both name the validation split")
    assert "data.validation_file=" in str(err.value)
    # given explicitly, the folder's validation files are not read
    data = load_ner_dataset(str(folder), validation_file=folder / "devel.tsv")
    assert data.sources["validation"] == "devel.tsv" and data.sources["train"] == "two/train.conll"


def test_data_files_named_after_no_split_are_listed(tmp_path, caplog):
    folder = _folder(tmp_path / "odd", "wnut17train.conll", "mydev.txt", "notes.md", "labels.json")
    (folder / "labels.json").write_text('["O", "B-PER", "I-PER"]')
    with pytest.raises(InputError) as err:
        load_ner_dataset(str(folder))
    msg = str(err.value)
    assert msg.startswith(f"{folder}: no file named after a split among the data files mydev.txt, wnut17train.conll; ")
    assert "notes.md" not in msg and "labels.json" not in msg
    assert "train; validation, dev, devel, valid, testa; test, testb" in msg and "eng.testa" in msg
    assert "data.train_file=, data.validation_file=, data.test_file=" in msg
    # a folder with some splits found: the others are missing, and the unmatched files are named in a warning
    (folder / "train.conll").write_text("Ann B-PER\n")
    with caplog.at_level(logging.WARNING):
        data = load_ner_dataset(str(folder))
    assert set(data.splits) == {"train"}
    assert "no validation or test split; data files named after no split: mydev.txt, wnut17train.conll" in caplog.text


# ---------------------------------------------------------------------------------------------------------------
# Documents: kept in order, as each format marks them


def test_conll2003_keeps_its_documents_and_wnut17_has_none(conll, wnut, data_dir):
    # the published counts (../shared/data/README.md): one document per -DOCSTART- line
    for split, n in (("train", 946), ("validation", 216), ("test", 231)):
        documents = conll.splits[split]["document_id"]
        assert documents == sorted(documents) and len(set(documents)) == n
    # sentence order is the file's: the first document of test, read independently of the reader
    blocks = (data_dir / "conll2003" / "test.conll").read_text(encoding="utf-8").split("-DOCSTART-")[1]
    first_doc = [[line.split()[0] for line in b.splitlines()] for b in blocks.split("\n\n")[1:] if b.strip()]
    test = conll.splits["test"]
    assert [list(t) for t, d in zip(test["tokens"], test["document_id"]) if d == 0] == first_doc
    # WNUT-17 marks no documents: every sentence is a document of its own
    assert wnut.splits["train"]["document_id"] == list(range(3394))


def test_jsonl_document_id_groups_consecutive_lines(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [("a", ["Ann"]), ("a", ["Lee", "ran"]), (7, ["Bo"]), ("b", ["x"]), ("b", ["y"])]
    path.write_text("".join(json.dumps({"tokens": t, "ner_tags": ["B-PER"] + ["O"] * (len(t) - 1),
                                        "document_id": d}) + "\n" for d, t in rows))
    data = load_ner_dataset(train_file=path)
    assert data.splits["train"]["document_id"] == [0, 0, 1, 2, 2]
    assert [s.document for s in read_jsonl(path)] == [0, 0, 1, 2, 2]


@pytest.mark.parametrize(
    "lines, pattern",
    [
        ([("a", 1), ("b", 2), ("a", 3)], (r"bad.jsonl:3: document_id 'a' comes back after another document: the "
                                          r"sentences of a document must be consecutive \(its first is line 1\)")),
        ([("a", 1), (None, 2)], (r"bad.jsonl:2: document_id is on some rows and not on others \(line 1 has one, "
                                 r"line 2 has none\)")),
        ([([1], 1)], r"bad.jsonl:1: document_id must be a string or an integer, got \[1\]"),
    ],
)
def test_a_bad_document_id_names_file_and_line(tmp_path, lines, pattern):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps({"tokens": ["w"], "ner_tags": ["O"], **({"document_id": d} if d is not None
                                                                               else {})}) + "\n" for d, _ in lines))
    with pytest.raises(InputError, match=pattern):
        load_ner_dataset(train_file=path)


def test_hub_data_with_a_document_id_column(tmp_path):
    feats = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                               "ner_tags": datasets.Sequence(datasets.Value("string")),
                               "document_id": datasets.Value("string")})
    rows = {"tokens": [["Ann"], ["in", "Oslo"], ["Bo"]], "ner_tags": [["B-PER"], ["O", "B-LOC"], ["B-PER"]],
            "document_id": ["d1", "d1", "d2"]}
    saved = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=feats)}).save_to_disk(str(saved))
    assert load_ner_dataset(str(saved)).splits["train"]["document_id"] == [0, 0, 1]
    rows["document_id"] = ["d1", "d2", "d1"]
    bad = tmp_path / "bad"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=feats)}).save_to_disk(str(bad))
    with pytest.raises(InputError, match=r"bad\[train\]:3: document_id 'd1' comes back after another document"):
        load_ner_dataset(str(bad))
