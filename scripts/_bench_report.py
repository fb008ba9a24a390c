"""The report of ``scripts/bench_train.py``: per-setup summaries over seeds, the checks against the
targets, the printed tables, the JSON figures and the peer row for tagger's sweep card.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

import _bench_common as common
from _bench_runs import NAMES, SETUPS

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
        out.append(_check(f"mean validation F1 tagger - (b) = {df1:+.2f} points", f"|.| <= {TARGETS['f1_points']}",
                          abs(df1) <= TARGETS["f1_points"] or df1 > 0, points=df1, key="validation_f1_a_minus_b"))
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


def write_outputs(report: dict[str, Any], args: argparse.Namespace, peer: PeerRecord | None) -> None:
    """The JSON figures (--json) and the peer file (--peer-json), where asked for."""
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
        print(f"\nfigures: {args.json}")
    if peer is not None:
        peer.save(args.peer_json)
        print(f"peer row (setup b): {args.peer_json}\n  reproduce: {peer.command}")


# ------------------------------------------------------------------------------------------------ printed report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _pct(x: float | None, width: int = 6) -> str:
    return f"{100 * x:>{width}.2f}" if x is not None else f"{'-':>{width}}"


def _print_runs(report: dict[str, Any], args: argparse.Namespace) -> None:
    """One row per (setup, seed), then the notes on the fastest epochs, own evaluations and load."""
    runs, var = report["runs"], report["setups"]
    title = common.DATA_SETS[args.data]
    print(f"\nTraining: {title} train ({args.train_sentences or 'all'} sentences), {args.epochs} epoch(s); "
          f"tokens = non-padding subwords seen by the model; F1 = seqeval conlleval on {title} validation / test "
          f"({args.eval_sentences or 'all'} sentences each)")
    head = (f"{'setup':<38} {'seed':>4} {'prec':>4} {'tokens/s':>9} {'padding':>8} {'train s':>8} {'steps':>6} "
            f"{'peak RSS MB':>11} {'val F1 all':>10} {'test F1 all':>11} {'own eval':>8} {'FLOP/s':>8} {'util':>6}")
    print(head)
    print("-" * len(head))
    for r in runs:
        v = r["setup"]
        own = r.get("validation", {}).get("f1") if v == "a" else r.get("validation_f1_truncated")
        print(f"{NAMES[v]:<38} {r['seed']:>4} {r.get('precision', 'no'):>4} {r['train_tokens_per_second']:>9,.0f} "
              f"{100 * r['padding_share']:>7.1f}% "
              f"{r['train_seconds']:>8.1f} {r['optimizer_steps']:>6} {r['peak_rss_mb']:>11,.0f} "
              f"{_pct(r['validation_f1_all_words'], 10)} {_pct(r['test_f1_all_words'], 11)} {_pct(own or 0, 8)} "
              f"{r['achieved_flops'] / 1e9:>7.1f}G {100 * r['utilisation']:>5.1f}%")
    print("  fastest epoch, non-padding tokens/s: " + ", ".join(
        f"({r['setup']}, seed {r['seed']}) {r['fastest_epoch_tokens_per_second']:,.0f}"
        for r in runs if r.get("fastest_epoch_tokens_per_second")))
    own_note = []
    if "a" in var:
        own_note.append("the recipe's (best epoch by validation F1: %s)" % ", ".join(
            f"seed {r['seed']} epoch {r.get('best_epoch')}" for r in runs if r["setup"] == "a"))
    if set(var) & {"b", "c"}:
        own_note.append(f"the Trainer's evaluate() (truncated at {args.max_length}, first subwords)")
    print("  'F1 all': every word of the split predicted by tagger.predict.Tagger on the saved model; "
          "'own eval': validation F1 by " + " / ".join(own_note))
    loads = [r for r in runs if r.get("load_average")]
    if loads:
        print("  1-minute load average before/after each run (%d CPUs): " % (report["cpu_count"] or 0)
              + ", ".join(f"({r['setup']}, {r['seed']}) {r['load_average'][0]:.1f}/{r['load_average'][1]:.1f}"
                          for r in loads))


def _print_setups(var: dict[str, dict[str, Any]]) -> None:
    """One row per setup over its seeds, then the per-type test F1."""
    print("\nPer setup over its seeds (mean +- sample std; speed ratios below compare these mean tokens/s):")
    head = (f"{'setup':<38} {'seeds':<10} {'tokens/s':>9} {'train s':>8} {'val F1 all':>16} {'test F1 all':>16}")
    print(head)
    print("-" * len(head))
    for v, s in var.items():
        def f1(split: str) -> str:
            m, sd = s[f"{split}_f1_mean"], s[f"{split}_f1_std"]
            return f"{100 * m:6.2f} +- {100 * sd:5.2f}" if sd is not None else f"{100 * m:6.2f}         "
        print(f"{NAMES[v]:<38} {' '.join(map(str, s['seeds'])):<10} {s['train_tokens_per_second_mean']:>9,.0f} "
              f"{s['train_seconds_mean']:>8.1f} {f1('validation'):>16} {f1('test'):>16}")
    types = sorted({t for s in var.values() for t in s["test_per_type_f1_mean"]})
    if types:
        print("  test F1 per type (mean over seeds): " + "; ".join(
            f"({v}) " + ", ".join(f"{t} {_pct(s['test_per_type_f1_mean'].get(t), 0).strip()}" for t in types)
            for v, s in var.items()))


def _print_checks_and_efficiency(report: dict[str, Any]) -> None:
    if report["checks"]:
        print()
    for c in report["checks"]:
        print(f"  {c['text']:<78} target {c['target']:<10} {'' if c['ok'] is None else verdict(c['ok'])}")
    eff = report["efficiency"]
    print(f"\nEfficiency: {common.FLOP_FORMULA}; P = {eff['non_embedding_params']:,}, L = {eff['layers']}, "
          f"H = {eff['hidden']}; {eff['train_flops_per_epoch'] / 1e12:.2f} TFLOP per epoch; matmul peak = best of "
          + "; ".join(f"{'fp32' if k == 'no' else k} {', '.join(f'{m[k] / 1e9:.0f}' for m in eff['matmul_measurements'])}"
                      for k in eff["matmul_measurements"][0])
          + f" GFLOP/s (start, end) at {report['torch_threads']} threads; each run's utilisation is against the "
          f"peak of its precision")
    print("\nPadding share of one epoch by batching scheme (shapes only):")
    for k, v in report["padding_by_batching"].items():
        print(f"  {k:<46} {100 * v:5.1f}%")


def _print_loss_costs(report: dict[str, Any], args: argparse.Namespace) -> None:
    if not report.get("loss_costs"):
        return
    print("\nLoss cost end to end: one training step (forward + loss + backward + clip + AdamW) on the same real "
          f"batches of {args.batch_size} sentences, losses interleaved in random order over {args.loss_rounds} "
          "rounds; x CE = min step time / CE's min on the same batch; paired = median over rounds of the step "
          "time / CE's step on the same batch in the same round (the verdict: back-to-back pairs cancel the "
          "machine's drift, a ratio of two minima does not)")
    print(f"  {'loss':<46} {'step ms':>8} {'x CE':>7} {'paired':>7}  target <= {1 + TARGETS['loss_overhead']:.2f}")
    for row in report["loss_costs"]:
        ok = "" if row["loss"] == "ce" else verdict(row["ratio_median_paired"] <= 1 + TARGETS["loss_overhead"])
        print(f"  {row['loss']:<46} {row['step_ms']:>8.1f} {row['ratio']:>7.3f} {row['ratio_median_paired']:>7.3f}  {ok}")


def _print_step_checks(report: dict[str, Any]) -> None:
    """The optional A/B timings: threads, precision, dropout, the CRF head, torch.compile."""
    if report.get("threads"):
        t = report["threads"]
        print(f"\nThreads (default {t['default_threads']}): " + ", ".join(
            f"{n} thread(s) {ms:.0f} ms/step ({t['tokens_per_second'][n]:,.0f} tok/s)" for n, ms in t["step_ms"].items()))
    if report.get("precision"):
        pc = report["precision"]
        print(f"\nPrecision (training.mixed_precision), batches {pc['shapes']} interleaved over {pc['rounds']} rounds: "
              f"fp32 {pc['step_ms_min']['fp32']:.0f} ms/step, bf16 autocast {pc['step_ms_min']['bf16']:.0f} ms/step = "
              f"{pc['speedup']:.3f}x (paired median {pc['speedup_median_paired']:.3f}x)")
    if report.get("dropout"):
        d = report["dropout"]
        print(f"\nDropout (training.fast_dropout), batches {d['shapes']} interleaved over {d['rounds']} rounds: "
              f"PyTorch {d['step_ms_min']['torch']:.0f} ms/step, tagger's {d['step_ms_min']['fast']:.0f} ms/step = "
              f"{d['speedup']:.3f}x (paired median {d['speedup_median_paired']:.3f}x); swapped: {d['swapped']}")
    if report.get("crf"):
        c = report["crf"]
        print(f"\nCRF head (model.head: crf), batches {c['shapes']} interleaved over {c['rounds']} rounds: linear "
              f"{c['step_ms_min']['linear']:.0f} ms/step, CRF {c['step_ms_min']['crf']:.0f} ms/step = "
              f"{c['step_ratio']:.3f}x the step time (paired median {c['step_ratio_median_paired']:.3f}x; "
              f"target <= {1 + TARGETS['crf_overhead']:.2f}: {verdict(c['step_ratio_median_paired'] <= 1 + TARGETS['crf_overhead'])}); "
              f"the CRF loss alone (forward + backward, min of 20) {', '.join(f'{x:.1f}' for x in c['crf_loss_ms_min'])} ms "
              f"per batch = {c['step_ratio_from_parts']:.3f}x the linear step; load average {c['load_average'][0]:.2f}")
    if report.get("compile"):
        c = report["compile"]
        if "error" in c:
            print(f"\ntorch.compile: failed: {c['error']}")
        else:
            print(f"\ntorch.compile (inductor, CPU), batches {c['shapes']} interleaved: eager "
                  f"{c['eager']['step_ms_min']:.0f} ms/step ({c['eager']['tokens_per_second']:,.0f} tok/s), compiled "
                  f"{c['compiled']['step_ms_min']:.0f} ms/step ({c['compiled']['tokens_per_second']:,.0f} tok/s) = "
                  f"{c['speedup']:.2f}x (paired median {c['speedup_median_paired']:.2f}x); first pass (compilation) "
                  f"{c['compiled']['first_pass_seconds']:.0f} s vs {c['eager']['first_pass_seconds']:.1f} s eager")


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    _print_runs(report, args)
    _print_setups(report["setups"])
    _print_checks_and_efficiency(report)
    _print_loss_costs(report, args)
    _print_step_checks(report)
    print(f"\ntotal {report['total_seconds']:.0f} s")
    for r in report["runs"]:
        if r["setup"] == "a" and r.get("command"):
            print(f"tagger run (seed {r['seed']}): {r['command']}")
