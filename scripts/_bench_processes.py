"""What several CPU processes buy: the recipe as 1 process x 2 threads against 2 processes x 1 thread.

Both runs train the same data with the same settings (setup (a)'s, see ``_bench_runs.recipe_overrides``),
one after the other, on the same cores; the ratio of their training tokens/s is what a user of
``torchrun --nproc_per_node 2`` on this machine can expect, and the validation F1 of both shows that the
token-weighted loss and the even shards leave the result where it was.
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


def processes_check(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Both layouts, sequentially; the ratio is 2x1's tokens/s over 1x2's."""
    print(f"  processes check: {LAYOUTS['1x2']} vs {LAYOUTS['2x1']} (seed {args.seed}) ...", flush=True)
    one, two = (_run(layout, args, work) for layout in LAYOUTS)
    return {"runs": [one, two], "ratio": two["tokens_per_second"] / max(one["tokens_per_second"], 1e-9)}
