"""The CPU-fast dropout: the right drop rate, the right scale and gradient, SDPA elsewhere, clean saves."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertForTokenClassification

from tagger.train.dropout import (
    ATTENTION_NAME,
    FastDropout,
    attention_with_fast_dropout,
    drop_threshold,
    fast_dropout,
    keep_mask,
    restore_attention,
    use_fast_dropout,
)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_keep_rate_matches_p_within_binomial_noise(p: float) -> None:
    torch.manual_seed(0)
    n = 1_000_003  # not a multiple of 4: the last word is cut
    keep = keep_mask((n,), p)
    assert keep.dtype == torch.bool and keep.shape == (n,)
    effective = drop_threshold(p) / 2**15
    assert abs(effective - p) <= 2**-16
    sigma = math.sqrt(n * effective * (1 - effective))
    assert abs(int((~keep).sum()) - n * effective) < 5 * sigma


def test_lanes_are_independent_of_their_position_in_the_word() -> None:
    # each of the four 16-bit lanes of a 64-bit draw must drop at the same rate (the top lane has
    # one bit fewer; masking to 15 bits is what makes it alike)
    torch.manual_seed(1)
    keep = keep_mask((400_000, 4), 0.5)
    rates = (~keep).double().mean(0)
    assert torch.all((rates - 0.5).abs() < 5 * math.sqrt(0.25 / 400_000)), rates


def test_threshold_rejects_bad_p() -> None:
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="dropout probability"):
            drop_threshold(p)
    assert drop_threshold(0.1) == 3277  # 0.100006 of 2**15


def test_forward_and_backward_against_the_mask_in_float64() -> None:
    p = 0.2
    x = torch.randn(7, 5, 11, requires_grad=True)
    w = torch.randn(7, 5, 11)
    torch.manual_seed(3)
    y = fast_dropout(x, p)
    torch.manual_seed(3)
    keep = keep_mask(x.shape, p).double()
    expected = x.detach().double() * keep / (1 - p)
    torch.testing.assert_close(y.double(), expected, rtol=1e-6, atol=1e-7)
    (y * w).sum().backward()
    torch.testing.assert_close(x.grad.double(), w.double() * keep / (1 - p), rtol=1e-6, atol=1e-7)


def test_identity_in_eval_at_zero_and_repeatable_under_a_seed() -> None:
    x = torch.randn(4, 9)
    assert fast_dropout(x, 0.5, training=False) is x
    assert fast_dropout(x, 0.0) is x
    d = FastDropout(0.3)
    d.eval()
    assert torch.equal(d(x), x)
    d.train()
    torch.manual_seed(5)
    a = d(x)
    torch.manual_seed(5)
    assert torch.equal(a, d(x))
    assert not torch.equal(a, d(x))


def _qkv(b: int = 2, h: int = 3, t: int = 6, dim: int = 4) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return tuple(torch.randn(b, h, t, dim, generator=g) for _ in range(3))


def test_attention_with_dropout_matches_a_float64_reference() -> None:
    q, k, v = _qkv()
    module = nn.Module()
    module.train()
    module.is_causal = False
    pad = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])  # second sentence: 2 padding keys
    mask = pad[:, None, None, :].expand(2, 1, 6, 6)
    p = 0.25
    torch.manual_seed(11)
    out, weights = attention_with_fast_dropout(module, q, k, v, mask, dropout=p, scaling=0.5)
    assert weights is None and out.shape == (2, 6, 3, 4)  # [B, T, H, D]
    torch.manual_seed(11)
    keep = keep_mask((2, 3, 6, 6), p).double()
    scores = (q.double() @ k.double().transpose(2, 3)) * 0.5
    scores = scores.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(scores, -1) * keep / (1 - p)
    expected = (probs @ v.double()).transpose(1, 2)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-6)


def test_attention_is_sdpa_without_dropout() -> None:
    # transformers passes dropout=0.0 in evaluation; that (and any device but the CPU) goes to SDPA
    q, k, v = _qkv()
    module = nn.Module()
    module.is_causal = False
    reference = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=0.5).transpose(1, 2)
    for training in (False, True):
        module.train(training)
        out, _ = attention_with_fast_dropout(module, q, k, v, None, dropout=0.0, scaling=0.5)
        torch.testing.assert_close(out, reference)


def _tiny_bert() -> BertForTokenClassification:
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                     num_labels=3, max_position_embeddings=32)
    return BertForTokenClassification(cfg)


def test_swapped_model_evaluates_identically_and_saves_a_standard_config(tmp_path) -> None:
    plain = _tiny_bert()
    fast = _tiny_bert()
    info = use_fast_dropout(fast)
    # embeddings, 3 per layer (the attention's own one only carries p), the classifier's
    assert info == {"dropout_modules": 8, "attention_before": "sdpa", "attention": ATTENTION_NAME}
    assert all(type(m) is not nn.Dropout for m in fast.modules())
    assert fast.config._attn_implementation == ATTENTION_NAME
    ids = torch.randint(0, 60, (3, 9))
    am = torch.ones_like(ids)
    am[1, 6:] = 0
    plain.eval()
    fast.eval()
    with torch.inference_mode():
        torch.testing.assert_close(fast(input_ids=ids, attention_mask=am).logits,
                                   plain(input_ids=ids, attention_mask=am).logits)
    fast.train()
    torch.manual_seed(2)
    loss = fast(input_ids=ids, attention_mask=am, labels=torch.randint(0, 3, (3, 9))).loss
    loss.backward()
    assert torch.isfinite(loss) and fast.classifier.weight.grad is not None
    restore_attention(fast, info)
    assert fast.config._attn_implementation == "sdpa"
    fast.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert ATTENTION_NAME not in json.dumps(saved)


def test_eager_models_keep_their_attention() -> None:
    model = _tiny_bert()
    model.set_attn_implementation("eager")
    info = use_fast_dropout(model)
    assert info["attention"] is None and model.config._attn_implementation == "eager"
    restore_attention(model, info)
    assert model.config._attn_implementation == "eager"


def test_attention_leaves_what_it_does_not_model_to_sdpa() -> None:
    q, k, v = _qkv()
    module = nn.Module()
    module.train()
    module.is_causal = True  # a decoder: causal masking is SDPA's job
    torch.manual_seed(4)
    out, _ = attention_with_fast_dropout(module, q, k, v, None, dropout=0.2, scaling=0.5)
    torch.manual_seed(4)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=0.2, is_causal=True,
                                                           scale=0.5).transpose(1, 2)
    torch.testing.assert_close(out, ref)
    module.is_causal = False
    bias = torch.zeros(1, 3, 6, 6)
    torch.manual_seed(4)
    out, _ = attention_with_fast_dropout(module, q, k, v, None, dropout=0.2, scaling=0.5, position_bias=bias)
    torch.manual_seed(4)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=0.2,
                                                           scale=0.5).transpose(1, 2)
    torch.testing.assert_close(out, ref)


def test_models_that_refuse_a_custom_attention_keep_sdpa(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _tiny_bert()

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not supported")

    monkeypatch.setattr(model, "set_attn_implementation", refuse)
    info = use_fast_dropout(model)
    assert info["dropout_modules"] == 8 and info["attention"] is None
    assert model.config._attn_implementation == "sdpa"
