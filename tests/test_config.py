import dataclasses
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
    # A config file that leaves a key out must train as the measured default sweep did.
    library = load_config(None)
    shipped = load_config(REPO / "recipes" / "configs" / "default.yaml")
    for section in ("model", "data", "training", "output"):
        got, want = dataclasses.asdict(getattr(library, section)), dataclasses.asdict(getattr(shipped, section))
        assert got == want, section
    t = library.training
    assert (t.epochs, t.learning_rate, t.max_tokens_per_batch, t.max_sentences_per_batch) == (2, 1.5e-4, 1024, 32)


def test_help_shows_the_defaults_a_run_uses():
    text = help_text()
    assert "training.epochs (int, default 2)" in text and "training.learning_rate (float, default 0.00015)" in text
    assert "training.max_sentences_per_batch (int, default 32)" in text
