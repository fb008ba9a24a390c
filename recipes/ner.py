#!/usr/bin/env python
"""Fine-tune a token classifier and compare losses over seeds, scored by seqeval at word level.

    accelerate launch recipes/ner.py                                   # the default WNUT-17 sweep
    accelerate launch recipes/ner.py --config recipes/configs/conll2003.yaml training.epochs=3
    torchrun --nproc_per_node 2 recipes/ner.py --config ...            # several CPU processes (gloo)
    python recipes/ner.py --help-config                                # every key, its type and default

Read top to bottom. ``run`` is the table of contents: config -> threads, Accelerator, precision ->
data (read + tokenized once) -> for each (loss, seed) of this shard (``--shard I/N``, docs/sweeps.md),
once its folder is claimed, a :class:`TrainRun` (``setup``: model and
loss, data and optimizer, resume; ``train``: ``train_step`` per batch, ``end_of_epoch`` keeps the
best epoch by validation F1; ``save_artifacts``: the best epoch scores the test split under every
decoding and is saved with its card and predictions; ``cleanup``) -> summary over the sweep. The
parts come from the ``tagger`` library; the loop's progress is a :class:`tagger.train.state.TrainState`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import ProjectConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

import tagger
from tagger.cards import add_sweep_to_cards, sanitize_info, write_model_card
from tagger.catalog import PACKAGED_ENCODER, PACKAGED_ENCODER_NOTE, hub_id
from tagger.config import RecipeConfig, check_window, help_text, load_config
from tagger.console import get_logger, launch_logging
from tagger.crf import CRF, crf_nll_per_token, crf_param_group, save_crf
from tagger.data import NerData, load_ner_dataset
from tagger.decoding import decoding_entry, score_decodings, scorings_for
from tagger.errors import ConfigError, InputError, TaggerError
from tagger.hub import push_best_run
from tagger.io import atomic_dir, atomic_write_json, ensure_output_dir, follow_umask
from tagger.losses import build_loss, loss_label
from tagger.losses.labels import split_spec
from tagger.metrics import check_agreement
from tagger.model_loading import check_loadable, check_max_length, load_model, load_tokenizer, read_config
from tagger.run_files import predictions_name, write_predictions
from tagger.search import run_searches, search_spaces, sweep_jobs
from tagger.sweep_folder import summarize_folder
from tagger.train.augment import AUGMENTATION, AugmentReport, augment_split
from tagger.train.batching import TokenBudgetBatchSampler, WindowCollator
from tagger.train.checkpoint import (
    find_checkpoint,
    load_best,
    load_checkpoint,
    remove_checkpoints,
    save_best,
    save_checkpoint,
    skip_done_batches,
)
from tagger.train.claims import Claim, Processes, claim_run, current_claim
from tagger.train.clock import SweepClock, format_duration, utc_now
from tagger.train.context import ContextReport, context_report
from tagger.train.distributed import labelled_tokens, rank_loss_scale
from tagger.train.dropout import restore_attention, use_fast_dropout
from tagger.train.evaluate import evaluate_split
from tagger.train.features import SplitFeatures, WindowDataset, class_counts, encode_splits, resolve_encoder
from tagger.train.freeze import check_freeze_layers, freeze_lower_layers
from tagger.train.guards import NonFiniteGuard, StopRequested
from tagger.train.optim import build_optimizer, build_scheduler
from tagger.train.precision import resolve_mixed_precision
from tagger.train.run_info import card_hyperparameters, hardware, peak_rss_mb
from tagger.train.sampling import SamplingReport, resample
from tagger.train.shards import RunJob, Shard, run_share
from tagger.train.state import TrainState
from tagger.train.tracking import choose_trackers
from tagger.train.workers import (
    Workers,
    available_cores,
    plan_workers,
    summary_left_to_parent,
    worker_commands,
    worker_launch,
)
from tagger.typed_config import config_to_dict

logger = get_logger("tagger.recipe")

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.yaml"


class Interrupted(Exception):
    """Raised after a checkpoint was saved because of SIGINT/SIGTERM."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--config", help=f"YAML config (default: {DEFAULT_CONFIG.relative_to(Path.cwd()) if DEFAULT_CONFIG.is_relative_to(Path.cwd()) else DEFAULT_CONFIG})")
    parser.add_argument("--help-config", action="store_true", help="list every config key with its type and default")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    parser.add_argument("--shard", metavar="I/N", help="train shard I of N of the sweep (sweep.shard; docs/sweeps.md)")
    parser.add_argument("--quiet", action="store_true",
                        help="console: warnings and the summary only (output.log_level=warning); logs/ keeps everything")
    args, overrides = parser.parse_known_args(argv)
    if args.help_config:
        sys.stdout.write(help_text() + "\n")
        return 0
    if args.shard is not None:
        overrides = [*overrides, f"sweep.shard={args.shard}"]  # checked with the config's other keys
    if args.quiet:
        overrides = [*overrides, "output.log_level=warning"]
    try:
        # a worker's runs name the command of the launch that started it (their cards say how to reproduce them)
        command = (worker_launch() or {}).get("command") or " ".join(
            ["accelerate launch recipes/ner.py", *(sys.argv[1:] if argv is None else argv)])
        return run(args.config or str(DEFAULT_CONFIG), overrides, command)
    except TaggerError as err:
        if args.debug:
            raise
        sys.stderr.write(f"recipes/ner.py: error: {err}\n")
        return err.exit_code
    except Interrupted as err:
        sys.stderr.write(f"recipes/ner.py: {err}\n")
        return err.exit_code


