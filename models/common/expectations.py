"""Building blocks of every family's expectations (``models/<family>/expectations.py``).

A family turns its dataset into named pandas tables and declares Great Expectations over them as
plain dicts (``components/validate.py`` runs them). A broken dataset never makes the tables crash:
a missing file becomes an empty table or a column value the matching expectation reports; only a
file that exists and cannot be read at all raises ``DatasetError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

# GE's pandas type check compares the dtype's scalar type by name, and pandas' "string" dtype holds
# ``str`` (so does the object dtype of plain Python strings, which GE then checks per value).
GE_TYPE_NAMES = {"string": "str"}


class DatasetError(ValueError):
    """A dataset file exists but cannot be read at all."""


def read_parquet(path: Path) -> pd.DataFrame:
    """The table at ``path``; empty when absent (every column-exists expectation then fails, naming it)."""
    if not path.exists():
        return pd.DataFrame()
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DatasetError(f"{path}: not a readable parquet file ({type(exc).__name__}: {exc})") from exc


def read_json_object(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise DatasetError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


def expect(table: str, expectation: str, why: str, **kwargs: Any) -> dict:
    """One expectation: a GE class name and its kwargs over ``table``, with why it must hold."""
    return {"table": table, "expectation": expectation, "kwargs": kwargs, "why": why}


def in_set(table: str, column: str, values: list, why: str) -> dict:
    return expect(table, "ExpectColumnValuesToBeInSet", why, column=column, value_set=values)


def column_schema(
    table: str, columns: Mapping[str, str], *, file: str, declared_by: str, row: str
) -> list[dict]:
    """Each column exists, has its declared dtype and no nulls: ``file`` names the table's file,
    ``declared_by`` the constant declaring the dtypes, ``row`` what one row is (for the messages)."""
    out = []
    for column, dtype in columns.items():
        out += [
            expect(table, "ExpectColumnToExist", f"{file} has column {column}", column=column),
            expect(
                table,
                "ExpectColumnValuesToBeOfType",
                f"{table}.{column} is stored as {dtype}, as {declared_by} declares",
                column=column,
                type_=GE_TYPE_NAMES.get(dtype, dtype),
            ),
            expect(
                table, "ExpectColumnValuesToNotBeNull", f"every {row} has a value for {column}", column=column
            ),
        ]
    return out


def fold_membership(folds: pd.DataFrame, table: pd.DataFrame, key: str, table_name: str) -> pd.DataFrame:
    """Per ``key`` of ``table`` or of the folds file: ``in_<table_name>``, ``in_folds`` and, when the
    folds file has a ``fold`` column, in how many folds (``n_folds``)."""
    known = set(table[key].dropna()) if key in table else set()
    assigned = set(folds[key].dropna()) if key in folds else set()
    out = pd.DataFrame({key: pd.Series(sorted(known | assigned), dtype="string")})
    out[f"in_{table_name}"] = out[key].isin(known)
    out["in_folds"] = out[key].isin(assigned)
    if {key, "fold"} <= set(folds):
        per_key = folds.dropna(subset=[key]).groupby(key)["fold"].nunique()
        out = out.merge(per_key.rename("n_folds"), left_on=key, right_index=True, how="left")
        out["n_folds"] = out["n_folds"].fillna(0).astype("int64")
    return out


def folds_file_rules(columns: Mapping[str, str], n_folds: int) -> list[dict]:
    """folds.parquet as a family's split writes it: its columns, fold ids 0 .. n_folds-1."""
    return [
        *[
            expect("folds_file", "ExpectColumnToExist", f"folds.parquet has column {column}", column=column)
            for column in columns
        ],
        expect(
            "folds_file",
            "ExpectColumnValuesToBeBetween",
            f"fold ids are 0-{n_folds - 1}",
            column="fold",
            min_value=0,
            max_value=n_folds - 1,
        ),
    ]
