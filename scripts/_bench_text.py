"""The printed report of ``scripts/bench_train.py``, rendered from its JSON report alone.

``bench_train.py`` prints :func:`report_text` of the report it writes with ``--json`` (after a round trip
through JSON, so the text is the same whether it comes from the run or from the committed file), and
``scripts/figures.py`` renders its parts into docs/performance.md from ``results/bench-train*.json``. Every
part reads ``report["settings"]`` (the run's arguments) and the figures under their keys; a check that was
not run has no key (or a null one) and no lines.
"""

from __future__ import annotations

from typing import Any

from _bench_report import TARGETS, loss_step_ok, verdict
from _bench_runs import NAMES


def _pct(x: float | None, width: int = 6) -> str:
    return f"{100 * x:>{width}.2f}" if x is not None else f"{'-':>{width}}"


def machine_text(report: dict[str, Any]) -> str:
    """``torch 2.13.0, 2 threads, 2 CPUs``, then the CPU's model name and torch's CPU capability where the
    report records them (``report["machine"]``)."""
    text = (f"torch {report['torch'].split('+')[0]}, {report['torch_threads']} threads, "
            f"{report['cpu_count']} CPUs")
    found = report.get("machine") or {}
    if found.get("cpu_model"):
        text += f", {found['cpu_model']}"
    if found.get("cpu_capability"):
        text += f" (CPU capability {found['cpu_capability']})"
    return text


def headline(report: dict[str, Any]) -> str:
    """One line: what ran, with which settings, on what (printed before the runs, and atop the report)."""
    s, title = report["settings"], report["data"]["title"]
    precision = f"(a) precision {'bf16 autocast' if s['tagger_precision'] == 'bf16' else 'fp32'} (--precision {s['precision']})"
    text = f"bench_train: {title} train ({s['train_sentences'] or 'all'} sentences), "
    if report["plan"]:
        budget = (f"up to {s['token_budget']} subwords each, padding included (= (b)'s mean)"
                  if s.get("token_budget") else f"{s['batch_size']} sentences")
        text += (f"setups {', '.join(f'({v})' for v in s['setups'])}, seeds {' '.join(map(str, s['seeds']))} "
                 f"({len(report['plan'])} runs), {s['epochs']} epoch(s), lr {s['learning_rate']}, {s['batch_size']} "
                 f"sentences/batch, max length {s['max_length']}, CE; {precision}; (a) batches: {budget}")
    else:
        text += (f"no training runs (--skip-training), {s['batch_size']} sentences/batch, max length "
                 f"{s['max_length']}; {precision}")
    return f"{text}; {machine_text(report)}"


def runs_lines(report: dict[str, Any]) -> list[str]:
    """One row per (setup, seed), then the notes on the fastest epochs, own evaluations and load."""
    runs, var, s = report["runs"], report["setups"], report["settings"]
    if not runs:
        return []
    title = report["data"]["title"]
    lines = ["", f"Training: {title} train ({s['train_sentences'] or 'all'} sentences), {s['epochs']} epoch(s); "
             f"tokens = non-padding subwords seen by the model; F1 = seqeval conlleval on {title} validation / test "
             f"({s['eval_sentences'] or 'all'} sentences each)"]
    head = (f"{'setup':<38} {'seed':>4} {'prec':>4} {'tokens/s':>9} {'padding':>8} {'train s':>8} {'steps':>6} "
            f"{'peak RSS MB':>11} {'val F1 all':>10} {'test F1 all':>11} {'own eval':>8} {'FLOP/s':>8} {'util':>6}")
    lines += [head, "-" * len(head)]
    for r in runs:
        v = r["setup"]
        own = (r.get("validation") or {}).get("f1") if v == "a" else r.get("validation_f1_truncated")
        lines.append(f"{NAMES[v]:<38} {r['seed']:>4} {r.get('precision', 'no'):>4} {r['train_tokens_per_second']:>9,.0f} "
                     f"{100 * r['padding_share']:>7.1f}% {r['train_seconds']:>8.1f} {r['optimizer_steps']:>6} "
                     f"{r['peak_rss_mb']:>11,.0f} {_pct(r['validation_f1_all_words'], 10)} "
                     f"{_pct(r['test_f1_all_words'], 11)} {_pct(own or 0, 8)} "
                     f"{r['achieved_flops'] / 1e9:>7.1f}G {100 * r['utilisation']:>5.1f}%")
    lines.append("  fastest epoch, non-padding tokens/s: " + ", ".join(
        f"({r['setup']}, seed {r['seed']}) {r['fastest_epoch_tokens_per_second']:,.0f}"
        for r in runs if r.get("fastest_epoch_tokens_per_second")))
    own_note = []
    if "a" in var:
        own_note.append("the recipe's (best epoch by validation F1: %s)" % ", ".join(
            f"seed {r['seed']} epoch {r.get('best_epoch')}" for r in runs if r["setup"] == "a"))
    if set(var) & {"b", "c"}:
        own_note.append(f"the Trainer's evaluate() (truncated at {s['max_length']}, first subwords)")
    lines.append("  'F1 all': every word of the split predicted by tagger.predict.Tagger on the saved model; "
                 "'own eval': validation F1 by " + " / ".join(own_note))
    loads = [r for r in runs if r.get("load_average")]
    if loads:
        lines.append("  1-minute load average before/after each run (%d CPUs): " % (report["cpu_count"] or 0)
                     + ", ".join(f"({r['setup']}, {r['seed']}) {r['load_average'][0]:.1f}/{r['load_average'][1]:.1f}"
                                 for r in loads))
    return lines


