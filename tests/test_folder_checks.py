"""A model folder is checked as it loads, by every path: one InputError naming the file and the key.

Each case breaks a copy of the tiny random WNUT model one way and loads it the way a user would
(``Tagger.from_pretrained``, ``tagger predict``, ``TaggerPipeline``, ``tagger export``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from safetensors.numpy import save_file

from tagger.cli import main
from tagger.decoding import CRF_CONFIG, CRF_WEIGHTS
from tagger.errors import InputError
from tagger.predict import Tagger

if TYPE_CHECKING:
    from fault_probe import Workspace

LABELS = ["O", "B-corporation", "I-corporation", "B-creative-work", "I-creative-work", "B-group", "I-group",
          "B-location", "I-location", "B-person", "I-person", "B-product", "I-product"]
C = len(LABELS)


@pytest.fixture
def model(tmp_path: Path, tiny_wnut_model_dir: Path) -> Path:
    """A copy of the tiny WNUT model, free to break."""
    return Path(shutil.copytree(tiny_wnut_model_dir, tmp_path / "model"))


def write_crf(folder: Path, *, labels: list[str] = LABELS, scheme: str = "IOB2",
              tensors: dict[str, np.ndarray] | None = None) -> None:
    """A CRF head's two files as tagger.crf.save_crf writes them, with any content."""
    (folder / CRF_CONFIG).write_text(json.dumps({"labels": labels, "scheme": scheme}))
    if tensors is None:
        tensors = {"transitions": np.zeros((C, C), np.float32), "start": np.zeros(C, np.float32),
                   "end": np.zeros(C, np.float32)}
    save_file(tensors, str(folder / CRF_WEIGHTS))


def set_run_info(folder: Path, **entries: object) -> None:
    info = json.loads((folder / "tagger_run.json").read_text())
    info.update(entries)
    (folder / "tagger_run.json").write_text(json.dumps(info))


def _tensors(**change: np.ndarray) -> dict[str, np.ndarray]:
    base = {"transitions": np.zeros((C, C), np.float32), "start": np.zeros(C, np.float32),
            "end": np.zeros(C, np.float32)}
    base.update(change)
    return base


def _crf_files(**kwargs: object) -> Callable[[Path], None]:
    return lambda folder: write_crf(folder, **kwargs)  # type: ignore[arg-type]


def _write(name: str, content: bytes | str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        write_crf(folder)
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return damage


def _truncate_crf(folder: Path) -> None:
    write_crf(folder)
    data = (folder / CRF_WEIGHTS).read_bytes()
    (folder / CRF_WEIGHTS).write_bytes(data[: len(data) - 20])


def _without_tokenizer(folder: Path) -> None:
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)


