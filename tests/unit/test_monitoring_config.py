"""Per-family monitoring configs: the platform's defaults with each family's file over them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import FAMILIES
from monitoring import config as monitoring_config
from monitoring.config import load_config, merged
from monitoring.drift import with_feature_vector
from monitoring.gates import check

pytestmark = pytest.mark.unit


def test_merge_goes_key_by_key_into_mappings_and_replaces_the_rest() -> None:
    base = {"drift": {"seed": 0, "thresholds": {"numerical": 0.1, "categorical": 0.1}}, "features": ["a"]}
    over = {"drift": {"thresholds": {"numerical": 0.2}}, "features": ["b"]}
    assert merged(base, over) == {
        "drift": {"seed": 0, "thresholds": {"numerical": 0.2, "categorical": 0.1}},
        "features": ["b"],
    }
    assert base["drift"]["thresholds"]["numerical"] == 0.1  # the base is not changed


def test_each_family_gets_its_own_monitoring_over_the_shared_estimation() -> None:
    defaults, hearing, expression = load_config(), load_config("hearing_loss"), load_config("expression")
    # how drift is estimated is the platform's, the same for both
    for key in ("sample_units", "permutations", "null_quantile", "seed"):
        assert hearing["drift"][key] == expression["drift"][key] == defaults["drift"][key]
    # what is monitored is the family's
    assert list(hearing["age_groups"]) == ["young", "mid", "old"] and expression["age_groups"] == {}
    assert (hearing["drift"]["feature_column"], expression["drift"]["feature_column"]) == (
        "current_mean",
        "*_mean",
    )
    assert (
        hearing["fairness"]["label_column"] == "hearing_loss"
        and expression["fairness"]["label_column"] is None
    )
    assert "f1_young" in hearing["thresholds"] and "f1_young" not in expression["thresholds"]
    assert defaults["thresholds"] == {} and defaults["age_groups"] == {}
    for family in FAMILIES:  # every gate a family names is one the gate knows (else check raises)
        config = load_config(family)
        assert check({"drift": {}, "fairness": {}}, config["thresholds"]) == []
        # and a column's drift gate names a column the family's drift compares
        compared = {
            *config["drift"]["numerical"],
            *config["drift"]["categorical"],
            *config["drift"]["as_logged"],
        }
        gated = {key.removeprefix("drift_") for key in config["thresholds"] if key.startswith("drift_")}
        assert gated - {"share"} <= compared | {config["columns"]["prediction"]}, family


def test_bad_configs_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown family 'nope'"):
        load_config("nope")
    broken = tmp_path / "broken.yaml"
    broken.write_text("drift: [unclosed")
    with pytest.raises(ValueError, match=r"broken\.yaml: cannot read the monitoring config"):
        load_config(path=broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- drift\n")
    with pytest.raises(ValueError, match=r"list\.yaml: a monitoring config is a mapping, got list"):
        load_config(path=listed)
    no_thresholds = tmp_path / "none.yaml"
    no_thresholds.write_text("thresholds: null\n")
    with pytest.raises(ValueError, match=r"none\.yaml: missing section \'thresholds\'"):
        load_config(path=no_thresholds)
    unmonitored = {**FAMILIES, "expression": replace(FAMILIES["expression"], monitor=None)}
    monkeypatch.setattr("models.FAMILIES", unmonitored)
    with pytest.raises(ValueError, match="'expression' is not monitored"):
        monitoring_config.load_config("expression")


def _summaries(rows: int, seed: int, inputs: dict[str, int]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {f"{name}_mean": list(rng.standard_normal((rows, dim))) for name, dim in inputs.items()}
    )


def test_a_pattern_concatenates_every_matching_input_summary_in_name_order() -> None:
    current, reference = _summaries(3, 0, {"mae": 4, "fbank": 2}), _summaries(5, 1, {"mae": 4, "fbank": 2})
    cur, ref, name = with_feature_vector(current, reference, "*_mean")
    assert name == "fbank_mean+mae_mean"
    first = np.concatenate([current["fbank_mean"][0], current["mae_mean"][0]])
    np.testing.assert_array_equal(cur[name][0], first)
    assert len(ref[name][4]) == 6
    # a plain name is used as it is; None compares no features
    assert with_feature_vector(current, reference, "mae_mean")[2] == "mae_mean"
    assert with_feature_vector(current, reference, None)[2] is None
    # one match: that column, unchanged
    assert with_feature_vector(current, reference, "mae_*")[2] == "mae_mean"


def test_a_window_of_other_inputs_is_not_compared() -> None:
    reference = _summaries(5, 1, {"mae": 4, "fbank": 2})
    with pytest.raises(ValueError, match=r"\['fbank_mean'\]: in the reference but not in the window"):
        with_feature_vector(_summaries(3, 0, {"mae": 4}), reference, "*_mean")
    with pytest.raises(ValueError, match=r"feature_column: no reference column matches \'x_\*\'"):
        with_feature_vector(reference, reference, "x_*")
