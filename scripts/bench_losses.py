#!/usr/bin/env python
"""Time forward + backward of every registered loss against ``F.cross_entropy``, side by side.

    python scripts/bench_losses.py            # 32,768 tokens x 13 classes, float32, CPU (~1-2 minutes)
    python scripts/bench_losses.py --no-model # skip the training-step share
    python scripts/bench_losses.py --json results/bench-losses.json   # also write every figure (docs/performance.md)

Losses are timed interleaved (round-robin over the losses) so that load from other processes hits
all of them alike; the table gives the best and the median round. The second part times one training step of the default
model (the packaged MiniLM encoder, AdamW) and reports the share of it the loss takes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _bench_common, a sibling

if TYPE_CHECKING:
    import torch

TARGET = 2.5
REFERENCE = "F.cross_entropy"  # the row every ratio divides by
SPECS: list[tuple[str, dict]] = [
    ("ce", {}),
    ("ce", {"class_weights": "inverse_frequency"}),
    ("hard_truncation", {}),
    ("soft_truncation", {"form": "neg_softmax"}),
    ("soft_truncation", {"form": "one_minus_softmax"}),
    ("soft_truncation", {"form": "one_minus_softmax", "k": 2.0}),
    ("focal", {"gamma": 2.0}),
    ("focal", {"gamma": 0.5, "alpha": 0.25}),
    ("label_smoothing", {}),
    ("poly1", {}),
    ("dice", {}),
    ("sigmoid_focal", {"gamma": 2.0, "alpha": 0.25}),
    ("sigmoid_soft_truncation", {}),
]


def fwd_bwd(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
            y: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        x.grad = None
        fn(x, y).backward()

    return step


def interleaved_ms(steps: dict[str, Callable[[], None]], rounds: int, inner: int) -> dict[str, tuple[float, float]]:
    """(best, median) over rounds of the mean ms per call; each round runs every step once, in turn.

    The best round is the ratio that matters on a shared machine (as ``timeit`` recommends: slower
    rounds measure the other processes); the median is printed alongside.
    """
    for step in steps.values():  # warm-up
        for _ in range(3):
            step()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for key, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                step()
            times[key].append((time.perf_counter() - t0) * 1000 / inner)
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


def bench_losses(tokens: int, classes: int, rounds: int, inner: int) -> dict[str, tuple[float, float]]:
    """(best, median) ms of forward + backward per loss, ``F.cross_entropy`` first, on random logits
    [tokens, classes] with mostly-O labels."""
    import torch
    import torch.nn.functional as F

    from tagger.losses import LOSSES, build_loss, loss_label

    torch.manual_seed(0)
    x = (3 * torch.randn(tokens, classes)).requires_grad_()
    # realistic NER labels: mostly O, some padding/continuation subwords ignored
    y = torch.where(torch.rand(tokens) < 0.8, 0, torch.randint(1, classes, (tokens,)))
    y[torch.rand(tokens) < 0.1] = -100
    counts = torch.bincount(y[y >= 0], minlength=classes).tolist()
    steps: dict[str, Callable[[], None]] = {REFERENCE: fwd_bwd(F.cross_entropy, x, y)}
    for name, params in SPECS:
        steps[loss_label({"name": name, **params})] = fwd_bwd(build_loss(name, classes, 0, counts, **params), x, y)
    missing = set(LOSSES) - {n for n, _ in SPECS}
    assert not missing, f"not benchmarked: {missing}"
    return interleaved_ms(steps, rounds, inner)


def bench_step_share(batch: int, length: int, classes: int, rounds: int) -> dict[str, Any]:
    """One training step of the default model and, beside it, each loss's forward + backward on logits of
    that step's shape: ``{batch, length, rounds, step_ms, losses: [{loss, ms, share}]}``."""
    import torch
    from transformers import AutoModelForTokenClassification
    from transformers.utils import logging as hf_logging

    from tagger.catalog import PACKAGED_ENCODER
    from tagger.losses import build_loss, loss_label
    from tagger.train.features import resolve_encoder

    hf_logging.set_verbosity_error()
    path = resolve_encoder(PACKAGED_ENCODER)[0]
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(str(path), num_labels=classes)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(1000, 20000, (batch, length))
    mask = torch.ones_like(ids)
    y = torch.where(torch.rand(batch, length) < 0.8, 0, torch.randint(1, classes, (batch, length)))
    y[:, 0] = -100
    default = build_loss("ce", classes)

    def train_step() -> None:
        logits = model(input_ids=ids, attention_mask=mask).logits
        default(logits, y).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step_ms = interleaved_ms({"step": train_step}, rounds, 1)["step"][0]
    logits = torch.randn(batch, length, classes).requires_grad_()
    counts = torch.bincount(y[y >= 0], minlength=classes).tolist()
    steps = {loss_label({"name": n, **p}): fwd_bwd(build_loss(n, classes, 0, counts, **p), logits, y)
             for n, p in SPECS}
    loss_ms = interleaved_ms(steps, 15, 20)
    return {"batch": batch, "length": length, "rounds": rounds, "step_ms": step_ms,
            "losses": [{"loss": key, "ms": ms, "share": ms / step_ms} for key, (ms, _) in loss_ms.items()]}


