"""Late ground truth: hearing-screening results per subject pseudonym, joined to the log by reports.

Each accepted batch is one parquet file under ``<store root>/labels/``, written to a temporary
name, fsynced and renamed, so a batch is stored whole or not at all. A subject screened again
keeps its latest result (latest ``screened_at``, then latest added).
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from monitoring.store import fsync_dir

SUBJECT = "subject_pseudonym"
LABEL = "hearing_loss"
SCREENED_AT = "screened_at"
ADDED_AT = "added_at"
COLUMNS = [SUBJECT, LABEL, SCREENED_AT, ADDED_AT]
MAX_NAMED_ROWS = 5


def _rows(frame: pd.DataFrame, mask: pd.Series) -> str:
    """Human row numbers (1 = first data row) of ``mask``, a few named."""
    numbers = [str(i + 1) for i in frame.index[mask]]
    more = f" and {len(numbers) - MAX_NAMED_ROWS} more" if len(numbers) > MAX_NAMED_ROWS else ""
    return ", ".join(numbers[:MAX_NAMED_ROWS]) + more


def load_labels(path_or_frame: Path | str | pd.DataFrame) -> pd.DataFrame:
    """Read a CSV / parquet label file (or take a frame) and validate it; one row per subject."""
    if isinstance(path_or_frame, pd.DataFrame):
        frame = path_or_frame.copy()
    else:
        path = Path(path_or_frame)
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, dtype={SUBJECT: str})
        elif path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            raise ValueError(f"{path}: label file must be .csv or .parquet")
    frame = frame.reset_index(drop=True)
    missing = [c for c in (SUBJECT, LABEL) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"labels: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}"
        )
    if frame.empty:
        raise ValueError("labels: no rows")
    subjects = frame[SUBJECT].map(lambda v: "" if pd.isna(v) else str(v).strip())
    if (blank := subjects == "").any():
        raise ValueError(f"labels: {SUBJECT} is empty in row(s) {_rows(frame, blank)}")
    labels = pd.to_numeric(frame[LABEL], errors="coerce")
    if (bad := ~labels.isin([0, 1])).any():
        shown = ", ".join(repr(v) for v in frame.loc[bad, LABEL].head(MAX_NAMED_ROWS))
        raise ValueError(f"labels: {LABEL} must be 0 or 1; row(s) {_rows(frame, bad)} have {shown}")
    screened = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    if SCREENED_AT in frame.columns:
        given = frame[SCREENED_AT].notna()
        screened = pd.to_datetime(frame[SCREENED_AT], utc=True, errors="coerce")
        if (bad := given & screened.isna()).any():
            raise ValueError(f"labels: {SCREENED_AT} is not a date/time in row(s) {_rows(frame, bad)}")
    clean = pd.DataFrame({SUBJECT: subjects, LABEL: labels.astype("int8"), SCREENED_AT: screened})
    conflicting = clean.groupby(SUBJECT)[LABEL].transform("nunique") > 1
    if conflicting.any():
        names = ", ".join(sorted(set(clean.loc[conflicting, SUBJECT]))[:MAX_NAMED_ROWS])
        rows = _rows(frame, conflicting)
        raise ValueError(f"labels: conflicting {LABEL} for the same subject ({names}) in row(s) {rows}")
    return clean.sort_values(SCREENED_AT, na_position="first").drop_duplicates(SUBJECT, keep="last")


def add_labels(path_or_frame: Path | str | pd.DataFrame, store_root: Path) -> int:
    """Validate and durably store a batch of labels; returns the number of subjects stored."""
    clean = load_labels(path_or_frame)
    clean[ADDED_AT] = pd.Timestamp(datetime.now(UTC))
    directory = Path(store_root) / "labels"
    directory.mkdir(parents=True, exist_ok=True)
    name = f"labels-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}.parquet"
    tmp = directory / f".{name}.tmp"
    clean.to_parquet(tmp, index=False)
    with tmp.open("rb+") as handle:
        os.fsync(handle.fileno())
    tmp.rename(directory / name)
    fsync_dir(directory)
    return len(clean)


def read_labels(store_root: Path) -> pd.DataFrame:
    """Every subject's current label: ``subject_pseudonym, hearing_loss, screened_at, added_at``."""
    files = sorted((Path(store_root) / "labels").glob("labels-*.parquet"))
    if not files:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(
                    COLUMNS, ["object", "int8", "datetime64[ns, UTC]", "datetime64[ns, UTC]"], strict=True
                )
            }
        )
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    frame = frame.sort_values([SCREENED_AT, ADDED_AT], na_position="first", kind="stable")
    return frame.drop_duplicates(SUBJECT, keep="last").sort_values(SUBJECT).reset_index(drop=True)[COLUMNS]
