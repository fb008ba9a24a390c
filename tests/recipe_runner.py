"""The training recipe as the tests run it: in this process by default, in a subprocess where the process
boundary is what a test checks (signals, several processes, the console of a real launch).

A subprocess pays about 7 s of torch and transformers imports before any work; in this process the
recipe's ``main`` runs with the same arguments, working folder and environment, and what it writes to
stdout and stderr (log lines, the summary table, one-line errors) comes back as a subprocess's would.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "ner.py"
#: what every launch in the tests runs under: offline, tokenizers without their own thread pool
BASE_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@dataclass
class Completed:
    """What a launch left: its exit code and what it wrote (``subprocess.CompletedProcess``'s fields)."""

    returncode: int
    stdout: str
    stderr: str


def recipe_module() -> ModuleType:
    """``recipes/ner.py`` imported once per test process (it is a script, not a package module)."""
    name = "tagger_tests_recipe_ner"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, RECIPE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


#: put before a test's own arguments (which win): the default sweep freezes 2 of MiniLM's 6 layers and trains
#: two runs at once, but the tiny encoders have 2 layers and a test of the loop wants its runs in this process;
#: tests/test_workers.py and tests/test_freeze.py check both at the shipped settings
TEST_DEFAULTS = ["model.freeze_layers=0", "sweep.workers=1"]


def run_recipe(args: list[str], cwd: Path, timeout: int = 600, env_extra: dict[str, str] | None = None,
               subprocess_: bool = False) -> Completed:
    """``recipes/ner.py args`` in ``cwd``: in this process, or in a child process with ``subprocess_=True``
    (after :data:`TEST_DEFAULTS`)."""
    args = [*TEST_DEFAULTS, *args]
    if subprocess_:
        env = child_env(env_extra)
        proc = subprocess.run([sys.executable, str(RECIPE), *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
        return Completed(proc.returncode, proc.stdout, proc.stderr)
    return run_in_process(args, cwd, env_extra)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child process's environment: offline, and this checkout's tagger first on the import path."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, **BASE_ENV, "PYTHONPATH": path, **(extra or {})}


@contextlib.contextmanager
def _environment(extra: dict[str, str], drop: tuple[str, ...] = ()) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in [*extra, *drop]}
    for key in drop:
        os.environ.pop(key, None)
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _reset_process_state(threads: int, root_level: int, root_handlers: list[logging.Handler]) -> None:
    """What a launch leaves behind in a process: Accelerate's singletons, torch's threads, logging handlers."""
    import torch
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    torch.set_num_threads(threads)
    root = logging.getLogger()
    root.setLevel(root_level)
    for handler in [h for h in root.handlers if h not in root_handlers]:
        root.removeHandler(handler)
        handler.close()


def run_in_process(args: list[str], cwd: Path, env_extra: dict[str, str] | None = None,
                   drop_env: tuple[str, ...] = ()) -> Completed:
    """The recipe's ``main(args)`` in this process, as a child process would run it."""
    ner = recipe_module()
    return _in_process(lambda: ner.main(list(args)), cwd, {**BASE_ENV, **(env_extra or {})}, drop_env)


def _in_process(main: Callable[[], int], cwd: Path, env: dict[str, str], drop_env: tuple[str, ...] = ()) -> Completed:
    """``main()`` in ``cwd`` under ``env`` (without the ``drop_env`` variables), with stdout and stderr captured
    and the process's state put back afterwards; an exception that escapes is printed as a child would."""
    import torch

    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    threads, root_level, root_handlers = torch.get_num_threads(), root.level, list(root.handlers)
    old_cwd = os.getcwd()
    try:
        os.chdir(cwd)
        with _environment(env, drop_env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main()
            except SystemExit as stop:  # argparse's --help and usage errors
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            except BaseException:  # noqa: BLE001 - a child process would print the traceback and exit 1
                traceback.print_exc(file=err)
                code = 1
    finally:
        os.chdir(old_cwd)
        _reset_process_state(threads, root_level, root_handlers)
    return Completed(int(code or 0), out.getvalue(), err.getvalue())


def run_cli(cwd: Path, *args: str, env_extra: dict[str, str] | None = None, drop_env: tuple[str, ...] = ()
            ) -> Completed:
    """``tagger args`` in ``cwd``, in this process (``tagger.cli.main``), as ``python -m tagger.cli`` would run."""
    from tagger import cli

    return _in_process(lambda: cli.main(list(args)), cwd, {**BASE_ENV, **(env_extra or {})}, drop_env)


def tiny_args(tiny_encoder_dir: str, data_dir: Path, out: Path, *extra: str) -> list[str]:
    """A sweep of one ``ce`` run of two epochs on 64 WNUT-17 sentences with the tiny random BERT, every layer
    trained, runs one at a time."""
    return [
        f"model.name_or_path={tiny_encoder_dir}",
        "data.name=wnut17", f"data.data_dir={data_dir}",
        "data.max_train_sentences=64", "data.max_eval_sentences=48",
        "data.max_length=32", "data.stride=8",
        "training.epochs=2", "training.learning_rate=1e-3", "training.max_tokens_per_batch=512",
        "training.log_every_steps=1", f"output.output_dir={out}", "output.report_to=jsonl",
        "sweep.losses=[{name: ce}]", "sweep.seeds=[1]",  # later overrides win
        *TEST_DEFAULTS,  # also here: some tests start the recipe themselves with these arguments
        *extra,
    ]
