"""The family contract, over every entry of FAMILIES (STYLE §16): a family is complete when this passes.

Each family runs the whole contract at its own tiny size: synthesize -> split (or its fixed
partitions) -> validate -> train one epoch -> evaluate -> one example through the predictor core ->
reference requests -> the monitoring reference frame.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import load_settings
from models import DEFAULT_FAMILY, FAMILIES, get_family
from models.common.tracking import NullTracker
from models.contract import BaseConfig, FamilySpec, FixedPartitions, KFolds, Request

pytestmark = pytest.mark.unit

PAPERS = Path(__file__).resolve().parents[3] / "shared" / "papers"


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, tmp_path_factory: pytest.TempPathFactory):
    """A family's tiny dataset, split (or as its partitions came), and one tiny epoch trained on it."""
    spec = get_family(request.param)
    root = tmp_path_factory.mktemp(spec.name)
    data = root / "data"
    spec.data.synthesize(spec.data.tiny(), data)
    partitions = spec.data.partitions
    if isinstance(partitions, KFolds):
        written = partitions.split(data, partitions.k, 0)
        assert written == data / partitions.file
    holdout = partitions.holdout("")
    config = replace(spec.train.tiny(), epochs=1)
    model = spec.train.train(config, data, NullTracker(), out_dir=root / "run", holdout=holdout, device="cpu")
    return spec, data, holdout, config, model


def test_the_registry_names_every_family_by_its_own_spec() -> None:
    assert DEFAULT_FAMILY in FAMILIES
    for name in FAMILIES:
        spec = FAMILIES[name]
        assert isinstance(spec, FamilySpec) and spec.name == name
        if PAPERS.is_dir():  # the papers sit beside the repository in the workplace
            assert (PAPERS / spec.paper).is_file(), spec.paper
    with pytest.raises(ValueError, match="unknown family 'nope'; known: "):
        get_family("nope")


def test_configs_extend_the_base_config_with_the_papers_defaults() -> None:
    for name in FAMILIES:
        spec = get_family(name)
        assert issubclass(spec.train.config, BaseConfig)
        default, tiny = spec.train.config(), spec.train.tiny()
        assert {f.name for f in fields(BaseConfig)} <= {f.name for f in fields(default)}
        assert type(tiny) is spec.train.config and tiny.variant  # the real config, shrunk (STYLE §6)
        assert default.epochs >= tiny.epochs


def test_partitions_name_their_holdouts() -> None:
    folds = KFolds(split=lambda data, k, seed: data, file="folds.parquet", k=5)
    assert folds.holdout("") == 0 and folds.holdout("3") == 3 and folds.holdout(2) == 2
    with pytest.raises(ValueError, match="holdout 'test': this family holds out a fold, 0 to 4"):
        folds.holdout("test")
    fixed = FixedPartitions(names=("S1", "S2", "S3", "S4"), test="S4")
    assert fixed.holdout("") == "S4" and fixed.holdout("S2") == "S2"
    with pytest.raises(ValueError, match="not one of this family's partitions S1, S2, S3, S4"):
        fixed.holdout("0")


def test_the_tiny_dataset_passes_its_expectations(family) -> None:
    from components.validate import validate_cohort

    spec, data, *_ = family
    report = validate_cohort(data, docs_dir=None, family=spec.name)
    assert report.success, [failure.describe() for failure in report.failures]
    summary = spec.data.summarize(data)
    assert spec.data.format_summary(summary).strip()
    assert len(spec.data.load(data)) > 0


def test_training_writes_a_model_the_family_loads_with_its_fingerprint(family) -> None:
    spec, _, holdout, config, model = family
    trained = spec.train.load(model)
    assert trained.config == config and trained.holdout == holdout
    assert trained.fingerprint() == spec.train.load(model).fingerprint()
    assert json.dumps(trained.fingerprint())  # plain types: it can be logged and compared anywhere


