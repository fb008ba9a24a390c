"""Choosing the training precision: ``training.mixed_precision: auto``.

bf16 autocast pays only where the hardware multiplies bf16 natively. On a CPU with AVX512-BF16
(AMD Zen 4, Intel Cooper Lake) or AMX (Intel Sapphire Rapids and later), oneDNN's bf16 matmul runs
faster than fp32. Without those instructions PyTorch emulates bf16 and autocast is much slower than
fp32, so ``auto`` keeps fp32 there (``scripts/bench_train.py --precision-check`` times a training step
both ways; docs/performance.md renders its last run). On CUDA, ``auto`` takes bf16 where
``torch.cuda.is_bf16_supported()`` says so (Ampere and later), else fp32; fp16 is never chosen
automatically because it needs loss scaling. The master weights, the optimizer state and the loss
stay in fp32 either way (Accelerate's autocast; the model's outputs are returned as fp32).
"""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "no", "bf16", "fp16")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX tiles).

    Reads PyTorch's CPU feature probes (``torch.cpu._is_avx512_bf16_supported`` and
    ``_is_amx_tile_supported``, private but present since 2.3); a build without them counts as no.
    """
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for name in probes:
        probe = getattr(torch.cpu, name, None)
        try:
            if probe is not None and probe():
                return True
        except Exception:  # noqa: BLE001 - a failing probe means "unknown", and unknown means fp32
            logger.debug("torch.cpu.%s failed", name, exc_info=True)
    return False


def resolve_mixed_precision(requested: str | None, device_type: str,
                            launcher: str | None = None) -> tuple[str | None, str]:
    """The value to give ``Accelerator(mixed_precision=...)`` and why.

    Args:
        requested: ``training.mixed_precision``: "auto", "no", "bf16", "fp16", or None (leave it to
            the Accelerate config / ``accelerate launch --mixed_precision``).
        device_type: "cpu" or "cuda" (anything else: ``auto`` keeps fp32).
        launcher: what ``accelerate launch`` / ``accelerate config`` asked for
            (``ACCELERATE_MIXED_PRECISION``). Under ``auto`` a reduced precision asked for there wins;
            its "no" does not, because ``accelerate launch`` sets "no" when nobody asked for anything.

    Returns:
        (value, reason): value is None only when ``requested`` is None.
    """
    if requested is None:
        return None, "from the Accelerate config / launch flag"
    if requested not in PRECISIONS:
        raise ValueError(f"mixed_precision {requested!r}: not one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested, "set in the config"
    if launcher and launcher.lower() not in ("no", ""):
        return launcher.lower(), "auto: asked for by accelerate launch / accelerate config"
    if device_type == "cuda":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return "bf16", "auto: this GPU computes bf16 natively"
        return "no", "auto: this GPU has no native bf16"
    if device_type == "cpu":
        if cpu_has_native_bf16():
            return "bf16", "auto: this CPU has AVX512-BF16/AMX (native bf16 matmuls)"
        return "no", "auto: this CPU has no AVX512-BF16/AMX (bf16 would be emulated, slower than fp32)"
    return "no", f"auto: fp32 on {device_type}"
