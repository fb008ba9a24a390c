"""Sampling against the imbalance: which sentences a run trains on, counted by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tagger.config import load_config
from tagger.errors import ConfigError
from tagger.losses import loss_label
from tagger.train.features import SplitFeatures
from tagger.train.sampling import choose_sentences, rarest_types, resample

# 10 sentences: 4 with entities (PER x3, LOC x2, ORG x1), 6 empty
GOLD = [
    ["B-PER", "O"], ["O", "O"], ["B-LOC", "I-LOC", "B-PER"], ["O"], ["O", "O", "O"],
    ["B-ORG"], ["O"], ["B-PER", "O", "B-LOC"], ["O", "O"], ["O"],
]


def test_rarest_types_are_the_less_frequent_half() -> None:
    # PER 3, LOC 2, ORG 1 -> ceil(3/2) = 2 rarest: ORG, LOC
    assert rarest_types(GOLD) == ("LOC", "ORG")


def test_drop_empty_keeps_every_entity_sentence_and_the_stated_share_of_the_rest() -> None:
    chosen = choose_sentences(GOLD, "drop_empty", seed=1, keep_empty=0.5)
    with_entities = [0, 2, 5, 7]
    assert set(with_entities) <= set(chosen) and chosen == sorted(chosen)
    assert len(set(chosen) - set(with_entities)) == 3  # round(0.5 * 6)
    assert choose_sentences(GOLD, "drop_empty", seed=1, keep_empty=0.5) == chosen  # seeded
    others = {tuple(choose_sentences(GOLD, "drop_empty", seed=s, keep_empty=0.5)) for s in range(2, 12)}
    assert len(others) > 1  # and the seed matters
    assert choose_sentences(GOLD, "drop_empty", seed=1, keep_empty=1.0) == list(range(10))


def test_oversample_rare_reaches_the_share_with_the_fewest_repeats() -> None:
    rare_share = 0.5
    chosen = choose_sentences(GOLD, "oversample_rare", seed=3, rare_share=rare_share)
    holders = {2, 5, 7}  # sentences with a LOC or ORG entity
    assert chosen[:10] == list(range(10)) and set(chosen[10:]) <= holders
    share = sum(i in holders for i in chosen) / len(chosen)
    assert share >= rare_share
    one_fewer = chosen[:-1]
    assert sum(i in holders for i in one_fewer) / len(one_fewer) < rare_share
    # 3 holders of 10: (3 + r) / (10 + r) >= 0.5 -> r = 4
    assert len(chosen) - 10 == 4


def test_resample_takes_every_window_of_a_chosen_sentence_and_counts_tags() -> None:
    # sentence 2 is two windows; windows listed by sentence
    sentence_id = [0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9]
    columns = {"input_ids": [[i] for i in range(11)], "labels": [[0]] * 11, "word_index": [[0]] * 11,
               "sentence_id": sentence_id}
    train = SplitFeatures(name="train", columns=columns, num_words=[len(g) for g in GOLD],
                          tokens=[["w"] * len(g) for g in GOLD], gold_tags=GOLD)
    out, report = resample(train, "oversample_rare", seed=3, rare_share=0.5)
    chosen = choose_sentences(GOLD, "oversample_rare", seed=3, rare_share=0.5)
    assert out.columns["sentence_id"] == [s for c in chosen for s in sentence_id if s == c]
    assert report.sentences_after == len(chosen) == 14
    extra = [GOLD[i] for i in chosen[10:]]
    assert report.tag_counts_after["B-ORG"] == 1 + sum(t == "B-ORG" for g in extra for t in g)
    assert report.tag_counts_before["O"] == sum(t == "O" for g in GOLD for t in g)
    assert report.to_json()["rare_types"] == ["LOC", "ORG"]


def test_sampling_axis_makes_one_run_per_method_and_labels_them() -> None:
    cfg = load_config(None, ["sweep.losses=[{name: ce}, {name: focal, gamma: 2.0}]", "sweep.seeds=[1]",
                             "sweep.sampling=[none, drop_empty]"])
    labels = [loss_label(spec) for spec, _ in cfg.run_specs()]
    assert labels == ["ce", "ce + drop_empty", "focal(gamma=2.0)", "focal(gamma=2.0) + drop_empty"]
    with pytest.raises(ConfigError, match="sampling"):
        load_config(None, ["sweep.sampling=[often]"])
    with pytest.raises(ConfigError, match=r"sweep.losses\[1\].sampling"):
        load_config(None, ["sweep.losses=[{name: ce}, {name: ce, sampling: sometimes}]"])


def test_a_run_with_drop_empty_trains_on_the_sample(tmp_path: Path, tiny_encoder_dir: str, data_dir: Path) -> None:
    from test_recipe import run_recipe, tiny_args

    out = tmp_path / "out"
    proc = run_recipe(tiny_args(tiny_encoder_dir, data_dir, out, "training.epochs=1", "data.sampling=drop_empty",
                                "data.keep_empty=0.25", "output.report=false"), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(next((out / "runs").glob("*/all_results.json")).read_text())
    assert result["label"] == "ce + drop_empty" and result["levers"] == {"sampling": "drop_empty"}
    sampling = result["sampling"]
    assert sampling["sentences_before"] == 64
    # the first 64 WNUT-17 training sentences: those without entities, a quarter kept
    from tagger.data import load_ner_dataset

    data = load_ner_dataset("wnut17", data_dir=str(data_dir))
    empty = sum(1 for row in data.splits["train"]["ner_tags"][:64] if not any(row))
    assert sampling["sentences_after"] == 64 - empty + round(0.25 * empty)
    coverage = result["history"][0]["window_coverage"]
    assert coverage["trained"] == coverage["windows"] and coverage["windows"] < 64 + 5
    # only sentences without entities go: every entity tag is still there, fewer O
    before, after = sampling["tag_counts_before"], sampling["tag_counts_after"]
    assert {t: n for t, n in after.items() if t != "O"} == {t: n for t, n in before.items() if t != "O"}
    assert after["O"] < before["O"]


def test_the_shipped_default_sweep_runs_the_losses_and_the_best_stack(tmp_path: Path, tiny_encoder_dir: str,
                                                                       data_dir: Path) -> None:
    """recipes/configs/default.yaml as shipped (its four settings; one seed, a tiny encoder and 64
    sentences): ce, the soft truncation loss, focal and the stack; the stack trained on the oversampled
    sentences counted here by hand, with its CRF head saved, and a summary row per (run, decoding)."""
    from test_recipe import REPO, run_recipe

    from tagger.data import load_ner_dataset
    from tagger.data.schemes import entities

    labels = ["ce", "soft_truncation(form=one_minus_softmax, k=1.0)", "focal(gamma=2.0)",
              "focal(gamma=2.0) + oversample_rare + crf"]
    shipped = load_config(REPO / "recipes" / "configs" / "default.yaml")
    assert [loss_label(spec) for spec, _ in shipped.run_specs()] == labels * 3  # seeds outermost
    out = tmp_path / "out"
    proc = run_recipe(["--config", str(REPO / "recipes" / "configs" / "default.yaml"),
                       f"model.name_or_path={tiny_encoder_dir}", f"data.data_dir={data_dir}",
                       "data.max_train_sentences=64", "data.max_eval_sentences=48", "data.max_length=32",
                       "data.stride=8", "training.epochs=1", "training.learning_rate=1e-3", "sweep.seeds=[1]",
                       f"output.output_dir={out}", "output.report_to=jsonl", "output.report=false"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = load_ner_dataset("wnut17", data_dir=str(data_dir))
    names = data.label_list
    gold = [[names[i] for i in row] for row in data.splits["train"]["ner_tags"][:64]]
    counts: dict[str, int] = {}
    for tags in gold:
        for typ, _, _ in entities(tags):
            counts[typ] = counts.get(typ, 0) + 1
    rare = sorted(sorted(counts, key=lambda t: (counts[t], t))[: (len(counts) + 1) // 2])
    holders = sum(any(t in rare for t, _, _ in entities(tags)) for tags in gold)
    repeats = max(0, -(-(0.2 * 64 - holders) // 0.8))  # the smallest r with (holders + r) / (64 + r) >= 0.2
    results = {}
    for path in (out / "runs").glob("*/all_results.json"):
        result = json.loads(path.read_text())
        results[result["label"]] = result
    assert set(results) == set(labels)
    sampling = results[labels[3]]["sampling"]
    assert sampling["rare_types"] == rare and sampling["sentences_after"] == 64 + repeats > 64
    assert all(results[label]["sampling"] is None for label in labels[:3]) and results[labels[3]]["levers"] == {"sampling": "oversample_rare",
                                                                                   "head": "crf"}
    assert (out / "runs" / results[labels[3]]["run"] / "model" / "crf.safetensors").is_file()
    rows = json.loads((out / "summary.json").read_text())["table"]
    assert [(r["loss"], r["decoding"]) for r in rows] == [
        (label, d) for label in labels[:3] for d in ("argmax", "viterbi", "viterbi+threshold", "viterbi+type_thresholds")
    ] + [(labels[3], d) for d in ("viterbi", "viterbi+threshold", "viterbi+type_thresholds")]  # a CRF: its Viterbi
