"""The hearing-loss serving schema: what a request must carry, and every way it can be wrong."""

import numpy as np
import pytest

from models import get_family
from models.hearing_loss.model import VARIANTS, HearingLossConfig
from models.hearing_loss.schema import MAX_FRAMES, example_input, serving_schema

pytestmark = pytest.mark.unit
ABM = HearingLossConfig(variant="marlin_vm_abm")


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "marlin_age"])
def test_example_input_satisfies_the_schema(variant: str) -> None:
    config = HearingLossConfig(variant=variant)
    spec = get_family("hearing_loss")
    spec.serve.schema(config).check_inputs(spec.serve.example(config))


def test_inputs_and_outputs_follow_the_variant() -> None:
    assert [s.name for s in serving_schema(HearingLossConfig(variant="marlin")).inputs] == ["current"]
    assert [s.name for s in serving_schema(ABM).inputs] == ["current", "anchor"]
    assert "age_estimate" in [s.name for s in serving_schema(ABM).outputs]
    assert "age_estimate" not in [
        s.name for s in serving_schema(HearingLossConfig(variant="marlin_vm")).outputs
    ]
    assert {"age", "gender"} <= set(serving_schema(ABM).metadata)  # monitoring metadata, never inputs


def test_the_age_input_ablation_cannot_be_served() -> None:
    with pytest.raises(ValueError, match="marlin_age takes age as input"):
        serving_schema(HearingLossConfig(variant="marlin_age"))


def _request(**changes) -> dict[str, np.ndarray]:
    tensors = example_input(ABM, frames=20)
    tensors.update(changes)
    return {name: value for name, value in tensors.items() if value is not None}


@pytest.mark.parametrize(
    ("tensors", "message"),
    [
        (_request(anchor=None), "missing input tensor(s): anchor"),
        (_request(extra=np.zeros((3, 384), np.float32)), "unknown input tensor(s): extra"),
        (_request(current=np.zeros((20, 384), np.float64)), "current: dtype must be float32, got float64"),
        (_request(current=np.zeros((20, 383), np.float32)), "current: dim 1 must be 384, got 383"),
        (_request(anchor=np.zeros((384,), np.float32)), "anchor: must have 2 dims"),
        (
            _request(current=np.zeros((0, 384), np.float32)),
            f"current: dim 0 must lie in [1, {MAX_FRAMES}], got 0",
        ),
        (_request(current=np.zeros((MAX_FRAMES + 1, 384), np.float32)), f"got {MAX_FRAMES + 1}"),
        (_request(anchor=np.full((5, 384), np.nan, np.float32)), "anchor: contains NaN or inf"),
        (_request(current=np.full((5, 384), np.inf, np.float32)), "current: contains NaN or inf"),
    ],
)
def test_bad_requests_name_the_tensor_and_the_problem(tensors: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        serving_schema(ABM).check_inputs(tensors)
    assert message in str(caught.value)