#: how a folder is broken -> (file named, words the one message holds)
BROKEN: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "crf-weights-missing": (lambda f: (f / CRF_CONFIG).write_text(json.dumps({"labels": LABELS, "scheme": "IOB2"})),
                            "model", f"no {CRF_WEIGHTS}: the folder was saved with a CRF head"),
    "crf-weights-missing-run-says-crf": (lambda f: set_run_info(f, crf={"scheme": "IOB2"}),
                                         "model", f"no {CRF_WEIGHTS}"),
    "crf-nan-transitions": (_crf_files(tensors=_tensors(transitions=np.full((C, C), np.nan, np.float32))),
                            CRF_WEIGHTS, "transitions: holds NaN or infinite scores"),
    "crf-scheme-mismatch": (_crf_files(scheme="IOBES"), CRF_CONFIG,
                            "scheme: IOBES does not match the labels, which are IOB2 tags"),
    "crf-json-not-json": (_write(CRF_CONFIG, "{labels"), CRF_CONFIG, "not valid JSON"),
    "crf-json-list": (_write(CRF_CONFIG, "[1, 2]"), CRF_CONFIG, "holds a JSON list, not an object"),
    "crf-json-no-labels": (_write(CRF_CONFIG, '{"scheme": "IOB2"}'), CRF_CONFIG, "labels: missing"),
    "crf-unknown-scheme": (_crf_files(scheme="IOXZ"), CRF_CONFIG, "scheme: 'IOXZ' is not one a CRF decodes"),
    "crf-shape": (_crf_files(tensors=_tensors(transitions=np.zeros((3, 3), np.float32))), CRF_WEIGHTS,
                  f"transitions: shape [3, 3], the {C} labels of crf.json need [{C}, {C}]"),
    "crf-no-end": (_crf_files(tensors={k: v for k, v in _tensors().items() if k != "end"}), CRF_WEIGHTS,
                   "end: missing"),
    "crf-truncated": (_truncate_crf, "model", "crf.safetensors is truncated"),
    "crf-empty": (_write(CRF_WEIGHTS, b""), "model", "crf.safetensors is truncated or not a safetensors file"),
    "decoding-string": (lambda f: set_run_info(f, decoding="viterbi"), "tagger_run.json",
                        "decoding: a string where a mapping of the decoding settings is expected"),
    "decoding-list": (lambda f: set_run_info(f, decoding=["viterbi"]), "tagger_run.json",
                      "decoding: a list where a mapping"),
    "decoding-unknown": (lambda f: set_run_info(f, decoding={"default": "beam"}), "tagger_run.json",
                         "decoding.default: unknown decoding 'beam'"),
    "o-bias-infinite": (lambda f: set_run_info(f, decoding={"default": "argmax", "o_bias": {"argmax": float("inf")}}),
                        "tagger_run.json", "decoding.o_bias.argmax: inf is not a finite number"),
    "o-bias-nan": (lambda f: set_run_info(f, decoding={"default": "viterbi", "o_bias": {"viterbi": float("nan")}}),
                   "tagger_run.json", "decoding.o_bias.viterbi: nan is not a finite number"),
    "o-bias-string": (lambda f: set_run_info(f, decoding={"default": "argmax", "o_bias": {"argmax": "high"}}),
                      "tagger_run.json", "decoding.o_bias.argmax: 'high' is not a finite number"),
    "o-bias-list": (lambda f: set_run_info(f, decoding={"default": "argmax", "o_bias": [1.0]}),
                    "tagger_run.json", "decoding.o_bias: a list where a mapping"),
    "no-tokenizer": (_without_tokenizer, "model", "no tokenizer files"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_tagger_refuses_a_broken_folder(case: str, model: Path) -> None:
    damage, name, message = BROKEN[case]
    damage(model)
    with pytest.raises(InputError) as caught:
        Tagger.from_pretrained(model, device="cpu")
    where = model if name == "model" else model / name
    assert str(caught.value).startswith(f"{where}: "), str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize("case", ["crf-weights-missing", "crf-nan-transitions", "o-bias-infinite", "no-tokenizer"])
def test_predict_exits_2_with_one_line(case: str, model: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    damage, _, message = BROKEN[case]
    damage(model)
    (tmp_path / "in.txt").write_text("Anna lives in Oslo\n")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "--model", str(model), "--input", str(tmp_path / "in.txt"), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tagger predict: error: ") and message in err[0], err
    assert not out.exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_predict_refuses_a_non_finite_o_bias(value: str, model: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.txt").write_text("Anna lives in Oslo\n")
    with pytest.raises(SystemExit) as stop:
        main(["predict", "--model", str(model), "--input", str(tmp_path / "in.txt"), "--output",
              str(tmp_path / "o.jsonl"), f"--o-bias={value}"])
    assert stop.value.code == 2
    assert f"argument --o-bias: must be a finite number, got '{value}'" in capsys.readouterr().err


def test_tagger_refuses_a_non_finite_o_bias_argument(model: Path) -> None:
    with pytest.raises(InputError, match="o_bias must be a finite number, got inf"):
        Tagger.from_pretrained(model, device="cpu", o_bias=float("inf"))


def test_max_length_above_the_positions_stops_at_load(model: Path) -> None:
    with pytest.raises(InputError) as caught:
        Tagger.from_pretrained(model, device="cpu", max_length=1024)
    assert str(caught.value) == (f"{model}: max_length 1024 is above the 512 positions of the encoder "
                                 "(max_position_embeddings in config.json); use at most 512")


def test_tokenizer_of_another_vocabulary_is_refused(model: Path) -> None:
    config = json.loads((model / "config.json").read_text())
    config["vocab_size"] = 100_000
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"the tokenizer has 30,522 tokens, the model's vocabulary \(vocab_size in "
                                         r"config.json\) 100,000: not this model's tokenizer"):
        Tagger.from_pretrained(model, device="cpu")


def test_a_sound_crf_folder_still_loads(model: Path) -> None:
    write_crf(model)
    tagger = Tagger.from_pretrained(model, device="cpu")
    assert tagger.crf is not None and tagger.crf.labels == LABELS
    assert len(tagger.predict([["Anna", "lives", "in", "Oslo"]])[0]) == 4


@pytest.mark.parametrize("case", ["crf-weights-missing", "crf-nan-transitions", "decoding-string", "no-tokenizer"])
def test_pipeline_refuses_a_broken_folder(case: str, model: Path) -> None:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from tagger.integrations.pipeline import TaggerPipeline

    damage, _, message = BROKEN[case]
    network = AutoModelForTokenClassification.from_pretrained(str(model))
    tokenizer = AutoTokenizer.from_pretrained(str(model))  # before the damage: the pipeline's own check must see it
    damage(model)
    with pytest.raises(InputError, match=message.split(":")[0]):
        TaggerPipeline(model=network, tokenizer=tokenizer, task="token-classification")


@pytest.mark.parametrize("case", ["crf-weights-missing", "crf-scheme-mismatch", "o-bias-infinite", "no-tokenizer"])
def test_export_refuses_what_predict_refuses(case: str, model: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    damage, _, message = BROKEN[case]
    damage(model)
    out = tmp_path / "export"
    assert main(["export", str(model), "--onnx", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_the_recipe_stops_at_launch_on_a_max_length_above_the_positions(probe_workspace: Workspace,
                                                                         tmp_path: Path) -> None:
    from recipe_runner import run_recipe

    out = tmp_path / "out"
    done = run_recipe(probe_workspace.recipe_args(out, "data.max_length=1024"), tmp_path)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert errors == [(f"recipes/ner.py: error: {probe_workspace.encoder()}: data.max_length 1024 is above the 512 "
                       "positions of the encoder (max_position_embeddings in config.json); use at most 512")]
    assert "Traceback" not in done.stderr
    assert not (out / "runs").exists()  # stopped before the data was tokenized: no run was started
