"""Great Expectations gate for a cohort: run a family's declarative expectations and render Data Docs.

The rules live in ``models/<family>/expectations.py`` as plain dicts over named pandas tables;
this module is the only one that imports great_expectations (lazily: it takes seconds to import).
Every call uses an ephemeral GE context with in-memory stores, so nothing is written outside
``docs_dir`` (no ``gx/`` folder in the working directory).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from models import DEFAULT_FAMILY, get_family

_DOCS_SITE = "affectops"
NOT_RUN = "NotRun"  # Failure.expectation of checks skipped because their columns are absent
_SHOWN = 5  # offending rows listed per failure; the count covers the rest


@dataclass(frozen=True)
class Failure:
    """One expectation that did not hold, in words."""

    table: str
    expectation: str
    column: str | None
    why: str
    expected: str
    found: str  # offending ids and values (first few) and how many

    def describe(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{where}: {self.why} — expected {self.expected}; found {self.found} [{self.expectation}]"


@dataclass(frozen=True)
class ValidationReport:
    success: bool
    failures: list[Failure]
    checked: int  # expectations run (those on tables the cohort does not have yet are skipped)
    docs_index: Path | None

    def to_dict(self) -> dict:
        return {
            "success": self.success,
            "checked": self.checked,
            "failures": [{**asdict(f), "description": f.describe()} for f in self.failures],
            "docs_index": str(self.docs_index) if self.docs_index else None,
        }


def family_module(family: str) -> ModuleType:
    """The family's declarative expectations: ``tables(cohort)``, ``EXPECTATIONS``, ``ID_COLUMNS``."""
    return get_family(family).data.expectations


def _columns(kwargs: dict) -> list[str]:
    if "column" in kwargs:
        return [kwargs["column"]]
    if "column_A" in kwargs:
        return [kwargs["column_A"], kwargs["column_B"]]
    return list(kwargs.get("column_list", []))


def _between(kwargs: dict) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    lo_op = ">" if kwargs.get("strict_min") else "≥"
    hi_op = "<" if kwargs.get("strict_max") else "≤"
    if low is not None and high is not None:
        if low == high and lo_op == "≥" and hi_op == "≤":
            return f"= {low}"
        return f"{lo_op} {low} and {hi_op} {high}"
    return f"{lo_op} {low}" if low is not None else f"{hi_op} {high}"


def expected_in_words(expectation: str, kwargs: dict) -> str:
    """What the expectation asks for, short (the ``why`` says what it means)."""
    words = {
        "ExpectColumnToExist": lambda k: "the column to exist",
        "ExpectColumnValuesToBeOfType": lambda k: f"dtype {k['type_']}",
        "ExpectColumnValuesToNotBeNull": lambda k: "no nulls",
        "ExpectColumnValuesToBeUnique": lambda k: "unique values",
        "ExpectCompoundColumnsToBeUnique": lambda k: f"unique ({', '.join(k['column_list'])}) combinations",
        "ExpectColumnValuesToBeInSet": lambda k: f"values in {k['value_set']}",
        "ExpectColumnValuesToBeBetween": lambda k: f"values {_between(k)}",
        "ExpectColumnMeanToBeBetween": lambda k: f"mean {_between(k)}",
        "ExpectTableRowCountToBeBetween": lambda k: f"row count {_between(k)}",
        "ExpectColumnDistinctValuesToContainSet": lambda k: f"distinct values including {k['value_set']}",
        "ExpectColumnPairValuesToBeEqual": lambda k: f"{k['column_A']} == {k['column_B']}",
        "ExpectColumnPairValuesAToBeGreaterThanB": lambda k: (
            f"{k['column_A']} {'≥' if k.get('or_equal') else '>'} {k['column_B']}"
        ),
    }
    if expectation in words:
        text = words[expectation](kwargs)
    else:
        text = ", ".join(f"{k}={v}" for k, v in kwargs.items() if k != "column")
    if "row_condition" in kwargs:
        text += f" where {_condition_in_words(kwargs['row_condition'])}"
    return text


def _condition_in_words(condition: Any) -> str:
    if isinstance(condition, dict) and condition.get("type") == "comparison":
        return f"{condition['column']['name']} {condition['operator']} {condition['parameter']}"
    return str(condition)


