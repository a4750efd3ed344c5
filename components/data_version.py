"""Version a dataset directory with DVC, push it to a remote, and fetch an exact version back.

A version is the md5 of DVC's ``.dir`` manifest of the directory (32 hex digits, returned without
DVC's ``.dir`` suffix; ``fetch_dataset`` accepts either form). It depends only on the files' relative
paths and contents, so the same content always gets the same version, on any machine.

DVC runs as ``[sys.executable, "-m", "dvc", ...]`` rather than through ``dvc.repo.Repo``: the CLI is
DVC's documented, stable interface (``Repo`` methods are internal and changed shape between 2.x and
3.x), and a child process reads the AWS credentials fresh on every call and keeps DVC's global state
(logging, fsspec/s3fs instance caches, I/O threads, repo locks) out of the calling step. The price is
about half a second of start-up per call.

The working repository (``repo``) belongs to this step: it is created with ``dvc init --no-scm``
when absent and holds one ``datasets/<name>.dvc`` per dataset (the latest version) plus DVC's cache.
It is not safe for concurrent use: DVC's repository lock makes a second concurrent call fail.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from core.storage import link_tree

_REMOTE_NAME = "affectops"
_VERSION_RE = re.compile(r"^([0-9a-f]{32})(?:\.dir)?$")
# Names become path components inside the repo, so no separators and no leading dot.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Checkout hardlinks from the cache (read-only files) where it can, so neither `dvc add` nor a fetch
# costs a second full copy of a multi-GB dataset; reflink first for filesystems that offer it.
_CACHE_TYPE = "reflink,hardlink,copy"


@dataclass(frozen=True)
class DatasetVersion:
    """A dataset directory as pushed to a DVC remote."""

    name: str
    version: str  # md5 of DVC's .dir manifest, 32 hex digits, no ".dir" suffix
    remote: str  # the URL pushed to (local remotes as an absolute path)
    files: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DatasetVersionNotFound(LookupError):
    """The remote (and the local cache) have no manifest for the requested version."""

    def __init__(self, version: str, remote: str) -> None:
        super().__init__(f"dataset version {version} not found on remote {remote}")
        self.version = version
        self.remote = remote


class DvcCommandError(RuntimeError):
    """A DVC command failed for a reason other than a missing version (network, credentials, ...)."""

    def __init__(self, args: list[str], returncode: int, output: str) -> None:
        super().__init__(f"`dvc {' '.join(args)}` failed with exit code {returncode}:\n{output.strip()}")
        self.returncode = returncode
        self.output = output


def version_dataset(
    src: Path, *, name: str, remote: str, repo: Path, endpoint_url: str | None = None
) -> DatasetVersion:
    """Track the directory ``src`` as dataset ``name``, push it to ``remote`` and return its version.

    ``src`` is hardlinked into ``repo`` (copied across filesystems) and left untouched: DVC copies
    the content into its cache (once) before linking the staged files to it.
    """
    _check_name(name)
    src = Path(src)
    if not src.is_dir():
        raise NotADirectoryError(f"dataset source {src} is not a directory")
    if not any(path.is_file() for path in src.rglob("*")):
        raise ValueError(f"dataset source {src} holds no files")
    remote_url = _remote_url(remote, endpoint_url)
    repo = Path(repo).absolute()
    if src.resolve().is_relative_to(repo.resolve()):
        # staging replaces repo/datasets/<name>, which could be the source itself
        raise ValueError(f"dataset source {src} must live outside the DVC repo {repo}")
    _ensure_repo(repo)
    _configure_remote(repo, remote_url, endpoint_url)

    staged = repo / "datasets" / name
    _remove(staged)  # a previous version, or the leftovers of an interrupted call
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged_files = link_tree(src, staged)

    dvc_file = staged.with_name(f"{name}.dvc")
    _dvc(repo, "add", str(staged.relative_to(repo)))
    # The workspace copy only existed for `dvc add`: the .dvc file and the cache keep the version.
    _remove(staged)
    out = yaml.safe_load(dvc_file.read_text())["outs"][0]
    if out["nfiles"] != staged_files:
        # DVC skips some names by default (.git, .dvc, ...); a silently shrunken dataset is worse than none.
        raise RuntimeError(f"DVC tracked {out['nfiles']} of the {staged_files} files in {src}")
    _dvc(repo, "push", "-r", _REMOTE_NAME, str(dvc_file.relative_to(repo)))
    return DatasetVersion(
        name=name,
        version=_parse_version(out["md5"]),
        remote=remote_url,
        files=int(out["nfiles"]),
        bytes=int(out["size"]),
    )


def fetch_dataset(
    version: str, *, name: str, remote: str, out: Path, repo: Path, endpoint_url: str | None = None
) -> Path:
    """Materialize ``version`` of dataset ``name`` from ``remote`` into ``out`` (absent or empty).

    The content is re-hashed after checkout and must reproduce ``version``. Files in ``out`` may be
    read-only hardlinks into the repo's cache: copy one before modifying it.
    """
    digest = _parse_version(version)
    _check_name(name)
    out = Path(out).absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"fetch target {out} exists and is not an empty directory")
    remote_url = _remote_url(remote, endpoint_url)
    repo = Path(repo).absolute()
    _ensure_repo(repo)
    _configure_remote(repo, remote_url, endpoint_url)

    # DVC can only check out inside its repo: point a .dvc file at the hash, pull next to it, move.
    fetch_dir = repo / "fetch"
    fetch_dir.mkdir(exist_ok=True)
    workspace = fetch_dir / f"{name}-{digest}"
    dvc_file = workspace.with_name(f"{workspace.name}.dvc")
    _remove(workspace)
    # `hash: md5` marks a DVC 3 hash; without it DVC assumes the legacy 2.x md5 and looks elsewhere.
    entry = {"md5": f"{digest}.dir", "hash": "md5", "path": workspace.name}
    dvc_file.write_text(yaml.safe_dump({"outs": [entry]}, sort_keys=False))
    target = str(dvc_file.relative_to(repo))
    try:
        try:
            _dvc(repo, "pull", "-r", _REMOTE_NAME, target)
        except DvcCommandError:
            if _in_cache(repo, digest):
                raise  # the manifest arrived, so the remote lacks some files or the checkout failed
            # pull fails alike for a missing version and an unreachable remote, but fetch alone exits 0
            # when objects are merely missing: rerun it to raise transport and credential errors.
            _dvc(repo, "fetch", "-r", _REMOTE_NAME, target)
            raise DatasetVersionNotFound(digest, remote_url) from None
        if out.exists():
            out.rmdir()
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(workspace, out)
    finally:
        dvc_file.unlink(missing_ok=True)
        _remove(workspace)

    found = dir_hash(out)
    if found != digest:
        raise RuntimeError(f"fetched dataset {name} in {out} hashes to {found}, expected version {digest}")
    return out


def dir_hash(root: Path) -> str:
    """DVC's directory hash of ``root``: md5 of the sorted JSON list of (relpath, md5) entries."""
    entries = [
        {"md5": _file_md5(path), "relpath": path.relative_to(root).as_posix()}
        for path in root.rglob("*")
        if path.is_file()
    ]
    entries.sort(key=lambda entry: entry["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode("utf-8")).hexdigest()


def _parse_version(version: str) -> str:
    match = _VERSION_RE.match(version) if isinstance(version, str) else None
    if match is None:
        raise ValueError(
            f"malformed dataset version {version!r}: expected 32 lowercase hex digits, optionally with '.dir'"
        )
    return match.group(1)


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid dataset name {name!r}: use letters, digits, '.', '_' and '-'")


def _remote_url(remote: str, endpoint_url: str | None) -> str:
    if "://" in remote:
        return remote
    if endpoint_url:
        raise ValueError(f"endpoint_url is for object-store remotes, not the local path {remote}")
    # DVC resolves relative paths in its config against .dvc/, not the caller's directory.
    return str(Path(remote).expanduser().absolute())


def _ensure_repo(repo: Path) -> None:
    if (repo / ".dvc").is_dir():
        return
    repo.mkdir(parents=True, exist_ok=True)
    _dvc(repo, "init", "--no-scm")
    _dvc(repo, "config", "cache.type", _CACHE_TYPE)


def _configure_remote(repo: Path, url: str, endpoint_url: str | None) -> None:
    current = _configured_remote(repo)
    if current.get("url") == url and current.get("endpointurl") == endpoint_url:
        return  # saves a DVC start (~0.5 s); any other options an operator set are kept
    # `remote add --force` replaces the whole section, dropping stale options such as an endpoint a
    # local remote would reject. Credentials stay in the AWS environment variables, never in the config.
    _dvc(repo, "remote", "add", "--force", "--default", _REMOTE_NAME, url)
    if endpoint_url:
        _dvc(repo, "remote", "modify", _REMOTE_NAME, "endpointurl", endpoint_url)


def _configured_remote(repo: Path) -> dict[str, str]:
    """Our remote's options as DVC's repo and local config files set them ({} if unreadable)."""
    # DVC writes configobj INI, which configparser reads; a misread only costs a reconfiguration.
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read([repo / ".dvc" / "config", repo / ".dvc" / "config.local"])
    except configparser.Error:
        return {}
    section = f"'remote \"{_REMOTE_NAME}\"'"
    return dict(parser[section]) if parser.has_section(section) else {}


def _dvc(repo: Path, *args: str) -> str:
    # Output is captured rather than silenced with -q: -q also drops DVC's ERROR lines, which are
    # the only explanation a failure gets.
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    # DVC's hash/index databases default to /var/tmp/dvc (read-only in some pods, shared by every
    # repo); keep them beside the repo unless the operator chose a place.
    env.setdefault("DVC_SITE_CACHE_DIR", str(repo / ".dvc" / "tmp" / "site-cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise DvcCommandError(list(args), proc.returncode, proc.stdout + proc.stderr)
    return proc.stdout


def _in_cache(repo: Path, digest: str) -> bool:
    cache = Path(_dvc(repo, "cache", "dir").strip())
    # DVC 3 cache layout: files/md5/<first two hex digits>/<the rest>; manifests end in ".dir".
    return (cache / "files" / "md5" / digest[:2] / f"{digest[2:]}.dir").is_file()


def _file_md5(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
