#!/usr/bin/env python
"""Training throughput of tagger's loop against transformers' Trainer, on one machine, in one run.

    python scripts/bench_train.py                        # full: WNUT-17 train, 3 epochs, every setup
    python scripts/bench_train.py --seeds 1 2 3 --setups-extra-seeds ab --peer-json outputs/peer-wnut17.json
    python scripts/bench_train.py --data conll2003 --setups b --skip-losses --peer-json outputs/peer-conll2003.json
    python scripts/bench_train.py --train-sentences 200 --epochs 1 --loss-rounds 3   # a quick look
    python scripts/bench_train.py --smoke                # tiny settings (the test)
    python scripts/bench_train.py --compile-check --threads-check --dropout-check   # also time these on their own
    python scripts/bench_train.py --skip-training --skip-losses --workers-check --freeze-check   # sweep.workers, frozen layers
    python scripts/bench_train.py --skip-training --skip-losses --crf-check --loss-rounds 20   # the CRF head's step cost
    python scripts/bench_train.py --skip-training --loss-rounds 40                  # only the per-loss step timing

Setups, each in its own subprocess, one after the other, same hyperparameters (packaged MiniLM,
lr 5e-5 linear decay, no warm-up, weight decay 0, clip 1.0, 32 sentences per batch or the same subwords
per batch, max length 128, CE):

  (a) tagger   ``recipes/ner.py``, numbers from its all_results.json; its batches are sorted by length and,
               by default (``--tagger-batches tokens``), each holds up to the mean subwords of (b)'s
               batches of 32 sentences (993 on WNUT-17), so the optimizer takes about as many steps over
               as many tokens; ``--tagger-batches sentences`` takes 32 sentences of similar length instead
  (b) Trainer  as transformers' examples/pytorch/token-classification/run_ner.py does it: Trainer +
               DataCollatorForTokenClassification, random batches of 32, truncation at 128, first subword labelled
  (c) Trainer  the same with ``train_sampling_strategy="group_by_length"`` (``group_by_length=True`` before v5)
  (d) Trainer  (c) with ``bf16=True`` (CPU autocast), the switch a Trainer user flips to match (a)'s precision;
               run by default where (a) trains in bf16

(a) trains in the precision its ``training.mixed_precision`` picks (``--precision``, default ``auto``:
bf16 autocast on a CPU with AVX512-BF16/AMX, fp32 elsewhere); (b) and (c) keep the Trainer's default
fp32, as run_ner.py does. ``--precision no`` compares fp32 with fp32.

``--data`` picks the data set (``wnut17`` or ``conll2003``, found where the recipe finds named data sets:
$TAGGER_DATA_DIR, data/, ../shared/data);
the recipe reads it with ``tagger.data``, the Trainer runs with ``_bench_common.read_conll`` (independent
of tagger). ``--setups`` picks the runs (any of ``abcd``; ``--skip-reference`` = ``--setups a``),
``--seeds`` repeats them: for each seed, each setup (``--setups-extra-seeds`` narrows the setups
run for the seeds after the first, e.g. ``ab`` runs (c) for the first seed only).

Every final model (the recipe's saved model is its best epoch by validation F1, the Trainer's its last
step) is then scored the same way on the validation and the test split: every word predicted with
``tagger.predict.Tagger`` (windows, no truncation), seqeval conlleval mode, per type as well. The report
shows one row per (setup, seed) and, per setup, the mean +- sample standard deviation of the F1s over
seeds; speed ratios compare per-setup means of tokens/s over their runs, the F1 check the mean
validation F1s. ``--peer-json`` writes setup (b)'s scores as the "peer" row of tagger's sweep card.
The run also times one training step per loss relative to CE (in-process, interleaved, the same
batches, in (a)'s precision; ``--skip-training`` runs only these timings), and the achieved training
FLOP/s against a 2048x2048 matmul of the run's precision (fp32, or bf16 for bf16 runs) measured in the
same process with the same threads.

The parts: this file (arguments, the order of the runs, the top-level flow), ``_bench_runs.py`` (the
setups, (a) the recipe in a subprocess, the same-way scoring), ``_bench_reference.py`` (the Trainer
runs (b), (c), (d)), ``_bench_timing.py`` (the in-process timings and the matmul peak) and
``_bench_report.py`` (summaries, checks, the JSON and the peer row) and ``_bench_text.py`` (the printed
report, rendered from the JSON alone, as docs/performance.md renders it through ``scripts/figures.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench_common as common  # noqa: E402

common.use_this_checkout()  # its tagger for the scoring and the timings, as child_env gives the runs
import _bench_processes as processes_mod  # noqa: E402
import _bench_report as report_mod  # noqa: E402
import _bench_runs as runs_mod  # noqa: E402
import _bench_text as text_mod  # noqa: E402
import _bench_timing as timing  # noqa: E402
from _bench_reference import reference_worker, run_reference  # noqa: E402
from _bench_runs import NAMES, NO_SENTENCE_CAP, SETUPS  # noqa: E402

from tagger.catalog import PACKAGED_ENCODER  # noqa: E402


# ------------------------------------------------------------------------------------------------ arguments


def _setups(text: str, p: argparse.ArgumentParser, flag: str) -> str:
    if not text or set(text) - set(SETUPS):
        p.error(f"{flag}: letters out of {SETUPS!r} (e.g. 'ab', 'b'), not {text!r}")
    return "".join(v for v in SETUPS if v in text)


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    """What is trained: data, setups, seeds, hyperparameters."""
    p.add_argument("--data", choices=list(common.DATA_SETS), default="wnut17",
                   help="data set for every setup (default wnut17; the recipe gets data.name=...)")
    p.add_argument("--setups", help="which runs: any of a (tagger), b (Trainer), c (Trainer + group_by_length), "
                                      "d ((c) with the Trainer's bf16=True); default abc, and d where (a) runs in "
                                      "bf16")
    p.add_argument("--precision", choices=["auto", "no", "bf16"], default="auto",
                   help="(a)'s training.mixed_precision (default auto: bf16 autocast on a CPU with AVX512-BF16/AMX, "
                        "else fp32); 'no' compares fp32 with fp32")
    p.add_argument("--seeds", type=int, nargs="+",
                   help="run each setup once per seed, sequentially: for each seed, each setup "
                        "(default: the --seed value alone)")
    p.add_argument("--setups-extra-seeds",
                   help="setups run for the seeds after the first (default: all of --setups); e.g. ab with "
                        "--seeds 1 2 3 runs (c) for seed 1 only")
    p.add_argument("--train-sentences", type=int, help="first N training sentences (default: all)")
    p.add_argument("--eval-sentences", type=int, help="first N validation and test sentences (default: all)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--learning-rate", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=32, help="sentences per batch")
    p.add_argument("--tagger-batches", choices=["tokens", "sentences"], default="tokens",
                   help="how (a) fills a batch: 'tokens' (default) gives every batch the same budget of subwords, "
                        "the mean of (b)'s batches of --batch-size sentences (total subwords / number of (b) "
                        "batches), as many sentences as fit; 'sentences' takes --batch-size sentences of similar "
                        "length (budget --batch-size x --max-length)")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--seed", type=int, default=1, help="the seed when --seeds is not given")
    p.add_argument("--model", default=PACKAGED_ENCODER, help="encoder (recipe name or folder)")


def _add_check_arguments(p: argparse.ArgumentParser) -> None:
    """Which runs and timings: smoke settings, skips, the optional A/B checks."""
    p.add_argument("--smoke", action="store_true",
                   help="tiny settings (64 sentences, 1 epoch, 2 timing rounds; all runs at once): checks, not figures")
    p.add_argument("--skip-reference", action="store_true", help="only tagger's loop (= --setups a)")
    p.add_argument("--skip-losses", action="store_true", help="skip the per-loss step timing")
    p.add_argument("--skip-training", action="store_true",
                   help="no training runs: only the in-process step timings (losses, and --dropout-check, "
                        "--crf-check, --threads-check, --compile-check where given)")
    p.add_argument("--loss-rounds", type=int, default=16, help="rounds of the interleaved per-loss timing")
    p.add_argument("--compile-check", action="store_true", help="also time torch.compile against eager")
    p.add_argument("--threads-check", action="store_true", help="also time a step at 1 thread vs the default")
    p.add_argument("--freeze-check", action="store_true",
                   help="also time a step with the embeddings and 2 lowest layers frozen against the whole model")
    p.add_argument("--workers-check", action="store_true",
                   help="also train a sweep of 2 runs one after the other and with sweep.workers=2, and print the "
                        "ratio of their wall times")
    p.add_argument("--processes-check", action="store_true",
                   help="also train the recipe as 1 process x 2 threads and as 2 processes x 1 thread (torchrun) "
                        "and print the ratio of their tokens/s")
    p.add_argument("--precision-check", action="store_true",
                   help="also time a step in fp32 against bf16 autocast (interleaved, same batches)")
    p.add_argument("--dropout-check", action="store_true",
                   help="also time a step with PyTorch's dropout against tagger's CPU-fast dropout")
    p.add_argument("--crf-check", action="store_true",
                   help="also time a step with the linear head against the CRF head (model.head: crf), interleaved "
                        "on the same batches, --loss-rounds rounds")


def _add_output_arguments(p: argparse.ArgumentParser) -> None:
    """Where things go, and the internal arguments of one reference run in its own process."""
    p.add_argument("--work-dir", help="where runs are written (default: a temporary folder, removed)")
    p.add_argument("--json", help="write every figure to this JSON file (scores as fractions, 0-1)")
    p.add_argument("--peer-json", metavar="FILE",
                   help="write setup (b)'s results as the 'peer' row for tagger's sweep card: name, data, model, "
                        "settings, seeds, validation_f1 / test_f1 / train_seconds per seed, test_per_type "
                        "{TYPE: {f1, precision, recall, support: per seed}} and the command that reproduces it (paths "
                        "relative to the repository; a path outside it is reduced to its name). Scores are fractions "
                        "(0-1), like --json; needs b in --setups")
    # internal: one reference run in this subprocess
    p.add_argument("--reference-worker", choices=["b", "c", "d"], help=argparse.SUPPRESS)
    p.add_argument("--out-dir", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_run_arguments(p)
    _add_check_arguments(p)
    _add_output_arguments(p)
    args = p.parse_args(argv)
    if args.smoke:
        args.train_sentences = args.train_sentences or 64
        args.eval_sentences = args.eval_sentences or 32
        args.epochs = 1
        args.loss_rounds = min(args.loss_rounds, 2)
    if args.reference_worker:
        return args
    if args.skip_reference:
        if args.setups not in (None, "a"):
            p.error("--skip-reference means --setups a; give one of them")
        args.setups = "a"
    from tagger.train.precision import resolve_mixed_precision

    args.tagger_precision = resolve_mixed_precision(args.precision, "cpu")[0]
    default_setups = "abcd" if args.tagger_precision == "bf16" else "abc"
    args.setups = _setups(args.setups or default_setups, p, "--setups")
    args.seeds = args.seeds or [args.seed]
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds: each seed once, not {args.seeds}")
    args.seed = args.seeds[0]  # padding and loss-timing batches
    extra = args.setups_extra_seeds
    args.setups_extra_seeds = _setups(extra, p, "--setups-extra-seeds") if extra else args.setups
    if set(args.setups_extra_seeds) - set(args.setups):
        p.error(f"--setups-extra-seeds {args.setups_extra_seeds!r} is not a subset of --setups {args.setups!r}")
    if args.peer_json and "b" not in args.setups:
        p.error("--peer-json needs setup b (--setups with b)")
    if args.peer_json and args.skip_training:
        p.error("--peer-json needs the training runs (not --skip-training)")
    return args


def plan(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(setup, seed) in run order: for each seed, each setup (after the first seed, only the extra-seed ones)."""
    if getattr(args, "skip_training", False):
        return []
    return [(v, seed) for i, seed in enumerate(args.seeds) for v in args.setups
            if i == 0 or v in args.setups_extra_seeds]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.reference_worker:
        args.setup = args.reference_worker
        return reference_worker(args)

    if args.work_dir:
        Path(args.work_dir).mkdir(parents=True, exist_ok=True)
        return bench(args, Path(args.work_dir))
    with tempfile.TemporaryDirectory(prefix="bench_train-") as tmp:
        return bench(args, Path(tmp))


