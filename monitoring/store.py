"""The inference log on disk: an fsynced append-only journal compacted into partitioned parquet.

Layout under the store root (the same under an ``s3://`` remote for ``data/``)::

    journal/segment-<n>-<token>.log           one line per event half: "<crc32 hex> <json>\\n"
    data/model_name=<m>/date=<YYYY-MM-DD>/part-<n>-<token>.parquet   one row per inference
    writer.lock                               held by the one process that appends (the sink)

The journal is what makes an acknowledgement durable and what de-duplication reads after a
restart; compaction joins each segment's request and response halves into records and writes
one part per partition, named after the segment so compacting a segment twice overwrites, never
duplicates. A record split over two segments (a request compacted while its response was pending)
is merged by inference id when read.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.settings import Settings, load_settings
from core.storage import is_s3
from monitoring.events import ERROR, Half
from monitoring.records import INFERENCE_ID, MODEL_NAME, STATUS, TIMESTAMP

REQUEST_LOGGED = "request_logged"
RESPONSE_LOGGED = "response_logged"
PENDING = "pending"
SEGMENT = re.compile(r"segment-(\d{8})-([0-9a-f]{8})\.log")
PART = re.compile(r"part-(\d{8})-([0-9a-f]{8})\.parquet")


def default_root(settings: Settings | None = None) -> Path:
    return (settings or load_settings()).home / "inference-log"


def fsync_dir(path: Path) -> None:
    """Make a created, renamed or removed directory entry durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_line(half: Half) -> bytes:
    payload = half.to_json()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def decode_lines(data: bytes) -> Iterator[Half]:
    """Halves of a segment's bytes; a torn or corrupt line (a crash mid-append, never acknowledged)
    is skipped."""
    for line in data.split(b"\n"):
        if len(line) < 10 or line[8:9] != b" ":
            continue
        payload = line[9:]
        try:
            if int(line[:8], 16) != zlib.crc32(payload):
                continue
        except ValueError:
            continue
        yield Half.from_json(payload)


class StoreLocked(RuntimeError):
    pass


class Journal:
    """The append side of a store: one writer per root (a file lock), one new segment per opening.

    ``append`` returns only after the bytes and, for a new segment, its directory entry are
    fsynced. Not thread-safe: the sink calls it from one IO thread.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "journal"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = (self.root / "writer.lock").open("a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise StoreLocked(
                f"{self.root}: another process (a running sink?) is writing this store"
            ) from None
        self._fd = -1
        self.active: Path | None = None
        self.rotate()

    def _next_number(self) -> int:
        names = [p.name for p in self.dir.glob("segment-*.log")]
        names += [p.name for p in (self.root / "data").glob("*/*/part-*.parquet")]
        numbers = [int(m.group(1)) for n in names if (m := SEGMENT.fullmatch(n) or PART.fullmatch(n))]
        return max(numbers, default=0) + 1

    def rotate(self) -> None:
        """Seal the active segment and start a new one (compaction only takes sealed segments)."""
        if self._fd >= 0:
            os.close(self._fd)
        self.active = self.dir / f"segment-{self._next_number():08d}-{secrets.token_hex(4)}.log"
        self._fd = os.open(self.active, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        fsync_dir(self.dir)

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def sealed(self) -> list[Path]:
        return sorted(p for p in self.dir.glob("segment-*.log") if p != self.active)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            if not self.active.stat().st_size:  # nothing was appended: leave no empty segment behind
                self.active.unlink()
        self._lock.close()


def join_halves(halves: Iterable[Half]) -> list[dict[str, Any]]:
    """One record per inference id: the request's metadata and summaries, the response's outputs.

    A request without its response is ``pending``; a response body with ``error`` is ``error``.
    Where both carry a field (echoed metadata) the request's value wins.
    """
    requests: dict[str, Half] = {}
    responses: dict[str, Half] = {}
    for half in halves:
        (requests if half.kind == "request" else responses).setdefault(half.inference_id, half)
    records = []
    for inference_id in {**requests, **responses}:
        request, response = requests.get(inference_id), responses.get(inference_id)
        first = request or response
        record: dict[str, Any] = {
            INFERENCE_ID: inference_id,
            TIMESTAMP: first.time,
            MODEL_NAME: first.model_name,
            REQUEST_LOGGED: request is not None,
            RESPONSE_LOGGED: response is not None,
        }
        record.update(response.fields if response else {})
        record.update(request.fields if request else {})
        if response is None:
            record[STATUS] = PENDING
        else:
            record[STATUS] = ERROR if ERROR in response.fields else "ok"
        records.append(record)
    return records


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Records as a frame with stable column types (a field sent as 34 and as "34" becomes text)."""
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return frame
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True)
    for column in frame.select_dtypes(include="object").columns:
        kinds = {
            type(v) for v in frame[column] if v is not None and not (isinstance(v, float) and np.isnan(v))
        }
        if len(kinds) > 1 and np.ndarray not in kinds:
            frame[column] = frame[column].map(lambda v: None if v is None else str(v))
    return frame


