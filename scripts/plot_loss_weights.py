#!/usr/bin/env python
"""Plot each loss's modulating weight and per-token value against p_t, for 2 and 13 classes.

    python scripts/plot_loss_weights.py            # writes docs/loss_weights.png

Logits that realise a given p_t: the target logit a and every other logit 0, a = log(p_t (C - 1) / (1 - p_t)).
Every weight that depends on p_t alone is then exact; ``neg_softmax`` also depends on how the other
logits are spread, so for 13 classes it is drawn a second time (dashed) with the others spread
evenly over [-3, 3] (the target logit 0, the others b + d_j, b solved for p_t). The middle row (the
weights as k grows) uses that spread construction for 13 classes: with equal others "the argmax is
wrong" and "the target has the lowest logit" are the same event, with spread others they are not.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from tagger.losses import build_loss  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def equal_others(p: torch.Tensor, num_labels: int) -> torch.Tensor:
    """p: [P] -> logits [P, C] with target class 0 at p_t = p and every other logit 0."""
    x = torch.zeros(len(p), num_labels, dtype=torch.float64)
    x[:, 0] = torch.log(p * (num_labels - 1) / (1 - p))
    return x


def spread_others(p: torch.Tensor, num_labels: int, width: float = 3.0) -> torch.Tensor:
    """p: [P] -> logits [P, C]: target 0, others b + d_j with d_j evenly over [-width, width]."""
    d = torch.linspace(-width, width, num_labels - 1, dtype=torch.float64)
    b = torch.log((1 - p) / (p * torch.exp(d).sum()))
    x = torch.zeros(len(p), num_labels, dtype=torch.float64)
    x[:, 1:] = b.unsqueeze(1) + d
    return x


def curves(num_labels: int, p: torch.Tensor, p_k: torch.Tensor) -> tuple[dict, dict, dict]:
    """Weights [P], weights as k grows [P_k] (on the grid p_k), and per-token losses [P]."""
    x = equal_others(p, num_labels)
    t = torch.zeros(len(p), dtype=torch.long)

    def w(name: str, **params) -> torch.Tensor:
        return build_loss(name, num_labels, **params).weight(x, t)

    weights = {
        "hard_truncation (threshold 0.5)": w("hard_truncation"),
        "soft neg_softmax, k=1": w("soft_truncation", form="neg_softmax"),
        "soft one_minus_softmax, k=1 = focal gamma=1": w("soft_truncation", form="one_minus_softmax"),
        "focal gamma=2": w("focal", gamma=2.0),
        "focal gamma=0.5": w("focal", gamma=0.5),
    }
    if num_labels > 2:
        weights["soft neg_softmax, k=1, others spread"] = build_loss(
            "soft_truncation", num_labels, form="neg_softmax").weight(spread_others(p, num_labels), t)
    # With equal others "argmax wrong" and "target lowest" are the same event (a < 0), so the
    # limits in k are shown on spread others, where they differ.
    xk = equal_others(p_k, num_labels) if num_labels == 2 else spread_others(p_k, num_labels)
    tk = torch.zeros(len(p_k), dtype=torch.long)
    by_k = {}
    for k in (1.0, 2.0, 10.0, 50.0):
        for form in ("neg_softmax", "one_minus_softmax"):
            by_k[f"{form} k={k:g}"] = build_loss("soft_truncation", num_labels, form=form, k=k).weight(xk, tk)

    def loss(name: str, **params) -> torch.Tensor:
        return build_loss(name, num_labels, reduction="none", **params)(x, t)

    values = {
        "ce": loss("ce"),
        "hard_truncation": loss("hard_truncation"),
        "soft_truncation neg_softmax k=1": loss("soft_truncation", form="neg_softmax"),
        "soft_truncation one_minus k=1": loss("soft_truncation", form="one_minus_softmax"),
        "focal gamma=2": loss("focal", gamma=2.0),
        "label_smoothing eps=0.1": loss("label_smoothing"),
        "poly1 eps=1": loss("poly1"),
        "dice alpha=1 s=1": loss("dice"),
        "sigmoid_focal gamma=2": loss("sigmoid_focal"),
        "sigmoid_soft_truncation k=1": loss("sigmoid_soft_truncation"),
    }
    return weights, by_k, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "loss_weights.png")
    args = parser.parse_args()
    p = torch.linspace(0.002, 0.998, 499, dtype=torch.float64)
    fig, axes = plt.subplots(3, 2, figsize=(13, 14))
    k_styles = {"1": "-", "2": "--", "10": "-.", "50": ":"}
    for col, num_labels in enumerate((2, 13)):
        # 13 classes: the target-lowest step sits near p_t = 1e-3, so that panel has a logit axis
        p_k = p if num_labels == 2 else torch.linspace(-11, 6, 801, dtype=torch.float64).sigmoid()
        weights, by_k, values = curves(num_labels, p, p_k)
        ax = axes[0, col]
        for name, w in weights.items():
            ax.plot(p, w, label=name, ls="--" if "spread" in name else "-", lw=1.8)
        ax.set_title(f"{num_labels} classes: modulating weight")
        ax.set_ylabel("weight w")
        ax = axes[1, col]
        for name, w in by_k.items():
            k = name.split("k=")[1]
            ax.plot(p_k, w, label=name, ls=k_styles[k], color="tab:red" if name.startswith("neg") else "tab:blue")
        if num_labels == 2:
            ax.axvline(0.5, color="grey", lw=0.8)
            ax.set_title("2 classes: both forms (identical here) tend to the hard step 1[p_t <= 0.5]")
        else:
            # others b + d_j, d_j over [-3, 3], target 0: argmax wrong iff b > -3, target lowest iff b > 3
            s_sum = float(torch.exp(torch.linspace(-3, 3, num_labels - 1, dtype=torch.float64)).sum())
            p_argmax = 1 / (1 + math.exp(-3) * s_sum)
            p_lowest = 1 / (1 + math.exp(3) * s_sum)
            ax.axvline(p_argmax, color="tab:blue", lw=0.8)
            ax.axvline(p_lowest, color="tab:red", lw=0.8)
            ax.set_xscale("logit")
            ax.set_title("13 classes, others spread over [-3, 3]: one_minus -> 1[argmax wrong] (blue line),\n"
                         "neg_softmax -> 1[target has the lowest logit] (red line)", fontsize=10)
        ax.set_ylabel("weight w")
        ax = axes[2, col]
        for name, v in values.items():
            ax.plot(p, v, label=name, lw=1.6)
        ax.set_ylim(0, 6 if num_labels == 2 else 8)
        ax.set_title(f"{num_labels} classes: per-token loss" + (
            " (sigmoid losses include the other classes' terms at logit 0)" if num_labels > 2 else ""),
            fontsize=10)
        ax.set_ylabel("loss")
        for ax in axes[:, col]:
            ax.set_xlabel("p_t")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="upper right")
    fig.suptitle("Loss weights and values against p_t. Logits: target a, all others 0 "
                 "(dashed neg_softmax, 13 classes: others spread over [-3, 3])", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
