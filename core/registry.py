"""The one MLflow registry client: built from settings, ``models:/`` references, the champion, and the
monitoring reference logged with a registered version.

Registration and promotion (components), model loading and the deploy step (serving) and reports
(monitoring) all reach the registry through here. mlflow is imported inside the functions: it takes
seconds to import, and most commands never touch the registry.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.settings import Settings, load_settings

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import RegisteredModel

CHAMPION = "champion"  # the alias of the version in production: serving, deploy and monitoring follow it
# the held-out predictions logged with a version's run: the data a monitoring report compares with
REFERENCE_ARTIFACT = "reference/reference.parquet"
_REF = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class ModelRef:
    """A registry reference: ``models:/NAME@ALIAS`` (alias set) or ``models:/NAME/VERSION``."""

    name: str
    alias: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias else version_uri(self.name, self.version)


def parse_ref(ref: str) -> ModelRef:
    """``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` -> its parts; ValueError for anything else."""
    found = _REF.match(ref)
    if not found:
        raise ValueError(f"{ref!r}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    version = found["version"]
    return ModelRef(found["name"], found["alias"], None if version is None else int(version))


def version_uri(name: str, version: int | str) -> str:
    """The reference of one registered version: ``models:/NAME/VERSION``."""
    return f"models:/{name}/{version}"


def client(settings: Settings | None = None, *, tracking_uri: str | None = None) -> MlflowClient:
    """A client of the settings' tracking server (or of ``tracking_uri``), which is also the registry."""
    import mlflow

    uri = tracking_uri or (settings or load_settings()).mlflow_tracking_uri
    return mlflow.MlflowClient(uri, registry_uri=uri)


def registered_model(name: str, *, settings: Settings | None = None) -> RegisteredModel:
    """The registered model ``name`` (its aliases and tags); ValueError when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        return client(settings).get_registered_model(name)
    except MlflowException as err:
        raise ValueError(f"no registered model {name!r}: {err.message}") from None


def champion_version(name: str, *, settings: Settings | None = None) -> int | None:
    """The version holding ``champion``, None when no version does; ValueError for an unknown model."""
    aliases = registered_model(name, settings=settings).aliases
    return int(aliases[CHAMPION]) if CHAMPION in aliases else None


def load_reference(name: str, version: str | int, settings: Settings) -> pd.DataFrame:
    """The reference data logged with a registered version's run (``REFERENCE_ARTIFACT``)."""
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException

    try:
        run_id = client(settings).get_model_version(name, str(version)).run_id
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path=REFERENCE_ARTIFACT,
                dst_path=tmp,
                tracking_uri=settings.mlflow_tracking_uri,
            )
            return pd.read_parquet(path)
    except MlflowException as err:
        raise ValueError(f"{name} version {version}: no reference data ({err.message})") from None