def setups_lines(report: dict[str, Any]) -> list[str]:
    """One row per setup over its seeds, then the per-type test F1."""
    var = report["setups"]
    if not var:
        return []
    head = f"{'setup':<38} {'seeds':<10} {'tokens/s':>9} {'train s':>8} {'val F1 all':>16} {'test F1 all':>16}"
    lines = ["", "Per setup over its seeds (mean +- sample std; speed ratios below compare these mean tokens/s):",
             head, "-" * len(head)]
    for v, s in var.items():
        def f1(split: str, s: dict[str, Any] = s) -> str:
            m, sd = s[f"{split}_f1_mean"], s[f"{split}_f1_std"]
            return f"{100 * m:6.2f} +- {100 * sd:5.2f}" if sd is not None else f"{100 * m:6.2f}         "
        lines.append(f"{NAMES[v]:<38} {' '.join(map(str, s['seeds'])):<10} {s['train_tokens_per_second_mean']:>9,.0f} "
                     f"{s['train_seconds_mean']:>8.1f} {f1('validation'):>16} {f1('test'):>16}")
    types = sorted({t for s in var.values() for t in s["test_per_type_f1_mean"]})
    if types:
        lines.append("  test F1 per type (mean over seeds): " + "; ".join(
            f"({v}) " + ", ".join(f"{t} {_pct(s['test_per_type_f1_mean'].get(t), 0).strip()}" for t in types)
            for v, s in var.items()))
    return lines


def checks_lines(report: dict[str, Any]) -> list[str]:
    """The targets and informative ratios between the setups that ran, as ``checks`` recorded them."""
    if not report.get("checks"):
        return []
    return [""] + [f"  {c['text']:<78} target {c['target']:<10} {'' if c['ok'] is None else verdict(c['ok'])}"
                   for c in report["checks"]]


def efficiency_lines(report: dict[str, Any]) -> list[str]:
    """The FLOP count of an epoch, the matmul peaks, and the padding share of each batching scheme."""
    eff = report["efficiency"]
    peaks = "; ".join(f"{'fp32' if k == 'no' else k} {', '.join(f'{m[k] / 1e9:.0f}' for m in eff['matmul_measurements'])}"
                      for k in eff["matmul_measurements"][0])
    lines = ["", f"Efficiency: {report['flop_formula']}; P = {eff['non_embedding_params']:,}, L = {eff['layers']}, "
             f"H = {eff['hidden']}; {eff['train_flops_per_epoch'] / 1e12:.2f} TFLOP per epoch; matmul peak = best of "
             f"{peaks} GFLOP/s (start, end) at {report['torch_threads']} threads; each run's utilisation is against "
             f"the peak of its precision"]
    lines += ["", "Padding share of one epoch by batching scheme (shapes only):"]
    return lines + [f"  {k:<46} {100 * v:5.1f}%" for k, v in report["padding_by_batching"].items()]