def test_evaluation_reports_the_papers_metric_on_the_held_out_partition(family) -> None:
    spec, data, _, _, model = family
    scores = spec.evaluate.evaluate(spec.train.load(model), data, None)
    value = scores[spec.evaluate.paper_metric]
    assert value is None or 0.0 <= value <= 1.0
    assert set(spec.evaluate.gates) and all(isinstance(g, dict) for g in spec.evaluate.gates.values())


def test_the_predictor_core_serves_the_families_example(family) -> None:
    from serving.core import Predictor

    spec, _, _, config, model = family
    predictor = Predictor.from_uri(spec.name, model, load_settings())
    outputs = predictor.predict(spec.serve.example(config))
    assert set(outputs) == {tensor.name for tensor in predictor.schema.outputs}
    for tensor in predictor.schema.outputs:
        tensor.check(np.asarray(outputs[tensor.name]))
    if spec.serve.predict_batch is not None:
        # requests of mixed lengths in one batch: each answer is the one it gets alone
        # (fixed-size inputs: seeds alone vary the requests)
        varies = "frames" in inspect.signature(spec.serve.example).parameters
        lengths = (150, 7, 60, 1)
        sizes = [{"frames": n} if varies else {} for n in lengths]
        requests = [spec.serve.example(config, i, **size) for i, size in enumerate(sizes)]
        batch = spec.serve.predict_batch(predictor.trained, requests)
        assert len(batch) == len(requests)
        for request, together in zip(requests, batch, strict=True):
            alone = predictor.predict(request)
            assert set(together) == set(alone)
            for name, value in together.items():
                np.testing.assert_allclose(value, alone[name], rtol=1e-5, atol=1e-6)


def test_reference_requests_and_the_monitoring_reference_frame(family) -> None:
    from components.reference import reference_frame

    spec, data, holdout, config, model = family
    if spec.monitor is None:  # an unmonitored family has no reference, and says so
        with pytest.raises(ValueError, match="is not monitored"):
            reference_frame(spec.name, model, data, holdout)
        return
    assert spec.monitor.config.is_file()
    requests = list(spec.monitor.reference_requests(data, holdout))
    assert requests and all(isinstance(r, Request) for r in requests)
    assert len({r.request_id for r in requests}) == len(requests)
    schema = spec.serve.schema(config)
    for request in requests[:3]:
        schema.check_inputs({t.name: request.tensors[t.name] for t in schema.inputs})
        assert {"request_id", "subject_pseudonym"} <= set(request.parameters())
    trained_on = list(spec.monitor.training_requests(data, holdout))
    # the examples it trained on are not its held-out ones
    assert not {r.request_id for r in trained_on} & {r.request_id for r in requests}
    frame = reference_frame(spec.name, model, data, holdout)
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(requests) + len(trained_on)
    assert frame["subject_pseudonym"].notna().all()
    # the version's answers on its held-out examples only; the trained-on ones bring their inputs
    names = {t.name for t in schema.outputs}
    outputs = [c for c in frame if c in names or str(c).split("_share_")[0] in names]  # records' names
    assert outputs and frame["scored"].sum() == len(requests)
    assert frame.loc[frame["scored"], outputs].notna().any(axis=1).all()
    assert frame.loc[~frame["scored"], outputs].isna().all(axis=None)
    inputs = [c for c in frame if c.endswith("_mean")]
    assert inputs and frame[inputs].notna().all(axis=None)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_resolving_a_family_imports_no_other_family_nor_training_libraries(name: str) -> None:
    """A predictor image serving one family loads that family's spec and serving code only."""
    others = [f"models.{other}" for other in FAMILIES if other != name]
    code = (
        "import sys, models\n"
        f"spec = models.get_family({name!r})\n"
        "spec.serve.schema(spec.train.config())\n"
        f"banned = {[*others, 'sklearn', 'fairlearn', 'mlflow', 'evidently']!r}\n"
        "print([m for m in sys.modules if any(m == b or m.startswith(b + '.') for b in banned)])\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]", found.stdout