def _value(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _row_in_words(row: dict, ids: list[str]) -> str:
    named = " ".join(_value(row[c]) for c in ids if c in row)
    values = ", ".join(f"{k}={_value(v)}" for k, v in row.items() if k not in ids)
    if named and values:
        return f"{named} ({values})"
    return named or values


def found_in_words(result: dict, exception: dict, ids: list[str], columns: list[str]) -> str:
    """What the data showed: offending rows named by their id columns, or the observed value."""
    if exception.get("raised_exception"):
        message = (exception.get("exception_message") or "").strip().splitlines()
        return f"could not run: {message[0] if message else 'error'}"
    if "unexpected_count" in result:
        count, total = result["unexpected_count"], result.get("element_count")
        rows = result.get("unexpected_index_list") or []
        if not all(isinstance(r, dict) for r in rows):  # without id columns GE lists row numbers
            name = columns[0] if len(columns) == 1 else "value"
            rows = [{name: v} for v in result.get("unexpected_list", [])]
        shown = "; ".join(_row_in_words(r, ids) for r in rows[:_SHOWN])
        more = f"; … {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
        return f"{count} of {total} rows: {shown}{more}"
    if "observed_value" in result:
        return _value(result["observed_value"])
    return str(result)


def _exception(raw: dict) -> dict:
    """GE 1.x puts either one ``exception_info`` dict or one per failed metric; flatten to one."""
    if "raised_exception" in raw:
        return raw
    for info in raw.values():
        if isinstance(info, dict) and info.get("raised_exception"):
            return info
    return {"raised_exception": False}


def _expectation(gxe: ModuleType, index: int, spec: dict) -> Any:
    expectation_class = getattr(gxe, spec["expectation"], None)
    if expectation_class is None:
        raise ValueError(f"no GE expectation named {spec['expectation']!r} (table {spec['table']})")
    # meta carries the index back from the result; notes show the reason in Data Docs
    return expectation_class(**spec["kwargs"], meta={"index": index}, notes=spec["why"])


def _run_table(
    context: Any,
    source: Any,
    name: str,
    frame: Any,
    specs: list[tuple[int, dict]],
    ids: list[str],
    gx: ModuleType,
    gxe: ModuleType,
) -> list[Any]:
    """One suite and one validation definition per table; returns the failed expectation results."""
    batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    # build the suite before adding it: adding expectations to a stored suite saves it each time
    expectations = [_expectation(gxe, index, spec) for index, spec in specs]
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    result_format: dict = {"result_format": "COMPLETE"}
    if ids:  # name offending rows by segment / subject / file rather than by row number
        result_format["unexpected_index_column_names"] = ids
    outcome = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
    return [result for result in outcome.results if not result.success]


def _failure(table: str, spec: dict, result: Any, ids: list[str], present: list[str]) -> Failure:
    columns = _columns(spec["kwargs"])
    lacking = [c for c in columns if c not in present]
    if lacking:  # ExpectColumnToExist reports an empty result: say which columns there are
        found = f"no column {', '.join(map(repr, lacking))} (table has: {', '.join(present) or 'no columns'})"
    else:
        found = found_in_words(result.result or {}, _exception(result.exception_info or {}), ids, columns)
    return Failure(
        table=table,
        expectation=spec["expectation"],
        column=", ".join(columns) or None,
        why=spec["why"],
        expected=expected_in_words(spec["expectation"], spec["kwargs"]),
        found=found,
    )


def _not_run(table: str, specs: list[dict], present: list[str]) -> Failure:
    lacking = sorted({c for spec in specs for c in _columns(spec["kwargs"]) if c not in present})
    checks = "; ".join(f"{spec['why']} ({spec['expectation']})" for spec in specs)
    return Failure(
        table=table,
        expectation=NOT_RUN,
        column=", ".join(lacking),
        why=f"{len(specs)} check(s) could not run: {checks}",
        expected="the columns these checks read",
        found=f"no column {', '.join(map(repr, lacking))} (table has: {', '.join(present) or 'no columns'})",
    )


def validate_cohort(cohort: Path, *, docs_dir: Path | None, family: str = DEFAULT_FAMILY) -> ValidationReport:
    """Validate a cohort directory with the family's expectations; Data Docs go to ``docs_dir``.

    ``docs_dir=None`` skips the Data Docs build (about a third of a run on a tiny cohort).
    """
    module = family_module(family)
    frames = module.tables(Path(cohort))

    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        # in-memory stores and no temp docs site: the only files written are the Data Docs below
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    if docs_dir is not None:
        docs_dir = Path(docs_dir).resolve()
        docs_dir.mkdir(parents=True, exist_ok=True)
        context.add_data_docs_site(
            _DOCS_SITE,
            {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    source = context.data_sources.add_pandas(f"{family}_cohort")

    by_table: dict[str, list[tuple[int, dict]]] = {}
    for index, spec in enumerate(module.EXPECTATIONS):
        if spec["table"] in frames:  # e.g. folds before the split step: nothing to check yet
            by_table.setdefault(spec["table"], []).append((index, spec))

    failures: list[tuple[int, Failure]] = []
    checked = 0
    for table, specs in by_table.items():
        frame = frames[table]
        present = [str(c) for c in frame.columns]
        runnable, blocked = [], []
        for index, spec in specs:
            lacking = [c for c in _columns(spec["kwargs"]) if c not in present]
            # a check on an absent column can only raise inside GE: report those once per table
            if lacking and spec["expectation"] != "ExpectColumnToExist":
                blocked.append((index, spec))
            else:
                runnable.append((index, spec))
        if blocked:
            failures.append((blocked[0][0], _not_run(table, [s for _, s in blocked], present)))
        if not runnable:
            continue
        checked += len(runnable)
        ids = [c for c in module.ID_COLUMNS.get(table, []) if c in present]
        for result in _run_table(context, source, f"{family}.{table}", frame, runnable, ids, gx, gxe):
            index = result.expectation_config.meta["index"]
            failures.append((index, _failure(table, module.EXPECTATIONS[index], result, ids, present)))

    docs_index = None
    if docs_dir is not None:
        context.build_data_docs(site_names=[_DOCS_SITE])
        docs_index = docs_dir / "index.html"
    ordered = [f for _, f in sorted(failures, key=lambda pair: pair[0])]  # the order EXPECTATIONS lists
    return ValidationReport(success=not ordered, failures=ordered, checked=checked, docs_index=docs_index)