def run(config_path: str, overrides: list[str], command: str) -> int:
    """The sweep: set up once, train (or skip) this shard's runs of every (loss, seed), then compare them."""
    cfg = load_config(config_path, overrides)
    # a folder we cannot write, or one of the user's, stops here, with one line, before any work
    ensure_output_dir(cfg.output.output_dir, overwrite=cfg.output.overwrite)
    plan, why = plan_workers(cfg.sweep.workers, shard=Shard.parse(cfg.sweep.shard),
                             runs=len(cfg.sweep_entries()) * len(cfg.sweep_seeds()), cores=available_cores(),
                             num_threads=cfg.training.num_threads, cuda=torch.cuda.is_available(),
                             world_size=int(os.environ.get("WORLD_SIZE", "1")))
    if plan is not None:  # this process becomes the first of the plan's shards
        cfg = load_config(config_path, [*overrides, *plan.overrides(0)])
    # the console shows tagger's lines at output.log_level; logs/<launch>.log keeps everything (main process)
    log_file = Path(cfg.output.output_dir) / "logs" / f"{launch_name(cfg)}.log"
    with launch_logging(cfg.output.log_level, log_file if int(os.environ.get("RANK", "0")) == 0 else None):
        if why:
            logger.info("%s", why)
        if plan is None:
            return run_sweep(cfg, command)
        logs = Path(cfg.output.output_dir) / "logs"
        consoles = [logs / f"{launch_name(cfg, shard)}.console" for shard in plan.shards[1:]]
        with Workers(worker_commands(plan, Path(__file__).resolve(), config_path, overrides), consoles,
                     command) as workers:
            return run_sweep(cfg, command, workers)


def launch_name(cfg: RecipeConfig, shard: Shard | None = None) -> str:
    """The launch's name for its log file and trackers (``shard``: another shard's): shards share the
    folder, each writes its own (appends from several machines interleave badly on NFS)."""
    shard = shard or Shard.parse(cfg.sweep.shard)
    return f"sweep-shard{shard.index}of{shard.count}" if shard.count > 1 else "sweep"


