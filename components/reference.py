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
    """Whether ``family`` is monitored (its spec has a monitor part), so its versions have a reference."""
    from models import get_family

    return get_family(family).monitor is not None


def reference_frame(family: str, model_file: Path, data: Path, holdout: int | str) -> pd.DataFrame:
    """One store record per held-out request of ``data``, answered by the model in ``model_file``."""
    from models import get_family

    spec = get_family(family)
    if spec.monitor is None:
        raise ValueError(f"family: {family!r} is not monitored, so it has no reference data")
    trained = spec.train.load(model_file)
    schema = spec.serve.schema(trained.config)
    wanted = [tensor.name for tensor in schema.inputs]
    records_ = []
    for request in spec.monitor.reference_requests(Path(data), holdout):
        # only what this variant serves (anchor or not)
        tensors = {name: request.tensors[name] for name in wanted}
        outputs = spec.serve.predict(trained, tensors)
        records_.append(
            {
                records.INFERENCE_ID: request.request_id,
                records.TIMESTAMP: pd.NaT,
                records.MODEL_NAME: family,
                records.MODEL_VERSION: None,
                records.STATUS: "ok",
                **records.scalar_outputs(outputs),
                **request.parameters(),
                **records.summarize_inputs(tensors),
            }
        )
    return pd.DataFrame(records_)
