"""The report of ``scripts/bench_train.py``: per-setup summaries over seeds, the checks against the
targets, the JSON figures and the peer row for tagger's sweep card (the printed text is ``_bench_text.py``'s,
rendered from the JSON).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

import _bench_common as common
from _bench_runs import SETUPS

from tagger.catalog import PACKAGED_ENCODER

if TYPE_CHECKING:
    from tagger.peer import PeerRecord, SplitScores

REPO = common.REPO
TARGETS = {"vs_b": 1.5, "vs_c": 1.15, "f1_points": 1.0, "loss_overhead": 0.03, "utilisation": 0.25,
           "crf_overhead": 0.15}
PEER_NAME = "run_ner.py-style Trainer (scripts/bench_train.py (b))"


# ------------------------------------------------------------------------------------------------ summaries


def mean_std(xs: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1; None for fewer than two values)."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per setup that ran: its seeds, and means (and sample std of the F1s) over its runs."""
    out: dict[str, dict[str, Any]] = {}
    for v in SETUPS:
        rs = [r for r in runs if r["setup"] == v]
        if not rs:
            continue
        s: dict[str, Any] = {"seeds": [r["seed"] for r in rs], "runs": len(rs)}
        for key in ("train_tokens_per_second", "fastest_epoch_tokens_per_second", "train_seconds", "padding_share",
                    "utilisation", "achieved_flops"):
            s[key + "_mean"] = mean_std([r.get(key) for r in rs])[0]
        for split in ("validation", "test"):
            s[f"{split}_f1_mean"], s[f"{split}_f1_std"] = mean_std([r[f"{split}_f1_all_words"] for r in rs])
        s["peak_rss_mb_max"] = max(r["peak_rss_mb"] for r in rs)
        types = sorted({t for r in rs for t in r["test_all_words"]["per_type"]})
        s["test_per_type_f1_mean"] = {t: mean_std([r["test_all_words"]["per_type"].get(t, {}).get("f1") for r in rs])[0]
                                      for t in types}
        out[v] = s
    return out


def _ratio(var: dict[str, dict[str, Any]], x: str, y: str, key: str) -> float | None:
    """Setup x's mean of ``key`` over setup y's (None where either is missing or zero)."""
    a, b = var[x].get(key + "_mean"), var[y].get(key + "_mean")
    return a / b if a and b else None


def _check(text: str, target: str, ok: bool | None, **figures: Any) -> dict[str, Any]:
    return {"text": text, "target": target, "ok": ok, **figures}


