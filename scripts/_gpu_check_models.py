"""The encoder ``scripts/gpu_check.sh CONFIG`` measures: the config's own where it loads offline, else its
architecture at the base model's size with random weights (a lent GPU reaches no Hub).

Throughput, utilisation and memory depend on the architecture and the tensor shapes, not on the weights:
each family's config class at its base checkpoint's dimensions and vocabulary (the embedding matrix
and its optimizer state are the real size) gives the numbers the pretrained model would.
"""

from __future__ import annotations

from typing import Any

#: name fragment -> (config class, base dimensions); the first fragment the name holds wins
BASE_SIZES: list[tuple[str, str, dict[str, Any]]] = [
    ("deberta", "DebertaV2Config", {"vocab_size": 128100, "hidden_size": 768, "num_hidden_layers": 12,
                                    "num_attention_heads": 12, "intermediate_size": 3072,
                                    "max_position_embeddings": 512, "relative_attention": True,
                                    "position_buckets": 256, "norm_rel_ebd": "layer_norm", "share_att_key": True,
                                    "pos_att_type": ["p2c", "c2p"], "position_biased_input": False,
                                    "max_relative_positions": -1, "type_vocab_size": 0}),
    ("xlm-roberta", "XLMRobertaConfig", {"vocab_size": 250002, "hidden_size": 768, "num_hidden_layers": 12,
                                         "num_attention_heads": 12, "intermediate_size": 3072,
                                         "max_position_embeddings": 514, "type_vocab_size": 1}),
    ("roberta", "RobertaConfig", {"vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12,
                                  "num_attention_heads": 12, "intermediate_size": 3072,
                                  "max_position_embeddings": 514, "type_vocab_size": 1}),
    ("modernbert", "ModernBertConfig", {"vocab_size": 50368, "hidden_size": 768, "num_hidden_layers": 22,
                                        "num_attention_heads": 12, "intermediate_size": 1152,
                                        "max_position_embeddings": 8192}),
    ("electra", "ElectraConfig", {"vocab_size": 30522, "embedding_size": 768, "hidden_size": 768,
                                  "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}),
    ("distilbert", "DistilBertConfig", {"vocab_size": 30522, "dim": 768, "n_layers": 6, "n_heads": 12,
                                        "hidden_dim": 3072}),
    ("bert", "BertConfig", {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
                            "num_attention_heads": 12, "intermediate_size": 3072}),
]
#: the dry run's sizes (CPU): the same architectures, 2 layers of 64
_SMALL = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
          "dim": 64, "n_layers": 2, "n_heads": 2, "hidden_dim": 128, "embedding_size": 64}


def config_encoder(name_or_path: str, tokenizer: Any, out: str, *, small: bool = False) -> tuple[str, str]:
    """(encoder to load, label for the table): ``name_or_path`` where it loads without the network, else a
    random model of its family saved to ``out`` with ``tokenizer``. SystemExit naming the families otherwise."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModel

    try:
        AutoConfig.from_pretrained(name_or_path, local_files_only=True)
        return name_or_path, name_or_path
    except (OSError, ValueError):
        pass
    lowered = name_or_path.lower()
    match = next(((cls, dims) for key, cls, dims in BASE_SIZES if key in lowered), None)
    if match is None:
        raise SystemExit(f"gpu_check: {name_or_path} is not here and its family is none of "
                         f"{', '.join(key for key, _, _ in BASE_SIZES)}: nothing to build it from")
    cls, dims = match
    sizes = {**dims, **{k: v for k, v in _SMALL.items() if k in dims}} if small else dims
    config = getattr(transformers, cls)(**sizes, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out, f"{name_or_path} (random init)"
