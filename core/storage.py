"""Datasets and artifacts addressed by a local path or an ``s3://bucket/prefix`` URI."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from core.settings import Settings

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def is_s3(uri: str | Path) -> bool:
    return str(uri).startswith("s3://")


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if not parsed.netloc:
        raise ValueError(f"{uri!r} has no bucket: expected s3://bucket/prefix")
    return parsed.netloc, parsed.path.strip("/")


def _client(settings: Settings):
    import boto3  # slow to import; only S3 users pay for it

    return boto3.client("s3", endpoint_url=settings.s3_endpoint_url)


def materialize(uri: str | Path, settings: Settings) -> Path:
    """A local directory holding ``uri``: the path itself, or an S3 prefix mirrored into the cache.

    Objects already in the cache with the same size are not downloaded again.
    """
    if not is_s3(uri):
        path = Path(uri)
        if not path.is_dir():
            raise FileNotFoundError(f"dataset directory {path} does not exist")
        return path
    bucket, prefix = _split(str(uri))
    local = settings.cache_dir / bucket / prefix
    client = _client(settings)
    found = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            found += 1
            target = local / obj["Key"][len(prefix) + 1 :]
            if target.exists() and target.stat().st_size == obj["Size"]:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, obj["Key"], str(target))
    if not found:
        raise FileNotFoundError(f"no objects under {uri}")
    return local


def resolve_weights(weights: str, settings: Settings) -> Path:
    """A local checkpoint file for ``weights`` (a preprocessor's, e.g. an encoder's): a local file, or a
    local or ``s3://`` directory holding exactly one.

    An ``s3://`` URI names the prefix the checkpoint was uploaded under (it is mirrored into the
    cache by :func:`materialize`, which addresses prefixes, not single objects).
    """
    if not is_s3(weights) and Path(weights).is_file():
        return Path(weights)
    directory = materialize(weights, settings)
    found = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)
    if len(found) != 1:
        raise ValueError(
            f"{weights} must hold exactly one checkpoint ({'/'.join(CHECKPOINT_SUFFIXES)}), "
            f"found {len(found)}"
        )
    return found[0]


def upload_dir(local: Path, uri: str, settings: Settings) -> int:
    """Upload every file under ``local`` to ``uri``; returns the number of files."""
    bucket, prefix = _split(uri)
    client = _client(settings)
    files = [p for p in sorted(Path(local).rglob("*")) if p.is_file()]
    for path in files:
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(local).as_posix()}")
    return len(files)


def link_tree(src: Path, dst: Path) -> int:
    """Mirror ``src`` into ``dst`` with hard links (copies across filesystems); returns file count.

    Datasets reach 4 GB, so staging them for DVC or a derived step must not copy bytes.
    """
    import os
    import shutil

    count = 0
    for path in sorted(Path(src).rglob("*")):
        if not path.is_file():
            continue
        target = Path(dst) / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)
        count += 1
    return count