# ------------------------------------------------------------------------------------------------ the flow


def announce(report: dict[str, Any]) -> None:
    """One line: what is about to run, with which settings, on what (the report's headline)."""
    print(text_mod.headline(report), flush=True)


def train_all(todo: list[tuple[str, int]], args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """The training runs, one subprocess each, sequentially: for each seed, each setup (--smoke starts them
    all at once: its timings mean nothing, it only checks that everything runs)."""
    def start(v: str, seed: int) -> Any:
        return runs_mod.run_tagger(seed, args, work) if v == "a" else run_reference(v, seed, args, work)

    if args.smoke:
        finishers = [start(v, seed) for v, seed in todo]
        return [finish() for finish in finishers]
    runs = []
    for v, seed in todo:
        print(f"  {NAMES[v]}, seed {seed} ...", flush=True)
        load0 = os.getloadavg()[0]
        r = start(v, seed)()
        # the 1-minute load average before and after: other processes share the cores
        r["load_average"] = [load0, os.getloadavg()[0]]
        runs.append(r)
    return runs


def new_report(args: argparse.Namespace, todo: list[tuple[str, int]]) -> dict[str, Any]:
    import torch

    return {"settings": {k: v for k, v in vars(args).items() if k not in ("out_dir", "result")},
            "data": {"name": args.data, "title": common.DATA_SETS[args.data]},
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "machine": common.machine(), "flop_formula": common.FLOP_FORMULA,
            "plan": [{"setup": v, "seed": s} for v, s in todo]}


def bench(args: argparse.Namespace, work: Path) -> int:
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    path = common.encoder_path(args.model)
    todo = plan(args)
    report = new_report(args, todo)
    t_all = time.perf_counter()
    peaks = [timing.matmul_peaks(args)]  # at the start and at the end of the run
    tokenizer = AutoTokenizer.from_pretrained(path)
    train = common.read_split(args.data, "train")[: args.train_sentences]
    args.token_budget = runs_mod.same_tokens_budget(tokenizer, train, args.max_length, args.batch_size)
    report["settings"]["token_budget"] = args.token_budget if args.tagger_batches == "tokens" else None
    announce(report)

    runs = train_all(todo, args, work)
    runs_mod.score_runs(runs, args)
    budget_args = (args.token_budget, NO_SENTENCE_CAP) if args.tagger_batches == "tokens" else None
    report["padding_by_batching"] = timing.batching_padding(tokenizer, train, args.max_length, args.batch_size,
                                                            args.seed, budget_args)
    batches, labels, counts = timing.timing_batches(tokenizer, train, args)
    num_labels = len(labels)
    timing.run_timings(report, args, path, batches, labels, counts)
    report["processes"] = processes_mod.processes_check(args, work) if args.processes_check else None
    report["workers"] = processes_mod.workers_check(args, work) if args.workers_check else None

    peaks.append(timing.matmul_peaks(args))
    enc = tokenizer([w for w, _ in train], is_split_into_words=True, truncation=True, max_length=args.max_length)
    report["efficiency"] = timing.efficiency(runs, peaks, path, num_labels, [len(x) for x in enc["input_ids"]],
                                             args.epochs)
    report["runs"] = runs
    report["setups"] = report_mod.summarise(runs)
    report["checks"] = report_mod.checks(report)
    report["total_seconds"] = time.perf_counter() - t_all
    peer = report_mod.peer_record(report, args) if args.peer_json else None
    if peer is not None:
        report["peer"] = peer.to_json()

    print("\n" + text_mod.report_text(report_mod.as_json(report)), end="")
    report_mod.write_outputs(report, args, peer, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
