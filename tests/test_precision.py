"""training.mixed_precision: 'auto' picks bf16 only where the hardware multiplies bf16 natively."""

from __future__ import annotations

import pytest
import torch

from tagger.config import load_config
from tagger.errors import ConfigError
from tagger.train import precision
from tagger.train.precision import cpu_has_native_bf16, resolve_mixed_precision


def _probes(monkeypatch: pytest.MonkeyPatch, **values: object) -> None:
    """Replace PyTorch's CPU feature probes: a bool is returned, an exception raised, None removes the probe."""
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        value = values.get(name, False)
        if value is None:
            monkeypatch.delattr(torch.cpu, name, raising=False)
        elif isinstance(value, Exception):
            def boom(err: Exception = value) -> bool:
                raise err
            monkeypatch.setattr(torch.cpu, name, boom, raising=False)
        else:
            monkeypatch.setattr(torch.cpu, name, lambda v=value: v, raising=False)


@pytest.mark.parametrize("avx512_bf16, amx, expected", [
    (False, False, "no"), (True, False, "bf16"), (False, True, "bf16"), (True, True, "bf16"),
])
def test_auto_on_cpu_follows_the_bf16_instructions(monkeypatch, avx512_bf16, amx, expected):
    _probes(monkeypatch, _is_avx512_bf16_supported=avx512_bf16, _is_amx_tile_supported=amx)
    value, why = resolve_mixed_precision("auto", "cpu")
    assert value == expected and why.startswith("auto:")
    assert ("AVX512-BF16/AMX" in why) and (("no AVX512" in why) == (expected == "no"))


def test_an_unknown_cpu_counts_as_without_bf16(monkeypatch):
    # a build without the probes, or a probe that fails, must not switch a slow CPU to emulated bf16
    _probes(monkeypatch, _is_avx512_bf16_supported=None, _is_amx_tile_supported=None)
    assert not cpu_has_native_bf16() and resolve_mixed_precision("auto", "cpu")[0] == "no"
    _probes(monkeypatch, _is_avx512_bf16_supported=RuntimeError("no cpuinfo"), _is_amx_tile_supported=False)
    assert not cpu_has_native_bf16()
    _probes(monkeypatch, _is_avx512_bf16_supported=RuntimeError("no cpuinfo"), _is_amx_tile_supported=True)
    assert cpu_has_native_bf16()


@pytest.mark.parametrize("available, bf16, expected", [(True, True, "bf16"), (True, False, "no"), (False, False, "no")])
def test_auto_on_cuda(monkeypatch, available, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert resolve_mixed_precision("auto", "cuda")[0] == expected


def test_explicit_values_pass_through(monkeypatch):
    _probes(monkeypatch, _is_avx512_bf16_supported=True)
    for value in ("no", "bf16", "fp16"):
        assert resolve_mixed_precision(value, "cpu") == (value, "set in the config")
    assert resolve_mixed_precision(None, "cpu")[0] is None  # Accelerate's config / launch flag decides
    assert resolve_mixed_precision("auto", "mps")[0] == "no"
    # `accelerate launch --mixed_precision fp16` wins over auto; its default "no" does not
    assert resolve_mixed_precision("auto", "cuda", launcher="fp16")[0] == "fp16"
    assert resolve_mixed_precision("auto", "cpu", launcher="no")[0] == "bf16"
    assert resolve_mixed_precision("no", "cpu", launcher="bf16")[0] == "no"  # the config's explicit value wins
    with pytest.raises(ValueError, match="auto, no, bf16, fp16"):
        resolve_mixed_precision("fp8", "cpu")


def test_config_default_is_auto_and_bad_values_list_the_choices():
    assert load_config(None, []).training.mixed_precision == "auto"
    assert load_config(None, ["training.mixed_precision=null"]).training.mixed_precision is None
    with pytest.raises(ConfigError, match="auto, no, bf16, fp16"):
        load_config(None, ["training.mixed_precision=fp8"])


def test_this_machine_probe_agrees_with_cpuinfo():
    """The probe reads the CPU flags Linux reports (where /proc/cpuinfo exists): never bf16 on a CPU
    without either flag (the costly mistake: emulated bf16 is slower than fp32), always with AVX512-BF16.
    (AMX also needs the kernel's permission, so its flag alone is not asserted.)"""
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    if not flags & {"avx512_bf16", "amx_tile"}:
        assert not precision.cpu_has_native_bf16()
    if "avx512_bf16" in flags:
        assert precision.cpu_has_native_bf16()


def test_bf16_autocast_step_tracks_fp32(tiny_encoder_dir):
    """A forward under CPU bf16 autocast (what mixed_precision=bf16 runs) stays within bf16 rounding of fp32."""
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(tiny_encoder_dir, num_labels=5).eval()
    ids = torch.randint(1000, 2000, (3, 12))
    with torch.no_grad():
        ref = model(input_ids=ids).logits
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(input_ids=ids).logits
    assert low.dtype == torch.bfloat16
    scale = ref.abs().max().item()
    assert (low.float() - ref).abs().max().item() <= 0.05 * scale + 1e-3
