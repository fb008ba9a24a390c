"""AdamW with the usual exclusions from weight decay, and a linear warm-up/decay schedule."""

from __future__ import annotations

import torch
from torch import nn
from transformers import get_linear_schedule_with_warmup


def decay_parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights of linear/embedding layers decay; biases and LayerNorm parameters do not.

    Decaying a LayerNorm gain pulls it towards 0 rather than towards its neutral value 1, and a bias
    has no scale to regularise, so both are left out (as in BERT's original optimiser).
    """
    no_decay: set[str] = set()
    for module_name, module in model.named_modules():
        for param_name, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{param_name}" if module_name else param_name
            if isinstance(module, nn.LayerNorm) or "LayerNorm" in type(module).__name__ or param_name == "bias":
                no_decay.add(full)
    decay, plain = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (plain if name in no_decay else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    # The fused kernel does the whole update in one pass per tensor: on MiniLM's 22.7M parameters a
    # CPU step took 32 ms fused against 169 ms with foreach (scripts/bench_train.py investigation).
    return torch.optim.AdamW(decay_parameter_groups(model, weight_decay), lr=learning_rate, fused=True)


def build_scheduler(
    optimizer: torch.optim.Optimizer, num_training_steps: int, warmup_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = int(round(num_training_steps * warmup_ratio))
    return get_linear_schedule_with_warmup(optimizer, warmup, max(1, num_training_steps))
