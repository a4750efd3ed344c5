"""Every path and endpoint of the platform, read from the environment.

Defaults are the embedded, one-machine stack under ``$AFFECTOPS_HOME`` (default ``./.affectops``).
Nothing here touches the filesystem: callers create directories when they need them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    mlflow_tracking_uri: str
    s3_endpoint_url: str | None
    s3_bucket: str
    dvc_remote: str
    kfp_host: str | None
    sink_url: str
    inference_log_remote: str | None  # s3:// prefix of the inference log's compacted partitions

    @property
    def dvc_repo(self) -> Path:
        """Working DVC repository the versioning step stages datasets in."""
        return self.home / "dvc-repo"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def cache_dir(self) -> Path:
        """Where ``s3://`` datasets are materialized for reading."""
        return self.home / "cache"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default: ``os.environ``)."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("AFFECTOPS_HOME", ".affectops")).absolute()
    return Settings(
        home=home,
        mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}"),
        s3_endpoint_url=env.get("AFFECTOPS_S3_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL") or None,
        s3_bucket=env.get("AFFECTOPS_S3_BUCKET", "affectops"),
        dvc_remote=env.get("AFFECTOPS_DVC_REMOTE", str(home / "dvc-remote")),
        kfp_host=env.get("AFFECTOPS_KFP_HOST") or None,
        sink_url=env.get("AFFECTOPS_SINK_URL", "http://127.0.0.1:8090"),
        inference_log_remote=env.get("AFFECTOPS_INFERENCE_LOG_REMOTE") or None,
    )
