"""The loop's state, the checkpoint files and the card's hyperparameters, without training a model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from tagger.card_view import HYPERPARAMETER_NAMES
from tagger.config import load_config
from tagger.errors import ConfigError, InputError
from tagger.train.checkpoint import (
    BEST_WEIGHTS,
    find_checkpoint,
    load_best,
    load_checkpoint,
    remove_checkpoints,
    save_best,
    save_checkpoint,
)
from tagger.train.run_info import card_hyperparameters
from tagger.train.state import TrainState

LABELS = ["O", "B-PER", "I-PER"]

# What the recipe wrote as tagger_state.json before TrainState existed: a plain dict, in this key order.
OLD_STYLE = {
    "epoch": 1, "batches_done": 3, "global_step": 7, "best_f1": 0.25, "best_epoch": 1, "stale_epochs": 0,
    "history": [{"epoch": 1, "step": 5, "validation_f1": 0.25, "epoch_seconds": 1.5}],
    "train_seconds": 2.25, "nonfinite_skipped": 1, "train_tokens": 900, "train_padded_tokens": 1000,
    "best_validation": {"f1": 0.25, "precision": 0.5, "recall": 1 / 6, "per_type": {"PER": {"f1": 0.25}}},
    "label_list": LABELS,
}


def test_state_round_trips_through_json():
    state = TrainState.from_json(OLD_STYLE)
    state.end_epoch(1, {"f1": 0.5, "precision": 0.5, "recall": 0.5}, 3.0)
    again = TrainState.from_json(json.loads(json.dumps(state.to_json())))
    assert again == state
    assert again.history[-1] == {"epoch": 2, "step": 7, "validation_f1": 0.5, "epoch_seconds": 3.0}


def test_old_style_dict_reads_into_the_same_fields_and_writes_back_unchanged():
    state = TrainState.from_json(OLD_STYLE)
    assert (state.epoch, state.batches_done, state.global_step, state.best_f1) == (1, 3, 7, 0.25)
    assert state.best_validation == OLD_STYLE["best_validation"] and state.label_list == LABELS
    assert state.to_json() == OLD_STYLE
    assert list(state.to_json()) == list(OLD_STYLE)  # same keys, same order: older taggers read it too


def test_fresh_state_matches_the_old_initial_dict_and_tolerates_missing_or_new_keys():
    assert TrainState(label_list=LABELS).to_json() == {
        "epoch": 0, "batches_done": 0, "global_step": 0, "best_f1": -1.0, "best_epoch": 0, "stale_epochs": 0,
        "history": [], "train_seconds": 0.0, "nonfinite_skipped": 0, "train_tokens": 0, "train_padded_tokens": 0,
        "best_validation": None, "label_list": LABELS}
    assert TrainState.from_json({"global_step": 4, "from_the_future": 1}) == TrainState(global_step=4)


def test_end_epoch_keeps_the_first_best_and_counts_stale_epochs():
    state = TrainState(label_list=LABELS)
    improved = [state.end_epoch(e, {"f1": f1}, 1.0) for e, f1 in enumerate([0.3, 0.5, 0.5, 0.4])]
    assert improved == [True, True, False, False]
    assert (state.best_epoch, state.best_f1, state.stale_epochs, state.epoch) == (2, 0.5, 2, 4)
    assert [h["epoch"] for h in state.history] == [1, 2, 3, 4]


def test_padding_share_and_throughput():
    state = TrainState(train_tokens=750, train_padded_tokens=1000, train_seconds=2.5)
    assert state.padding_share == pytest.approx(0.25) and state.tokens_per_second == pytest.approx(300.0)
    assert TrainState().padding_share == 1.0 and TrainState().tokens_per_second == 0.0


# ------------------------------------------------------------------------------------------------ checkpoints


class FakeAccelerator:
    """The part of Accelerator the checkpoint helpers use, for one process."""

    is_main_process = True

    def __init__(self) -> None:
        self.loaded: list[str] = []

    def wait_for_everyone(self) -> None:
        pass

    def unwrap_model(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def save_state(self, path: str) -> None:
        Path(path).mkdir(parents=True)
        (Path(path) / "model.safetensors").write_text("accelerate's files")

    def load_state(self, path: str) -> None:
        self.loaded.append(path)


def test_checkpoint_keeps_the_newest_and_resume_restores_state_and_best_weights(tmp_path):
    acc, run_dir = FakeAccelerator(), tmp_path / "run"
    model = torch.nn.Linear(2, 3)
    save_best(acc, model, run_dir)
    best = {k: v.clone() for k, v in model.state_dict().items()}
    first = save_checkpoint(acc, run_dir, TrainState(global_step=5, label_list=LABELS))
    state = TrainState.from_json(OLD_STYLE)
    second = save_checkpoint(acc, run_dir, state)
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step_0000007"] == [second.name]
    assert not first.exists()
    assert json.loads((second / "tagger_state.json").read_text()) == OLD_STYLE
    assert find_checkpoint(run_dir, "latest") == second and find_checkpoint(run_dir, None) is None
    assert find_checkpoint(tmp_path / "elsewhere", "latest") is None

    with torch.no_grad():
        model.weight.zero_()
    save_best(acc, model, run_dir)  # a later, better epoch; the checkpoint keeps its own best weights
    resumed = load_checkpoint(acc, second, run_dir, LABELS)
    assert resumed == state and acc.loaded == [str(second)]
    assert load_best(model, run_dir)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in best.items())

    remove_checkpoints(run_dir)
    assert not (run_dir / "checkpoints").exists() and not (run_dir / BEST_WEIGHTS).exists()
    assert not load_best(model, run_dir)


def test_resume_refuses_other_labels_before_loading_anything(tmp_path):
    acc = FakeAccelerator()
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "tagger_state.json").write_text(json.dumps({"label_list": ["O", "B-X", "I-X"]}))
    with pytest.raises(InputError, match="the checkpoint was trained with labels"):
        load_checkpoint(acc, ckpt, tmp_path / "run", LABELS)
    assert acc.loaded == []
    assert find_checkpoint(tmp_path / "run", str(ckpt)) == ckpt
    with pytest.raises(ConfigError, match="not a tagger checkpoint"):
        find_checkpoint(tmp_path / "run", str(tmp_path))


# ------------------------------------------------------------------------------------------------ the card


def test_card_hyperparameters_come_from_the_config_in_the_cards_order():
    cfg = load_config(None, ["training.learning_rate=3e-5", "data.stride=16", "training.seed=9"])
    hp = card_hyperparameters([dataclasses.asdict(cfg.training), dataclasses.asdict(cfg.data)],
                              mixed_precision="bf16", num_processes=2, seed=4, head="crf", freeze_layers=2,
                              num_threads=1)
    assert list(hp) == list(HYPERPARAMETER_NAMES)
    assert hp == {
        "learning_rate": 3e-5, "epochs": cfg.training.epochs,
        "max_tokens_per_batch": cfg.training.max_tokens_per_batch,
        "max_sentences_per_batch": cfg.training.max_sentences_per_batch,
        "max_length": cfg.data.max_length, "stride": 16, "warmup_ratio": cfg.training.warmup_ratio,
        "weight_decay": cfg.training.weight_decay,
        "gradient_accumulation_steps": cfg.training.gradient_accumulation_steps,
        "max_grad_norm": cfg.training.max_grad_norm, "seed": 4, "mixed_precision": "bf16", "num_processes": 2,
        "label_all_subwords": cfg.data.label_all_subwords, "augment": "none", "sampling": "none", "context": 0,
        "head": "crf", "freeze_layers": 2, "num_threads": 1,
    }


def test_card_hyperparameters_refuse_one_key_with_two_values():
    with pytest.raises(ValueError, match="'stride' has two values"):
        card_hyperparameters([{"stride": 8}, {"stride": 16}])
    assert card_hyperparameters([{"stride": 8, "cache": True}, {"stride": 8}]) == {"stride": 8}