def loss_cost_lines(report: dict[str, Any]) -> list[str]:
    """Each loss's training step against CE's (absent without the per-loss timing)."""
    if not report.get("loss_costs"):
        return []
    s = report["settings"]
    lines = ["", "Loss cost end to end: one training step (forward + loss + backward + clip + AdamW) on the same real "
             f"batches of {s['batch_size']} sentences, losses interleaved in random order over {s['loss_rounds']} "
             "rounds; x CE = min step time / CE's min on the same batch; paired = median over rounds of the step "
             "time / CE's step on the same batch in the same round (the verdict: back-to-back pairs cancel the "
             "machine's drift, a ratio of two minima does not)",
             f"  {'loss':<46} {'step ms':>8} {'x CE':>7} {'paired':>7}  target <= {1 + TARGETS['loss_overhead']:.2f}"]
    for row in report["loss_costs"]:
        ok = "" if row["loss"] == "ce" else verdict(loss_step_ok(row))
        lines.append(f"  {row['loss']:<46} {row['step_ms']:>8.1f} {row['ratio']:>7.3f} {row['ratio_median_paired']:>7.3f}  {ok}")
    return lines


def _threads_lines(t: dict[str, Any]) -> list[str]:
    return ["", f"Threads (default {t['default_threads']}): " + ", ".join(
        f"{n} thread(s) {ms:.0f} ms/step ({t['tokens_per_second'][n]:,.0f} tok/s)" for n, ms in t["step_ms"].items())]


def _ab_lines(report: dict[str, Any]) -> list[str]:
    """The interleaved A/B timings: precision, dropout, the CRF head."""
    lines = []
    if report.get("precision"):
        pc = report["precision"]
        lines += ["", f"Precision (training.mixed_precision), batches {pc['shapes']} interleaved over {pc['rounds']} "
                  f"rounds: fp32 {pc['step_ms_min']['fp32']:.0f} ms/step, bf16 autocast {pc['step_ms_min']['bf16']:.0f} "
                  f"ms/step = {pc['speedup']:.3f}x (paired median {pc['speedup_median_paired']:.3f}x)"]
    if report.get("dropout"):
        d = report["dropout"]
        lines += ["", f"Dropout (training.fast_dropout), batches {d['shapes']} interleaved over {d['rounds']} rounds: "
                  f"PyTorch {d['step_ms_min']['torch']:.0f} ms/step, tagger's {d['step_ms_min']['fast']:.0f} ms/step = "
                  f"{d['speedup']:.3f}x (paired median {d['speedup_median_paired']:.3f}x); swapped: {d['swapped']}"]
    if report.get("freeze"):
        f = report["freeze"]
        lines += ["", f"Frozen layers (model.freeze_layers={f['layers']}: the embeddings and {f['layers']} lowest layers, "
                  f"{f['frozen_parameters'] / 1e6:.1f}M parameters), interleaved over {f['rounds']} rounds: whole model "
                  f"{f['step_ms_min']['0']:.0f} ms/step, frozen {f['step_ms_min'][str(f['layers'])]:.0f} ms/step = "
                  f"{f['step_ratio']:.3f}x the step time (paired median {f['step_ratio_median_paired']:.3f}x)"]
    if report.get("crf"):
        c = report["crf"]
        ok = verdict(c["step_ratio_median_paired"] <= 1 + TARGETS["crf_overhead"])
        lines += ["", f"CRF head (model.head: crf), batches {c['shapes']} interleaved over {c['rounds']} rounds: linear "
                  f"{c['step_ms_min']['linear']:.0f} ms/step, CRF {c['step_ms_min']['crf']:.0f} ms/step = "
                  f"{c['step_ratio']:.3f}x the step time (paired median {c['step_ratio_median_paired']:.3f}x; "
                  f"target <= {1 + TARGETS['crf_overhead']:.2f}: {ok}); the CRF loss alone (forward + backward, min "
                  f"of 20) {', '.join(f'{x:.1f}' for x in c['crf_loss_ms_min'])} ms per batch = "
                  f"{c['step_ratio_from_parts']:.3f}x the linear step; load average {c['load_average'][0]:.2f}"]
    return lines


def _compile_lines(c: dict[str, Any]) -> list[str]:
    if "error" in c:
        return ["", f"torch.compile: failed: {c['error']}"]
    return ["", f"torch.compile (inductor, CPU), batches {c['shapes']} interleaved: eager "
            f"{c['eager']['step_ms_min']:.0f} ms/step ({c['eager']['tokens_per_second']:,.0f} tok/s), compiled "
            f"{c['compiled']['step_ms_min']:.0f} ms/step ({c['compiled']['tokens_per_second']:,.0f} tok/s) = "
            f"{c['speedup']:.2f}x (paired median {c['speedup_median_paired']:.2f}x); first pass (compilation) "
            f"{c['compiled']['first_pass_seconds']:.0f} s vs {c['eager']['first_pass_seconds']:.1f} s eager"]


