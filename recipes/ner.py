#!/usr/bin/env python
"""Fine-tune a token classifier and compare losses over seeds, scored by seqeval at word level.

    accelerate launch recipes/ner.py                                   # the default WNUT-17 sweep
    accelerate launch recipes/ner.py --config recipes/configs/conll2003.yaml training.epochs=3
    torchrun --nproc_per_node 2 recipes/ner.py --config ...            # several CPU processes (gloo)
    python recipes/ner.py --help-config                                # every key, its type and default

Read top to bottom: config -> data (read + tokenized once) -> for each (loss, seed): train, keep the
best epoch by validation F1, score the test split with it, save model + card + predictions ->
summary over the sweep. The parts come from the ``tagger`` library.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, PartialState
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, gather_object, set_seed
from safetensors.torch import load_model, save_model
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import AutoModelForTokenClassification, AutoTokenizer

import tagger
from tagger.catalog import PACKAGED_ENCODER, PACKAGED_ENCODER_NOTE, hub_id
from tagger.cards import sanitize_info, write_model_card
from tagger.config import RecipeConfig, config_to_dict, help_text, load_config
from tagger.data import load_ner_dataset
from tagger.errors import ConfigError, InputError, TaggerError
from tagger.io import atomic_dir, atomic_open, atomic_write_json
from tagger.losses import build_loss, loss_label
from tagger.metrics import score_sequences
from tagger.sweep import run_folder_name, summarize, write_summary
from tagger.train.batching import TokenBudgetBatchSampler, WindowCollator, pack_by_length
from tagger.train.dropout import restore_attention, use_fast_dropout
from tagger.train.evaluate import merge_window_predictions, predict_windows
from tagger.train.features import SplitFeatures, WindowDataset, class_counts, encode_splits, resolve_encoder
from tagger.train.guards import NonFiniteGuard, StopRequested
from tagger.train.optim import build_optimizer, build_scheduler
from tagger.train.precision import resolve_mixed_precision
from tagger.train.tracking import choose_trackers

logger = get_logger("tagger.recipe")

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.yaml"
BEST = "best_model.safetensors"


class Interrupted(Exception):
    """Raised after a checkpoint was saved because of SIGINT/SIGTERM."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


def hardware() -> str:
    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}, torch {torch.__version__}"
    return f"CPU: {os.cpu_count()} cores ({platform.machine()}), {torch.get_num_threads()} torch threads, torch {torch.__version__.split('+')[0]}"


def peak_rss_mb() -> float:
    import resource

    # ru_maxrss is in KiB on Linux, bytes on macOS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


# ------------------------------------------------------------------------------------------------ evaluation


def evaluate(
    model: torch.nn.Module, split: SplitFeatures, accelerator: Accelerator, cfg: RecipeConfig, id2label: dict[int, str],
    pad_token_id: int,
) -> tuple[dict[str, Any], list[list[str]]]:
    """Word-level seqeval metrics on a split; every sentence is scored once, whatever the process count.

    Each process predicts its own share of the batches (batch i goes to process i mod n); the window
    predictions are gathered and merged into exactly one tag per word.
    """
    collate = WindowCollator(pad_token_id=pad_token_id)
    order = sorted(range(len(split)), key=split.lengths.__getitem__)
    batches = pack_by_length(split.lengths, cfg.training.eval_max_tokens_per_batch, 10**9, order)
    mine = batches[accelerator.process_index :: accelerator.num_processes]
    dataset = WindowDataset(split.columns)
    # The unwrapped module: a DDP forward broadcasts buffers, a collective that would hang when the
    # processes have different numbers of evaluation batches. Autocast stays on the unwrapped forward.
    windows = predict_windows(accelerator.unwrap_model(model), (collate([dataset[i] for i in b]) for b in mine),
                              accelerator.device)
    # The shards are disjoint by construction, so a plain gather counts every window once.
    # (gather_for_metrics would trim "duplicates" using the fixed batch size of a prepared loader,
    # which a token-budget batch sampler does not have: it dropped real windows in a test.)
    windows = gather_object(windows)
    word_ids = merge_window_predictions(split.num_words, windows)
    pred_tags = [[id2label[i] for i in row] for row in word_ids]
    return score_sequences(split.gold_tags, pred_tags, mode=cfg.training.metric_mode), pred_tags


