"""A 2-process step weighs tokens as one process does on the union of the two batches."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from tagger.losses import build_loss
from tagger.train.distributed import labelled_tokens, rank_loss_scale

LOSSES = [{"name": "ce"}, {"name": "focal", "gamma": 2.0}, {"name": "soft_truncation", "k": 1.0, "form": "one_minus_softmax"}]
NUM_LABELS = 5


def _model() -> torch.nn.Module:
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=NUM_LABELS,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForTokenClassification(config).double()


def _batches() -> list[dict[str, torch.Tensor]]:
    """Two batches of the same padded length with very different numbers of labelled tokens."""
    g = torch.Generator().manual_seed(1)
    out = []
    for rows, labelled in ((2, 3), (3, 11)):
        ids = torch.randint(1, 50, (rows, 12), generator=g)
        labels = torch.full((rows, 12), -100)
        mask = torch.ones(rows, 12, dtype=torch.long)
        mask[:, 10:] = 0  # padding
        for r in range(rows):
            pos = torch.randperm(10, generator=g)[: min(10, labelled)]
            labels[r, pos] = torch.randint(0, NUM_LABELS, (len(pos),), generator=g)
        out.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return out


def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _worker(rank: int, port: int, spec: dict, scaled: bool, out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    model = DDP(_model())
    loss_fn = build_loss(num_labels=NUM_LABELS, **spec)
    batch = _batches()[rank]
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    loss = loss_fn(logits, batch["labels"])
    scale = rank_loss_scale(labelled_tokens(batch["labels"])) if scaled else None
    (loss * scale if scale is not None else loss).backward()
    if rank == 0:
        torch.save(_grads(model.module), out)
    # both ranks done before either tears gloo down: a rank that left early aborted the other (SIGABRT)
    dist.barrier()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_process_grads(spec: dict, scaled: bool, tmp_path: Path) -> dict[str, torch.Tensor]:
    out = str(tmp_path / f"grads-{spec['name']}-{scaled}.pt")
    mp.spawn(_worker, args=(_free_port(), spec, scaled, out), nprocs=2, join=True)
    return torch.load(out)


def _union_grads(spec: dict) -> dict[str, torch.Tensor]:
    model = _model()
    loss_fn = build_loss(num_labels=NUM_LABELS, **spec)
    a, b = _batches()
    union = {k: torch.cat([a[k], b[k]]) for k in a}
    logits = model(input_ids=union["input_ids"], attention_mask=union["attention_mask"]).logits
    loss_fn(logits, union["labels"]).backward()
    return _grads(model)


def test_one_process_needs_no_scale() -> None:
    assert rank_loss_scale(torch.tensor(7.0, dtype=torch.float64)) is None


@pytest.mark.slow  # two processes
@pytest.mark.parametrize("spec", LOSSES, ids=lambda s: s["name"])
def test_two_process_gradient_equals_the_union_gradient(spec: dict, tmp_path: Path) -> None:
    spec = dict(spec)
    name = spec.pop("name")
    spec = {"name": name, **spec}
    reference = _union_grads(spec)
    two = _two_process_grads(spec, scaled=True, tmp_path=tmp_path)
    assert reference.keys() == two.keys()
    for key in reference:
        torch.testing.assert_close(two[key], reference[key], rtol=1e-9, atol=1e-12, msg=key)


@pytest.mark.slow  # two processes
def test_without_the_scale_the_ranks_would_weigh_alike(tmp_path: Path) -> None:
    """The reference is sensitive: plain per-rank means (what DDP does alone) give another gradient."""
    spec = {"name": "ce"}
    reference = _union_grads(spec)
    plain = _two_process_grads(spec, scaled=False, tmp_path=tmp_path)
    key = "classifier.weight"
    assert (plain[key] - reference[key]).abs().max() > 1e-4
