"""`tagger compare`: two rows of the hand-made sweep of test_report, checked against hand counts and the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_report import SEEDS, build_sweep

from tagger.cli import main
from tagger.comparison import compare_rows, format_comparison, verdict
from tagger.errors import InputError
from tagger.summary import paired_bootstrap

FOCAL, CE = "focal(gamma=2.0)", "ce"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sweep(tmp_path_factory.mktemp("compare") / "out")


def test_per_type_scores_are_the_hand_counted_ones(sweep: Path):
    result = compare_rows(sweep, FOCAL, CE, samples=200)
    assert result["seeds"] == list(SEEDS) and result["mode"] == "conlleval"
    per = result["per_type"]["PER"]
    # 4 gold PER. focal seed 1: Macron -> ORG, Van Gogh -> LOC, 'Nothing' spurious: tp 2 of 3 predicted, F1 4/7;
    # focal seed 2 and ce on both seeds keep every PER: F1 1.
    assert per["a"]["f1"] == pytest.approx((4 / 7 + 1) / 2)
    assert per["a"]["precision"] == pytest.approx((2 / 3 + 1) / 2) and per["a"]["recall"] == pytest.approx(0.75)
    assert per["b"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert [s["delta_f1"] for s in per["per_seed"]] == pytest.approx([4 / 7 - 1, 0.0])
    assert sorted(result["per_type"]) == ["LOC", "MISC", "ORG", "PER"]


def test_overall_equals_the_summary(sweep: Path):
    """Per seed the same bootstrap as the summary's 'vs ce' (same resamples), and its mean scores."""
    summary = json.loads((sweep / "summary.json").read_text())
    result = compare_rows(sweep, FOCAL, CE, samples=200)
    for ours, theirs in zip(result["overall"]["per_seed"], summary["significance"][FOCAL]["per_seed"], strict=True):
        assert ours == pytest.approx(theirs)
    row = next(r for r in summary["table"] if r["label"] == FOCAL)
    assert result["overall"]["a"]["f1"] == pytest.approx(row["test_f1_mean"])
    assert result["overall"]["a"]["recall"] == pytest.approx(row["test_recall_mean"])
    for t, part in result["per_type"].items():
        assert part["a"]["f1"] == pytest.approx(row["per_type_f1_mean"][t])


def test_a_row_against_itself_is_noise(sweep: Path):
    result = compare_rows(sweep, CE, CE, samples=50)
    assert all(s["delta_f1"] == 0 for s in result["overall"]["per_seed"])
    assert result["overall"]["verdict"] == "noise"


def test_verdict_rule():
    real = [{"delta_f1": 0.02, "p_value": 0.01}, {"delta_f1": 0.01, "p_value": 0.04}]
    assert verdict(real, "a", "b") == "better than b"
    assert verdict([{**s, "delta_f1": -s["delta_f1"]} for s in real], "a", "b") == "worse than b"
    assert verdict([real[0], {"delta_f1": -0.01, "p_value": 0.01}], "a", "b") == "noise"  # signs disagree
    assert verdict([real[0], {"delta_f1": 0.01, "p_value": 0.05}], "a", "b") == "noise"  # one seed not below 0.05
    assert verdict([], "a", "b") == "no common seed"
    counts = __import__("numpy").array([[1, 1, 1], [0, 1, 1]])
    assert paired_bootstrap(counts, counts, samples=10)["delta_f1"] == 0


def test_cli_prints_the_table_and_writes_json(sweep: Path, tmp_path: Path, capsys):
    out = tmp_path / "cmp.json"
    assert main(["compare", str(sweep), FOCAL, CE, "--samples", "200", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(compare_rows(sweep, FOCAL, CE, samples=200)))
    assert capsys.readouterr().out.strip() == format_comparison(written)


def test_unknown_row_names_the_rows(sweep: Path, tmp_path: Path, capsys):
    with pytest.raises(InputError, match=r"no row 'focal'; the summary's rows: 'ce', 'focal\(gamma=2.0\)'"):
        compare_rows(sweep, "focal", CE)
    assert main(["compare", str(tmp_path), FOCAL, CE]) == 2
    assert "no summary.json" in capsys.readouterr().err


def test_a_row_of_another_sweep_compares_as_the_same_rows_of_one(sweep: Path, tmp_path: Path, capsys):
    """--against: row B read from a second folder (here a copy of the sweep) gives the numbers of one folder,
    and the table names each row's folder."""
    import shutil

    other = tmp_path / "other-sweep"
    shutil.copytree(sweep, other)
    one = compare_rows(sweep, FOCAL, CE, samples=200)
    two = compare_rows(sweep, FOCAL, CE, samples=200, b_dir=other)
    assert two["a_dir"] == sweep.name and two["b_dir"] == "other-sweep"
    assert {k: v for k, v in two.items() if k not in ("a_dir", "b_dir")} == one
    assert main(["compare", str(sweep), FOCAL, CE, "--samples", "200", "--against", str(other)]) == 0
    assert capsys.readouterr().out.startswith(f"{FOCAL} ({sweep.name}) vs {CE} (other-sweep) (test, conlleval")
    summary = json.loads((other / "summary.json").read_text())
    (other / "summary.json").write_text(json.dumps({**summary, "metric_mode": "strict"}))
    with pytest.raises(InputError, match="scored in different seqeval modes"):
        compare_rows(sweep, FOCAL, CE, b_dir=other)