def write_predictions(path: Path, split: SplitFeatures, pred_tags: list[list[str]]) -> None:
    """CoNLL ``token gold pred``, a blank line between sentences: what ``tagger score`` reads."""
    with atomic_open(path) as fh:
        for tokens, gold, pred in zip(split.tokens, split.gold_tags, pred_tags):
            for tok, g, p in zip(tokens, gold, pred):
                # a token may hold spaces only in odd data; keep the columns readable
                fh.write(f"{tok.replace(' ', '_') or '_'} {g} {p}\n")
            fh.write("\n")


# ------------------------------------------------------------------------------------------------ checkpoints


def save_best(accelerator: Accelerator, model: torch.nn.Module, run_dir: Path) -> None:
    """The best epoch's weights go to disk, not to memory: a second copy of the model would raise peak RSS."""
    if accelerator.is_main_process:
        tmp = run_dir / ".best_model.safetensors.tmp"
        run_dir.mkdir(parents=True, exist_ok=True)
        save_model(accelerator.unwrap_model(model), str(tmp))
        os.replace(tmp, run_dir / BEST)
    accelerator.wait_for_everyone()


def save_checkpoint(accelerator: Accelerator, run_dir: Path, state: dict[str, Any]) -> None:
    """``save_state`` plus our loop counters and the best weights so far; written under a temporary name."""
    ckpt_root = run_dir / "checkpoints"
    name = f"step_{state['global_step']:07d}"
    tmp = ckpt_root / f".{name}.tmp"
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    if accelerator.is_main_process:
        atomic_write_json(tmp / "tagger_state.json", state)
        if (run_dir / BEST).is_file():
            os.link(run_dir / BEST, tmp / BEST)  # a hard link: the best file is replaced, never rewritten
        final = ckpt_root / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in ckpt_root.glob("step_*"):  # keep the newest only: a checkpoint is several model sizes
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def find_checkpoint(run_dir: Path, resume: str | None) -> Path | None:
    if resume is None:
        return None
    if resume == "latest":
        found = sorted((run_dir / "checkpoints").glob("step_*"))
        return found[-1] if found else None
    path = Path(resume)
    if not (path / "tagger_state.json").is_file():
        raise ConfigError(f"training.resume_from_checkpoint: {path} is not a tagger checkpoint (no tagger_state.json)")
    return path


# ------------------------------------------------------------------------------------------------ one run


