import dataclasses
import time
from pathlib import Path

import pytest

from tagger.config import RecipeConfig, help_text, load_config
from tagger.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_defaults_and_yaml(tmp_path):
    cfg = load_config(write(tmp_path, "training:\n  epochs: 3\n  learning_rate: 5e-5\nloss: {name: focal, gamma: 2}\n"))
    assert isinstance(cfg, RecipeConfig)
    assert cfg.training.epochs == 3
    assert cfg.training.learning_rate == pytest.approx(5e-5)
    assert cfg.run_specs() == [({"name": "focal", "gamma": 2}, 1)]


def test_overrides_all_forms(tmp_path):
    cfg = load_config(None, ["training.epochs=2", "--training.learning_rate", "3e-4", "--data.max_length=64"])
    assert (cfg.training.epochs, cfg.training.learning_rate, cfg.data.max_length) == (2, 3e-4, 64)


def test_int_accepted_for_float_but_not_reverse():
    assert load_config(None, ["training.learning_rate=1"]).training.learning_rate == 1.0
    with pytest.raises(ConfigError, match=r"training.epochs: expected an integer"):
        load_config(None, ["training.epochs=2.5"])


@pytest.mark.parametrize(
    "override, match",
    [
        ("training.epoch=3", r"unknown config key 'training.epoch' \(did you mean 'training.epochs'\?\).*training.learning_rate"),
        ("nope=1", r"unknown config key 'nope'.*valid keys: model, data, training, loss, sweep, output"),
        ("training.patience=soon", r"training.patience: expected int \| None"),
        ("output.overwrite=maybe", r"output.overwrite: expected true or false"),
        ("sweep.seeds=[1, x]", r"sweep.seeds\[1\]: expected an integer"),
    ],
)
def test_bad_keys_and_types_fail_listing_valid(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])


def test_loss_override_replaces_sweep_losses(tmp_path):
    path = write(tmp_path, "sweep:\n  losses: [{name: ce}, {name: dice}]\n  seeds: [1, 2]\n")
    cfg = load_config(path, ["--loss.name", "focal", "--loss.gamma", "0.5"])
    assert cfg.run_specs() == [({"name": "focal", "gamma": 0.5}, 1), ({"name": "focal", "gamma": 0.5}, 2)]