def run_sweep(cfg: RecipeConfig, command: str, workers: Workers | None = None) -> int:
    """``run`` once the config is read and the console is set up (``workers``: the launch's other shards)."""
    setup_threads(cfg.training.num_threads)
    accelerator = setup_accelerator(cfg)
    sweep = setup_data(cfg, accelerator, command)
    spaces = search_spaces(cfg.sweep_entries(), learning_rates=cfg.sweep.search.learning_rate,
                           seeds=cfg.sweep.search.seeds or cfg.sweep_seeds(), epochs=cfg.sweep.search.epochs)
    # tuned losses first: each point of their grids on validation, then the chosen setting joins the sweep
    chosen = run_searches(spaces, lambda job, where: train_or_skip(sweep, job, where, redo=False), sweep.out_dir,
                          processes=sweep.processes)
    jobs = sweep_jobs(cfg.sweep_entries(), cfg.sweep_seeds(), sweep.out_dir / "runs", chosen)
    pending = len(jobs) if cfg.output.overwrite else sum(not job.done for job in jobs)
    # this shard's share (after any search points it trained), for the estimate of the time left
    sweep.clock.pending = sweep.clock.runs_done + -(-pending // sweep.shard.count)
    run_share(jobs, sweep.shard, lambda job, where, redo: train_or_skip(sweep, job, where, redo),
              overwrite=cfg.output.overwrite, processes=sweep.processes)
    if workers is not None:
        wait_for_workers(sweep, jobs, workers)
    logger.info("launch finished in %s: %d runs trained, %d skipped", format_duration(sweep.clock.elapsed),
                sweep.clock.runs_done, len(jobs) - sweep.clock.runs_done)
    # a worker leaves the summary to its launch, which writes it once every worker has ended
    if accelerator.is_main_process and not summary_left_to_parent() and all_done(sweep, jobs):
        summary = write_sweep_summary(sweep, jobs, [n for space in spaces.values() for n in space.study_names])
        if cfg.output.save_model and len(jobs) > 1:
            add_sweep_to_cards(sweep.out_dir, summary["runs"], summary)  # each card compares the whole sweep
        if cfg.output.push_to_hub:
            url = push_best_run(sweep.out_dir, summary, cfg.output.hub_repo_id, private=cfg.output.hub_private)
            sys.stdout.write(f"pushed {summary['best_run']} to {url}\n")
    accelerator.end_training()
    return 0


def wait_for_workers(sweep: Sweep, jobs: list[RunJob], workers: Workers) -> None:
    """Once this process's share is done: wait for the workers, then train what a failed one left."""
    pending = [job.name for job in jobs if not job.done]
    if pending:
        logger.info("waiting for the worker processes: %d run%s not finished (%s)", len(pending),
                    "s" * (len(pending) != 1), ", ".join(pending[:3]) + (" ..." if len(pending) > 3 else ""))
    if workers.report(workers.wait()) and not sweep.cfg.output.overwrite:
        # their claims died with them: a second pass over the sweep trains every run still unfinished
        run_share(jobs, sweep.shard, lambda job, where, redo: train_or_skip(sweep, job, where, redo),
                  overwrite=False, processes=sweep.processes)


# ------------------------------------------------------------------------------------------------ the sweep's setup


@dataclass
class Sweep:
    """What every (loss, seed) run of a launch shares, set up once."""

    cfg: RecipeConfig
    accelerator: Accelerator
    out_dir: Path
    features: dict[str, SplitFeatures]  # "train", "validation", "test" (encoded with the sweep's first context)
    label_list: list[str]
    tokenizer: Any
    encoder_path: str  # where the weights are read from (a local folder for the packaged encoder)
    run_info: dict[str, Any]  # the sweep's part of every run's tagger_run.json
    shard: Shard  # which of the sweep's runs this launch trains first (tagger/train/shards.py)
    processes: Processes  # this process among the launch's; the main one claims runs for all
    clock: SweepClock = dataclasses.field(default_factory=lambda: SweepClock(pending=0))  # the launch's time
    # the splits encoded with each context size the sweep trains with (data.context, sweep.context)
    features_by_context: dict[int, dict[str, SplitFeatures]] = dataclasses.field(default_factory=dict)

    def features_for(self, context: int) -> dict[str, SplitFeatures]:
        """The splits encoded with ``context`` (every size of the sweep is encoded in setup_data)."""
        return self.features_by_context[context] if self.features_by_context else self.features


def setup_threads(num_threads: int | None) -> None:
    """torch's intra-op threads: the configured number, else on CPU the cores shared by the local processes."""
    if num_threads:
        torch.set_num_threads(num_threads)
    elif not torch.cuda.is_available():
        # `accelerate launch` sets OMP_NUM_THREADS=1 on CPU, which halves training speed on 2 cores:
        # give each local process its share of the cores instead.
        torch.set_num_threads(max(1, available_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def setup_accelerator(cfg: RecipeConfig) -> Accelerator:
    """The Accelerator of the whole sweep: processes, gradient accumulation, mixed precision, trackers."""
    out_dir = Path(cfg.output.output_dir)
    log_name = launch_name(cfg)
    # Under torchrun without GPUs, Accelerate sets up gloo only when told it is on CPU.
    multi_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    PartialState(cpu=multi_cpu)  # before the trackers, which ask the state who the main process is
    # auto: bf16 autocast only where the hardware has native bf16 (docs/performance.md measures the gain).
    precision, why = resolve_mixed_precision(cfg.training.mixed_precision,
                                             "cuda" if torch.cuda.is_available() else "cpu",
                                             os.environ.get("ACCELERATE_MIXED_PRECISION"))
    accelerator = Accelerator(
        cpu=multi_cpu,
        gradient_accumulation_steps=cfg.training.gradient_accumulation_steps,
        mixed_precision=precision,
        log_with=choose_trackers(cfg.output.report_to, str(out_dir / "logs"), log_name),
        project_config=ProjectConfiguration(project_dir=str(out_dir), logging_dir=str(out_dir / "logs")),
    )
    if cfg.output.report_to != "none":
        accelerator.init_trackers(log_name, config={"config": str(config_to_dict(cfg))})
    logger.info("mixed precision: %s (%s)", accelerator.mixed_precision, why, main_process_only=True)
    logger.info("processes: %d (%s)", accelerator.num_processes, accelerator.distributed_type.value,
                main_process_only=True)
    if multi_cpu and os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
        # Accelerate routes FSDP only to GPUs; its CPU processes train with DDP over gloo instead.
        logger.warning("FSDP was requested, but Accelerate trains CPU processes with DDP (gloo): each process "
                       "holds the whole model", main_process_only=True)
    return accelerator


def setup_data(cfg: RecipeConfig, accelerator: Accelerator, command: str) -> Sweep:
    """Read the data and tokenize it once for the whole sweep (the main process first, so the cache is shared)."""
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
        # a broken encoder folder stops the launch here, before the data is tokenized, not in the first run
        check_loadable(encoder_path, allow_pickle_weights=cfg.model.allow_pickle_weights,
                       trust_remote_code=cfg.model.trust_remote_code, num_labels=len(data.label_list))
        check_max_length(cfg.data.max_length, encoder_path, "data.max_length")
        check_frozen_layers(cfg.model.freeze_layers, encoder_path)
        tokenizer = load_tokenizer(encoder_path, revision=cfg.model.revision,
                                   trust_remote_code=cfg.model.trust_remote_code)
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError(f"model.name_or_path: {encoder_name} has no fast tokenizer (word_ids() is needed)")
        check_window(cfg.data.max_length, cfg.data.stride, tokenizer.num_special_tokens_to_add())
        by_context = {context: encode_splits(
            data, tokenizer, max_length=cfg.data.max_length, stride=cfg.data.stride,
            label_all_subwords=cfg.data.label_all_subwords,
            max_sentences={"train": cfg.data.max_train_sentences, "validation": cfg.data.max_eval_sentences,
                           "test": cfg.data.max_eval_sentences},
            cache_dir=(Path(cfg.output.output_dir) / ".cache") if cfg.data.cache else None, context=context,
        ) for context in cfg.sweep_contexts()}
        features = next(iter(by_context.values()))
    check_entities(data)
    logger.info("labels (%d): %s", len(data.label_list), ", ".join(data.label_list), main_process_only=True)
    return Sweep(cfg=cfg, accelerator=accelerator, out_dir=Path(cfg.output.output_dir), features=features,
                 label_list=data.label_list, tokenizer=tokenizer, encoder_path=encoder_path,
                 run_info=describe_sweep(cfg, data, encoder_name, command), shard=Shard.parse(cfg.sweep.shard),
                 processes=Processes(accelerator.process_index, accelerator.num_processes),
                 features_by_context=by_context)


def check_frozen_layers(layers: int, encoder_path: str) -> None:
    """Too many frozen layers stops the launch before the data is tokenized (a local folder's config
    says how many the encoder has; a Hub id's model is checked when its first run builds it)."""
    folder = Path(encoder_path)
    if layers and (folder / "config.json").is_file():
        config = read_config(folder)
        try:
            check_freeze_layers(layers, config.get("num_hidden_layers", config.get("n_layers")))
        except ValueError as err:
            raise ConfigError(str(err)) from None


def check_entities(data: NerData) -> None:
    """The training split must have something to learn."""
    o_id = data.label_list.index("O") if "O" in data.label_list else -1
    if not any(tag != o_id for row in data.splits["train"]["ner_tags"] for tag in row):
        raise InputError("the training split has no entities (every tag is O): there is nothing to learn",
                         path=data.sources.get("train", "train"))


def describe_sweep(cfg: RecipeConfig, data: NerData, encoder_name: str, command: str) -> dict[str, Any]:
    """What every run's tagger_run.json shares; each run adds its loss, hyperparameters and scores."""
    info: dict[str, Any] = {
        "base_model": encoder_name,
        "dataset": {"name": data.name, "hub_id": hub_id(data.name), "sources": data.sources},
        "label_list": data.label_list,
        "metric_mode": cfg.training.metric_mode,
        "command": command,
        "tagger_version": tagger.__version__,
    }
    if cfg.model.name_or_path == PACKAGED_ENCODER:
        info["base_model_note"] = PACKAGED_ENCODER_NOTE
    return info


# ------------------------------------------------------------------------------------------------ the sweep's runs


def train_or_skip(sweep: Sweep, job: RunJob, position: str, redo: bool) -> dict[str, Any] | None:
    """One (loss, seed): its all_results.json, read back if it is finished (``redo``: trained again);
    None while another process holds its claim (tagger/train/claims.py)."""
    claim: Claim | None = None

    def decide() -> str:  # on the main process only; the others train what it claims
        nonlocal claim
        verdict, claim = claim_run(job.run_dir, redo=redo, note=f"shard {sweep.shard}" if sweep.shard.count > 1 else "")
        return verdict

    verdict = sweep.processes.decide(decide)
    if verdict == "done":
        logger.info("%s %s: results exist, skipped (output.overwrite=true redoes it)", position, job.name,
                    main_process_only=True)
        return json.loads((job.run_dir / "all_results.json").read_text())
    if verdict == "claimed":
        holder = current_claim(job.run_dir)
        logger.info("%s %s: claimed by %s, skipped", position, job.name, holder.describe() if holder else "?",
                    main_process_only=True)
        return None
    logger.info("%s %s: training", position, job.name, main_process_only=True)
    sweep.clock.start_run(sweep.cfg.training.epochs)
    try:
        one_run = TrainRun(job_sweep(sweep, job), job.spec, job.seed, job.run_dir)
        one_run.label = job.label  # the row it belongs to: a tuned loss's label names its chosen settings
        one_run.setup()
        one_run.train()
        result = one_run.save_artifacts()
        one_run.cleanup()
    finally:
        if claim is not None:
            claim.release()
    seconds = sweep.clock.end_run()
    logger.info("%s done in %s: test F1 %.1f; %s", job.name, format_duration(seconds), 100 * result["test"]["f1"],
                sweep.clock.describe(), main_process_only=True)
    return result


def job_sweep(sweep: Sweep, job: RunJob) -> Sweep:
    """The sweep as ``job`` sees it: its training keys set (a search point's learning rate), its model saved or not."""
    if not job.training and job.save_model:
        return sweep
    cfg = dataclasses.replace(sweep.cfg, training=dataclasses.replace(sweep.cfg.training, **job.training),
                              output=dataclasses.replace(sweep.cfg.output,
                                                         save_model=sweep.cfg.output.save_model and job.save_model))
    return dataclasses.replace(sweep, cfg=cfg)


# ------------------------------------------------------------------------------------------------ one run


@dataclass
class EpochProgress:
    """Throughput of the epoch under way: what the progress bar and the logs show."""

    start: float  # time.perf_counter() when the epoch (or its resumed part) began
    from_start: bool  # False when resumed mid-epoch
    coverage: torch.Tensor  # [num training windows]: times this process trained on each window
    tokens: int = 0  # this process's real tokens
    padded: int = 0  # this process's batch slots, padding included
    loss_sum: torch.Tensor | None = None  # this process's training loss summed over the epoch's batches (on device)
    batches: int = 0


class TrainRun:
    """One (loss, seed) of the sweep, in the order it happens: setup -> train -> save_artifacts -> cleanup."""

    model: torch.nn.Module
    loss_fn: torch.nn.Module
    crf: torch.nn.Module | None  # the CRF head (head: crf), prepared like the model
    dropout_swap: dict[str, Any]  # what use_fast_dropout changed, for restore_attention before saving
    class_counts: list[int]
    sampler: TokenBudgetBatchSampler
    train_loader: DataLoader
    optimizer: torch.optim.Optimizer
    scheduler: Any
    total_steps: int
    trainable: list[torch.nn.Parameter]  # what gradient clipping sees
    guard: NonFiniteGuard
    bar: tqdm

    def __init__(self, sweep: Sweep, spec: dict[str, Any], seed: int, run_dir: Path) -> None:
        self.sweep, self.spec, self.seed, self.run_dir = sweep, spec, seed, run_dir
        self.started = time.perf_counter()  # the run's wall time: set-up, training, evaluation, files
        self.started_at = utc_now()  # and when, so that a summary can tell runs that ran at once (sweep.workers)
        self.cfg, self.training_cfg, self.accelerator = sweep.cfg, sweep.cfg.training, sweep.accelerator
        self.id2label = dict(enumerate(sweep.label_list))
        self.label2id = {label: i for i, label in self.id2label.items()}
        self.params, self.levers = split_spec(spec)
        self.label = loss_label(spec)
        self.context = int(self.levers.get("context", 0))
        self.features = sweep.features_for(self.context)  # the splits encoded with this run's context
        pad_id = sweep.tokenizer.pad_token_id
        self.eval_pad_id = pad_id if pad_id is not None else 0
        self.state = TrainState(label_list=list(sweep.label_list))
        # the best epoch's validation log-probabilities: the O bias is tuned on them without a second pass
        self.best_validation_log_probs: list[Any] | None = None
        self.running_loss = torch.zeros((), device=self.accelerator.device)  # summed on device: no sync per batch
        self.running_batches = 0
        self.window_coverage: dict[str, int] | None = None

    # -------------------------------------------------------------------------------------------- setup

    def setup(self) -> None:
        """Everything the loop needs, seeded by this run's seed; resumed if a checkpoint is named."""
        set_seed(self.seed)
        self.setup_training_data()
        self.setup_model_and_loss()
        self.setup_data_and_optimizer()
        self.resume()
        self.trainable = [p for m in self.modules for p in m.parameters() if p.requires_grad]
        self.guard = NonFiniteGuard(self.training_cfg.max_nonfinite_steps, self.label)
        self.guard.skipped = self.state.nonfinite_skipped
        # on a terminal only (disable=None): in a log file the epoch lines say the same without \r-redrawn lines
        self.bar = tqdm(total=self.total_steps, initial=self.state.global_step, desc=self.run_dir.name, unit="step",
                        dynamic_ncols=True, leave=False, disable=None if self.accelerator.is_local_main_process else True)

    def setup_training_data(self) -> None:
        """The training windows this run sees: all of them, with seeded augmented sentences added (``augment``
        lever), then a seeded sample of those (``sampling`` lever); all encoded with the run's document
        context (``context`` lever: an augmented sentence gets its source sentence's)."""
        self.train_features = self.features["train"]
        self.augment: AugmentReport | None = None
        self.sampling: SamplingReport | None = None
        self.context_report: ContextReport | None = None
        if self.context:
            self.context_report = context_report(self.train_features, self.context)
        data = self.cfg.data
        augment = self.levers.get("augment", AUGMENTATION[0])
        if augment != AUGMENTATION[0]:
            self.train_features, self.augment = augment_split(
                self.train_features, augment, self.seed, self.sweep.tokenizer, label_list=self.sweep.label_list,
                scheme=data.scheme, max_length=data.max_length, stride=data.stride,
                label_all_subwords=data.label_all_subwords, types=data.augment_types, copies=data.augment_copies,
                rate=data.augment_rate, context=self.context)
        method = self.levers.get("sampling", "none")
        if method != "none":
            self.train_features, self.sampling = resample(self.train_features, method, self.seed,
                                                          keep_empty=data.keep_empty, rare_share=data.rare_share)

    def setup_model_and_loss(self) -> None:
        """The encoder with a fresh classification head, and the loss with its class statistics."""
        model_cfg, num_labels = self.cfg.model, len(self.id2label)
        self.model = load_model(
            self.sweep.encoder_path,
            num_labels=num_labels,
            id2label=self.id2label,
            label2id=self.label2id,
            revision=model_cfg.revision,
            trust_remote_code=model_cfg.trust_remote_code,
            allow_pickle_weights=model_cfg.allow_pickle_weights,
            **({"attn_implementation": model_cfg.attn_implementation} if model_cfg.attn_implementation else {}),
        )
        if model_cfg.freeze_layers:
            try:
                frozen = freeze_lower_layers(self.model, model_cfg.freeze_layers)
            except ValueError as err:
                raise ConfigError(str(err)) from None
            logger.info("%s: embeddings and %d lowest layers frozen (%.1fM parameters)", self.label,
                        model_cfg.freeze_layers, frozen / 1e6, main_process_only=True)
        # CPU only: PyTorch's per-element Bernoulli draws were 9% of a training step (tagger/train/dropout.py).
        on_cpu = self.accelerator.device.type == "cpu"
        self.dropout_swap = use_fast_dropout(self.model) if self.training_cfg.fast_dropout and on_cpu else {}
        self.class_counts = class_counts(self.train_features, num_labels)
        try:
            loss_fn = build_loss(self.spec["name"], num_labels=num_labels, o_label_id=self.label2id.get("O", 0),
                                 class_counts=self.class_counts, **self.params)
        except ValueError as err:
            raise ConfigError(f"loss {self.label}: {err}") from None
        self.loss_fn = loss_fn.to(self.accelerator.device)
        self.crf = None
        if self.levers.get("head") == "crf":
            self.crf = CRF(self.sweep.label_list, self.cfg.data.scheme).to(self.accelerator.device)
            # words per sentence, looked up by each window's sentence_id: whether a window ends its sentence
            self.sentence_words = torch.tensor(self.train_features.num_words, device=self.accelerator.device)
        for attr in ("class_weights", "alpha"):
            weights = getattr(self.loss_fn, attr, None)
            if isinstance(weights, torch.Tensor):
                logger.info("%s %s: %s", self.label, attr,
                            {self.id2label[i]: round(float(w), 4) for i, w in enumerate(weights.flatten().tolist())},
                            main_process_only=True)

    def setup_data_and_optimizer(self) -> None:
        """Token-budget batches, AdamW and the warm-up schedule, all prepared by Accelerate."""
        training, accelerator = self.training_cfg, self.accelerator
        train = self.train_features
        # num_shards: Accelerate deals batch i to process i mod n; every process needs as many non-empty batches
        self.sampler = TokenBudgetBatchSampler(train.lengths, training.max_tokens_per_batch, training.max_sentences_per_batch,
                                               shuffle=True, seed=self.seed, num_shards=accelerator.num_processes)
        loader = DataLoader(WindowDataset(train.columns), batch_sampler=self.sampler,
                            collate_fn=WindowCollator(self.sweep.tokenizer.pad_token_id))
        optimizer = build_optimizer(self.model, training.learning_rate, training.weight_decay)
        if self.crf is not None:
            optimizer.add_param_group(crf_param_group(self.crf, self.cfg.model.crf_learning_rate or training.learning_rate))
            self.model, self.crf, self.optimizer, self.train_loader = accelerator.prepare(
                self.model, self.crf, optimizer, loader)
        else:
            self.model, self.optimizer, self.train_loader = accelerator.prepare(self.model, optimizer, loader)
        steps_per_epoch = math.ceil(len(self.train_loader) / training.gradient_accumulation_steps)
        self.total_steps = steps_per_epoch * training.epochs
        if training.max_steps is not None:
            self.total_steps = min(self.total_steps, training.max_steps)
        # Accelerate steps a prepared scheduler once per process, so the schedule is laid out for all of them.
        self.scheduler = accelerator.prepare(
            build_scheduler(self.optimizer, self.total_steps * accelerator.num_processes, training.warmup_ratio))

    def resume(self) -> None:
        """Continue from ``training.resume_from_checkpoint``, if it names a checkpoint (after ``prepare``)."""
        ckpt = find_checkpoint(self.run_dir, self.training_cfg.resume_from_checkpoint)
        if ckpt is None:
            return
        self.state = load_checkpoint(self.accelerator, ckpt, self.run_dir, self.sweep.label_list)
        logger.info("resumed from %s at epoch %d, optimizer step %d", ckpt.name, self.state.epoch,
                    self.state.global_step, main_process_only=True)

    # -------------------------------------------------------------------------------------------- training

    @property
    def reached_max_steps(self) -> bool:
        return self.state.global_step >= self.total_steps

    def train(self) -> None:
        """Epochs from where the state stands; SIGINT/SIGTERM checkpoint at the next optimizer step and exit."""
        with StopRequested() as stop:
            for epoch in range(self.state.epoch, self.training_cfg.epochs):
                if self.reached_max_steps:
                    break
                epoch_seconds = self.train_epoch(epoch, stop)
                if self.end_of_epoch(epoch, epoch_seconds):
                    break
        self.bar.close()

    def train_epoch(self, epoch: int, stop: StopRequested) -> float:
        """The rest of ``epoch`` (all of it unless resumed mid-epoch), or up to max_steps; returns its seconds."""
        state, accelerator = self.state, self.accelerator
        # Accelerate's loader hands its own count of finished passes to the sampler as the epoch when it
        # starts, and that count restarts at 0 in a resumed launch: set it, or a resumed run shuffles as epoch 0.
        self.train_loader.set_epoch(epoch)
        self.sampler.set_epoch(epoch)  # several processes: the sharded loader does not pass the epoch on
        self.model.train()
        loader: Iterable[dict[str, Any]] = self.train_loader
        if state.batches_done:
            loader = skip_done_batches(accelerator, self.train_loader, state.batches_done)
        progress = EpochProgress(start=time.perf_counter(), from_start=not state.batches_done,
                                 coverage=torch.zeros(len(self.sampler.lengths), dtype=torch.long,
                                                      device=accelerator.device),
                                 loss_sum=torch.zeros((), device=accelerator.device))
        self.progress = progress
        for batch in loader:
            finite = self.train_step(batch)
            progress.coverage[batch["window_id"]] += 1
            progress.tokens += batch["num_tokens"]
            progress.padded += batch["input_ids"].numel()
            state.batches_done += 1
            if not accelerator.sync_gradients:
                continue
            state.global_step += 1
            self.guard.update(finite, state.global_step)
            self.bar.update(1)
            if state.global_step % self.training_cfg.log_every_steps == 0 or state.global_step == self.total_steps:
                self.log_training(progress)
            if stop.signum is not None:
                self.checkpoint_and_exit(epoch, progress, stop.signum)
            if self.reached_max_steps:
                break
        self.window_coverage = self.check_coverage(progress)
        return self.count_progress(progress)

    def check_coverage(self, progress: EpochProgress) -> dict[str, int] | None:
        """How often each training window was trained on in this epoch, over all processes.

        None for an epoch resumed mid-way (its first part ran in another launch). A full epoch trains
        every window once; the sampler repeats windows only when there are fewer than processes.
        """
        if not progress.from_start:
            return None
        seen = self.accelerator.reduce(progress.coverage, reduction="sum")  # a collective: every rank calls it
        coverage = {"windows": int(seen.numel()), "trained": int(seen.sum()), "missed": int((seen == 0).sum()),
                    "repeated": int((seen > 1).sum())}
        if (coverage["missed"] or coverage["repeated"] > self.sampler.repeated_windows) and not self.reached_max_steps:
            logger.warning("%s: windows missed %d, repeated %d in an epoch", self.run_dir.name, coverage["missed"],
                           coverage["repeated"], main_process_only=True)
        return coverage

    def train_step(self, batch: dict[str, Any]) -> bool:
        """One batch: forward, loss, backward; the batch that ends an accumulation also clips and steps.

        ``batch``: ``input_ids``/``attention_mask``/``labels`` [B, T]. Returns False when this batch's
        optimizer step was skipped for a NaN/inf gradient, else True.
        """
        accelerator = self.accelerator
        finite = True
        with accelerator.accumulate(*self.modules):
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            # logits [B, T, C], labels [B, T]
            loss = self.loss_fn(logits, batch["labels"]) if self.crf is None else self.crf_loss(logits, batch)
            # several processes: weigh this rank's mean by its share of the step's labelled tokens, so that
            # DDP's average is the mean over all of them (tagger/train/distributed.py)
            scale = rank_loss_scale(labelled_tokens(batch["labels"]))
            accelerator.backward(loss if scale is None else loss * scale)
            self.running_loss += loss.detach()
            self.running_batches += 1
            self.progress.loss_sum += loss.detach()
            self.progress.batches += 1
            if accelerator.sync_gradients:
                max_norm = self.training_cfg.max_grad_norm if self.training_cfg.max_grad_norm > 0 else float("inf")
                grad_norm = accelerator.clip_grad_norm_(self.trainable, max_norm)
                # the one host sync per optimizer step: skip updates from NaN/inf gradients
                finite = bool(torch.isfinite(grad_norm)) if grad_norm is not None else True
                if finite or accelerator.scaler is not None:
                    self.optimizer.step()  # under fp16 the GradScaler itself skips inf steps and lowers the scale
                    finite = finite and not self.optimizer.step_was_skipped
                if finite:
                    self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
        return finite

    @property
    def modules(self) -> list[torch.nn.Module]:
        """What trains: the model, and the CRF head when the run has one."""
        return [self.model] if self.crf is None else [self.model, self.crf]

    def crf_loss(self, logits: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        """The CRF's NLL per labelled token + ``model.crf_token_weight`` x the run's loss on the logits."""
        nll = crf_nll_per_token(self.crf, logits, batch["labels"], batch["word_index"],
                                self.sentence_words[batch["sentence_id"]], batch.get("max_words"))
        weight = self.cfg.model.crf_token_weight
        return nll + weight * self.loss_fn(logits, batch["labels"]) if weight else nll

    @property
    def crf_module(self) -> CRF | None:
        return self.accelerator.unwrap_model(self.crf) if self.crf is not None else None

    def best_weights(self) -> torch.nn.Module:
        """What the best epoch keeps (unwrapped): the model, with the CRF beside it when the run has one."""
        model = self.accelerator.unwrap_model(self.model)
        return model if self.crf is None else torch.nn.ModuleDict({"model": model, "crf": self.crf_module})

    def log_training(self, progress: EpochProgress) -> None:
        """Mean loss since the last log, learning rate and throughput: to the bar and the trackers."""
        mean_loss = (self.running_loss / max(1, self.running_batches)).item()
        elapsed = time.perf_counter() - progress.start
        tps = progress.tokens * self.accelerator.num_processes / max(elapsed, 1e-9)
        self.bar.set_postfix(loss=f"{mean_loss:.4f}", tok_s=f"{tps:,.0f}")
        name = self.run_dir.name
        self.accelerator.log({f"{name}/train_loss": mean_loss, f"{name}/lr": self.scheduler.get_last_lr()[0],
                              f"{name}/tokens_per_s": tps}, step=self.state.global_step)
        self.running_loss.zero_()
        self.running_batches = 0

    def log_epoch(self, epoch: int, val_f1: float, epoch_seconds: float, improved: bool) -> None:
        """One line per epoch with what a person watches: loss, validation F1, speed, the time left."""
        progress = self.progress
        mean_loss = (progress.loss_sum / max(1, progress.batches)).item() if progress.loss_sum is not None else 0.0
        tps = progress.tokens * self.accelerator.num_processes / max(epoch_seconds, 1e-9)
        self.sweep.clock.end_epoch(epoch + 1)
        logger.info("%s epoch %d/%d: loss %.4f, validation F1 %.1f%s, %s tokens/s, %s; %s", self.run_dir.name,
                    epoch + 1, self.training_cfg.epochs, mean_loss, 100 * val_f1, " (best)" if improved else "", f"{tps:,.0f}",
                    format_duration(epoch_seconds), self.sweep.clock.describe(), main_process_only=True)

    def count_progress(self, progress: EpochProgress) -> float:
        """Add the epoch's (or its part's) time and tokens to the state; returns the seconds."""
        seconds = time.perf_counter() - progress.start
        self.state.train_seconds += seconds
        self.state.train_tokens += progress.tokens * self.accelerator.num_processes
        self.state.train_padded_tokens += progress.padded * self.accelerator.num_processes
        return seconds

    def checkpoint_and_exit(self, epoch: int, progress: EpochProgress, signum: int) -> NoReturn:
        """Save where we are in ``epoch`` so that resuming continues from the next batch, then stop."""
        self.count_progress(progress)
        self.state.nonfinite_skipped = self.guard.skipped
        self.state.epoch = epoch
        save_checkpoint(self.accelerator, self.run_dir, self.state)
        self.bar.close()
        raise Interrupted(f"stopped by signal {signum} at optimizer step {self.state.global_step}; "
                          f"resume with training.resume_from_checkpoint=latest", signum)

    def end_of_epoch(self, epoch: int, epoch_seconds: float) -> bool:
        """Validate, keep the best weights, checkpoint; True when patience says stop early."""
        state, training, name = self.state, self.training_cfg, self.run_dir.name
        val_metrics, _, val_log_probs = self.evaluate("validation")
        self.accelerator.log({f"{name}/validation_f1": val_metrics["f1"],
                              f"{name}/validation_precision": val_metrics["precision"],
                              f"{name}/validation_recall": val_metrics["recall"]}, step=state.global_step)
        improved = state.end_epoch(epoch, val_metrics, epoch_seconds)
        self.log_epoch(epoch, val_metrics["f1"], epoch_seconds, improved)
        if self.window_coverage is not None:
            state.history[-1]["window_coverage"] = self.window_coverage
        if improved:
            save_best(self.accelerator, self.best_weights(), self.run_dir)
            self.best_validation_log_probs = val_log_probs
        state.nonfinite_skipped = self.guard.skipped
        if training.checkpointing == "epoch" and epoch + 1 < training.epochs and not self.reached_max_steps:
            save_checkpoint(self.accelerator, self.run_dir, state)
        if training.patience is not None and state.stale_epochs >= training.patience:
            logger.info("%s: no better validation F1 for %d epochs, stopping early", name, training.patience,
                        main_process_only=True)
            return True
        return False

    def evaluate(self, split: str) -> tuple[dict[str, Any], list[list[str]], list[Any]]:
        """Scores, tags and word log-probabilities of ``split`` under training.decoding (or the CRF)."""
        return evaluate_split(self.model, self.features[split], self.accelerator,
                              label_list=self.sweep.label_list, pad_token_id=self.eval_pad_id,
                              max_tokens_per_batch=self.training_cfg.eval_max_tokens_per_batch, decoding=self.training_cfg.decoding,
                              scheme=self.cfg.data.scheme, metric_mode=self.training_cfg.metric_mode, crf=self.crf_module)

    # -------------------------------------------------------------------------------------------- artifacts

    def save_artifacts(self) -> dict[str, Any]:
        """The best epoch scores the test split; model + card, predictions and all_results.json are written.

        The same model is scored under every scoring (tagger.decoding: the biases are tuned on validation
        before test is decoded). all_results.json is written last: its presence marks the run done.
        Returns its content.
        """
        unwrapped = self.accelerator.unwrap_model(self.model)
        restore_attention(unwrapped, self.dropout_swap)  # the saved config names a standard attention implementation
        load_best(self.best_weights(), self.run_dir)
        test_metrics, test_tags, test_lp = self.evaluate("test")
        val_metrics, val_lp = self.state.best_validation, self.best_validation_log_probs
        if val_metrics is None or val_lp is None:  # no epoch finished (max_steps=0), or resumed past the best one
            val_now, _, val_lp = self.evaluate("validation")  # the best weights' log-probabilities, for the O bias
            val_metrics = val_metrics or val_now
        result = self.results(val_metrics, test_metrics)
        if self.accelerator.is_main_process:
            features, scheme = self.features, self.cfg.data.scheme
            # every scoring of the linear head, the viterbi ones for a CRF (its emissions shifted by the biases)
            chain = self.crf_module.chain_scores() if self.crf is not None else None
            default = "viterbi" if chain is not None else self.training_cfg.decoding
            scored = score_decodings(self.sweep.label_list, (features["validation"].gold_tags, val_lp),
                                     (features["test"].gold_tags, test_lp), scheme=scheme,
                                     mode=self.training_cfg.metric_mode, chain=chain,
                                     scorings=scorings_for(scheme, crf=chain is not None,
                                                           shown=self.cfg.sweep_decodings(), default=default))
            result.update(decoding=default, decodings={k: v.to_json() for k, v in scored.items()})
            if chain is not None:  # the CRF's own entity marginals on test: its Viterbi with no bias
                result["calibration"] = scored["viterbi"].calibration
            if self.cfg.output.save_model:
                self.save_model(result, decoding_entry(default, scheme, scored))
            self.check_scores(test_tags, scored)
            test = features["test"]
            write_predictions(self.run_dir / predictions_name(None), test.tokens, test.gold_tags, test_tags)
            for name, scoring in scored.items():
                write_predictions(self.run_dir / predictions_name(name), test.tokens, test.gold_tags, scoring.test_tags)
            result["run_seconds"] = round(time.perf_counter() - self.started, 2)
            result.update(started_at=self.started_at, finished_at=utc_now())
            atomic_write_json(self.run_dir / "all_results.json", result)
        return result

    def check_scores(self, test_tags: list[list[str]], scored: dict[str, Any]) -> None:
        """seqeval (the scores reported) and tagger's chunker (the bootstrap, the error classes) must read the
        test split's entities alike under every decoding: a mismatch stops the run before its results exist."""
        gold = self.features["test"].gold_tags
        decoded = [("crf" if self.crf is not None else self.training_cfg.decoding, test_tags)]
        for name, scoring in scored.items():
            decoded.append((name, scoring.test_tags))
        for name, tags in decoded:
            check_agreement(gold, tags, self.training_cfg.metric_mode, f"{self.run_dir.name}, test split, {name}")

    def results(self, validation: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
        """all_results.json: the scores, the training's course and cost, where it ran."""
        state = self.state
        return {
            "run": self.run_dir.name,
            "loss": self.spec["name"],
            "params": self.params,
            "label": self.label,
            "seed": self.seed,
            "validation": validation,
            "test": test,
            "best_epoch": state.best_epoch,
            "epochs_run": len(state.history),
            "optimizer_steps": state.global_step,
            "history": state.history,
            "train_seconds": round(state.train_seconds, 2),
            "train_tokens": state.train_tokens,
            "train_tokens_per_second": state.tokens_per_second,
            "padding_share": state.padding_share,
            "peak_rss_mb": peak_rss_mb(),
            "nonfinite_steps_skipped": self.guard.skipped,
            "class_counts": dict(zip(self.sweep.label_list, self.class_counts)),
            "levers": self.levers,
            "sampling": self.sampling.to_json() if self.sampling is not None else None,
            "augment": self.augment.to_json() if self.augment is not None else None,
            "context": self.context_report.to_json() if self.context_report is not None else None,
            "num_processes": self.accelerator.num_processes,
            "hardware": hardware(),
        }

    def save_model(self, result: dict[str, Any], decoding: dict[str, Any]) -> None:
        """The model in HF format with its tokenizer (and its CRF head), tagger_run.json (with the decoding
        Tagger applies by default: its biases, and for a linear head its decoding) and model card (main process)."""
        info = sanitize_info(self.sweep.run_info)  # no local paths in what gets published
        info.update(
            loss={"name": self.spec["name"], "params": self.params, "formula": getattr(self.loss_fn, "formula", ""),
                  "citation": getattr(self.loss_fn, "citation", "")},
            hyperparameters=card_hyperparameters(
                [config_to_dict(self.training_cfg), config_to_dict(self.cfg.data)],
                mixed_precision=self.accelerator.mixed_precision, num_processes=self.accelerator.num_processes,
                seed=self.seed, augment=self.levers.get("augment", AUGMENTATION[0]),
                sampling=self.levers.get("sampling", "none"), head=self.levers.get("head", "linear"),
                context=self.context, freeze_layers=self.cfg.model.freeze_layers,
                **({"num_threads": torch.get_num_threads()} if self.accelerator.device.type == "cpu" else {})),
            best_epoch=result["best_epoch"], validation=result["validation"], test=result["test"],
            train_seconds=result["train_seconds"], hardware=result["hardware"], decoding=decoding,
        )
        if self.crf is not None:
            info["crf"] = {"scheme": self.crf_module.scheme, "token_weight": self.cfg.model.crf_token_weight,
                           "learning_rate": self.cfg.model.crf_learning_rate or self.training_cfg.learning_rate}
        with atomic_dir(self.run_dir / "model") as tmp:
            self.accelerator.unwrap_model(self.model).save_pretrained(tmp, safe_serialization=True)
            follow_umask(*tmp.glob("*.safetensors"))  # transformers writes them 0600
            if self.crf is not None:
                save_crf(self.crf_module, tmp)
            self.sweep.tokenizer.save_pretrained(tmp)
            atomic_write_json(tmp / "tagger_run.json", info)
            write_model_card(tmp, info)

    def cleanup(self) -> None:
        """Checkpoints go once the artifacts are written; Accelerate forgets this run's model and optimizer."""
        if self.accelerator.is_main_process:
            remove_checkpoints(self.run_dir)
        self.accelerator.wait_for_everyone()
        self.accelerator.free_memory()


# ------------------------------------------------------------------------------------------------ the sweep's end


def all_done(sweep: Sweep, jobs: list[RunJob]) -> bool:
    """Whether every run of the sweep is finished; else the shard that finishes last writes the summary."""
    missing = [job.name for job in jobs if not job.done]
    if missing:
        logger.info("%d of %d runs are not finished yet (%s): the launch that finishes the last one writes the "
                    "summary, or `tagger summarize %s` summarizes what is finished", len(missing), len(jobs),
                    ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else ""), sweep.out_dir)
    return not missing


def write_sweep_summary(sweep: Sweep, jobs: list[RunJob], studies: list[str]) -> dict[str, Any]:
    """summary.{json,csv,md,png} over every run (and the searches), the table on stdout (main process)."""
    out_dir = sweep.out_dir
    summary = summarize_folder(out_dir, runs=[job.name for job in jobs], studies=studies,
                               label_list=sweep.label_list, mode=sweep.cfg.training.metric_mode,
                               decodings=sweep.cfg.sweep_decodings(), report=sweep.cfg.output.report,
                               features=sweep.features)
    sys.stdout.write("\n" + summary["table_text"] + "\n")
    sys.stdout.write(f"\nsummary: {out_dir / 'summary.md'} (json, csv, png beside it)\n")
    if "report_path" in summary:
        sys.stdout.write(f"report: {summary['report_path']}\n")
    return summary


if __name__ == "__main__":
    sys.exit(main())