def train_one(
    cfg: RecipeConfig,
    accelerator: Accelerator,
    spec: dict[str, Any],
    seed: int,
    features: dict[str, SplitFeatures],
    label_list: list[str],
    tokenizer: Any,
    encoder_path: str,
    run_dir: Path,
    run_info: dict[str, Any],
) -> dict[str, Any]:
    tc = cfg.training
    id2label = dict(enumerate(label_list))
    label2id = {label: i for i, label in id2label.items()}
    params = {k: v for k, v in spec.items() if k != "name"}
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    set_seed(seed)

    model = AutoModelForTokenClassification.from_pretrained(
        encoder_path,
        num_labels=len(label_list),
        id2label=id2label,
        label2id=label2id,
        revision=cfg.model.revision,
        trust_remote_code=cfg.model.trust_remote_code,
        use_safetensors=None if cfg.model.allow_pickle_weights else True,
        **({"attn_implementation": cfg.model.attn_implementation} if cfg.model.attn_implementation else {}),
    )
    # CPU only: PyTorch's per-element Bernoulli draws were 9% of a training step (tagger/train/dropout.py).
    dropout_swap = use_fast_dropout(model) if tc.fast_dropout and accelerator.device.type == "cpu" else {}
    counts = class_counts(features["train"], len(label_list))
    try:
        loss_fn = build_loss(spec["name"], num_labels=len(label_list), o_label_id=label2id.get("O", 0),
                             class_counts=counts, **params)
    except ValueError as err:
        raise ConfigError(f"loss {loss_label(spec)}: {err}") from None
    loss_fn = loss_fn.to(accelerator.device)
    for attr in ("class_weights", "alpha"):
        weights = getattr(loss_fn, attr, None)
        if isinstance(weights, torch.Tensor):
            logger.info("%s %s: %s", loss_label(spec), attr,
                        {label_list[i]: round(float(w), 4) for i, w in enumerate(weights.flatten().tolist())},
                        main_process_only=True)

    train = features["train"]
    sampler = TokenBudgetBatchSampler(train.lengths, tc.max_tokens_per_batch, tc.max_sentences_per_batch,
                                      shuffle=True, seed=seed)
    train_loader = DataLoader(WindowDataset(train.columns), batch_sampler=sampler,
                              collate_fn=WindowCollator(tokenizer.pad_token_id))
    optimizer = build_optimizer(model, tc.learning_rate, tc.weight_decay)
    model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    steps_per_epoch = math.ceil(len(train_loader) / tc.gradient_accumulation_steps)
    total_steps = steps_per_epoch * tc.epochs
    if tc.max_steps is not None:
        total_steps = min(total_steps, tc.max_steps)
    # Accelerate steps a prepared scheduler once per process, so the schedule is laid out for all of them.
    scheduler = accelerator.prepare(build_scheduler(optimizer, total_steps * accelerator.num_processes, tc.warmup_ratio))

    state: dict[str, Any] = {"epoch": 0, "batches_done": 0, "global_step": 0, "best_f1": -1.0, "best_epoch": 0,
                             "stale_epochs": 0, "history": [], "train_seconds": 0.0, "nonfinite_skipped": 0,
                             "train_tokens": 0, "train_padded_tokens": 0, "best_validation": None,
                             "label_list": label_list}
    ckpt = find_checkpoint(run_dir, tc.resume_from_checkpoint)
    if ckpt is not None:
        saved = json.loads((ckpt / "tagger_state.json").read_text())
        if saved.get("label_list", label_list) != label_list:
            raise InputError(f"the checkpoint was trained with labels {saved['label_list']}, the data have "
                             f"{label_list}; resume with the same data or start a new run", path=ckpt)
        accelerator.load_state(str(ckpt))
        state = saved
        if (ckpt / "best_model.safetensors").is_file():
            if accelerator.is_main_process:
                shutil.copyfile(ckpt / BEST, run_dir / ".best.tmp")
                os.replace(run_dir / ".best.tmp", run_dir / BEST)
            accelerator.wait_for_everyone()
        logger.info("resumed from %s at epoch %d, optimizer step %d", ckpt.name, state["epoch"], state["global_step"],
                    main_process_only=True)

    guard = NonFiniteGuard(tc.max_nonfinite_steps, loss_label(spec))
    guard.skipped = state["nonfinite_skipped"]
    params_list = [p for p in model.parameters() if p.requires_grad]
    max_norm = tc.max_grad_norm if tc.max_grad_norm > 0 else float("inf")
    run_name = run_dir.name
    bar = tqdm(total=total_steps, initial=state["global_step"], desc=run_name, unit="step", dynamic_ncols=True,
               disable=not accelerator.is_local_main_process)
    running_loss = torch.zeros((), device=accelerator.device)
    running_batches = 0
    done = state["global_step"] >= total_steps

    with StopRequested() as stop:
        for epoch in range(state["epoch"], tc.epochs):
            if done:
                break
            sampler.set_epoch(epoch)
            model.train()
            loader = train_loader
            if state["batches_done"]:
                loader = accelerator.skip_first_batches(train_loader, state["batches_done"])
            t0 = time.perf_counter()
            tokens = padded = 0
            for batch in loader:
                with accelerator.accumulate(model):
                    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                    loss = loss_fn(logits, batch["labels"])  # logits [B, T, C], labels [B, T]
                    accelerator.backward(loss)
                    running_loss += loss.detach()
                    running_batches += 1
                    tokens += batch["num_tokens"]
                    padded += batch["input_ids"].numel()
                    if accelerator.sync_gradients:
                        grad_norm = accelerator.clip_grad_norm_(params_list, max_norm)
                        # the one host sync per optimizer step: skip updates from NaN/inf gradients
                        finite = bool(torch.isfinite(grad_norm)) if grad_norm is not None else True
                        if finite or accelerator.scaler is not None:
                            optimizer.step()  # under fp16 the GradScaler itself skips inf steps and lowers the scale
                            finite = finite and not optimizer.step_was_skipped
                        if finite:
                            scheduler.step()
                        optimizer.zero_grad(set_to_none=True)
                state["batches_done"] += 1
                if not accelerator.sync_gradients:
                    continue
                state["global_step"] += 1
                guard.update(finite, state["global_step"])
                bar.update(1)
                if state["global_step"] % tc.log_every_steps == 0 or state["global_step"] == total_steps:
                    mean_loss = (running_loss / max(1, running_batches)).item()
                    elapsed = time.perf_counter() - t0
                    tps = tokens * accelerator.num_processes / max(elapsed, 1e-9)
                    bar.set_postfix(loss=f"{mean_loss:.4f}", tok_s=f"{tps:,.0f}")
                    accelerator.log({f"{run_name}/train_loss": mean_loss, f"{run_name}/lr": scheduler.get_last_lr()[0],
                                     f"{run_name}/tokens_per_s": tps}, step=state["global_step"])
                    running_loss.zero_()
                    running_batches = 0
                if stop.requested:
                    state["train_seconds"] += time.perf_counter() - t0
                    state["nonfinite_skipped"] = guard.skipped
                    state["epoch"] = epoch
                    save_checkpoint(accelerator, run_dir, state)
                    bar.close()
                    raise Interrupted(f"stopped by signal {stop.signum} at optimizer step {state['global_step']}; "
                                      f"resume with training.resume_from_checkpoint=latest", stop.signum)
                if state["global_step"] >= total_steps:
                    done = True
                    break
            epoch_seconds = time.perf_counter() - t0
            state["train_seconds"] += epoch_seconds
            state["train_tokens"] += tokens * accelerator.num_processes
            state["train_padded_tokens"] += padded * accelerator.num_processes

            val_metrics, _ = evaluate(model, features["validation"], accelerator, cfg, id2label, pad_id)
            record = {"epoch": epoch + 1, "step": state["global_step"], "validation_f1": val_metrics["f1"],
                      "epoch_seconds": epoch_seconds}
            state["history"].append(record)
            accelerator.log({f"{run_name}/validation_f1": val_metrics["f1"],
                             f"{run_name}/validation_precision": val_metrics["precision"],
                             f"{run_name}/validation_recall": val_metrics["recall"]}, step=state["global_step"])
            logger.info("%s epoch %d: validation F1 %.4f (%.0f s)", run_name, epoch + 1, val_metrics["f1"],
                        epoch_seconds, main_process_only=True)
            if val_metrics["f1"] > state["best_f1"]:
                state.update(best_f1=val_metrics["f1"], best_epoch=epoch + 1, stale_epochs=0,
                             best_validation=val_metrics)
                save_best(accelerator, model, run_dir)
            else:
                state["stale_epochs"] += 1
            state["epoch"] = epoch + 1
            state["batches_done"] = 0
            state["nonfinite_skipped"] = guard.skipped
            if tc.checkpointing == "epoch" and epoch + 1 < tc.epochs and not done:
                save_checkpoint(accelerator, run_dir, state)
            if tc.patience is not None and state["stale_epochs"] >= tc.patience:
                logger.info("%s: no better validation F1 for %d epochs, stopping early", run_name, tc.patience,
                            main_process_only=True)
                break
    bar.close()

    # The best epoch's weights score the test split and become the saved model.
    unwrapped = accelerator.unwrap_model(model)
    restore_attention(unwrapped, dropout_swap)  # the saved config names a standard attention implementation
    if (run_dir / BEST).is_file():
        load_model(unwrapped, str(run_dir / BEST))  # read on CPU; load_state_dict copies to the device
    test_metrics, test_tags = evaluate(model, features["test"], accelerator, cfg, id2label, pad_id)
    val_metrics = state["best_validation"]
    if val_metrics is None:  # no epoch finished (max_steps=0): score what we have
        val_metrics, _ = evaluate(model, features["validation"], accelerator, cfg, id2label, pad_id)

    result = {
        "run": run_name,
        "loss": spec["name"],
        "params": params,
        "label": loss_label(spec),
        "seed": seed,
        "validation": val_metrics,
        "test": test_metrics,
        "best_epoch": state["best_epoch"],
        "epochs_run": len(state["history"]),
        "optimizer_steps": state["global_step"],
        "history": state["history"],
        "train_seconds": round(state["train_seconds"], 2),
        "train_tokens": state["train_tokens"],
        "train_tokens_per_second": state["train_tokens"] / max(state["train_seconds"], 1e-9),
        "padding_share": 1 - state["train_tokens"] / max(1, state["train_padded_tokens"]),
        "peak_rss_mb": peak_rss_mb(),
        "nonfinite_steps_skipped": guard.skipped,
        "class_counts": dict(zip(label_list, counts)),
        "num_processes": accelerator.num_processes,
        "hardware": hardware(),
    }
    if accelerator.is_main_process:
        if cfg.output.save_model:
            loss_module = loss_fn
            info = sanitize_info(run_info)  # no local paths in what gets published
            info.update(
                loss={"name": spec["name"], "params": params, "formula": getattr(loss_module, "formula", ""),
                      "citation": getattr(loss_module, "citation", "")},
                hyperparameters={**run_info["hyperparameters"], "seed": seed},
                best_epoch=state["best_epoch"], validation=val_metrics, test=test_metrics,
                train_seconds=result["train_seconds"], hardware=result["hardware"],
            )
            with atomic_dir(run_dir / "model") as tmp:
                unwrapped.save_pretrained(tmp, safe_serialization=True)
                tokenizer.save_pretrained(tmp)
                atomic_write_json(tmp / "tagger_run.json", info)
                write_model_card(tmp, info)
        write_predictions(run_dir / "test_predictions.conll", features["test"], test_tags)
        atomic_write_json(run_dir / "all_results.json", result)  # written last: its presence marks the run done
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        (run_dir / BEST).unlink(missing_ok=True)
    accelerator.wait_for_everyone()
    accelerator.free_memory()
    return result


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--config", help=f"YAML config (default: {DEFAULT_CONFIG.relative_to(Path.cwd()) if DEFAULT_CONFIG.is_relative_to(Path.cwd()) else DEFAULT_CONFIG})")
    parser.add_argument("--help-config", action="store_true", help="list every config key with its type and default")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    args, overrides = parser.parse_known_args(argv)
    if args.help_config:
        sys.stdout.write(help_text() + "\n")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return run(args.config or str(DEFAULT_CONFIG), overrides, " ".join(["accelerate launch recipes/ner.py", *(sys.argv[1:] if argv is None else argv)]))
    except TaggerError as err:
        if args.debug:
            raise
        sys.stderr.write(f"recipes/ner.py: error: {err}\n")
        return err.exit_code
    except Interrupted as err:
        sys.stderr.write(f"recipes/ner.py: {err}\n")
        return err.exit_code


