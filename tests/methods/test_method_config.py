"""TrainConfig: validation before any work, type coercion of command-line text, profiles, YAML."""

from __future__ import annotations

import pytest

from fervlm.methods.config import TrainConfig, load_config, parse_set, profile_training
from fervlm.runs import load_profile


def test_defaults_validate_and_round_trip():
    config = TrainConfig.from_dict({})
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.replace(epochs=3).epochs == 3


def test_text_values_become_numbers_or_none():
    config = TrainConfig.from_dict(
        {"lr": "3e-3", "epochs": "4", "devices": "auto", "limit_train_batches": "2", "image_size": "None"}
    )
    assert config.lr == 0.003 and config.epochs == 4 and config.devices == "auto"
    assert config.limit_train_batches == 2 and isinstance(config.limit_train_batches, int)
    assert config.image_size is None
    with pytest.raises(ValueError, match="config lr='fast': expected a number"):
        TrainConfig.from_dict({"lr": "fast"})


def test_comma_separated_tuples():
    config = TrainConfig.from_dict({"views": "front,left", "method": "smilevlm", "disabled_losses": "red"})
    assert config.views == ("front", "left") and config.disabled_losses == ("red",)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": 0}, "epochs=0: must be an integer >= 1"),
        ({"method": "multiviewvlm", "disabled_losses": ("mt",)}, r"term\(s\) \['mt'\] for multiviewvlm"),
        ({"margin_init": 1.5}, "margin_init=1.5"),
        ({"strategy": "fsdp"}, "strategy='fsdp'"),
        ({"views": ("front", "front")}, "a view is listed twice"),
        ({"augment": "heavy"}, "augment='heavy'"),
        ({"margin_mode": "frozen"}, "margin_mode='frozen': must be 'learnable'"),
        ({"con_targets": "class"}, "con_targets='class': must be 'label'"),
        ({"align_targets": "label"}, "align_targets='label': must be 'pair'"),
        ({"pseudo_naming": "centroids"}, "pseudo_naming='centroids': must be 'anchor' or 'prototypes'"),
        ({"method": "smilevlm", "batch_size": 1}, "batch_size=1: smilevlm uses batch-wide losses"),
    ],
)
def test_bad_values_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(values)


def test_baselines_accept_any_batch_size():
    assert TrainConfig.from_dict({"method": "zeroshot", "batch_size": 1}).batch_size == 1


def test_profiles_yaml_and_sets_apply_in_order(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("epochs: 7\nlr: 2.0e-4\n")
    config = load_config(path, ["epochs=9", "views=front"], profile="quick", method="smilevlm")
    assert config.backbone == load_profile("quick").backbone
    assert (config.epochs, config.lr, config.views, config.method) == (9, 2e-4, ("front",), "smilevlm")
    assert load_config(profile="paper").backbone == "ViT-B-16"
    # Per-method profile adjustments apply unless a value is given explicitly.
    assert load_config(profile="quick", method="smilevlm").epochs == 10
    assert load_config(profile="quick", method="affectvlm").epochs == load_profile("quick").training["epochs"]
    with pytest.raises(ValueError, match=r"profile='fast'.*paper, quick"):
        load_config(profile="fast")
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="expected key=value"):
        parse_set(["epochs"])


def test_profile_training_reads_the_profiles_yaml(tmp_path):
    quick = load_profile("quick")
    values = profile_training("quick", "smilevlm")
    assert quick.lr == 0.0  # 0: each method's rate from `training` / `method_training`
    assert values["lr"] == quick.training["lr"] and values["batch_size"] == quick.batch_size
    assert profile_training("quick", "affectvlm")["lr"] == quick.method_training["affectvlm"]["lr"] == 1e-4
    assert values["lambda_align"] == quick.training["lambda_align"]
    assert values["epochs"] == quick.method_training["smilevlm"]["epochs"] != quick.training["epochs"]
    assert profile_training("paper", "affectvlm")["lr"] == load_profile("paper").lr
    # A profile file: top-level epochs > 0 beats the per-method epochs; "none" weights mean random towers.
    path = tmp_path / "mine.yaml"
    path.write_text("epochs: 3\nweights: none\nmethod_training: {smilevlm: {epochs: 10}}\n")
    mine = profile_training(path, "smilevlm")
    assert mine["epochs"] == 3 and mine["weights"] is None and "lambda_align" not in mine
    # ... and so does a top-level lr > 0 beat the per-method rate.
    path.write_text("lr: 0.01\nmethod_training: {affectvlm: {lr: 1.0e-4}}\n")
    assert profile_training(path, "affectvlm")["lr"] == 0.01
    path.write_text("training: {lambda_typo: 1}\n")
    with pytest.raises(ValueError, match="lambda_typo"):
        profile_training(path)
