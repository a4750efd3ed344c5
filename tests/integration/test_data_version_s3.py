"""Dataset versioning with DVC against a real S3 API (moto server on loopback)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from components.data_version import DatasetVersionNotFound, fetch_dataset, version_dataset

pytestmark = pytest.mark.integration

NAME = "hearing_loss-cohort"


def make_dataset(root: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "landmarks").mkdir(parents=True)
    for i in range(3):
        np.save(root / "landmarks" / f"clip-{i}.npy", rng.standard_normal((6, 4)).astype("float32"))
    pd.DataFrame({"clip": [f"clip-{i}" for i in range(3)], "label": rng.integers(0, 7, 3)}).to_parquet(
        root / "labels.parquet"
    )
    (root / "manifest.json").write_text(json.dumps({"seed": seed, "clips": 3}))
    return root


def file_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_push_to_s3_and_pull_back_without_local_copies(s3_server, tmp_path: Path) -> None:
    src = make_dataset(tmp_path / "src")
    expected = file_hashes(src)
    repo = tmp_path / "repo"
    remote = f"s3://{s3_server.bucket}/dvc"

    result = version_dataset(src, name=NAME, remote=remote, repo=repo, endpoint_url=s3_server.endpoint_url)
    assert (result.remote, result.files) == (remote, len(expected))

    listed = s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix="dvc/")
    keys = {obj["Key"] for obj in listed.get("Contents", [])}
    manifest_key = f"dvc/files/md5/{result.version[:2]}/{result.version[2:]}.dir"
    assert manifest_key in keys and len(keys) == len(expected) + 1
    assert "testing" not in (repo / ".dvc" / "config").read_text()  # credentials stay in the env

    # Only the remote holds the data now.
    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(src)

    out = fetch_dataset(
        result.version,
        name=NAME,
        remote=remote,
        out=tmp_path / "out",
        repo=repo,
        endpoint_url=s3_server.endpoint_url,
    )
    assert file_hashes(out) == expected


def test_unknown_version_on_s3_is_not_found(s3_server, tmp_path: Path) -> None:
    remote = f"s3://{s3_server.bucket}/dvc"
    unknown = "f" * 32
    with pytest.raises(DatasetVersionNotFound, match=f"{unknown}.*{remote}"):
        fetch_dataset(
            unknown,
            name=NAME,
            remote=remote,
            out=tmp_path / "out",
            repo=tmp_path / "repo",
            endpoint_url=s3_server.endpoint_url,
        )
    assert not (tmp_path / "out").exists()
