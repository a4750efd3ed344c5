"""Dataset versioning with DVC against a local-directory remote."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from components.data_version import (
    DatasetVersion,
    DatasetVersionNotFound,
    dir_hash,
    fetch_dataset,
    version_dataset,
)

pytestmark = pytest.mark.unit

NAME = "hearing_loss-cohort"


def make_dataset(root: Path, seed: int = 0) -> Path:
    """A cohort-shaped directory: .npy arrays in a subfolder, a parquet table and a json manifest."""
    rng = np.random.default_rng(seed)
    (root / "landmarks").mkdir(parents=True)
    for i in range(3):
        np.save(root / "landmarks" / f"clip-{i}.npy", rng.standard_normal((6, 4)).astype("float32"))
    pd.DataFrame({"clip": [f"clip-{i}" for i in range(3)], "label": rng.integers(0, 7, 3)}).to_parquet(
        root / "labels.parquet"
    )
    (root / "manifest.json").write_text(json.dumps({"seed": seed, "clips": 3}))
    return root


def contents(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass(frozen=True)
class Versioned:
    src: Path
    repo: Path
    remote: Path
    result: DatasetVersion


# Module scope: a fresh DVC repo costs a few subprocess starts, and every test here only adds to it.
@pytest.fixture(scope="module")
def versioned(tmp_path_factory: pytest.TempPathFactory) -> Versioned:
    base = tmp_path_factory.mktemp("dvc")
    src = make_dataset(base / "src")
    repo, remote = base / "repo", base / "remote"
    result = version_dataset(src, name=NAME, remote=str(remote), repo=repo)
    return Versioned(src=src, repo=repo, remote=remote, result=result)


def test_version_describes_the_push(versioned: Versioned) -> None:
    result = versioned.result
    files = [p for p in versioned.src.rglob("*") if p.is_file()]
    assert result.to_dict() == {
        "name": NAME,
        "version": result.version,
        "remote": str(versioned.remote),
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
    }
    assert len(result.version) == 32 and int(result.version, 16) >= 0
    # the verification formula fetch_dataset relies on must agree with DVC's own hash
    assert dir_hash(versioned.src) == result.version
    # staging hardlinks must not leave the source tied to the repo or the cache
    assert all(p.stat().st_nlink == 1 for p in files)


def test_fetch_roundtrips_bytes(versioned: Versioned, tmp_path: Path) -> None:
    out = fetch_dataset(
        f"{versioned.result.version}.dir",  # DVC's own spelling is accepted too
        name=NAME,
        remote=str(versioned.remote),
        out=tmp_path / "out",
        repo=versioned.repo,
    )
    assert out == tmp_path / "out"
    assert contents(out) == contents(versioned.src)


def test_same_content_same_version(versioned: Versioned, tmp_path: Path) -> None:
    again = shutil.copytree(versioned.src, tmp_path / "copy")  # new inodes and mtimes, same bytes
    result = version_dataset(again, name=NAME, remote=str(versioned.remote), repo=versioned.repo)
    assert result == versioned.result


def test_changed_file_gets_new_version_and_both_fetch(versioned: Versioned, tmp_path: Path) -> None:
    changed = shutil.copytree(versioned.src, tmp_path / "changed")
    np.save(changed / "landmarks" / "clip-1.npy", np.zeros((6, 4), dtype="float32"))
    v2 = version_dataset(changed, name=NAME, remote=str(versioned.remote), repo=versioned.repo)
    assert v2.version != versioned.result.version

    for version, src in [(versioned.result.version, versioned.src), (v2.version, changed)]:
        out = fetch_dataset(
            version, name=NAME, remote=str(versioned.remote), out=tmp_path / version, repo=versioned.repo
        )
        assert contents(out) == contents(src)


def test_unknown_version_is_not_found(versioned: Versioned, tmp_path: Path) -> None:
    unknown = "0" * 32
    with pytest.raises(DatasetVersionNotFound, match=f"{unknown}.*{versioned.remote}"):
        fetch_dataset(
            unknown, name=NAME, remote=str(versioned.remote), out=tmp_path / "out", repo=versioned.repo
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "version",
    ["", "latest", "abc123", "g" * 32, "A" * 32, "0" * 31, "0" * 33, f"{'0' * 32}.dvc", f"../{'0' * 32}"],
)
def test_malformed_version_is_rejected_before_dvc_runs(version: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="malformed dataset version"):
        fetch_dataset(
            version, name=NAME, remote=str(tmp_path / "remote"), out=tmp_path / "out", repo=tmp_path / "repo"
        )
    assert not (tmp_path / "repo").exists()


def test_fetch_refuses_a_non_empty_target(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        fetch_dataset(
            "0" * 32, name=NAME, remote=str(tmp_path / "remote"), out=tmp_path / "out", repo=tmp_path / "repo"
        )


@pytest.mark.parametrize("name", ["", "../escape", ".hidden", "a/b"])
def test_bad_dataset_name_is_rejected(name: str, tmp_path: Path) -> None:
    src = make_dataset(tmp_path / "src")
    with pytest.raises(ValueError, match="invalid dataset name"):
        version_dataset(src, name=name, remote=str(tmp_path / "remote"), repo=tmp_path / "repo")


def test_empty_source_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "src" / "empty").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no files"):
        version_dataset(tmp_path / "src", name=NAME, remote=str(tmp_path / "remote"), repo=tmp_path / "repo")


def test_endpoint_url_with_a_local_remote_is_rejected(tmp_path: Path) -> None:
    src = make_dataset(tmp_path / "src")
    with pytest.raises(ValueError, match="endpoint_url"):
        version_dataset(
            src, name=NAME, remote=str(tmp_path / "remote"), repo=tmp_path / "repo", endpoint_url="http://x"
        )


def test_source_inside_the_repo_is_rejected(tmp_path: Path) -> None:
    src = make_dataset(tmp_path / "repo" / "datasets" / NAME)
    with pytest.raises(ValueError, match="outside the DVC repo"):
        version_dataset(src, name=NAME, remote=str(tmp_path / "remote"), repo=tmp_path / "repo")
    assert contents(src)  # untouched
