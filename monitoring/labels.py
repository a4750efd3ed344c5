"""Late ground truth: a 0/1 label per subject pseudonym (a screening result, say), joined to the log.

The label's column is the family's ``fairness.label_column`` (its monitoring config): a batch names
it, or carries exactly one column besides ``subject_pseudonym`` and ``screened_at``. Each accepted
batch is one parquet file under ``<store root>/labels/``, written to a temporary name, fsynced and
renamed, so a batch is stored whole or not at all. A subject labelled again keeps its latest label
(latest ``screened_at``, then latest added).
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from monitoring.store import fsync_dir

SUBJECT = "subject_pseudonym"
SCREENED_AT = "screened_at"
ADDED_AT = "added_at"
MAX_NAMED_ROWS = 5


def _rows(frame: pd.DataFrame, mask: pd.Series) -> str:
    """Human row numbers (1 = first data row) of ``mask``, a few named."""
    numbers = [str(i + 1) for i in frame.index[mask]]
    more = f" and {len(numbers) - MAX_NAMED_ROWS} more" if len(numbers) > MAX_NAMED_ROWS else ""
    return ", ".join(numbers[:MAX_NAMED_ROWS]) + more


def label_column(columns, label: str | None = None) -> str:
    """``label``, or else the one column of ``columns`` besides the subject and the dates."""
    if label is not None:
        return label
    found = [str(c) for c in columns if c not in (SUBJECT, SCREENED_AT, ADDED_AT)]
    if len(found) != 1:
        raise ValueError(
            f"labels: expected one label column besides {SUBJECT} and {SCREENED_AT}, found "
            f"{', '.join(found) or 'none'}; name it (the model's fairness.label_column)"
        )
    return found[0]


def load_labels(path_or_frame: Path | str | pd.DataFrame, label: str | None = None) -> pd.DataFrame:
    """Read a CSV / parquet label file (or take a frame) and validate it; one row per subject.

    ``label`` names the label's column (default: the file's one column besides the subject and
    ``screened_at``)."""
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
    column = label_column(frame.columns, label)
    missing = [c for c in (SUBJECT, column) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"labels: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}"
        )
    if frame.empty:
        raise ValueError("labels: no rows")
    subjects = frame[SUBJECT].map(lambda v: "" if pd.isna(v) else str(v).strip())
    if (blank := subjects == "").any():
        raise ValueError(f"labels: {SUBJECT} is empty in row(s) {_rows(frame, blank)}")
    labels = pd.to_numeric(frame[column], errors="coerce")
    if (bad := ~labels.isin([0, 1])).any():
        shown = ", ".join(repr(v) for v in frame.loc[bad, column].head(MAX_NAMED_ROWS))
        raise ValueError(f"labels: {column} must be 0 or 1; row(s) {_rows(frame, bad)} have {shown}")
    screened = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    if SCREENED_AT in frame.columns:
        given = frame[SCREENED_AT].notna()
        screened = pd.to_datetime(frame[SCREENED_AT], utc=True, errors="coerce")
        if (bad := given & screened.isna()).any():
            raise ValueError(f"labels: {SCREENED_AT} is not a date/time in row(s) {_rows(frame, bad)}")
    clean = pd.DataFrame({SUBJECT: subjects, column: labels.astype("int8"), SCREENED_AT: screened})
    conflicting = clean.groupby(SUBJECT)[column].transform("nunique") > 1
    if conflicting.any():
        names = ", ".join(sorted(set(clean.loc[conflicting, SUBJECT]))[:MAX_NAMED_ROWS])
        rows = _rows(frame, conflicting)
        raise ValueError(f"labels: conflicting {column} for the same subject ({names}) in row(s) {rows}")
    return clean.sort_values(SCREENED_AT, na_position="first").drop_duplicates(SUBJECT, keep="last")


def add_labels(path_or_frame: Path | str | pd.DataFrame, store_root: Path, label: str | None = None) -> int:
    """Validate and durably store a batch of labels (``label``: their column, see ``load_labels``);
    returns the number of subjects stored."""
    clean = load_labels(path_or_frame, label)
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


def read_labels(store_root: Path, label: str | None = None) -> pd.DataFrame:
    """Every subject's current label in column ``label``: ``subject_pseudonym, <label>, screened_at,
    added_at``. Without ``label``, the store's one label column (batches of other columns are other
    models' and are left out when ``label`` is named)."""
    batches = [pd.read_parquet(f) for f in sorted((Path(store_root) / "labels").glob("labels-*.parquet"))]
    if label is None and batches:
        label = label_column(dict.fromkeys(c for batch in batches for c in batch.columns if c != SUBJECT))
    batches = [batch for batch in batches if label in batch.columns]
    columns = [SUBJECT, *([label] if label else []), SCREENED_AT, ADDED_AT]
    if not batches:
        types = {
            SUBJECT: "object",
            label: "int8",
            SCREENED_AT: "datetime64[ns, UTC]",
            ADDED_AT: "datetime64[ns, UTC]",
        }
        return pd.DataFrame({c: pd.Series(dtype=types[c]) for c in columns})
    frame = pd.concat(batches, ignore_index=True)
    frame = frame.sort_values([SCREENED_AT, ADDED_AT], na_position="first", kind="stable")
    return frame.drop_duplicates(SUBJECT, keep="last").sort_values(SUBJECT).reset_index(drop=True)[columns]
