"""The monitoring reference of a trained model: one inference-store record per held-out example.

Made by the evaluation step (components/steps.py) and logged with the registered version as
``core.registry.REFERENCE_ARTIFACT``: what the model answers for each held-out request, its metadata
and the summaries of its input tensors, made exactly as the sink makes a logged inference
(monitoring/records.py), so a report compares like with like. Monitoring only reads it back.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from monitoring import records


def monitored(family: str) -> bool:
    """Whether ``family`` provides held-out requests (``FamilySpec.held_out_requests``) for a reference."""
    from models import get_family

    return get_family(family).held_out_requests is not None


def reference_frame(family: str, model_file: Path, data: Path, holdout_fold: int) -> pd.DataFrame:
    """One store record per held-out segment of ``data``, answered by the model in ``model_file``."""
    from models import get_family

    spec = get_family(family)
    if spec.held_out_requests is None:
        raise ValueError(f"family: {family!r} gives no held-out requests, so it has no reference data")
    trained = spec.load_model(model_file)
    schema = spec.serving_schema(trained.config)
    wanted = [tensor.name for tensor in schema.inputs]
    records_ = []
    for metadata, tensors in spec.held_out_requests(Path(data), holdout_fold):
        tensors = {name: tensors[name] for name in wanted}  # only what this variant serves (anchor or not)
        outputs = spec.predict_request(trained, tensors)
        records_.append(
            {
                records.INFERENCE_ID: metadata["request_id"],
                records.TIMESTAMP: pd.NaT,
                records.MODEL_NAME: family,
                records.MODEL_VERSION: None,
                records.STATUS: "ok",
                **records.scalar_outputs(outputs),
                **metadata,
                **records.summarize_inputs(tensors),
            }
        )
    return pd.DataFrame(records_)