def _tagger_speed_checks(var: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """(a)'s tokens/s and wall time against the Trainer setups that ran."""
    out = []
    for ref in ("b", "c"):
        if ref in var:
            r = _ratio(var, "a", ref, "train_tokens_per_second")
            out.append(_check(f"tokens/s tagger / ({ref}) = {r:.2f}x", f">= {TARGETS['vs_' + ref]}x",
                              r >= TARGETS["vs_" + ref], ratio=r, key=f"tokens_per_second_a_over_{ref}"))
    if "d" in var:
        r = _ratio(var, "a", "d", "train_tokens_per_second")
        out.append(_check(f"tokens/s tagger / (d) = {r:.2f}x", "(info)", None, ratio=r,
                          key="tokens_per_second_a_over_d"))
    if "b" in var:
        wall = _ratio(var, "a", "b", "train_seconds")
        out.append(_check(f"wall time tagger / (b) = {wall:.2f}", "(info)", None, ratio=wall,
                          key="train_seconds_a_over_b"))
    fast = [(ref, _ratio(var, "a", ref, "fastest_epoch_tokens_per_second")) for ref in ("b", "c", "d") if ref in var]
    fast = [(ref, r) for ref, r in fast if r]
    if fast:
        out.append(_check("fastest epoch tokens/s: " + ", ".join(f"tagger / ({ref}) = {r:.2f}x" for ref, r in fast),
                          "(info)", None, ratios={ref: r for ref, r in fast}, key="fastest_epoch_a_over"))
    return out


def _tagger_quality_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """(a)'s F1 and memory against (b), and its FLOP/s against the matmul peak of its precision."""
    var, out = report["setups"], []
    a = var["a"]
    if "b" in var:
        b = var["b"]
        df1 = 100 * (a["validation_f1_mean"] - b["validation_f1_mean"])
        # tagger's loop may train better than the Trainer, not more than this much worse
        out.append(_check(f"mean validation F1 tagger - (b) = {df1:+.2f} points", f">= -{TARGETS['f1_points']}",
                          df1 >= -TARGETS["f1_points"], points=df1, key="validation_f1_a_minus_b"))
        out.append(_check(f"peak RSS tagger {a['peak_rss_mb_max']:,.0f} MB vs (b) {b['peak_rss_mb_max']:,.0f} MB",
                          "<= (b)", a["peak_rss_mb_max"] <= b["peak_rss_mb_max"], key="peak_rss"))
    eff = report["efficiency"]
    u = a["utilisation_mean"]
    bf16 = report.get("settings", {}).get("tagger_precision") == "bf16"
    p = eff["matmul_2048_bf16_flops" if bf16 else "matmul_2048_fp32_flops"]
    out.append(_check(f"utilisation of tagger's loop = {100 * u:.1f}% of a {p / 1e9:.0f} GFLOP/s "
                      f"{'bf16' if bf16 else 'fp32'} matmul", f">= {100 * TARGETS['utilisation']:.0f}%",
                      u >= TARGETS["utilisation"], utilisation=u, key="utilisation_a"))
    if bf16:
        fp32 = a["achieved_flops_mean"] / eff["matmul_2048_fp32_flops"]
        out.append(_check(f"(the same FLOP/s = {100 * fp32:.1f}% of the {eff['matmul_2048_fp32_flops'] / 1e9:.0f} "
                          f"GFLOP/s fp32 matmul)", "(info)", None, utilisation=fp32, key="utilisation_a_of_fp32"))
    return out


def checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Targets and informative comparisons between the setups that ran (ratios only where both sides ran)."""
    var = report["setups"]
    out = _tagger_speed_checks(var) + _tagger_quality_checks(report) if "a" in var else []
    for x, y in (("c", "b"), ("d", "c")):
        if x in var and y in var:
            r = _ratio(var, x, y, "train_tokens_per_second")
            out.append(_check(f"tokens/s ({x}) / ({y}) = {r:.2f}x", "(info)", None, ratio=r,
                              key=f"tokens_per_second_{x}_over_{y}"))
    return out


# ------------------------------------------------------------------------------------------------ the peer row


def portable_path(path: str) -> str:
    """A path as the command line from the repository root would give it: relative to the repository, or its name."""
    p = Path(path).expanduser()
    p = (p if p.is_absolute() else Path.cwd() / p).resolve()
    try:
        return p.relative_to(REPO.resolve()).as_posix()
    except ValueError:
        return p.name


def portable_model(model: str) -> str:
    """The --model value: a name or Hub id as given; an existing folder as :func:`portable_path`."""
    return portable_path(model) if Path(model).expanduser().exists() else model


def peer_command(args: argparse.Namespace, seeds: list[int]) -> str:
    """The command line, from the repository root, that reruns setup (b) alone and rewrites the peer JSON."""
    cmd = ["python", "scripts/bench_train.py", "--data", args.data, "--setups", "b",
           "--seeds", *map(str, seeds), "--epochs", str(args.epochs), "--learning-rate", str(args.learning_rate),
           "--batch-size", str(args.batch_size), "--max-length", str(args.max_length)]
    if args.model != PACKAGED_ENCODER:
        cmd += ["--model", portable_model(args.model)]
    if args.smoke:
        cmd.append("--smoke")
    if args.train_sentences:
        cmd += ["--train-sentences", str(args.train_sentences)]
    if args.eval_sentences:
        cmd += ["--eval-sentences", str(args.eval_sentences)]
    cmd += ["--skip-losses", "--peer-json", portable_path(args.peer_json)]
    return " ".join(cmd)


def _split_scores(sc: dict[str, Any]) -> SplitScores:
    from tagger.peer import SplitScores

    return SplitScores(f1=sc["f1"], precision=sc["precision"], recall=sc["recall"], per_type=sc["per_type"])


def peer_record(report: dict[str, Any], args: argparse.Namespace) -> PeerRecord:
    """Setup (b) as the sweep card's "peer" row: one run per seed, scores as fractions (0-1)."""
    from tagger.peer import PeerRecord, PeerRun

    rs = [r for r in report["runs"] if r["setup"] == "b"]
    runs = tuple(PeerRun(seed=r["seed"], validation=_split_scores(r["validation_all_words"]),
                         test=_split_scores(r["test_all_words"]), train_seconds=r["train_seconds"]) for r in rs)
    command = peer_command(args, [r.seed for r in runs])
    epochs = f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}"
    return PeerRecord(
        label=f"peer: Trainer (run_ner.py), ce, {epochs} at {args.learning_rate:g}",
        description=(f"transformers' Trainer written as run_ner.py does it (scripts/bench_train.py setup (b)): "
                     f"DataCollatorForTokenClassification, random batches of {args.batch_size} sentences, "
                     f"truncation at {args.max_length} subwords, {epochs} at learning rate {args.learning_rate:g}, "
                     f"linear decay without warm-up, CE on first subwords; same data and encoder; every word scored "
                     f"by tagger on the final model. Command: `{command}`"),
        runs=runs,
        name=PEER_NAME,
        data=args.data,
        model=portable_model(args.model),
        settings={"epochs": args.epochs, "learning_rate": args.learning_rate, "batch_size": args.batch_size,
                  "max_length": args.max_length},
        command=command,
        train_sentences=args.train_sentences,
        eval_sentences=args.eval_sentences,
        scoring="every word of the split predicted by tagger.predict.Tagger on the final model, seqeval conlleval; "
                "fractions (0-1); per type: None where the type is in neither gold nor predictions of that seed",
    )