def record(args: argparse.Namespace, ms: dict[str, tuple[float, float]],
           share: dict[str, Any] | None) -> dict[str, Any]:
    """Every figure of the run and its settings, as ``--json`` writes them and :func:`report_text` reads them."""
    import torch
    from _bench_common import machine

    base, base_median = ms[REFERENCE]
    rows = [{"loss": key, "best_ms": best, "median_ms": median, "ratio_best": best / base,
             "ratio_median": median / base_median, "pass": None if key == REFERENCE else best / base <= TARGET}
            for key, (best, median) in ms.items()]
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads(), "device": "CPU",
            "dtype": "float32", "tokens": args.tokens, "classes": args.classes, "rounds": args.rounds,
            "inner": args.inner, "target": TARGET, "machine": machine(), "losses": rows,
            "failed": sum(r["pass"] is False for r in rows), "step_share": share}


def report_text(rec: dict[str, Any]) -> str:
    """The tables as the script prints them, from its figures alone (``--json``'s record); docs render the
    committed JSON through this function (scripts/figures.py)."""
    found = rec.get("machine") or {}
    where = "".join(f", {x}" for x in (found.get("cpu_model"), found.get("cpu_capability")) if x)
    lines = [f"torch {rec['torch']}, {rec['torch_threads']} threads, {rec['device']}{where}, {rec['dtype']}, "
             f"{rec['tokens']} tokens x {rec['classes']} classes, forward + backward, {rec['rounds']} rounds",
             f"{'loss':<52} {'best ms':>8} {'x CE':>6} {'median ms':>10} {'x CE':>6}  target <= {rec['target']}x (best)"]
    for r in rec["losses"]:
        verdict = "" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        lines.append(f"{r['loss']:<52} {r['best_ms']:>8.3f} {r['ratio_best']:>6.2f} {r['median_ms']:>10.3f} "
                     f"{r['ratio_median']:>6.2f}  {verdict}")
    lines.append("all within target" if not rec["failed"] else f"{rec['failed']} over target")
    share = rec.get("step_share")
    if share:
        lines += ["", f"One training step of the default model (MiniLM-L6, {share['batch']} sentences x "
                  f"{share['length']} subwords, forward + backward + AdamW): {share['step_ms']:.1f} ms",
                  f"{'loss':<52} {'loss fwd+bwd ms':>15} {'share of step':>14}"]
        lines += [f"{r['loss']:<52} {r['ms']:>15.3f} {100 * r['share']:>13.2f}%" for r in share["losses"]]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=32768)
    parser.add_argument("--classes", type=int, default=13)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--inner", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-model", action="store_true", help="skip the training-step share")
    parser.add_argument("--json", metavar="FILE", help="write every figure and the settings to this JSON file")
    args = parser.parse_args(argv)
    from _bench_common import use_this_checkout

    use_this_checkout()  # this checkout's tagger, as bench_train.py times it
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: timing {len(SPECS) + 1} losses ...", flush=True)
    ms = bench_losses(args.tokens, args.classes, args.rounds, args.inner)
    share = None if args.no_model else bench_step_share(batch=32, length=40, classes=args.classes, rounds=7)
    rec = record(args, ms, share)
    print(report_text(rec), end="")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rec, indent=1) + "\n", encoding="utf-8")
        print(f"figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
