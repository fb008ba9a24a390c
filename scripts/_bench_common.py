"""Helpers shared by the benchmarks (``bench_train.py`` and its ``_bench_*.py`` parts, ``bench_predict.py``)
and ``tests/test_pipeline_parity.py``.

Only the standard library, torch and transformers at import time: the reference (transformers-only)
parts of the benchmarks must not train, read or score with the ``tagger`` package; the few facts they
share with it (where data sets live, what the packaged encoder's name loads) are imported lazily.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


DATA_SETS = {"wnut17": "WNUT-17", "conll2003": "CoNLL-2003"}  # folder name -> display name


def data_dir(name: str = "wnut17") -> Path:
    """The data root holding ``<name>/train.conll``, looked for where the recipe looks for named data sets
    (``tagger.data.splits.data_roots``: $TAGGER_DATA_DIR, ``data/``, ``../shared/data``)."""
    from tagger.data.splits import data_roots

    roots = data_roots()
    for root in roots:
        if (root / name / "train.conll").is_file():
            return root
    raise SystemExit(f"{DATA_SETS.get(name, name)} not found under {', '.join(map(str, roots))}: set "
                     f"TAGGER_DATA_DIR to the folder holding {name}/{{train,validation,test}}.conll")


def child_env(data: str | None = None) -> dict[str, str]:
    """The environment of a benchmark's child runs: offline, and this checkout first on PYTHONPATH.

    REPO is the repository this file sits in, so a run started from any checkout (a worktree too)
    imports that checkout's tagger, not an installed one. With ``data``, $TAGGER_DATA_DIR is the root
    this process found for it, so every child reads the same files whatever its working directory.
    """
    path = os.pathsep.join(x for x in (str(REPO), os.environ.get("PYTHONPATH")) if x)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": path}
    if data:
        env["TAGGER_DATA_DIR"] = str(data_dir(data))
    return env


def use_this_checkout() -> None:
    """Import this checkout's tagger in this process too, as :func:`child_env` makes the child runs do."""
    if str(REPO) not in sys.path:
        sys.path.insert(1, str(REPO))  # after the script's own folder, before site-packages


def start_logged(cmd: list[str], log_path: Path, cwd: Path, env: dict[str, str], what: str) -> Callable[[], None]:
    """Start ``cmd`` with its output in ``log_path``; returns ``wait()``, which raises SystemExit naming ``what``
    and showing the log's tail when the command fails."""
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)

    def wait() -> None:
        proc.wait()
        log.close()
        if proc.returncode != 0:
            raise SystemExit(f"{what} failed, see {log_path}:\n" + log_path.read_text()[-3000:])

    return wait


def encoder_path(name: str) -> str:
    """What ``from_pretrained`` loads for an encoder name as the recipe takes it (the packaged encoder's
    name gives its folder): ``tagger.train.features.resolve_encoder``."""
    from tagger.train.features import resolve_encoder

    return resolve_encoder(name)[0]