def as_json(report: dict[str, Any]) -> dict[str, Any]:
    """The report as its JSON file holds it (keys as strings, values JSON can write), so what is printed
    from it is what ``scripts/figures.py`` renders from the file."""
    return json.loads(json.dumps(report, default=str))


def loss_step_ok(row: dict[str, Any]) -> bool:
    """Whether a loss's training step (a row of ``report["loss_costs"]``) is within the target over CE's:
    its paired median ratio at most ``1 + TARGETS["loss_overhead"]``."""
    return row["ratio_median_paired"] <= 1 + TARGETS["loss_overhead"]


#: Report keys that hold a path: a committed JSON names them relative to the repository or the work folder.
PATH_KEYS = ("json", "peer_json", "work_dir", "model", "model_dir")


def portable_folder(path: str, work: Path, model: bool = False) -> str:
    """A path as a committed JSON names it: ``work/...`` inside the temporary work folder ``work``, else
    :func:`portable_path` (with ``model``, :func:`portable_model`: a Hub id stays as given)."""
    p = Path(path).expanduser().resolve()
    if p.is_relative_to(work.resolve()):
        return "work/" + p.relative_to(work.resolve()).as_posix()
    return portable_model(path) if model else portable_path(path)


def portable_report(report: Any, work: Path) -> Any:
    """``report`` with every path under :data:`PATH_KEYS` as :func:`portable_folder` names it."""
    if isinstance(report, dict):
        return {k: portable_folder(v, work, model=k == "model") if k in PATH_KEYS and isinstance(v, str)
                else portable_report(v, work) for k, v in report.items()}
    if isinstance(report, list):
        return [portable_report(v, work) for v in report]
    return report


def write_outputs(report: dict[str, Any], args: argparse.Namespace, peer: PeerRecord | None, work: Path) -> None:
    """The JSON figures (--json, without the machine's paths) and the peer file (--peer-json), where asked for."""
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(portable_report(report, work), indent=1, default=str))
        print(f"\nfigures: {args.json}")
    if peer is not None:
        peer.save(args.peer_json)
        print(f"peer row (setup b): {args.peer_json}\n  reproduce: {peer.command}")


# ------------------------------------------------------------------------------------------------ verdicts


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