def step_check_lines(report: dict[str, Any]) -> list[str]:
    """The optional in-process timings that ran: threads, precision, dropout, the CRF head, torch.compile."""
    lines = _threads_lines(report["threads"]) if report.get("threads") else []
    lines += _ab_lines(report)
    return lines + (_compile_lines(report["compile"]) if report.get("compile") else [])


def processes_lines(report: dict[str, Any]) -> list[str]:
    """The recipe as 1 process x 2 threads and as 2 processes x 1 thread (absent without --processes-check)."""
    check, s = report.get("processes"), report["settings"]
    if not check:
        return []
    lines = ["", f"Processes on this machine (the recipe on {report['data']['title']} train "
             f"({s['train_sentences'] or 'all'} sentences), {s['epochs']} epoch(s), (a)'s settings, seed {s['seed']}):",
             f"  {'layout':<26} {'tokens/s':>10} {'train s':>9} {'steps':>6} {'val F1':>7}"]
    for r in check["runs"]:
        lines.append(f"  {r['name']:<26} {r['tokens_per_second']:>10,.0f} {r['train_seconds']:>9.1f} "
                     f"{r['optimizer_steps']:>6} {100 * r['validation_f1']:>7.2f}")
    return lines + [f"  2 processes x 1 thread / 1 process x 2 threads: {check['ratio']:.2f}x tokens/s"]


def workers_lines(report: dict[str, Any]) -> list[str]:
    """A sweep of two runs one after the other and with sweep.workers=2 (absent without --workers-check)."""
    check, s = report.get("workers"), report["settings"]
    if not check:
        return []
    lines = ["", f"Runs at once (sweep.workers) on this machine (2 runs, seeds {s['seed']} and {s['seed'] + 1}, of the "
             f"recipe on {report['data']['title']} train ({s['train_sentences'] or 'all'} sentences), {s['epochs']} "
             "epoch(s), (a)'s settings):",
             f"  {'layout':<34} {'wall s':>7} {'tokens/s of each run':>22} {'val F1':>13}"]
    for r in check["runs"]:
        lines.append(f"  {r['name']:<34} {r['wall_seconds']:>7.1f} "
                     f"{' / '.join(f'{t:,.0f}' for t in r['tokens_per_second']):>22} "
                     f"{' / '.join(f'{100 * f:.2f}' for f in r['validation_f1']):>13}")
    return lines + [f"  one after the other / at once: {check['ratio']:.2f}x wall time"]


def footer_lines(report: dict[str, Any]) -> list[str]:
    lines = ["", f"total {report['total_seconds']:.0f} s"]
    return lines + [f"tagger run (seed {r['seed']}): {r['command']}" for r in report["runs"]
                    if r["setup"] == "a" and r.get("command")]


def _text(lines: list[str]) -> str:
    """Lines as one text, each without trailing blanks (a committed page keeps none), a newline at the end."""
    return "\n".join(line.rstrip() for line in lines).strip("\n") + "\n" if any(lines) else ""


def training_text(report: dict[str, Any]) -> str:
    """The headline, the training runs, the per-setup means, the checks, the efficiency and padding."""
    return _text([headline(report), *runs_lines(report), *setups_lines(report), *checks_lines(report),
                  *efficiency_lines(report)])


def loss_cost_text(report: dict[str, Any]) -> str:
    return _text(loss_cost_lines(report))


def step_check_text(report: dict[str, Any]) -> str:
    return _text(step_check_lines(report))


def processes_text(report: dict[str, Any]) -> str:
    return _text([*processes_lines(report), *workers_lines(report)])


def report_text(report: dict[str, Any]) -> str:
    """The whole report as ``bench_train.py`` prints it at the end of a run."""
    return _text([headline(report), *runs_lines(report), *setups_lines(report), *checks_lines(report),
                  *efficiency_lines(report), *loss_cost_lines(report), *step_check_lines(report),
                  *processes_lines(report), *workers_lines(report), *footer_lines(report)])
