"""model.freeze_layers: the embeddings and the lowest encoder layers keep their pretrained weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from recipe_runner import run_recipe, tiny_args
from safetensors.torch import load_file

from tagger.train.freeze import freeze_lower_layers
from tagger.train.optim import build_optimizer


def _tiny(tiny_encoder_dir: str):
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)
    return AutoModelForTokenClassification.from_pretrained(tiny_encoder_dir, num_labels=5)


def test_a_training_step_leaves_the_frozen_weights_as_they_were(tiny_encoder_dir: str) -> None:
    model = _tiny(tiny_encoder_dir)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    frozen = freeze_lower_layers(model, 1)
    assert frozen == sum(p.numel() for n, p in model.named_parameters()
                         if n.startswith(("bert.embeddings.", "bert.encoder.layer.0.")))
    opt = build_optimizer(model, 1e-2, 0.01)
    assert {id(p) for g in opt.param_groups for p in g["params"]} == {id(p) for p in model.parameters() if p.requires_grad}
    ids = torch.randint(1000, 2000, (4, 12))
    model(input_ids=ids, labels=torch.randint(0, 5, (4, 12))).loss.backward()
    opt.step()
    for name, p in model.named_parameters():
        same = torch.equal(p, before[name])
        if name.startswith(("bert.embeddings.", "bert.encoder.layer.0.")):
            assert same and p.grad is None, name  # no gradient reached it, and weight decay left it alone
        elif name.endswith(".weight") and "LayerNorm" not in name:
            assert not same, name


def test_freezing_every_layer_is_refused(tiny_encoder_dir: str) -> None:
    with pytest.raises(ValueError, match="the encoder has 2 layers, and at least the top one must train"):
        freeze_lower_layers(_tiny(tiny_encoder_dir), 2)
    assert freeze_lower_layers(_tiny(tiny_encoder_dir), 0) == 0


def test_the_recipe_saves_a_model_whose_frozen_part_is_the_encoders(tiny_encoder_dir: str, data_dir: Path,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    done = run_recipe(tiny_args(tiny_encoder_dir, data_dir, out, "model.freeze_layers=1", "training.epochs=1"),
                      tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ce: embeddings and 1 lowest layers frozen" in done.stderr
    encoder = load_file(Path(tiny_encoder_dir) / "model.safetensors")
    trained = load_file(out / "runs" / "ce-seed1" / "model" / "model.safetensors")
    for name, weight in encoder.items():
        key = name if name.startswith("bert.") else f"bert.{name}"
        if ".embeddings." in key or ".layer.0." in key:
            assert torch.equal(trained[key], weight), key
        elif ".layer.1." in key and key.endswith("dense.weight"):
            assert not torch.equal(trained[key], weight), key


def test_the_recipe_refuses_to_freeze_every_layer_with_one_line(tiny_encoder_dir: str, data_dir: Path,
                                                                tmp_path: Path) -> None:
    done = run_recipe(tiny_args(tiny_encoder_dir, data_dir, tmp_path / "sweep", "model.freeze_layers=2"), tmp_path)
    assert done.returncode == 2 and "model.freeze_layers=2: the encoder has 2 layers" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "sweep" / "runs").exists()  # before any run


def test_the_default_sweep_freezes_the_embeddings_and_2_of_minilms_6_layers(minilm_path: str) -> None:
    from transformers import AutoModelForTokenClassification

    from tagger.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "recipes" / "configs" / "default.yaml")
    assert cfg.model.freeze_layers == 2 and cfg.sweep.workers == 2
    model = AutoModelForTokenClassification.from_pretrained(minilm_path, num_labels=13)
    bert = model.bert
    frozen = freeze_lower_layers(model, cfg.model.freeze_layers)
    assert frozen == sum(p.numel() for m in (bert.embeddings, *bert.encoder.layer[:2]) for p in m.parameters())
    trained = {n.split(".")[3] for n, p in model.named_parameters() if p.requires_grad and ".layer." in n}
    assert trained == {"2", "3", "4", "5"}
    assert all(p.requires_grad for p in model.classifier.parameters())
