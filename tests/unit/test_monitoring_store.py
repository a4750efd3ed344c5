"""The inference store: journal -> read, compaction to parquet partitions, late halves, labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.client import request_event, response_event
from monitoring.events import parse_event
from monitoring.labels import add_labels, read_labels
from monitoring.store import InferenceStore, Journal, StoreLocked, encode_line

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
RNG = np.random.default_rng(1)


def _halves(index: int, model: str = "hl", *, response: bool = True, when: datetime = T0):
    tensors = {"current": RNG.standard_normal((5, 3)).astype(np.float32)}
    meta = {"subject_pseudonym": f"s{index}", "age": 20 + index, "gender": "fm"[index % 2]}
    events = [request_event(f"i{index}", model, tensors, meta, time_=when)]
    if response:
        outputs = {"probability": index / 10, "label": index % 2, "threshold": 0.5}
        events.append(response_event(f"i{index}", model, "3", outputs, time_=when + timedelta(seconds=1)))
    return [half for event in events for half in parse_event(event.headers, event.body)], tensors


def _write(journal: Journal, halves) -> None:
    journal.append(b"".join(encode_line(h) for h in halves))


def test_journal_read_compact_and_read_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    sent = {}
    for i in range(6):  # an hour apart across midnight: two date partitions
        halves, tensors = _halves(i, when=T0 + timedelta(minutes=30 * i))
        sent[f"i{i}"] = tensors["current"]
        _write(journal, halves)
    _write(journal, _halves(9, model="other")[0])
    store = InferenceStore(tmp_path)
    before = store.read("hl")
    assert list(before["inference_id"]) == [f"i{i}" for i in range(6)]
    assert set(before["status"]) == {"ok"} and list(before["age"]) == [20, 21, 22, 23, 24, 25]
    for row in before.itertuples():
        np.testing.assert_allclose(row.current_mean, sent[row.inference_id].mean(axis=0), rtol=1e-6)
    assert store.models() == ["hl", "other"]

    journal.rotate()
    assert store.compact(journal) == 7
    assert not journal.sealed()
    dates = sorted(p.name for p in (tmp_path / "data" / "model_name=hl").iterdir())
    assert dates == ["date=2026-03-01", "date=2026-03-02"]
    after = store.read("hl")
    pd.testing.assert_frame_equal(
        after.drop(columns=["current_mean", "current_std"]),
        before.drop(columns=["current_mean", "current_std"]),
        check_dtype=False,
    )
    np.testing.assert_array_equal(np.stack(after["current_mean"]), np.stack(before["current_mean"]))
    window = store.read(
        "hl", start=datetime(2026, 3, 2), end=datetime(2026, 3, 2, 1), columns=["probability"]
    )
    assert list(window["inference_id"]) == ["i2", "i3"] and "current_mean" not in window
    assert store.models() == ["hl", "other"]
    assert len(store.logged_keys()) == 14
    journal.close()


def test_late_response_compacted_apart_is_merged(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    halves, _ = _halves(1)
    request, response = halves
    _write(journal, [request])
    journal.rotate()
    store = InferenceStore(tmp_path)
    store.compact(journal)
    assert store.read("hl")["status"].tolist() == ["pending"]
    _write(journal, [response])
    journal.rotate()
    store.compact(journal)
    [row] = store.read("hl").to_dict("records")
    assert row["status"] == "ok" and row["probability"] == 0.1 and row["subject_pseudonym"] == "s1"
    assert row["request_logged"] and row["response_logged"] and row["timestamp"] == T0
    journal.close()


def test_torn_tail_is_skipped_and_one_writer_only(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    halves, _ = _halves(2)
    _write(journal, halves)
    journal.append(encode_line(_halves(3)[0][0])[:-20])  # a crash mid-append, never acknowledged
    assert InferenceStore(tmp_path).read("hl")["inference_id"].tolist() == ["i2"]
    with pytest.raises(StoreLocked, match="another process"):
        Journal(tmp_path)
    journal.close()
    # a closed journal frees the store; compaction without a sink takes every segment
    assert InferenceStore(tmp_path).compact() == 1
    assert not list((tmp_path / "journal").glob("*.log"))


def test_mixed_metadata_types_are_stored_as_text(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    first = request_event("a", "hl", {"x": np.ones((2, 2))}, {"age": 30})
    second = request_event("b", "hl", {"x": np.ones((2, 2))}, {"age": "unknown"})
    _write(journal, [h for e in (first, second) for h in parse_event(e.headers, e.body)])
    journal.rotate()
    store = InferenceStore(tmp_path)
    store.compact(journal)
    assert sorted(store.read("hl")["age"]) == ["30", "unknown"]
    journal.close()


def _labels(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["subject_pseudonym", "hearing_loss", "screened_at"][: len(rows[0])])


def test_labels_add_and_read(tmp_path: Path) -> None:
    csv = tmp_path / "labels.csv"
    _labels([("s1", 1), ("s2", 0), ("s2", 0)]).to_csv(csv, index=False)
    assert add_labels(csv, tmp_path) == 2
    later = _labels([("s2", 1, "2026-04-01"), ("s3", 0, None)])
    later.to_parquet(tmp_path / "later.parquet")
    assert add_labels(tmp_path / "later.parquet", tmp_path) == 2
    labels = read_labels(tmp_path)
    assert labels["subject_pseudonym"].tolist() == ["s1", "s2", "s3"]
    assert labels["hearing_loss"].tolist() == [1, 1, 0]  # s2 re-screened later
    assert labels.loc[1, "screened_at"] == pd.Timestamp("2026-04-01", tz="UTC")
    assert read_labels(tmp_path / "empty").empty


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"subject_pseudonym": ["s1"]}), "missing column\\(s\\) hearing_loss"),
        (_labels([("s1", 1), ("s2", "yes"), ("s3", 2)]), "must be 0 or 1; row\\(s\\) 2, 3 have 'yes', 2"),
        (
            _labels([("s1", 1), ("s2", 0), ("s1", 0)]),
            "conflicting hearing_loss .*\\(s1\\) in row\\(s\\) 1, 3",
        ),
        (_labels([("s1", 1), (None, 0)]), "subject_pseudonym is empty in row\\(s\\) 2"),
        (
            _labels([("s1", 1, "2026-01-01"), ("s2", 0, "soon")]),
            "screened_at is not a date/time in row\\(s\\) 2",
        ),
    ],
)
def test_bad_label_files_are_refused_naming_rows(tmp_path: Path, frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        add_labels(frame, tmp_path, label="hearing_loss")
    assert read_labels(tmp_path).empty


def test_label_file_type_is_checked(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("subject_pseudonym,hearing_loss\ns1,1\n")
    with pytest.raises(ValueError, match=r"must be \.csv or \.parquet"):
        add_labels(tmp_path / "labels.txt", tmp_path)
