"""Every pipeline compiles; the main one matches its golden IR; GPU scheduling comes from cluster.yaml."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest
import yaml

from pipelines.cluster import CLUSTER_CONFIG, load_cluster
from pipelines.training import PIPELINES, compile_all

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).resolve().parents[2] / "pipelines" / "golden" / "training.yaml"
REGENERATE = "UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_pipelines_compile.py"
TRAIN = "exec-train-model"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    paths = compile_all(tmp_path_factory.mktemp("ir"))
    return {path.stem: path for path in paths}


def _documents(path: Path) -> tuple[dict, dict]:
    """The pipeline spec and its Kubernetes platform spec (the IR file's two YAML documents)."""
    spec, platform = yaml.safe_load_all(path.read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_every_pipeline_compiles(compiled: dict[str, Path]) -> None:
    assert set(compiled) == set(PIPELINES)
    for path in compiled.values():
        spec, _ = _documents(path)
        assert spec["pipelineInfo"]["name"] and spec["root"]["dag"]["tasks"]


def _canonical(text: str) -> str:
    """The IR's documents as sorted JSON: the comparison must not hang on mapping order, which a
    library imported elsewhere in the process (opensmile brings oyaml) can change in PyYAML globally."""
    return json.dumps(list(yaml.safe_load_all(text)), sort_keys=True, indent=1)


def test_training_pipeline_matches_its_golden_ir(compiled: dict[str, Path]) -> None:
    text = compiled["training"].read_text()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    golden = _canonical(GOLDEN.read_text()) if GOLDEN.exists() else ""
    if _canonical(text) != golden:
        diff = "".join(
            difflib.unified_diff(
                golden.splitlines(keepends=True),
                _canonical(text).splitlines(keepends=True),
                fromfile=str(GOLDEN),
                tofile="compiled now",
            )
        )
        pytest.fail(
            f"the compiled training pipeline differs from its golden IR; if the change is intended,"
            f" regenerate it with `{REGENERATE}` and review the diff:\n{diff}",
            pytrace=False,
        )


def test_the_training_pipeline_is_family_generic(compiled: dict[str, Path]) -> None:
    spec, _ = _documents(compiled["training"])
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert inputs["family"]["defaultValue"] == "hearing_loss"
    assert inputs["promote"]["defaultValue"] is False
    for name in ("dataset_uri", "dataset_version", "variant", "overrides", "seed", "holdout"):
        assert name in inputs
    tasks = spec["root"]["dag"]["tasks"]
    assert {"version-data", "validate-data", "split-data", "train-model", "evaluate-model"} <= set(tasks)
    (gate,) = (task for task in tasks.values() if task["taskInfo"]["name"] == "promote")  # the dsl.If
    assert gate["triggerPolicy"]["condition"] == "inputs.parameter_values['pipelinechannel--promote'] == true"
    assert gate["dependentTasks"] == ["register-model"]


@pytest.mark.parametrize("profile", ["self-hosted", "cloud-gpu"])
def test_train_runs_on_the_gpu_pool_and_the_rest_on_cpu(profile: str, tmp_path: Path) -> None:
    cluster = load_cluster(profile)
    raw = yaml.safe_load(CLUSTER_CONFIG.read_text())
    (path,) = (p for p in compile_all(tmp_path, profile) if p.stem == "training")
    spec, platform = _documents(path)
    executors = spec["deploymentSpec"]["executors"]

    train = executors[TRAIN]["container"]
    assert train["image"] == cluster.image and cluster.image.startswith(
        raw["profiles"][profile]["image"] + ":"
    )
    accelerator = train["resources"]["accelerator"]
    assert accelerator["resourceType"] == raw["gpu"]["resource"] == "nvidia.com/gpu"
    assert accelerator["resourceCount"] == str(raw["resources"]["gpu"]["limits"]["nvidia.com/gpu"])
    assert train["resources"]["resourceCpuRequest"] == str(raw["resources"]["gpu"]["requests"]["cpu"])
    assert train["resources"]["resourceMemoryLimit"] == raw["resources"]["gpu"]["limits"]["memory"]
    assert platform[TRAIN]["nodeSelector"]["labels"] == raw["profiles"][profile]["gpu_node_selector"]
    tolerations = [{k: t[k] for k in ("key", "operator", "effect")} for t in platform[TRAIN]["tolerations"]]
    assert tolerations == raw["profiles"][profile]["gpu_tolerations"]

    cpu_executors = set(executors) - {TRAIN}
    assert len(cpu_executors) == 6
    for name in cpu_executors:
        container = executors[name]["container"]
        assert container["image"] == cluster.image
        assert "accelerator" not in container["resources"]
        assert container["resources"]["resourceCpuRequest"] == raw["resources"]["cpu"]["requests"]["cpu"]
        assert (
            container["resources"]["resourceMemoryRequest"] == raw["resources"]["cpu"]["requests"]["memory"]
        )
        assert "nodeSelector" not in platform[name] and "tolerations" not in platform[name]
    for name in executors:  # every step reads the platform's endpoints from the cluster's ConfigMap
        assert (
            platform[name]["configMapAsEnv"][0]["configMapName"] == raw["pipelines"]["endpoints_config_map"]
        )


def test_components_run_in_the_release_image_without_installing_packages(compiled: dict[str, Path]) -> None:
    spec, _ = _documents(compiled["training"])
    for executor in spec["deploymentSpec"]["executors"].values():
        command = " ".join(executor["container"]["command"])
        assert "pip install" not in command


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown cluster profile 'nope'"):
        load_cluster("nope")


def test_cli_compiles_every_pipeline(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from affectops.cli import app

    result = CliRunner().invoke(app, ["pipeline", "compile", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert _canonical((tmp_path / "training.yaml").read_text()) == _canonical(GOLDEN.read_text())


def test_cli_run_without_local_needs_a_kfp_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from affectops.cli import app

    monkeypatch.delenv("AFFECTOPS_KFP_HOST", raising=False)
    result = CliRunner().invoke(app, ["pipeline", "run", "--dataset-uri", "s3://b/d"])
    assert result.exit_code == 2 and "no KFP endpoint" in result.output


def test_run_parameters_are_typed_by_the_pipeline() -> None:
    from pipelines.runner import parse_params
    from pipelines.training import training_pipeline

    pipeline = training_pipeline()
    parsed = parse_params(
        pipeline, {"seed": "3", "promote": "true", "family": "hearing_loss", "overrides": "{}"}
    )
    assert parsed == {"seed": 3, "promote": True, "family": "hearing_loss", "overrides": "{}"}
    with pytest.raises(ValueError, match="unknown pipeline parameter 'epoch'"):
        parse_params(pipeline, {"epoch": "1"})
    with pytest.raises(ValueError, match="not a boolean"):
        parse_params(pipeline, {"promote": "maybe"})
