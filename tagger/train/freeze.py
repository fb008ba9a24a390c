"""Frozen lower layers: the embeddings and the lowest encoder layers keep their pretrained weights.

Why: backpropagation stops at the lowest trained layer, so a frozen layer costs a forward pass only
(about a third of what a trained one costs), and its weights need no gradient or optimizer state.
``scripts/bench_train.py --freeze-check`` times a step both ways (docs/performance.md); what it costs
in F1 is a measurement per data set (docs/levers.md#frozen-lower-layers).
"""

from __future__ import annotations

from torch import nn


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The encoder's stack of layers: the ModuleList under the base model as long as ``num_hidden_layers``
    (``encoder.layer`` of BERT, RoBERTa and DeBERTa, ``layers`` of ModernBERT, ``transformer.layer`` of
    DistilBERT). ValueError when there is none, or more than one."""
    base = getattr(model, "base_model", model)
    count = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    stacks = [(name, m) for name, m in base.named_modules() if isinstance(m, nn.ModuleList) and len(m) == count]
    if len(stacks) != 1:
        found = ", ".join(name for name, _ in stacks) or "none"
        raise ValueError(f"cannot tell the encoder's layers of {type(model).__name__} ({count} expected; "
                         f"ModuleLists of that length: {found})")
    return stacks[0][1]


def embedding_modules(model: nn.Module) -> list[nn.Module]:
    """The encoder's embeddings: its ``embeddings`` module where it has one, else the input embeddings."""
    base = getattr(model, "base_model", model)
    module = getattr(base, "embeddings", None)
    return [module] if isinstance(module, nn.Module) else [model.get_input_embeddings()]


def check_freeze_layers(layers: int, num_hidden_layers: int | None) -> None:
    """ValueError unless ``layers`` leaves at least the top layer of an encoder of ``num_hidden_layers``
    to train (None: the config does not say, and the model is checked when it is built)."""
    if layers > 0 and num_hidden_layers is not None and layers >= num_hidden_layers:
        raise ValueError(f"model.freeze_layers={layers}: the encoder has {num_hidden_layers} layers, and at least "
                         f"the top one must train (at most {num_hidden_layers - 1})")


def freeze_lower_layers(model: nn.Module, layers: int) -> int:
    """Turn off the gradients of the embeddings and the ``layers`` lowest encoder layers; the number of
    parameters frozen (0 when ``layers`` is 0: the embeddings are trained with everything else).

    ValueError when ``layers`` is not below the encoder's number of layers (the top one must train).
    """
    if layers <= 0:
        return 0
    stack = encoder_layers(model)
    check_freeze_layers(layers, len(stack))
    frozen = 0
    for module in [*embedding_modules(model), *stack[:layers]]:
        for param in module.parameters():
            if param.requires_grad:
                param.requires_grad_(False)
                frozen += param.numel()
    return frozen
