"""What several CPU processes buy: the recipe as 1 process x 2 threads against 2 processes x 1 thread.

``processes_check``: both runs train the same data with the same settings (setup (a)'s, see
``_bench_runs.recipe_overrides``), one after the other, on the same cores; the ratio of their training
tokens/s is what a user of ``torchrun --nproc_per_node 2`` on this machine can expect, and the
validation F1 of both shows that the token-weighted loss and the even shards leave the result where
it was.

``workers_check``: a sweep of two runs (seeds s and s+1) as one process that trains them one after the
other with every core, and as ``sweep.workers=2`` (two runs at once, each with half the cores); the
ratio of their wall times, start-up included, is what the default sweep's ``sweep.workers`` buys.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import _bench_common as common
import _bench_runs as runs_mod

LAYOUTS = {"1x2": "1 process x 2 threads", "2x1": "2 processes x 1 thread"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(layout: str, args: argparse.Namespace, out: Path) -> list[str]:
    recipe = [str(common.REPO / "recipes" / "ner.py"), *runs_mod.recipe_overrides(args, args.seed, out)]
    if layout == "1x2":
        return [sys.executable, *recipe, "training.num_threads=2"]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
            str(_free_port()), *recipe, "training.num_threads=1"]


def _run(layout: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out = work / f"processes-{layout}"
    out.mkdir(parents=True, exist_ok=True)
    cmd = _command(layout, args, out)
    t0 = time.perf_counter()
    common.start_logged(cmd, out / "log.txt", work, common.child_env(args.data), f"{LAYOUTS[layout]} ({' '.join(cmd)})")()
    result = json.loads(next((out / "runs").glob("*/all_results.json")).read_text())
    return {"layout": layout, "name": LAYOUTS[layout], "num_processes": result["num_processes"],
            "tokens_per_second": result["train_tokens_per_second"], "train_seconds": result["train_seconds"],
            "process_seconds": time.perf_counter() - t0, "validation_f1": result["validation"]["f1"],
            "optimizer_steps": result["optimizer_steps"]}


WORKER_LAYOUTS = {"sequential": "2 runs one after the other", "workers": "2 runs at once (sweep.workers=2)"}


def _sweep_run(layout: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out = work / f"workers-{layout}"
    out.mkdir(parents=True, exist_ok=True)
    two_runs = f"sweep.seeds=[{args.seed}, {args.seed + 1}]"  # later overrides win over recipe_overrides'
    cmd = [sys.executable, str(common.REPO / "recipes" / "ner.py"), *runs_mod.recipe_overrides(args, args.seed, out),
           two_runs, *(["sweep.workers=2"] if layout == "workers" else ["sweep.workers=1"])]
    t0 = time.perf_counter()
    common.start_logged(cmd, out / "log.txt", work, common.child_env(args.data),
                        f"{WORKER_LAYOUTS[layout]} ({' '.join(cmd)})")()
    results = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*/all_results.json"))]
    if len(results) != 2:
        raise SystemExit(f"{WORKER_LAYOUTS[layout]}: expected 2 finished runs under {out}, found {len(results)}")
    return {"layout": layout, "name": WORKER_LAYOUTS[layout], "wall_seconds": time.perf_counter() - t0,
            "hardware": [r["hardware"] for r in results],
            "tokens_per_second": [r["train_tokens_per_second"] for r in results],
            "train_seconds": [r["train_seconds"] for r in results],
            "validation_f1": [r["validation"]["f1"] for r in results]}


def workers_check(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Both layouts of a two-run sweep, one after the other; the ratio is sequential wall over workers wall."""
    print(f"  workers check: {WORKER_LAYOUTS['sequential']} vs {WORKER_LAYOUTS['workers']} ...", flush=True)
    one, two = (_sweep_run(layout, args, work) for layout in WORKER_LAYOUTS)
    return {"runs": [one, two], "ratio": one["wall_seconds"] / max(two["wall_seconds"], 1e-9)}


def processes_check(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Both layouts, sequentially; the ratio is 2x1's tokens/s over 1x2's."""
    print(f"  processes check: {LAYOUTS['1x2']} vs {LAYOUTS['2x1']} (seed {args.seed}) ...", flush=True)
    one, two = (_run(layout, args, work) for layout in LAYOUTS)
    return {"runs": [one, two], "ratio": two["tokens_per_second"] / max(one["tokens_per_second"], 1e-9)}