def run(config_path: str, overrides: list[str], command: str) -> int:
    cfg = load_config(config_path, overrides)
    tc = cfg.training
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    elif not torch.cuda.is_available():
        # `accelerate launch` sets OMP_NUM_THREADS=1 on CPU, which halves training speed on 2 cores:
        # give each local process its share of the cores instead.
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        torch.set_num_threads(max(1, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    out_dir = Path(cfg.output.output_dir)
    # Under torchrun without GPUs, Accelerate sets up gloo only when told it is on CPU.
    multi_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    PartialState(cpu=multi_cpu)  # before the trackers, which ask the state who the main process is
    # auto: bf16 autocast only where the hardware has native bf16 (on a Zen 4 CPU a MiniLM step is 1.7-1.9x faster).
    precision, why = resolve_mixed_precision(tc.mixed_precision, "cuda" if torch.cuda.is_available() else "cpu",
                                             os.environ.get("ACCELERATE_MIXED_PRECISION"))
    accelerator = Accelerator(
        cpu=multi_cpu,
        gradient_accumulation_steps=tc.gradient_accumulation_steps,
        mixed_precision=precision,
        log_with=choose_trackers(cfg.output.report_to, str(out_dir / "logs"), "sweep"),
        project_config=ProjectConfiguration(project_dir=str(out_dir), logging_dir=str(out_dir / "logs")),
    )
    if cfg.output.report_to != "none":
        accelerator.init_trackers("sweep", config={"config": str(config_to_dict(cfg))})

    # Data: read and tokenized once for the whole sweep (the main process first, so the cache is shared).
    encoder_path, encoder_name = resolve_encoder(cfg.model.name_or_path)
    with accelerator.main_process_first():
        data = load_ner_dataset(
            cfg.data.name if not cfg.data.train_file else None,
            train_file=cfg.data.train_file, validation_file=cfg.data.validation_file, test_file=cfg.data.test_file,
            data_dir=cfg.data.data_dir, scheme=cfg.data.scheme,
            tokens_column=cfg.data.tokens_column, tags_column=cfg.data.tags_column,
        )
        for split in ("train", "validation", "test"):
            if split not in data.splits:
                raise ConfigError(f"data: the '{split}' split is missing (have: {', '.join(data.splits)})")
        tokenizer = AutoTokenizer.from_pretrained(encoder_path, revision=cfg.model.revision,
                                                  trust_remote_code=cfg.model.trust_remote_code)
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError(f"model.name_or_path: {encoder_name} has no fast tokenizer (word_ids() is needed)")
        features = encode_splits(
            data, tokenizer, max_length=cfg.data.max_length, stride=cfg.data.stride,
            label_all_subwords=cfg.data.label_all_subwords,
            max_sentences={"train": cfg.data.max_train_sentences, "validation": cfg.data.max_eval_sentences,
                           "test": cfg.data.max_eval_sentences},
            cache_dir=(out_dir / ".cache") if cfg.data.cache else None,
        )
    label_list = data.label_list
    o_id = label_list.index("O") if "O" in label_list else -1
    if not any(tag != o_id for row in data.splits["train"]["ner_tags"] for tag in row):
        raise InputError("the training split has no entities (every tag is O): there is nothing to learn",
                         path=data.sources.get("train", "train"))
    logger.info("labels (%d): %s", len(label_list), ", ".join(label_list), main_process_only=True)
    logger.info("mixed precision: %s (%s)", accelerator.mixed_precision, why, main_process_only=True)

    run_info = {
        "base_model": encoder_name,
        "dataset": {"name": data.name, "hub_id": hub_id(data.name),
                    "sources": data.sources},
        "label_list": label_list,
        "metric_mode": tc.metric_mode,
        "hyperparameters": {
            "learning_rate": tc.learning_rate, "epochs": tc.epochs, "max_tokens_per_batch": tc.max_tokens_per_batch,
            "max_sentences_per_batch": tc.max_sentences_per_batch, "max_length": cfg.data.max_length,
            "stride": cfg.data.stride, "warmup_ratio": tc.warmup_ratio, "weight_decay": tc.weight_decay,
            "gradient_accumulation_steps": tc.gradient_accumulation_steps, "max_grad_norm": tc.max_grad_norm,
            "mixed_precision": accelerator.mixed_precision, "num_processes": accelerator.num_processes,
            "label_all_subwords": cfg.data.label_all_subwords,
        },
        "command": command,
        "tagger_version": tagger.__version__,
    }
    if cfg.model.name_or_path == PACKAGED_ENCODER:
        run_info["base_model_note"] = PACKAGED_ENCODER_NOTE

    results: list[dict[str, Any]] = []
    specs = cfg.run_specs()
    for i, (spec, seed) in enumerate(specs, 1):
        run_dir = out_dir / "runs" / run_folder_name(spec, seed)
        done_file = run_dir / "all_results.json"
        if done_file.is_file() and not cfg.output.overwrite:
            logger.info("[%d/%d] %s: results exist, skipped (output.overwrite=true redoes it)", i, len(specs),
                        run_dir.name, main_process_only=True)
            results.append(json.loads(done_file.read_text()))
            continue
        logger.info("[%d/%d] %s", i, len(specs), run_dir.name, main_process_only=True)
        results.append(train_one(cfg, accelerator, spec, seed, features, label_list, tokenizer, encoder_path,
                                 run_dir, run_info))

    if accelerator.is_main_process:
        summary = summarize(results, label_list=label_list, runs_dir=out_dir / "runs")
        write_summary(out_dir, summary, features=features)
        sys.stdout.write("\n" + summary["table_text"] + "\n")
        sys.stdout.write(f"\nsummary: {out_dir / 'summary.md'} (json, csv, png beside it)\n")
        # Each card now carries the comparison of the whole sweep.
        if cfg.output.save_model and len(specs) > 1:
            for r in results:
                model_dir = out_dir / "runs" / r["run"] / "model"
                if (model_dir / "tagger_run.json").is_file():
                    info = json.loads((model_dir / "tagger_run.json").read_text())
                    info["sweep"] = {"table": summary["table"], "best": summary["best"]}
                    atomic_write_json(model_dir / "tagger_run.json", info)
                    write_model_card(model_dir, info)
        if cfg.output.push_to_hub:
            from tagger.hub import push_model

            if not cfg.output.hub_repo_id:
                raise ConfigError("output.push_to_hub needs output.hub_repo_id")
            best_run = summary["best_run"]
            url = push_model(out_dir / "runs" / best_run / "model", cfg.output.hub_repo_id, private=cfg.output.hub_private)
            sys.stdout.write(f"pushed {best_run} to {url}\n")
    accelerator.end_training()
    return 0


if __name__ == "__main__":
    sys.exit(main())
