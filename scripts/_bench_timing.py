"""The in-process timings of ``scripts/bench_train.py``: one training step per loss against CE, PyTorch's
dropout against tagger's, fp32 against bf16, the linear head against the CRF head, threads, torch.compile,
padding by batching scheme, and the matmul peak the runs' FLOP/s are compared with.

Every A/B runs interleaved on the same real batches, so load from other processes hits both sides alike.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from typing import Any

import _bench_common as common

LOSS_SPECS: list[tuple[str, dict[str, Any]]] = [
    ("ce", {}),
    ("hard_truncation", {}),
    ("soft_truncation", {"form": "neg_softmax"}),
    ("soft_truncation", {"form": "one_minus_softmax"}),
    ("focal", {"gamma": 2.0}),
    ("label_smoothing", {}),
    ("poly1", {}),
    ("dice", {}),
    ("sigmoid_focal", {}),
    ("sigmoid_soft_truncation", {}),
]


def make_batches(tokenizer: Any, sents: list, label2id: dict[str, int], max_length: int, batch_size: int,
                 count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` real training batches of ``batch_size`` sentences grouped by length (as tagger's loop makes them),
    with the collator's ``word_index`` and ``max_words`` and each sentence's ``num_words`` for the CRF head."""
    import torch

    enc = tokenizer([w for w, _ in sents], is_split_into_words=True, truncation=True, max_length=max_length)
    rows = []
    for i, (_, tags) in enumerate(sents):
        prev = None
        labels, word_index = [], []
        for wid in enc.word_ids(i):
            first = wid is not None and wid != prev
            labels.append(label2id[tags[wid]] if first else -100)
            word_index.append(wid if first else -1)
            prev = wid
        rows.append((enc["input_ids"][i], labels, word_index, len(tags)))
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng = random.Random(seed)
    picked = rng.sample(groups, min(count, len(groups)))
    batches = []
    for g in picked:
        longest = max(len(rows[i][0]) for i in g)
        ids = torch.full((len(g), longest), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        lab = torch.full_like(ids, -100)
        word_index = torch.full_like(ids, -1)
        for r, i in enumerate(g):
            n = len(rows[i][0])
            ids[r, :n] = torch.tensor(rows[i][0])
            mask[r, :n] = 1
            lab[r, :n] = torch.tensor(rows[i][1])
            word_index[r, :n] = torch.tensor(rows[i][2])
        batches.append({"input_ids": ids, "attention_mask": mask, "labels": lab, "tokens": int(mask.sum()),
                        "word_index": word_index, "num_words": torch.tensor([rows[i][3] for i in g]),
                        "max_words": int((word_index >= 0).sum(1).max())})
    return batches


def new_model(path: str, num_labels: int, seed: int = 0) -> Any:
    import torch
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(seed)
    return AutoModelForTokenClassification.from_pretrained(path, num_labels=num_labels)


def train_step_fn(model: Any, loss_fn: Any, optimizer: Any, batch: dict[str, Any], bf16: bool = False,
                  crf: Any = None) -> Any:
    """One training step as the recipe takes it; ``bf16``: the forward under CPU bf16 autocast, the loss
    on fp32 logits (what Accelerate's mixed_precision="bf16" does); ``crf``: a CRF head, whose loss is the
    recipe's for ``model.head: crf`` (its NLL per labelled token + 1.0 x ``loss_fn``)."""
    import torch

    from tagger.crf import crf_nll_per_token

    params = [p for m in (model, crf) if m is not None for p in m.parameters() if p.requires_grad]

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = loss_fn(logits.float(), batch["labels"])
        if crf is not None:
            loss = loss + crf_nll_per_token(crf, logits.float(), batch["labels"], batch["word_index"],
                                            batch["num_words"], batch["max_words"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def loss_costs(path: str, batches: list, num_labels: int, counts: list[int], rounds: int,
               specs: list[tuple[str, dict]], bf16: bool = False) -> list[dict[str, Any]]:
    """Step time (forward + loss + backward + clip + AdamW) per loss relative to CE on the same batches.

    Every round runs each loss once, in a random order, on the round's batch (rounds cycle through
    ``batches``). Load from other processes only ever adds time, so the estimate is the minimum over
    the rounds that saw a batch, compared with CE's minimum on that batch; the ratios are averaged
    over batches. The median of the per-round paired ratios is reported beside it.
    """
    from tagger.losses import build_loss, loss_label
    from tagger.train.optim import build_optimizer

    model = new_model(path, num_labels)
    model.train()
    optimizer = build_optimizer(model, 5e-5, 0.0)
    losses = {loss_label({"name": n, **p}): build_loss(n, num_labels=num_labels, o_label_id=0,
                                                       class_counts=counts, **p)
              for n, p in specs}
    for fn in losses.values():  # warm-up
        train_step_fn(model, fn, optimizer, batches[0], bf16)()
    times: dict[str, dict[int, list[float]]] = {k: {} for k in losses}
    rng = random.Random(0)
    for r in range(rounds):
        bi = r % len(batches)
        keys = list(losses)
        rng.shuffle(keys)  # no loss always runs first (or right after a given other one)
        for k in keys:
            step = train_step_fn(model, losses[k], optimizer, batches[bi], bf16)
            t0 = time.perf_counter()
            step()
            times[k].setdefault(bi, []).append(time.perf_counter() - t0)
    base = times["ce"]
    out = []
    for k, per_batch in times.items():
        ratio_min = statistics.mean(min(ts) / min(base[bi]) for bi, ts in per_batch.items())
        paired = [t / c for bi, ts in per_batch.items() for t, c in zip(ts, base[bi])]
        out.append({"loss": k, "step_ms": 1000 * statistics.mean(min(ts) for ts in per_batch.values()),
                    "ratio": ratio_min, "ratio_median_paired": statistics.median(paired)})
    return out


def compile_check(path: str, batches: list, num_labels: int, rounds: int) -> dict[str, Any]:
    """Eager vs ``torch.compile`` (inductor) training step, interleaved on the same batches.

    Batches are padded to a multiple of 16 to bound recompilation; after a first pass (compilation)
    the two models alternate step by step, so load from other processes hits both alike.
    """
    import torch
    import torch.nn.functional as F

    from tagger.train.optim import build_optimizer

    def pad16(b: dict) -> dict:
        extra = (-b["input_ids"].shape[1]) % 16
        return {"input_ids": F.pad(b["input_ids"], (0, extra)), "attention_mask": F.pad(b["attention_mask"], (0, extra)),
                "labels": F.pad(b["labels"], (0, extra), value=-100), "tokens": b["tokens"]}

    bs = [pad16(b) for b in batches]
    ce = torch.nn.CrossEntropyLoss()
    steps, first = {}, {}
    for mode in ("eager", "compiled"):
        model = new_model(path, num_labels)
        model.train()
        opt = build_optimizer(model, 5e-5, 0.0)
        fwd = torch.compile(model) if mode == "compiled" else model
        params = [p for p in model.parameters() if p.requires_grad]

        def step(b: dict, fwd: Any = fwd, opt: Any = opt, params: list = params) -> None:
            logits = fwd(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            ce(logits.flatten(0, 1), b["labels"].flatten()).backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
            opt.step()
            opt.zero_grad(set_to_none=True)

        t0 = time.perf_counter()
        for b in bs:  # first pass: compilation for each shape
            step(b)
        first[mode] = time.perf_counter() - t0
        steps[mode] = step
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for r in range(rounds):
        b = bs[r % len(bs)]
        for mode in (("eager", "compiled") if r % 2 == 0 else ("compiled", "eager")):
            t0 = time.perf_counter()
            steps[mode](b)
            times[mode].append(time.perf_counter() - t0)
    tokens = statistics.mean(b["tokens"] for b in bs)
    res: dict[str, Any] = {m: {"step_ms_min": 1000 * min(t), "step_ms_median": 1000 * statistics.median(t),
                               "tokens_per_second": tokens / min(t), "first_pass_seconds": first[m]}
                           for m, t in times.items()}
    res["speedup"] = min(times["eager"]) / min(times["compiled"])
    res["speedup_median_paired"] = common.median_ratio(times["eager"], times["compiled"])
    res["shapes"] = [list(b["input_ids"].shape) for b in bs]
    return res


def interleaved_ab(setups: dict[str, tuple[Any, ...]], batches: list, num_labels: int, rounds: int) -> dict[str, Any]:
    """Training steps of two set-ups, interleaved on the same batches: ``{name: (model, bf16)}`` or
    ``{name: (model, bf16, crf)}`` (a CRF head, see :func:`train_step_fn`), the baseline first. Each round
    runs both on the round's batch, in alternating order. ``speedup`` compares the sums over batches of
    the minimum step time, ``speedup_median_paired`` the median of the per-round ratios (baseline over
    candidate)."""
    from tagger.crf import crf_param_group
    from tagger.losses import build_loss
    from tagger.train.optim import build_optimizer

    ce = build_loss("ce", num_labels=num_labels)
    base, cand = list(setups)
    steps = {}
    for name, (model, bf16, *head) in setups.items():
        crf = head[0] if head else None
        model.train()
        opt = build_optimizer(model, 5e-5, 0.0)
        if crf is not None:
            opt.add_param_group(crf_param_group(crf, 5e-5))
        steps[name] = (model, opt, bf16, crf)
        train_step_fn(model, ce, opt, batches[0], bf16, crf)()  # warm-up
    times: dict[str, dict[int, list[float]]] = {base: {}, cand: {}}
    for r in range(rounds):
        bi = r % len(batches)
        for name in ((base, cand) if r % 2 == 0 else (cand, base)):
            model, opt, bf16, crf = steps[name]
            step = train_step_fn(model, ce, opt, batches[bi], bf16, crf)
            t0 = time.perf_counter()
            step()
            times[name].setdefault(bi, []).append(time.perf_counter() - t0)
    mins = {m: sum(min(ts) for ts in per.values()) for m, per in times.items()}
    paired = [x / y for bi in times[base] for x, y in zip(times[base][bi], times[cand][bi])]
    return {"step_ms_min": {m: 1000 * v / len(times[m]) for m, v in mins.items()},
            "speedup": mins[base] / mins[cand], "speedup_median_paired": statistics.median(paired),
            "step_ms_min_per_batch": {m: [1000 * min(ts) for ts in per.values()] for m, per in times.items()},
            "rounds": rounds, "shapes": [list(b["input_ids"].shape) for b in batches]}


def dropout_check(path: str, batches: list, num_labels: int, rounds: int, bf16: bool = False) -> dict[str, Any]:
    """PyTorch's dropout ("torch") against tagger's CPU-fast one ("fast", ``training.fast_dropout``), interleaved
    on the same batches (:func:`interleaved_ab`), in (a)'s precision."""
    from tagger.train.dropout import use_fast_dropout

    fast = new_model(path, num_labels)
    swapped = use_fast_dropout(fast)
    res = interleaved_ab({"torch": (new_model(path, num_labels), bf16), "fast": (fast, bf16)}, batches, num_labels,
                         rounds)
    return {**res, "swapped": swapped}


def precision_check(path: str, batches: list, num_labels: int, rounds: int) -> dict[str, Any]:
    """fp32 against bf16 autocast training steps (both with tagger's fast dropout), interleaved on the same
    batches (:func:`interleaved_ab`)."""
    from tagger.train.dropout import use_fast_dropout

    models = {mode: new_model(path, num_labels) for mode in ("fp32", "bf16")}
    for model in models.values():
        use_fast_dropout(model)
    return interleaved_ab({"fp32": (models["fp32"], False), "bf16": (models["bf16"], True)}, batches, num_labels,
                          rounds)


def crf_check(path: str, batches: list, labels: list[str], rounds: int, bf16: bool = False) -> dict[str, Any]:
    """The linear head against the CRF head (``model.head: crf``), both with tagger's fast dropout, interleaved
    on the same batches (:func:`interleaved_ab`) in (a)'s precision; ``speedup`` < 1 is the CRF's cost."""
    from tagger.crf import CRF
    from tagger.train.dropout import use_fast_dropout

    models = {head: new_model(path, len(labels)) for head in ("linear", "crf")}
    for model in models.values():
        use_fast_dropout(model)
    crf = CRF(labels, "IOB2")
    res = interleaved_ab({"linear": (models["linear"], bf16), "crf": (models["crf"], bf16, crf)},
                         batches, len(labels), rounds)
    # the CRF's own part alone, many times: small and short, so its minimum is robust to load
    own = [min(_crf_loss_seconds(crf, b, len(labels)) for _ in range(20)) for b in batches]
    linear = [ms / 1000 for ms in res["step_ms_min_per_batch"]["linear"]]
    return {**res, "step_ratio": 1 / res["speedup"], "step_ratio_median_paired": 1 / res["speedup_median_paired"],
            "crf_loss_ms_min": [1000 * t for t in own], "step_ratio_from_parts": 1 + sum(own) / sum(linear),
            "tokens": [b["tokens"] for b in batches]}


def _crf_loss_seconds(crf: Any, batch: dict[str, Any], num_labels: int) -> float:
    """One forward + backward of the CRF loss on logits of the batch's shape (what the CRF adds to a step)."""
    import torch

    from tagger.crf import crf_nll_per_token

    logits = torch.randn(*batch["input_ids"].shape, num_labels, requires_grad=True)
    t0 = time.perf_counter()
    crf_nll_per_token(crf, logits, batch["labels"], batch["word_index"], batch["num_words"],
                      batch["max_words"]).backward()
    return time.perf_counter() - t0


def threads_check(path: str, batches: list, num_labels: int, rounds: int) -> dict[str, Any]:
    import torch

    from tagger.losses import build_loss
    from tagger.train.optim import build_optimizer

    default = torch.get_num_threads()
    model = new_model(path, num_labels)
    model.train()
    opt = build_optimizer(model, 5e-5, 0.0)
    ce = build_loss("ce", num_labels=num_labels)
    counts = sorted({1, default, max(1, os.cpu_count() or 1)})
    times: dict[int, list[float]] = {n: [] for n in counts}
    for r in range(rounds):
        b = batches[r % len(batches)]
        for n in counts:
            torch.set_num_threads(n)
            step = train_step_fn(model, ce, opt, b)
            t0 = time.perf_counter()
            step()
            times[n].append(time.perf_counter() - t0)
    torch.set_num_threads(default)
    tok = statistics.mean(b["tokens"] for b in batches[: max(1, min(rounds, len(batches)))])
    return {"default_threads": default, "step_ms": {n: 1000 * min(t) for n, t in times.items()},
            "tokens_per_second": {n: tok / min(t) for n, t in times.items()}}


def freeze_check(path: str, batches: list, num_labels: int, rounds: int, layers: int = 2) -> dict[str, Any]:
    """A training step of the whole model against one with the embeddings and ``layers`` lowest layers
    frozen (``model.freeze_layers``; at most all but the top layer), interleaved on the same batches;
    minima and the paired median."""
    from tagger.losses import build_loss
    from tagger.train.freeze import freeze_lower_layers
    from tagger.train.optim import build_optimizer

    ce = build_loss("ce", num_labels=num_labels)
    whole = new_model(path, num_labels)
    layers = min(layers, whole.config.num_hidden_layers - 1)
    models = {0: whole, layers: new_model(path, num_labels)}
    frozen = freeze_lower_layers(models[layers], layers)
    steps = {}
    for n, model in models.items():
        model.train()
        steps[n] = (model, build_optimizer(model, 5e-5, 0.0))
    times: dict[int, list[float]] = {n: [] for n in models}
    for r in range(rounds):
        b = batches[r % len(batches)]
        for n, (model, opt) in steps.items():
            step = train_step_fn(model, ce, opt, b)
            t0 = time.perf_counter()
            step()
            times[n].append(time.perf_counter() - t0)
    paired = statistics.median(f / w for f, w in zip(times[layers], times[0]))
    return {"layers": layers, "frozen_parameters": frozen, "step_ms_min": {n: 1000 * min(t) for n, t in times.items()},
            "step_ratio": min(times[layers]) / min(times[0]), "step_ratio_median_paired": paired, "rounds": rounds}


def batching_padding(tokenizer: Any, sents: list, max_length: int, batch_size: int, seed: int,
                     budget_args: tuple[int, int] | None = None) -> dict[str, float]:
    """Padding share of one epoch's batches under each batching scheme (no training: shapes only)."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from tagger.train.batching import TokenBudgetBatchSampler

    enc = tokenizer([w for w, _ in sents], is_split_into_words=True, truncation=True, max_length=max_length)
    lengths = [len(x) for x in enc["input_ids"]]

    def share(batches: list[list[int]]) -> float:
        real = sum(lengths[i] for b in batches for i in b)
        padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
        return 1 - real / padded

    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(lengths), generator=g).tolist()
    random_b = [perm[i:i + batch_size] for i in range(0, len(perm), batch_size)]
    grouped = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=g))
    grouped_b = [grouped[i:i + batch_size] for i in range(0, len(grouped), batch_size)]
    max_tokens, max_sentences = budget_args or (batch_size * max_length, batch_size)
    budget = TokenBudgetBatchSampler(lengths, max_tokens, max_sentences, shuffle=True, seed=seed)
    return {"random batches of %d (Trainer default)" % batch_size: share(random_b),
            "LengthGroupedSampler (group_by_length)": share(grouped_b),
            f"TokenBudgetBatchSampler (tagger, {max_tokens} subwords)": share(list(budget))}


def peak_precisions(args: argparse.Namespace) -> dict[str, Any]:
    """The matmul precisions to measure: fp32 and, where a run multiplies in it, bf16."""
    import torch

    use_bf16 = args.tagger_precision == "bf16" or "d" in args.setups
    return {"no": torch.float32, **({"bf16": torch.bfloat16} if use_bf16 else {})}


def matmul_peaks(args: argparse.Namespace) -> dict[str, float]:
    """FLOP/s of a 2048 x 2048 matmul per precision ("no": fp32), measured now in this process."""
    return {k: common.matmul_peak_flops(256 if args.smoke else 2048, 5 if args.smoke else 10, dtype=dt)
            for k, dt in peak_precisions(args).items()}


def timing_batches(tokenizer: Any, train: list, args: argparse.Namespace
                   ) -> tuple[list[dict[str, Any]], list[str], list[int]]:
    """Real training batches for the step timings, the labels (O first) and the label counts in them."""
    import torch

    label_list = sorted({t for _, tags in train for t in tags}, key=lambda t: (t != "O", t))
    label2id = {t: i for i, t in enumerate(label_list)}
    batches = make_batches(tokenizer, train, label2id, args.max_length, args.batch_size,
                           count=1 if args.smoke else 2, seed=args.seed)
    if args.smoke:
        batches = [{k: (v[:4, :16] if getattr(v, "ndim", 0) == 2 else v[:4] if getattr(v, "ndim", 0) == 1 else v)
                    for k, v in b.items()} for b in batches]
        for b in batches:
            b["tokens"] = int(b["attention_mask"].sum())
            b["max_words"] = int((b["word_index"] >= 0).sum(1).max())
    counts = [0] * len(label_list)
    for b in batches:
        for i, c in enumerate(torch.bincount(b["labels"][b["labels"] >= 0], minlength=len(label_list)).tolist()):
            counts[i] += c
    return batches, label_list, counts


def run_timings(report: dict[str, Any], args: argparse.Namespace, path: str, batches: list, labels: list[str],
                counts: list[int]) -> None:
    """The step timings the arguments ask for, each under its key of ``report``."""
    bf16 = args.tagger_precision == "bf16"
    num_labels = len(labels)
    ab_rounds = 2 if args.smoke else args.loss_rounds
    if not args.skip_losses:
        specs = LOSS_SPECS[:2] if args.smoke else LOSS_SPECS
        print(f"  per-loss training step, {args.loss_rounds} interleaved rounds ...", flush=True)
        report["loss_costs"] = loss_costs(path, batches, num_labels, counts, args.loss_rounds, specs, bf16=bf16)
    if args.threads_check:
        print("  threads ...", flush=True)
        report["threads"] = threads_check(path, batches, num_labels, 3 if args.smoke else 8)
    if args.freeze_check:
        print("  frozen layers ...", flush=True)
        report["freeze"] = freeze_check(path, batches, num_labels, 3 if args.smoke else 8)
    if args.precision_check:
        print("  precision ...", flush=True)
        report["precision"] = precision_check(path, batches, num_labels, ab_rounds)
    if args.dropout_check:
        print("  dropout ...", flush=True)
        report["dropout"] = dropout_check(path, batches, num_labels, ab_rounds, bf16=bf16)
    if args.crf_check:
        print("  CRF head ...", flush=True)
        report["crf"] = {**crf_check(path, batches, labels, ab_rounds, bf16=bf16), "load_average": os.getloadavg()}
    if args.compile_check:
        print("  torch.compile ...", flush=True)
        try:
            report["compile"] = compile_check(path, batches[:2] if not args.smoke else batches[:1],
                                              num_labels, 2 if args.smoke else 16)
        except Exception as err:  # noqa: BLE001 - a failed compile is a finding, not a crash
            report["compile"] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}


def efficiency(runs: list[dict[str, Any]], peaks: list[dict[str, float]], path: str, num_labels: int,
               lengths: list[int], epochs: int) -> dict[str, Any]:
    """The model's FLOPs per epoch against the best matmul peak of each precision; adds to every run its
    achieved FLOP/s and its utilisation (of the peak of the precision it multiplies in)."""
    peak = {k: max(p[k] for p in peaks) for k in peaks[0]}
    dims = common.encoder_dims(new_model(path, num_labels))
    flops_epoch = common.training_flops(lengths, dims["non_embedding_params"], dims["layers"], dims["hidden"])
    for r in runs:
        run_epochs = r.get("epochs_run", epochs) if r["setup"] == "a" else epochs
        r["achieved_flops"] = flops_epoch * run_epochs / r["train_seconds"]
        r["utilisation"] = r["achieved_flops"] / peak[r["precision"]]
    return {"matmul_2048_fp32_flops": peak["no"], "matmul_2048_bf16_flops": peak.get("bf16"),
            "matmul_measurements": peaks, **dims, "train_flops_per_epoch": flops_epoch}