def read_conll(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """(words, tags) per sentence of a CoNLL column file: the token is the first column, the tag the last.

    Both published layouts: WNUT-17's ``token<TAB>tag`` (a line holding a tab splits on tabs only)
    and CoNLL-2003's four space-separated columns ``token POS chunk NER`` (a line without a tab
    splits on runs of blanks). A line of only blanks (a lone tab, spaces) separates sentences;
    ``-DOCSTART-`` lines (in other copies of CoNLL-2003) end a sentence and are skipped. Tags are
    returned as written (no scheme conversion).

    Written independently of ``tagger.data`` on purpose: it feeds the transformers-only reference.
    """
    sents: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    with open(path, encoding="utf-8-sig") as fh:
        for line in fh:
            line = line.rstrip("\r\n")
            if not line.strip() or line.split()[0] == "-DOCSTART-":
                if words:
                    sents.append((words, tags))
                    words, tags = [], []
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            if len(parts) < 2:
                raise ValueError(f"{path}: a line with one column: {line!r}")
            words.append(parts[0])
            tags.append(parts[-1].strip())
    if words:
        sents.append((words, tags))
    return sents


def read_split(name: str, split: str) -> list[tuple[list[str], list[str]]]:
    """(words, tags) per sentence of ``<data_dir>/<name>/<split>.conll`` (name: wnut17 | conll2003)."""
    if name not in DATA_SETS:
        raise ValueError(f"unknown data set {name!r}: one of {', '.join(DATA_SETS)}")
    return read_conll(data_dir(name) / name / f"{split}.conll")


def wnut(split: str) -> list[tuple[list[str], list[str]]]:
    return read_split("wnut17", split)


def cpu_model() -> str | None:
    """The CPU's model name as /proc/cpuinfo gives it (None where there is no such file or line)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return None


def machine() -> dict[str, Any]:
    """What a benchmark's JSON records about the machine: the CPU's model name, the instruction set torch's
    kernels use (``torch.backends.cpu.get_cpu_capability()``: "AVX2", "AVX512", ...), and whether it
    multiplies bf16 in hardware (what ``training.mixed_precision: auto`` reads)."""
    import torch

    from tagger.train.precision import cpu_has_native_bf16

    return {"cpu_model": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": cpu_has_native_bf16()}


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def matmul_peak_flops(n: int = 2048, repeats: int = 10, device: str = "cpu", dtype: Any = None) -> float:
    """Best-of-``repeats`` FLOP/s of an n x n matmul (2 n^3 FLOPs) on ``device`` with torch's current threads."""
    import torch

    dtype = dtype or torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def encoder_dims(model: Any) -> dict[str, int]:
    """Non-embedding parameters (encoder layers + head), layers and hidden size of a BERT-like classifier."""
    cfg = model.config
    emb = sum(p.numel() for n, p in model.named_parameters() if ".embeddings." in f".{n}")
    total = sum(p.numel() for p in model.parameters())
    return {"non_embedding_params": total - emb, "layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size,
            "total_params": total}


FLOP_FORMULA = ("training FLOPs per sentence of n subwords = 3 x forward, forward = 2 x P x n + 4 x L x n^2 x H "
                "(P non-embedding parameters, L layers, H hidden; the n^2 term is QK^T and AV); padding not counted")


def training_flops(lengths: list[int], non_embedding_params: int, layers: int, hidden: int) -> float:
    """Useful training FLOPs of one pass over sentences of the given subword lengths (see FLOP_FORMULA)."""
    s1 = sum(lengths)
    s2 = sum(n * n for n in lengths)
    return 3 * (2 * non_embedding_params * s1 + 4 * layers * hidden * s2)


def median_ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of a[i] / b[i] (paired: the same round saw the same load)."""
    return statistics.median(x / y for x, y in zip(a, b))


# ------------------------------------------------------------------------------------------------ pipeline parity


def pipeline_words(tokenizer: Any, words: list[str]) -> dict[str, Any]:
    """How ``TokenClassificationPipeline`` (``is_split_into_words=True``) sees a sentence of data words.

    Mirrors ``gather_pre_entities``: a piece is a continuation ("subword") when its token string and
    the text it covers differ in length (``##`` pieces), an unknown-token piece never is. Returns
    ``one_word_each``: every data word is exactly one pipeline word whose characters are the whole
    data word (so entity character spans can agree exactly), ``reasons`` for the words that are not,
    and ``pieces`` (subwords without special tokens, before any truncation).
    """
    enc = tokenizer(words, is_split_into_words=True, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    offsets = enc["offset_mapping"]
    word_ids = enc.word_ids()
    tokens = tokenizer.convert_ids_to_tokens(ids)
    starts = []
    pos = 0
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    sentence = " ".join(words)
    per_word: list[list[tuple[bool, int, int]]] = [[] for _ in words]
    for tok, tid, (s, e), wi in zip(tokens, ids, offsets, word_ids):
        if wi is None:
            continue
        s, e = s + starts[wi], e + starts[wi]
        is_sub = len(tok) != len(sentence[s:e]) and tid != tokenizer.unk_token_id
        per_word[wi].append((is_sub, s, e))
    reasons: dict[str, int] = {}
    for wi, pieces in enumerate(per_word):
        why = None
        if not pieces:
            why = "no subword"
        elif pieces[0][0]:
            why = "first piece looks like a continuation"
        elif any(not p[0] for p in pieces[1:]):
            why = "several pipeline words"
        elif pieces[0][1] != starts[wi] or pieces[-1][2] != starts[wi] + len(words[wi]):
            why = "pieces do not cover the word"
        if why:
            reasons[why] = reasons.get(why, 0) + 1
    return {"one_word_each": not reasons, "reasons": reasons, "pieces": len(ids)}


def word_entities_to_chars(words: list[str], tags: list[str]) -> list[tuple[str, int, int]]:
    """Entities of a tag sequence (conlleval chunking) as (type, char start, char end) in ``" ".join(words)``."""
    from tagger.data.schemes import entities

    starts = []
    pos = 0
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    return [(t, starts[s], starts[e] + len(words[e])) for t, s, e in entities(tags)]


def pipeline_entities(output: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [(e["entity_group"], int(e["start"]), int(e["end"])) for e in output]


def tag_agreement(reference: list[list[str]], other: list[list[str]]) -> dict[str, float]:
    """How closely ``other``'s word tags follow ``reference``'s on the same sentences: the share of words with
    the same tag (``tags_identical``) and of sentences with the same entities (``sentences_identical``,
    conlleval chunking: two tag sequences can differ and still give the same entities)."""
    from tagger.data.schemes import entities

    if len(reference) != len(other) or any(len(a) != len(b) for a, b in zip(reference, other)):
        raise ValueError("tag_agreement compares tags of the same sentences and words")
    words = sum(len(a) for a in reference)
    same_words = sum(x == y for a, b in zip(reference, other) for x, y in zip(a, b))
    same_sents = sum(entities(a) == entities(b) for a, b in zip(reference, other))
    return {"tags_identical": same_words / words if words else 1.0,
            "sentences_identical": same_sents / len(reference) if reference else 1.0}


def run_pipeline(model_dir: str, sentences: list[list[str]], batch_size: int = 32) -> list[list[tuple[str, int, int]]]:
    """Entities of ``pipeline("token-classification", aggregation_strategy="first")`` on data words."""
    from transformers import pipeline

    pipe = pipeline("token-classification", model=model_dir, aggregation_strategy="first", device="cpu")
    outs = pipe(sentences, is_split_into_words=True, batch_size=batch_size)
    return [pipeline_entities(o) for o in outs]


def run_pipeline_on_text(model_dir: str, texts: list[str], batch_size: int = 32) -> list[list[tuple[str, int, int]]]:
    """Entities of ``pipeline("token-classification", aggregation_strategy="first")`` on raw strings."""
    from transformers import pipeline

    pipe = pipeline("token-classification", model=model_dir, aggregation_strategy="first", device="cpu")
    return [pipeline_entities(o) for o in pipe(texts, batch_size=batch_size)]