def test_yaml_errors_name_file_and_line(tmp_path):
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: not valid YAML"):
        load_config(write(tmp_path, "training:\n  epochs: [1\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_every_shipped_config_loads_and_opens_with_its_command():
    configs = sorted((REPO / "recipes" / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# ") and ("recipes/ner.py" in first), f"{path.name} must open with its launch command"
        load_config(path)


def test_help_lists_every_key():
    text = help_text()
    for key in ("training.learning_rate", "data.stride", "output.push_to_hub", "model.trust_remote_code"):
        assert key in text


def test_yaml_no_for_string_options_and_choices():
    cfg = load_config(None, ["training.checkpointing=no", "training.mixed_precision=no"])
    assert cfg.training.checkpointing == "no" and cfg.training.mixed_precision == "no"
    with pytest.raises(ConfigError, match=r"training.metric_mode: 'loose' is not one of conlleval, strict"):
        load_config(None, ["training.metric_mode=loose"])


def test_untrusted_code_and_pickle_are_off_by_default():
    cfg = load_config(REPO / "recipes" / "configs" / "default.yaml")
    assert cfg.model.trust_remote_code is False and cfg.model.allow_pickle_weights is False


def test_library_defaults_are_the_measured_default_sweep():
    # A config file that leaves a key out must train as the measured default sweep did, but for the one
    # setting the default sweep takes to fit its time on 2 CPU cores: 2 frozen layers (every layer trains
    # by default: freezing trades F1 for speed, docs/levers.md#frozen-lower-layers).
    library = load_config(None)
    shipped = load_config(REPO / "recipes" / "configs" / "default.yaml")
    assert (library.model.freeze_layers, shipped.model.freeze_layers) == (0, 2)
    for section in ("model", "data", "training", "output"):
        got, want = dataclasses.asdict(getattr(library, section)), dataclasses.asdict(getattr(shipped, section))
        if section == "model":
            got, want = ({k: v for k, v in d.items() if k != "freeze_layers"} for d in (got, want))
        assert got == want, section
    t = library.training
    assert (t.epochs, t.learning_rate, t.max_tokens_per_batch, t.max_sentences_per_batch) == (2, 1.5e-4, 1024, 32)


def test_help_shows_the_defaults_a_run_uses():
    text = help_text()
    assert "training.epochs (int, default 2)" in text and "training.learning_rate (float, default 0.00015)" in text
    assert "training.max_sentences_per_batch (int, default 32)" in text


# ---------------------------------------------------------------------------------------- value rules


@pytest.mark.parametrize(
    "override, message",
    [
        ("training.epochs=-1", "training.epochs: must be >= 1, got -1"),
        ("training.learning_rate=0", "training.learning_rate: must be > 0, got 0.0"),
        ("training.learning_rate=.nan", "training.learning_rate: expected a finite number, got nan"),
        ("training.warmup_ratio=1", "training.warmup_ratio: must be >= 0 and < 1, got 1.0"),
        ("training.weight_decay=-0.1", "training.weight_decay: must be >= 0, got -0.1"),
        ("training.max_tokens_per_batch=0", "training.max_tokens_per_batch: must be >= 1, got 0"),
        ("training.max_sentences_per_batch=0", "training.max_sentences_per_batch: must be >= 1, got 0"),
        ("training.eval_max_tokens_per_batch=0", "training.eval_max_tokens_per_batch: must be >= 1, got 0"),
        ("training.gradient_accumulation_steps=0", "training.gradient_accumulation_steps: must be >= 1, got 0"),
        ("training.max_grad_norm=-1", "training.max_grad_norm: must be >= 0, got -1.0"),
        ("training.patience=0", "training.patience: must be >= 1 or null, got 0"),
        ("training.max_steps=0", "training.max_steps: must be >= 1 or null, got 0"),
        ("training.log_every_steps=0", "training.log_every_steps: must be >= 1, got 0"),
        ("training.max_nonfinite_steps=0", "training.max_nonfinite_steps: must be >= 1, got 0"),
        ("training.num_threads=0", "training.num_threads: must be >= 1 or null, got 0"),
        ("training.seed=-3", "training.seed: must be >= 0 and <= 4,294,967,295, got -3"),
        ("data.max_length=2", "data.max_length: must be >= 3, got 2"),
        ("data.stride=-1", "data.stride: must be >= 0 and < data.max_length - 2 (126), got -1"),
        ("data.stride=126", "data.stride: must be >= 0 and < data.max_length - 2 (126), got 126"),
        ("data.max_train_sentences=0", "data.max_train_sentences: must be >= 1 or null, got 0"),
        ("data.max_eval_sentences=-5", "data.max_eval_sentences: must be >= 1 or null, got -5"),
        ("data.scheme=IOX", "data.scheme: unknown tagging scheme 'IOX' (expected one of IOB1, IOB2, IOBES/BIOES, BILOU)"),
        ("sweep.seeds=[1, -2]", "sweep.seeds[1]: must be >= 0 and <= 4,294,967,295, got -2"),
        ("sweep.seeds=[3, 1, 3]", "sweep.seeds: items 0 and 2 are the same (3); list each once"),
        ("output.push_to_hub=true", "output.hub_repo_id: must be set when output.push_to_hub is true"),
        ("training.mixed_precision=fp8", "training.mixed_precision: 'fp8' is not one of auto, no, bf16, fp16"),
    ],
)
def test_values_out_of_range_stop_the_launch_with_the_key_and_range(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert str(err.value) == message and err.value.exit_code == 2


def test_values_at_the_edge_of_their_range_are_accepted():
    cfg = load_config(None, ["training.epochs=1", "training.warmup_ratio=0", "training.weight_decay=0",
                             "training.max_grad_norm=0", "training.max_steps=1", "training.patience=1",
                             "data.max_length=3", "data.stride=0", "sweep.seeds=[0, 4294967295]",
                             "training.mixed_precision=null", "output.push_to_hub=true", "output.hub_repo_id=me/x"])
    assert (cfg.training.epochs, cfg.data.max_length, cfg.data.stride, cfg.sweep.seeds) == (1, 3, 0, [0, 2**32 - 1])
    assert load_config(None, ["data.max_length=64", "data.stride=61"]).data.stride == 61


def test_stride_is_checked_against_max_length_after_every_override(tmp_path):
    path = write(tmp_path, "data:\n  max_length: 16\n  stride: 8\n")
    assert load_config(path).data.stride == 8
    with pytest.raises(ConfigError, match=r"^data.stride: must be >= 0 and < data.max_length - 2 \(6\), got 8$"):
        load_config(path, ["data.max_length=8"])


def test_help_shows_the_allowed_range_of_each_key():
    text = help_text()
    for line in ("training.epochs (int, default 2) [>= 1]", "training.warmup_ratio (float, default 0.1) [>= 0 and < 1]",
                 "training.learning_rate (float, default 0.00015) [> 0]", "training.patience (int | None, default None) [>= 1 or null]",
                 "data.stride (int, default 32) [>= 0 and < data.max_length - 2]",
                 "training.metric_mode (str, default 'conlleval') [one of conlleval, strict]",
                 "sweep.seeds (list, default []) [each >= 0 and <= 4,294,967,295, each once]",
                 "output.hub_repo_id (str | None, default None) [set when output.push_to_hub is true]"):
        assert f"  {line}\n" in text, line


def test_every_loss_of_the_sweep_is_checked_before_anything_trains(tmp_path):
    path = write(tmp_path, "sweep:\n  losses:\n    - {name: ce}\n    - {name: focal, gama: 2}\n  seeds: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"^sweep.losses\[1\]: unknown parameter 'gama' for loss 'focal' \(did you mean 'gamma'\?\)"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"^sweep.losses\[1\]: unknown loss 'focall' \(did you mean 'focal'\?\)"):
        load_config(None, ["sweep.losses=[{name: ce}, {name: focall}]"])
    with pytest.raises(ConfigError, match=r"^loss: gamma must be a number >= 0, got -1"):
        load_config(None, ["--loss.name", "focal", "--loss.gamma", "-1"])
    with pytest.raises(ConfigError, match=r"^sweep.losses\[0\]: loss spec \{'gamma': 2\} has no 'name'$"):
        load_config(None, ["sweep.losses=[{gamma: 2}]"])
    with pytest.raises(ConfigError, match=r"^sweep.losses: items 0 and 1 are the same"):
        load_config(None, ["sweep.losses=[{name: dice}, {name: dice}]"])
    # a per-label list is checked with as many labels as it lists
    cfg = load_config(None, ["sweep.losses=[{name: focal, alpha: [0.1, 0.2, 0.3, 0.4, 0.5]}, {name: ce}]"])
    assert [s["name"] for s, _ in cfg.run_specs()] == ["focal", "ce"]


@pytest.mark.parametrize("text", ["training: 5\n", "training: [1, 2]\n", "training: fast\n"])
def test_a_section_given_as_a_value_is_not_replaced_by_an_override(tmp_path, text):
    with pytest.raises(ConfigError, match=r"^training: expected a section \(a mapping of keys\), got .*; cannot set training.epochs$"):
        load_config(write(tmp_path, text), ["training.epochs=3"])
    with pytest.raises(ConfigError, match=r"^training: expected a mapping"):
        load_config(write(tmp_path, text))
    with pytest.raises(ConfigError, match=r"^loss: expected a section"):
        load_config(write(tmp_path, "loss: focal\n"), ["--loss.gamma", "2"])
    assert load_config(write(tmp_path, "training:\n"), ["training.epochs=3"]).training.epochs == 3  # empty section


def test_check_window_knows_the_tokenizers_special_tokens():
    from tagger.config import check_window

    check_window(3, 0, 2)
    check_window(128, 125, 2)
    with pytest.raises(ConfigError) as err:
        check_window(2, 0, 2)
    assert str(err.value) == "data.max_length: must be > 2 (the tokenizer's 2 special tokens and one subword), got 2"
    with pytest.raises(ConfigError) as err:
        check_window(16, 13, 3)
    assert str(err.value) == ("data.stride: must be >= 0 and < 13 (data.max_length 16 less the tokenizer's "
                              "3 special tokens), got 13")


# ------------------------------------------------------------------------------------------------ YAML


BILLION_LAUGHS = "loss:\n  name: ce\n  lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))


def test_billion_laughs_fails_fast_with_one_line(tmp_path):
    path = write(tmp_path, BILLION_LAUGHS)
    start = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert time.perf_counter() - start < 2
    assert str(err.value) == (f"{path}:8: YAML aliases (*name) here expand to more than 100,000 values; "
                              "write the values out instead")
    with pytest.raises(ConfigError, match=r"^override loss.x:1: YAML aliases"):
        load_config(None, ["loss.x=" + "[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], "
                           "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], "
                           "[*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]]"])


def test_recursive_alias_and_deep_nesting_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"c\.yaml:1: YAML aliases"):
        load_config(write(tmp_path, "loss: &x {name: ce, again: *x}\n"))
    with pytest.raises(ConfigError, match=r"c\.yaml: YAML nested too deeply$"):
        load_config(write(tmp_path, "loss: " + "[" * 3000 + "]" * 3000 + "\n"))


def test_ordinary_anchors_and_merge_keys_still_work(tmp_path):
    path = write(tmp_path, "sweep:\n  losses:\n    - &focal {name: focal, gamma: 2.0}\n    - {<<: *focal, gamma: 1.0}\n")
    assert [s for s, _ in load_config(path).run_specs()] == [{"name": "focal", "gamma": 2.0}, {"name": "focal", "gamma": 1.0}]
