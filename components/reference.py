"""The monitoring reference of a trained model: one inference-store record per example it was developed on.

Made by the evaluation step (components/steps.py) and logged with the registered version as
``core.registry.REFERENCE_ARTIFACT``: what the model answers for each held-out request, its metadata
and the summaries of its input tensors, and, for a family that offers them, the inputs and metadata
of the requests it trained on, unanswered (the population each group's drift is compared with). Made
exactly as the sink makes a logged inference (monitoring/records.py), so a report compares like with
like. Monitoring only reads it back.
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
    """One store record per reference request of ``data``: each held-out request answered by the model
    in ``model_file`` (``records.SCORED`` true), then each request the model trained on (the family's
    ``training_requests``) with its inputs and metadata only (``SCORED`` false, no outputs)."""
    from models import get_family

    spec = get_family(family)
    if spec.monitor is None:
        raise ValueError(f"family: {family!r} is not monitored, so it has no reference data")
    trained = spec.train.load(model_file)
    schema = spec.serve.schema(trained.config)
    wanted = [tensor.name for tensor in schema.inputs]

    def record(request, outputs: dict | None) -> dict:
        # only what this variant serves (anchor or not)
        tensors = {name: request.tensors[name] for name in wanted}
        answered = {} if outputs is None else records.scalar_outputs(outputs)
        return {
            records.INFERENCE_ID: request.request_id,
            records.TIMESTAMP: pd.NaT,
            records.MODEL_NAME: family,
            records.MODEL_VERSION: None,
            records.STATUS: "ok",
            records.SCORED: outputs is not None,
            **answered,
            **request.parameters(),
            **records.summarize_inputs(tensors),
        }

    rows = [
        record(r, spec.serve.predict(trained, {n: r.tensors[n] for n in wanted}))
        for r in spec.monitor.reference_requests(Path(data), holdout)
    ]
    rows += [record(r, None) for r in spec.monitor.training_requests(Path(data), holdout)]
    return pd.DataFrame(rows)


def scored(reference: pd.DataFrame) -> pd.DataFrame:
    """The reference rows that carry the version's answers (a reference without ``SCORED``: all)."""
    if records.SCORED not in reference:
        return reference
    return reference[reference[records.SCORED].astype(bool)]
