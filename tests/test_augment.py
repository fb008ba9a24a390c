"""Augmentation of the training split, and levers that change nothing saying so: counted by hand."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tagger.config import help_text, load_config
from tagger.data.schemes import convert_tags, entities
from tagger.errors import ConfigError
from tagger.losses import loss_label
from tagger.run_files import run_folder_name
from tagger.summary import summarize
from tagger.train.augment import _segments, augment_sentences, augment_split, target_types
from tagger.train.features import SplitFeatures
from tagger.train.sampling import rarest_types, resample

# PER: "John Smith" (two words) and "Ann"; LOC: "Paris" and "Rome"; one sentence without entities
TOKENS = [["I", "met", "John", "Smith", "in", "Paris"], ["Ann", "went", "to", "Rome"], ["nothing", "here"]]
IOB2 = [["O", "O", "B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "O", "O", "B-LOC"], ["O", "O"]]
LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def in_scheme(scheme: str) -> list[list[str]]:
    return [convert_tags(tags, "IOB2", scheme) for tags in IOB2]


def test_the_rarest_types_are_those_oversample_rare_picks() -> None:
    # PER 2, LOC 2: ceil(2 / 2) = 1 type, the tie broken by name
    assert target_types(IOB2) == rarest_types(IOB2) == ("LOC",)
    assert target_types(IOB2, ["PER"], known=["LOC", "PER"]) == ("PER",)
    with pytest.raises(ConfigError, match="data.augment_types: ORG"):
        target_types(IOB2, ["ORG"], known=["LOC", "PER"])


def test_mention_replacement_swaps_each_mention_for_the_other_one_of_its_type() -> None:
    # rate 1: every LOC mention changes, and each has one other LOC mention to become; PER stays
    new = augment_sentences(TOKENS, IOB2, "mention_replacement", seed=7, scheme="IOB2", types=["LOC"], copies=1,
                            rate=1.0)
    assert [(a.source, a.tokens, a.tags) for a in new] == [
        (0, ["I", "met", "John", "Smith", "in", "Rome"], IOB2[0]),
        (1, ["Ann", "went", "to", "Paris"], IOB2[1]),
    ]


@pytest.mark.parametrize(("scheme", "expected"), [
    ("IOB2", [["O", "O", "B-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "O", "B-LOC"]]),
    ("IOBES", [["O", "O", "S-PER", "O", "S-LOC"], ["B-PER", "E-PER", "O", "O", "S-LOC"]]),
    ("BILOU", [["O", "O", "U-PER", "O", "U-LOC"], ["B-PER", "L-PER", "O", "O", "U-LOC"]]),
])
def test_a_replaced_mention_gets_the_prefixes_of_its_new_length(scheme: str, expected: list[list[str]]) -> None:
    # "John Smith" (two words) becomes "Ann" (one) and back
    new = augment_sentences(TOKENS, in_scheme(scheme), "mention_replacement", seed=3, scheme=scheme, types=["PER"],
                            copies=1, rate=1.0)
    assert [a.tokens for a in new] == [["I", "met", "Ann", "in", "Paris"], ["John", "Smith", "went", "to", "Rome"]]
    assert [a.tags for a in new] == expected
    for a in new:  # well-formed: strict reading finds what conlleval finds
        assert entities(a.tags, "strict", scheme) == entities(a.tags)


def test_the_draws_follow_the_seed_in_the_documented_order() -> None:
    """Three LOC mentions: each sentence draws, per LOC mention, 'does it change' and then which of the
    two others it becomes; replayed here on random.Random(seed)."""
    tokens = [["to", "Paris"], ["to", "Rome"], ["to", "Oslo"]]
    tags = [["O", "B-LOC"]] * 3
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        expected = []
        for i, city in enumerate(("Paris", "Rome", "Oslo")):
            for _ in range(2):  # copies
                drew = rng.random() < 0.5
                if not drew:
                    rng.randrange(1)  # none drawn: the one mention is chosen
                others = [c for c in ("Paris", "Rome", "Oslo") if c != city]
                expected.append((i, ["to", rng.choice(others)]))
        new = augment_sentences(tokens, tags, "mention_replacement", seed, scheme="IOB2", types=["LOC"], copies=2,
                                rate=0.5)
        assert [(a.source, a.tokens) for a in new] == expected
        assert augment_sentences(tokens, tags, "mention_replacement", seed, scheme="IOB2", types=["LOC"], copies=2,
                                 rate=0.5) == new  # reproducible
    outputs = {tuple(tuple(a.tokens) for a in augment_sentences(tokens, tags, "mention_replacement", s,
                                                                scheme="IOB2", types=["LOC"], copies=2, rate=0.5))
               for s in range(10)}
    assert len(outputs) > 1  # and the seed matters


def test_label_wise_token_replacement_draws_words_of_the_same_tag() -> None:
    pool: dict[str, set[str]] = {}
    for words, tags in zip(TOKENS, IOB2):
        for w, t in zip(words, tags):
            pool.setdefault(t, set()).add(w)
    new = augment_sentences(TOKENS, IOB2, "label_wise_token_replacement", seed=5, scheme="IOB2", types=["LOC"],
                            copies=3, rate=1.0)
    assert new and {a.source for a in new} <= {0, 1}  # sentence 2 holds no LOC
    for a in new:
        assert a.tags == IOB2[a.source] and a.tokens != TOKENS[a.source]
        assert all(w in pool[t] for w, t in zip(a.tokens, a.tags))


def test_shuffle_within_segments_keeps_each_segment_s_words_and_every_tag() -> None:
    assert _segments(IOB2[0]) == [(0, 1), (2, 3), (4, 4), (5, 5)]  # "I met" | "John Smith" | "in" | "Paris"
    new = augment_sentences(TOKENS, IOB2, "shuffle_within_segments", seed=1, scheme="IOB2", types=["PER"], copies=4,
                            rate=1.0)
    assert new
    for a in new:
        assert a.tags == IOB2[a.source]
        for first, last in _segments(a.tags):
            assert sorted(a.tokens[first:last + 1]) == sorted(TOKENS[a.source][first:last + 1])
    # "Ann went to Rome": the only segment of two words is "went to"; a copy differs, so it is "to went"
    assert {tuple(a.tokens) for a in new if a.source == 1} == {("Ann", "to", "went", "Rome")}
    # one-word segments only: nothing to shuffle, nothing added
    assert augment_sentences([["Ann", "Rome"]], [["B-PER", "B-LOC"]], "shuffle_within_segments", 1, scheme="IOB2",
                             types=["PER"], copies=1, rate=1.0) == []


def _features(tokenizer, tokens: list[list[str]], tags: list[list[str]]) -> SplitFeatures:
    from tagger.data.align import encode_sentences

    columns = encode_sentences(tokens, tokenizer, tag_ids=[[LABELS.index(t) for t in row] for row in tags],
                               max_length=16, stride=4)
    return SplitFeatures(name="train", columns={k: columns[k] for k in ("input_ids", "labels", "word_index",
                                                                        "sentence_id")},
                         num_words=[len(t) for t in tokens], tokens=tokens, gold_tags=tags)


def test_augmented_sentences_are_encoded_after_the_split_and_reported(tokenizer) -> None:
    train = _features(tokenizer, TOKENS, IOB2)
    before = _features(tokenizer, TOKENS, IOB2)
    out, report = augment_split(train, "mention_replacement", 7, tokenizer, label_list=LABELS, scheme="IOB2",
                                max_length=16, stride=4, label_all_subwords=False, types=(), copies=1, rate=1.0)
    # the sweep's split, which every run starts from, is left as it was
    assert (train.columns, train.tokens, train.gold_tags, train.num_words) == (
        before.columns, before.tokens, before.gold_tags, before.num_words)
    assert {k: v[:len(train)] for k, v in out.columns.items()} == train.columns  # the split's windows first
    assert out.tokens[3:] == [["I", "met", "John", "Smith", "in", "Rome"], ["Ann", "went", "to", "Paris"]]
    assert out.columns["sentence_id"][len(train):] == [3, 4]  # one window each, numbered after the split
    # the new windows are the encoding of the new sentences
    assert out.columns["input_ids"][len(train):] == _features(tokenizer, out.tokens[3:],
                                                              out.gold_tags[3:]).columns["input_ids"]
    assert report.to_json() | {"tag_counts_before": None, "tag_counts_after": None} == {
        "method": "mention_replacement", "types": ["LOC"], "copies": 1, "rate": 1.0, "sentences_before": 3,
        "sentences_used": 2, "sentences_added": 2, "windows_added": 2, "tag_counts_before": None,
        "tag_counts_after": None, "no_op": None}
    assert report.tag_counts_after["B-LOC"] == 4 and report.tag_counts_after["I-PER"] == 2


def test_an_augmentation_that_adds_nothing_says_why(tokenizer) -> None:
    train = _features(tokenizer, TOKENS, IOB2)
    # sentence 1 alone: one LOC mention in the split, nothing to swap it for
    alone = _features(tokenizer, TOKENS[1:], IOB2[1:])
    out, report = augment_split(alone, "mention_replacement", 1, tokenizer, label_list=LABELS, scheme="IOB2",
                                max_length=16, stride=4, label_all_subwords=False, types=(), copies=1, rate=0.5)
    assert out.columns == alone.columns and report.sentences_added == 0
    assert report.note == "mention_replacement: no-op, no other mention of LOC in the training split to swap in"
    # a type of the data set that the (cut) training split lacks
    labels = [*LABELS, "B-ORG", "I-ORG"]
    out, report = augment_split(train, "shuffle_within_segments", 1, tokenizer, label_list=labels, scheme="IOB2",
                                max_length=16, stride=4, label_all_subwords=False, types=["ORG"], copies=1,
                                rate=0.5)
    assert report.to_json()["no_op"] == "no training sentence holds ORG" and len(out) == len(train)


# 10 sentences, 3 of them with a rare type (LOC or ORG): 30%
GOLD = [
    ["B-PER", "O"], ["O", "O"], ["B-LOC", "I-LOC", "B-PER"], ["O"], ["O", "O", "O"],
    ["B-ORG"], ["O"], ["B-PER", "O", "B-LOC"], ["O", "O"], ["O"],
]


def _windows(gold: list[list[str]]) -> SplitFeatures:
    n = len(gold)
    columns = {"input_ids": [[i] for i in range(n)], "labels": [[0]] * n, "word_index": [[0]] * n,
               "sentence_id": list(range(n))}
    return SplitFeatures(name="train", columns=columns, num_words=[len(g) for g in gold],
                         tokens=[["w"] * len(g) for g in gold], gold_tags=gold)


def test_sampling_that_repeats_nothing_says_why() -> None:
    out, report = resample(_windows(GOLD), "oversample_rare", seed=1, rare_share=0.2)
    assert report.sentences_after == 10 and out.columns["sentence_id"] == list(range(10))
    assert report.note == "oversample_rare: no-op, rare types already 30% of sentences (data.rare_share 0.2)"
    assert report.to_json()["no_op"] == "rare types already 30% of sentences (data.rare_share 0.2)"
    # 0.5 needs repeats: no note
    assert resample(_windows(GOLD), "oversample_rare", seed=1, rare_share=0.5)[1].to_json()["no_op"] is None
    full = [g for g in GOLD if any(t != "O" for t in g)]
    assert resample(_windows(full), "drop_empty", 1)[1].no_op == "every training sentence holds an entity"
    assert resample(_windows(GOLD), "drop_empty", 1, keep_empty=1.0)[1].no_op == (
        "keep_empty 1 keeps all 6 sentences without entities")


def _run(label: str, seed: int, **reports: object) -> dict:
    scores = {"f1": 0.5, "precision": 0.5, "recall": 0.5, "per_type": {}}
    return {"run": f"{label}-{seed}", "label": label, "loss": "ce", "params": {}, "seed": seed,
            "validation": scores, "test": scores, "train_seconds": 1.0, **reports}


def test_the_summary_notes_a_lever_that_changed_nothing() -> None:
    no_op = {"method": "oversample_rare", "no_op": "rare types already 31% of sentences (data.rare_share 0.2)"}
    runs = [_run("ce", 1), _run("ce + oversample_rare", 1, sampling=no_op),
            _run("ce + oversample_rare", 2, sampling=no_op),
            _run("ce + mention_replacement", 1, augment={"method": "mention_replacement", "no_op": None})]
    text = summarize(runs)["table_text"]
    assert text.endswith("Data levers that changed nothing (the run trained on what it would have without them):\n"
                         "- ce + oversample_rare (seeds 1, 2): oversample_rare: no-op, rare types already 31% of "
                         "sentences (data.rare_share 0.2)")
    assert "changed nothing" not in summarize(runs[:1] + runs[3:])["table_text"]


def test_the_augment_axis_labels_runs_and_folders() -> None:
    cfg = load_config(None, ["sweep.losses=[{name: ce}]", "sweep.seeds=[1]",
                             "sweep.augment=[none, mention_replacement]", "sweep.sampling=[none, oversample_rare]"])
    labels = [loss_label(spec) for spec, _ in cfg.run_specs()]
    assert labels == ["ce", "ce + oversample_rare", "ce + mention_replacement",
                      "ce + mention_replacement + oversample_rare"]
    assert run_folder_name(cfg.run_specs()[3][0], 1) == "ce_mention_replacement_oversample_rare-seed1"
    with pytest.raises(ConfigError, match="augment"):
        load_config(None, ["sweep.augment=[synonyms]"])
    with pytest.raises(ConfigError, match=r"sweep.losses\[0\].augment"):
        load_config(None, ["sweep.losses=[{name: ce, augment: sometimes}]"])
    assert "data.augment_copies" in help_text() and "mention_replacement" in help_text()


def test_a_run_trains_on_the_augmented_split_and_notes_a_no_op_sampling(tmp_path: Path, probe_workspace) -> None:
    """The generated data (128 training sentences, PER and LOC): one type is the rarer, held by most
    sentences, so oversampling after augmentation repeats nothing and the summary says so."""
    from recipe_runner import run_recipe

    from tagger.data.conll import read_conll

    ws = probe_workspace
    out = tmp_path / "out"
    done = run_recipe(ws.recipe_args(out, "training.epochs=1", "training.max_steps=2", "output.report=false",
                                     "sweep.decodings=[]", "data.max_eval_sentences=16",
                                     "data.augment=mention_replacement", "data.sampling=oversample_rare"), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next((out / "runs").glob("*/all_results.json")).read_text())
    assert result["label"] == "ce + mention_replacement + oversample_rare"
    gold = [s[1] for s in read_conll(ws.data() / "train.conll")]

    def count(sentences: list[list[str]]) -> dict[str, int]:
        return {typ: sum(t == typ for tags in sentences for t, _, _ in entities(tags)) for typ in ("LOC", "PER")}

    counts = count(gold)
    rare = min(counts, key=lambda t: (counts[t], t))  # two types: the rarer half is one
    holding = [tags for tags in gold if any(t == rare for t, _, _ in entities(tags))]
    augment = result["augment"]
    # every holder gives one copy (another mention of its type always exists), with the same entities' types
    assert augment["types"] == [rare] and augment["sentences_used"] == augment["sentences_added"] == len(holding)
    # sampling reads the augmented split: its rarer type, and the sentences holding it, are counted there
    augmented = gold + holding
    counts = count(augmented)
    rare_after = min(counts, key=lambda t: (counts[t], t))
    holders = sum(any(t == rare_after for t, _, _ in entities(tags)) for tags in augmented)
    share = round(100 * holders / len(augmented))
    assert result["sampling"]["no_op"] == f"rare types already {share}% of sentences (data.rare_share 0.2)"
    assert result["sampling"]["sentences_before"] == len(augmented)
    # validation and test untouched: the predictions hold the test split's (first 16) sentences as written
    test = [s[1] for s in read_conll(ws.data() / "test.conll")][:16]
    predicted = (out / "runs" / result["run"] / "test_predictions.conll").read_text().strip().split("\n\n")
    assert [[line.split()[1] for line in s.splitlines()] for s in predicted] == test
    assert f"- {result['label']} (seed 5): oversample_rare: no-op, rare types already {share}%" in (
        out / "summary.md").read_text()
    card = json.loads((out / "runs" / result["run"] / "model" / "tagger_run.json").read_text())
    assert card["hyperparameters"]["augment"] == "mention_replacement"
