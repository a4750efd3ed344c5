"""Build a ``.mar`` in KServe's pytorch-runtime storage layout from any model URI the core resolves.

Layout (KServe docs, "Deploy a PyTorch model with TorchServe"; the storage URI points at ``out_dir``)::

    out_dir/config/config.properties
    out_dir/model-store/<name>.mar
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from core.settings import Settings
from serving.core import Predictor, resolve

HANDLER = Path(__file__).with_name("handler.py")  # copied into the .mar, imported there as `handler`
SERVING_FILE = "affectops-serving.json"  # shipped beside the artifact: which family to load it as
CONFIG_DIR = "config"
MODEL_STORE = "model-store"
# KServe mounts the storage URI at /mnt/models; the runtime's wrapper serves on 8080 and reaches
# TorchServe on loopback at 8085, so every TorchServe API stays on 127.0.0.1
KSERVE_MODEL_STORE = "/mnt/models/model-store"
INFERENCE_PORT, MANAGEMENT_PORT, METRICS_PORT = 8085, 8081, 8082
DEFAULT_BATCH_SIZE, DEFAULT_MAX_BATCH_DELAY_MS = 32, 5
_MAR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]*$")  # torch-model-archiver's own rule


def build_model_store(
    family: str,
    model_uri: str,
    out_dir: Path,
    *,
    settings: Settings,
    model_name: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batch_delay_ms: int = DEFAULT_MAX_BATCH_DELAY_MS,
) -> Path:
    """Resolve ``model_uri`` (local path, ``s3://``, ``models:/NAME@ALIAS``), archive it with the affectops
    handler, write ``config/config.properties`` + ``model-store/<name>.mar``; returns ``out_dir``.

    ``batch_size`` / ``max_batch_delay_ms``: TorchServe's batching, one forward pass per batch through
    the family's ``predict_batch`` (1: one request at a time; a family without ``predict_batch`` gets 1).
    """
    from model_archiver import ModelArchiver, ModelArchiverConfig

    name = model_name or family
    if not _MAR_NAME.match(name):
        raise ValueError(
            f"model_name: {name!r} must start with a letter or digit and hold only [A-Za-z0-9_.-]"
        )
    artifact, version = resolve(model_uri, settings)
    if not artifact.is_file():
        raise ValueError(
            f"model_uri: {model_uri} resolves to directory {artifact}; a .mar ships one model file"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size: {batch_size} must be >= 1 (1: no batching)")
    if not 0 <= max_batch_delay_ms <= 60_000:
        raise ValueError(f"max_batch_delay_ms: {max_batch_delay_ms} must lie in [0, 60000]")
    # fail here, not in a TorchServe worker on the cluster
    predictor = Predictor.from_uri(family, artifact, settings)
    if not predictor.batches:
        batch_size = 1

    out_dir = Path(out_dir)
    store = out_dir / MODEL_STORE
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        serving_file = Path(staging) / SERVING_FILE
        serving_file.write_text(json.dumps({"family": family}))
        ModelArchiver.generate_model_archive(
            ModelArchiverConfig(
                model_name=name,
                handler=str(HANDLER),
                version=version,
                serialized_file=str(artifact),
                extra_files=str(serving_file),
                export_path=str(store),
                force=True,  # rebuilding a store replaces its archive
            )
        )
    config = out_dir / CONFIG_DIR / "config.properties"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(config_properties(name, version, batch_size, max_batch_delay_ms))
    return out_dir


def config_properties(
    name: str,
    version: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batch_delay_ms: int = DEFAULT_MAX_BATCH_DELAY_MS,
    model_store: str = KSERVE_MODEL_STORE,
) -> str:
    """TorchServe's config for KServe's pytorch runtime (KServe docs, "config.properties"). No
    ``service_envelope``: the handler is its own v2 envelope (``handler.py``)."""
    snapshot = {
        "name": "startup.cfg",
        "modelCount": 1,
        "models": {
            name: {
                version: {
                    "defaultVersion": True,
                    "marName": f"{name}.mar",
                    "minWorkers": 1,
                    "maxWorkers": 1,
                    # TorchServe's batching: up to batchSize queued requests, the first waiting at most
                    # maxBatchDelay ms for the rest, go to the handler together
                    "batchSize": batch_size,
                    "maxBatchDelay": max_batch_delay_ms,
                    "responseTimeout": 120,
                }
            }
        },
    }
    lines = {
        "inference_address": f"http://127.0.0.1:{INFERENCE_PORT}",
        "management_address": f"http://127.0.0.1:{MANAGEMENT_PORT}",
        "metrics_address": f"http://127.0.0.1:{METRICS_PORT}",
        "enable_envvars_config": "true",
        # as KServe documents it; the .mar ships no requirements file (they live in the platform image)
        "install_py_dep_per_model": "true",
        "disable_token_authorization": "false",
        "model_store": model_store,
        "model_snapshot": json.dumps(snapshot, separators=(",", ":")),
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())