def merge_duplicates(frame: pd.DataFrame) -> pd.DataFrame:
    """Join rows of one inference id that were compacted apart (request and late response) or read
    twice (a segment compacted while being read): first non-null value, request rows first."""
    if frame.empty:
        return frame
    duplicated = frame[INFERENCE_ID].duplicated(keep=False)
    if not duplicated.any():
        return frame
    part = frame[duplicated].sort_values(REQUEST_LOGGED, ascending=False, kind="stable")
    part = part.assign(**{STATUS: part[STATUS].where(part[STATUS] != PENDING)})
    groups = part.groupby(INFERENCE_ID, sort=False)
    merged = groups.first()
    for flag in (REQUEST_LOGGED, RESPONSE_LOGGED):
        merged[flag] = groups[flag].any()
    merged[STATUS] = merged[STATUS].fillna(PENDING)
    return pd.concat([frame[~duplicated], merged.reset_index()], ignore_index=True)


class InferenceStore:
    """Read side of the inference log (and compaction). ``remote``: an ``s3://`` prefix that holds
    ``data/`` on a cluster; compaction uploads there and reads fetch the parts not yet local."""

    def __init__(self, root: Path, remote: str | None = None, settings: Settings | None = None) -> None:
        if remote is not None and not is_s3(remote):
            raise ValueError(f"remote: must be an s3://bucket/prefix URI, got {remote!r}")
        self.root = Path(root)
        self.remote = remote.rstrip("/") if remote else None
        self.settings = settings
        self.journal_dir = self.root / "journal"
        self.data_dir = self.root / "data"

    # -- reading ---------------------------------------------------------------------------------

    def halves(self, segments: Sequence[Path] | None = None) -> Iterator[Half]:
        """Every half in the journal (or in ``segments``); a segment compacted away meanwhile is skipped
        (its parts, read after the journal, hold it)."""
        for path in sorted(self.journal_dir.glob("segment-*.log")) if segments is None else segments:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            yield from decode_lines(data)

    def models(self) -> list[str]:
        self._pull()
        names = {p.name.split("=", 1)[1] for p in self.data_dir.glob("model_name=*")}
        names |= {half.model_name for half in self.halves()}
        return sorted(names)

    def read(
        self,
        model_name: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """One row per inference of ``model_name`` with ``start <= timestamp < end`` (naive = UTC),
        sorted by time. ``{tensor}_mean`` / ``{tensor}_std`` cells are float32 arrays. ``columns``
        limits what is read (the record's own columns are always kept)."""
        start, end = _utc(start), _utc(end)
        self._pull()
        # journal before parts: a segment compacted in between is then read twice (merged), not lost
        halves = [h for h in self.halves() if h.model_name == model_name]
        frames = [records_frame(join_halves(halves))]
        for path in self._parts(model_name, start, end):
            frames.append(_read_part(path, columns))
        frames = [f for f in frames if not f.empty]
        if not frames:
            return pd.DataFrame(columns=[INFERENCE_ID, TIMESTAMP, MODEL_NAME, STATUS])
        frame = merge_duplicates(pd.concat(frames, ignore_index=True))
        if columns is not None:
            keep = [INFERENCE_ID, TIMESTAMP, MODEL_NAME, STATUS, REQUEST_LOGGED, RESPONSE_LOGGED]
            frame = frame[[c for c in dict.fromkeys([*keep, *columns]) if c in frame.columns]]
        if start is not None:
            frame = frame[frame[TIMESTAMP] >= start]
        if end is not None:
            frame = frame[frame[TIMESTAMP] < end]
        return frame.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)

    def _parts(self, model_name: str, start: datetime | None, end: datetime | None) -> list[Path]:
        # a day of slack: a late response's row sits in the partition of its own time
        low = date.min if start is None else (start - timedelta(days=1)).date()
        high = date.max if end is None else (end + timedelta(days=1)).date()
        parts = []
        for partition in sorted((self.data_dir / f"model_name={model_name}").glob("date=*")):
            if low <= date.fromisoformat(partition.name[5:]) <= high:
                parts += sorted(partition.glob("part-*.parquet"))
        return parts

    def logged_keys(self) -> set[str]:
        """De-duplication keys (``Half.key``) of every event stored, journal and compacted parts."""
        self._pull()
        keys = {half.key for half in self.halves()}
        for path in sorted(self.data_dir.glob("*/*/part-*.parquet")):
            table = pq.read_table(path, columns=[INFERENCE_ID, REQUEST_LOGGED, RESPONSE_LOGGED])
            ids, request, response = (table.column(i).to_pylist() for i in range(3))
            keys.update(f"{i}\x1frequest" for i, logged in zip(ids, request, strict=True) if logged)
            keys.update(f"{i}\x1fresponse" for i, logged in zip(ids, response, strict=True) if logged)
        return keys

    # -- compaction ------------------------------------------------------------------------------

    def compact(self, journal: Journal | None = None) -> int:
        """Turn sealed journal segments into parquet parts (uploaded to ``remote`` if set), then drop
        the segments; returns the number of records written. Without ``journal`` (no sink running)
        every segment is sealed; with a running sink, pass its journal or this raises StoreLocked."""
        own = journal is None
        journal = journal or Journal(self.root)
        try:
            segments = journal.sealed()
            written = 0
            for segment in segments:
                written += self._compact_segment(segment)
                segment.unlink()
            if segments:
                fsync_dir(self.journal_dir)
            return written
        finally:
            if own:
                journal.close()

    def _compact_segment(self, segment: Path) -> int:
        name = SEGMENT.fullmatch(segment.name)
        part_name = f"part-{name.group(1)}-{name.group(2)}.parquet"
        frame = records_frame(join_halves(self.halves([segment])))
        if frame.empty:
            return 0
        days = frame[TIMESTAMP].dt.strftime("%Y-%m-%d")
        for (model, day), rows in frame.groupby([frame[MODEL_NAME], days]):
            directory = self.data_dir / f"model_name={model}" / f"date={day}"
            directory.mkdir(parents=True, exist_ok=True)
            table = pa.Table.from_pandas(rows.dropna(axis=1, how="all"), preserve_index=False)
            tmp = directory / f".{part_name}.tmp"
            pq.write_table(table, tmp)
            with tmp.open("rb+") as handle:
                os.fsync(handle.fileno())
            tmp.rename(directory / part_name)
            fsync_dir(directory)
            if self.remote:
                self._client().upload_file(
                    str(directory / part_name), *self._remote_key(directory / part_name)
                )
        return len(frame)

    # -- remote ------------------------------------------------------------------------------------

    def _client(self) -> Any:
        import boto3  # slow to import; only stores with a remote pay for it

        settings = self.settings or load_settings()
        return boto3.client("s3", endpoint_url=settings.s3_endpoint_url)

    def _remote_key(self, local: Path) -> tuple[str, str]:
        bucket, _, prefix = self.remote[len("s3://") :].partition("/")
        relative = local.relative_to(self.root).as_posix()
        return bucket, f"{prefix}/{relative}" if prefix else relative

    def _pull(self) -> None:
        """Download the remote's parts that are not local yet (parts are immutable once named)."""
        if not self.remote:
            return
        client = self._client()
        bucket, _, prefix = self.remote[len("s3://") :].partition("/")
        data_prefix = f"{prefix}/data/" if prefix else "data/"
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=data_prefix):
            for obj in page.get("Contents", []):
                target = self.data_dir / obj["Key"][len(data_prefix) :]
                if target.exists() and target.stat().st_size == obj["Size"]:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.tmp")
                client.download_file(bucket, obj["Key"], str(tmp))
                tmp.rename(target)


def _read_part(path: Path, columns: Sequence[str] | None) -> pd.DataFrame:
    if columns is None:
        return pq.read_table(path).to_pandas()
    names = set(pq.read_schema(path).names)
    keep = [INFERENCE_ID, TIMESTAMP, MODEL_NAME, STATUS, REQUEST_LOGGED, RESPONSE_LOGGED, *columns]
    return pq.read_table(path, columns=[c for c in dict.fromkeys(keep) if c in names]).to_pandas()


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
