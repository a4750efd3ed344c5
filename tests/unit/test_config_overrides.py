"""Typed key=value overrides of a family config (CLI --set, pipeline parameters)."""

import pytest

from models.common.config import apply_overrides, parse_assignments
from models.hearing_loss.model import HearingLossConfig

pytestmark = pytest.mark.unit


def test_assignments_are_split_at_the_first_equals_sign() -> None:
    assert parse_assignments(["epochs=2", " lr = 1e-3 ", "note=a=b"]) == {
        "epochs": "2",
        "lr": "1e-3",
        "note": "a=b",
    }


@pytest.mark.parametrize("item", ["epochs", "=2", ""])
def test_malformed_assignment_is_named(item: str) -> None:
    with pytest.raises(ValueError, match="key=value"):
        parse_assignments([item])


def test_strings_become_the_fields_types() -> None:
    config = apply_overrides(
        HearingLossConfig(),
        {"epochs": "3", "lr": "1e-3", "noisy_levels": "65, 75", "variant": "marlin", "dropout": "0"},
    )
    assert config.epochs == 3 and config.lr == 1e-3 and config.noisy_levels == (65, 75)
    assert config.variant == "marlin" and config.dropout == 0.0
    assert apply_overrides(config, {"epochs": 5}).epochs == 5  # already typed values pass through


def test_unknown_field_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown config field\(s\) epoch;.*epochs"):
        apply_overrides(HearingLossConfig(), {"epoch": "3"})


def test_unreadable_value_names_the_field() -> None:
    with pytest.raises(ValueError, match="config field epochs: cannot read 'three'"):
        apply_overrides(HearingLossConfig(), {"epochs": "three"})


def test_the_configs_own_validation_still_runs() -> None:
    with pytest.raises(ValueError, match="noisy_levels must be a non-empty subset"):
        apply_overrides(HearingLossConfig(), {"noisy_levels": "0,75"})
