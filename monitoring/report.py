"""The monitoring report of a window: drift, fairness once labels join, the age probe; and its files.

``build_report`` returns a plain dict (STYLE.md §10); ``save_report`` writes it as JSON and HTML and
adds its Evidently snapshots to the workspace under ``$AFFECTOPS_HOME/evidently``, one project per
model, which ``evidently ui --workspace`` shows over time: one drift snapshot per scope and one
summary snapshot of the window's numbers (monitoring/summary.py), each named and tagged with the
model, version, scope and window; and it keeps the project's dashboard up to date
(monitoring/dashboard.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, MutableMapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from evidently.core.report import Snapshot
from evidently.ui.workspace import Workspace
from scipy import stats

from models.common.fairness import fairness_report
from monitoring import records
from monitoring.dashboard import update_dashboard
from monitoring.drift import SUBJECT, drift_report, with_age_group
from monitoring.gates import Breach, check
from monitoring.summary import summary_snapshot

WORKSPACE = "evidently"  # under settings.home


def workspace_dir(home: Path) -> Path:
    return Path(home) / WORKSPACE


def ui_command(home: Path, host: str = "127.0.0.1", port: int = 8000) -> list[str]:
    """The Evidently UI over this platform's workspace, as a command line to run."""
    workspace = workspace_dir(home)
    return [
        sys.executable,
        "-m",
        "evidently.cli",
        "ui",
        "--workspace",
        str(workspace),
        "--host",
        host,
        "--port",
        str(port),
    ]


def age_probe(frame: pd.DataFrame, columns: Mapping[str, Any]) -> dict[str, float | int | None] | None:
    """Pearson r between the age estimate and true age (the config's ``columns.age_estimate`` and
    ``columns.age``), one point per subject; None for a model that estimates no age."""
    age, estimate = columns["age"], columns["age_estimate"]
    if estimate is None or estimate not in frame:
        return None
    needed = {"subject_pseudonym", age, estimate}
    if age is None or not needed <= set(frame):
        return {"r": None, "p": None, "subjects": 0}
    points = frame[list(needed)].dropna().groupby("subject_pseudonym")[[age, estimate]].mean()
    if len(points) < 3 or points[age].nunique() < 2 or points[estimate].nunique() < 2:
        return {"r": None, "p": None, "subjects": len(points)}
    r, p = stats.pearsonr(points[age], points[estimate])
    return {"r": float(r), "p": float(p), "subjects": len(points)}


def join_labels(current: pd.DataFrame, labels: pd.DataFrame, column: str) -> pd.DataFrame:
    """Inferences whose subject has a ground-truth label, with its ``column`` (``fairness.label_column``)."""
    missing = {"subject_pseudonym", column} - set(labels)
    if missing:
        raise ValueError(f"labels: missing columns {sorted(missing)}")
    # a later label replaces an earlier one
    latest = labels.drop_duplicates("subject_pseudonym", keep="last")[["subject_pseudonym", column]]
    return current.merge(latest, on="subject_pseudonym", how="inner")


def fairness_section(joined: pd.DataFrame, config: Mapping[str, Any]) -> dict:
    """fairness_report of the predictions (``columns.prediction``) against the ground truth by each
    configured feature on the labelled inferences, bootstrapping subjects."""
    options, predicted = config["fairness"], config["columns"]["prediction"]
    truth = options["label_column"]
    features = [f for f in options["features"] if f in joined and joined[f].notna().any()]
    if predicted is None:
        return {}
    table = joined.dropna(subset=[*features, predicted, truth])
    if table.empty or not features:
        return {}
    return fairness_report(
        table[truth].astype(int),
        table[predicted].astype(int),
        {f: table[f] for f in features},
        clusters=table["subject_pseudonym"],
        n_boot=options["n_boot"],
        seed=options["seed"],
        confidence=options["confidence"],
    )


def window_labels(window: Mapping[str, Any]) -> tuple[str, list[str], dict[str, str]]:
    """A window's span as a snapshot name part (to the minute), its tag and its metadata."""
    start, end = window["start"] or "?", window["end"] or "?"
    span = f"{start[:16]} to {end[:16]}".replace("T", " ")
    return span, [f"window:{start}/{end}"], {"window_start": start, "window_end": end}


def _window(frame: pd.DataFrame) -> dict[str, Any]:
    times = pd.to_datetime(frame["timestamp"], utc=True) if "timestamp" in frame and len(frame) else None
    return {
        "start": times.min().isoformat() if times is not None else None,
        "end": times.max().isoformat() if times is not None else None,
    }


def reference_composition(reference: pd.DataFrame) -> dict[str, Any]:
    """What the reference holds: its rows and subjects, and how many carry the version's answers
    (``records.SCORED``: examples it did not train on) rather than inputs and demographics only."""
    answered = reference[records.SCORED].astype(bool) if records.SCORED in reference else None
    subjects = reference.get(SUBJECT)

    def count(mask: pd.Series | None) -> dict[str, int | None]:
        rows = reference if mask is None else reference[mask]
        who = None if subjects is None else int(subjects[rows.index].nunique())
        return {"rows": len(rows), "subjects": who}

    return {
        "all": count(None),
        "answered": count(answered),
        # the reference's outputs: a version's answers on what it did not train on
        "answers_from": "every reference row" if answered is None or answered.all() else "the held-out rows",
    }


def build_report(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    labels: pd.DataFrame | None,
    *,
    config: Mapping[str, Any],
    snapshots: MutableMapping[str, Snapshot] | None = None,
    tags: tuple[str, ...] = (),
    metadata: Mapping[str, str] | None = None,
    title: str = "",
) -> dict:
    """Drift (overall and per age group), fairness where labels join, and the age probe, as a dict.

    What is compared and joined is the family's ``config`` (monitoring/config.py): no age groups, no
    per-group scopes; no ``fairness.label_column``, no labels joined. Only successful inferences
    (status "ok") are compared; errors are counted. Pass ``snapshots`` to receive the Evidently runs
    (one per scope) for ``save_report``, tagged with ``tags`` and the window (``window_labels``),
    their ``metadata`` likewise, named ``title`` + the scope + the window.
    """
    if current.empty:
        raise ValueError("current: the window has no inferences")
    if reference.empty:
        raise ValueError("reference: the serving version has no reference rows")
    status = current["status"] if "status" in current else pd.Series("ok", index=current.index)
    succeeded = status == "ok"
    ok = current if succeeded.all() else current[succeeded]  # a copy of 1M rows only when needed
    if ok.empty:
        raise ValueError(f"current: none of the {len(current)} inferences succeeded; nothing to compare")
    window = _window(ok)
    end = datetime.fromisoformat(window["end"]) if window["end"] else None
    span, span_tags, span_metadata = window_labels(window)
    drift, runs = drift_report(
        ok,
        reference,
        config,
        tags=(*tags, *span_tags),
        metadata={**(metadata or {}), **span_metadata},
        title=title,
        timestamp=end,
    )
    for snapshot in runs.values():
        snapshot.set_name(f"{snapshot.get_name()} · {span}")
    if snapshots is not None:
        snapshots.update(runs)
    report: dict[str, Any] = {
        "window": {**window, "rows": len(current), "ok": len(ok), "errors": int((status != "ok").sum())},
        "reference_rows": len(reference),
        "reference": reference_composition(reference),
        # compared per subject when rows name subjects (monitoring/drift.py), else per row
        "drift_unit": drift["overall"]["unit"],
        "drift": drift,
        "age_probe": age_probe(ok, config["columns"]),
        "fairness": {},
        "labelled": {"rows": 0, "subjects": 0},
    }
    truth = config["fairness"]["label_column"]
    if truth is not None and labels is not None and not labels.empty:
        # the columns fairness reads: a join of the whole window would copy its list columns too
        cols = config["columns"]
        needed = ["subject_pseudonym", cols["prediction"], cols["age"], *config["fairness"]["features"]]
        joined = join_labels(ok[[c for c in dict.fromkeys(needed) if c in ok]], labels, truth)
        if config["age_groups"]:
            joined = with_age_group(joined, config["age_groups"], config["columns"]["age"])
        report["labelled"] = {"rows": len(joined), "subjects": int(joined["subject_pseudonym"].nunique())}
        report["fairness"] = fairness_section(joined, config)
    return report


def drift_table(report: Mapping[str, Any]) -> pd.DataFrame:
    """One row per scope: units compared, drift share, feature and embedding drift, positive rates."""
    rows = []
    for scope, part in report["drift"].items():
        if "skipped" in part:
            rows.append(
                {
                    "scope": scope,
                    "current_rows": part["rows"]["current"],
                    f"current_{part['unit']}s": part["units"]["current"],
                    "note": part["skipped"],
                }
            )
            continue
        rows.append(
            {
                "scope": scope,
                "current_rows": part["rows"]["current"],
                f"current_{part['unit']}s": part["units"]["current"],
                f"reference_{part['unit']}s": part["units"]["reference"],
                "drifted_columns": ", ".join(c for c, v in part["columns"].items() if v["drifted"]) or "-",
                "drift_share": part["drift_share"],
                # outputs the reference answered on too few units of this scope
                "not_compared": ", ".join(part["skipped_columns"]) or None,
                "feature_drift_share": part.get("features", {}).get("drifted_share"),
                "embedding_auc": part.get("embedding", {}).get("score"),
                "positive_rate": part["positive_rate"]["current"],
                "reference_positive_rate": part["positive_rate"]["reference"],
            }
        )
    # a family without input features or a positive class has nothing in those columns
    return pd.DataFrame(rows).set_index("scope").dropna(axis=1, how="all")


def fairness_table(report: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (feature, group): n and F1 / TPR / FPR / selection rate with their intervals."""

    def show(ci: Mapping[str, float | None]) -> str:
        if ci["value"] is None:
            return "n/a"
        return f"{ci['value']:.3f}" + ("" if ci["low"] is None else f" [{ci['low']:.3f}, {ci['high']:.3f}]")

    rows = []
    for feature, part in report["fairness"].items():
        for group, entry in part["groups"].items():
            rows.append(
                {"feature": feature, "group": group, "n": entry["n"]}
                | {m: show(entry[m]) for m in ("f1", "tpr", "fpr", "selection_rate")}
            )
        for key in ("f1_gap", "demographic_parity_difference", "equalized_odds_difference"):
            rows.append({"feature": feature, "group": key, "f1": show(part[key])})
    return pd.DataFrame(rows).fillna("")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def save_report(
    report: Mapping[str, Any],
    snapshots: Mapping[str, Snapshot],
    *,
    model: str,
    home: Path,
    out_dir: Path,
    config: Mapping[str, Any],
    summary: Snapshot | None = None,
) -> dict[str, str]:
    """Write ``report.json``, ``report.html`` (tables) and one Evidently HTML per scope into
    ``out_dir``; add the snapshots (and ``summary``, the window's numbers) to the model's project in
    the workspace and write its dashboard as ``config`` says (monitoring/dashboard.py). Returns the
    paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "html": out_dir / "report.html"}
    paths["json"].write_text(json.dumps(report, indent=2, default=_json_default))
    fairness = fairness_table(report) if report["fairness"] else pd.DataFrame()
    probe = report["age_probe"]
    probe_html = (
        f"<h2>Age probe</h2><p>r = {probe['r']}, p = {probe['p']}, subjects = {probe['subjects']}</p>"
        if probe is not None
        else ""
    )
    paths["html"].write_text(
        f"<html><head><meta charset='utf-8'><title>{model} monitoring</title></head><body>"
        f"<h1>{model}: window {report['window']['start']} to {report['window']['end']}</h1>"
        f"<h2>Drift</h2>{drift_table(report).to_html(float_format='%.3f')}"
        f"<h2>Fairness</h2>{fairness.to_html(index=False) if not fairness.empty else '<p>no labels</p>'}"
        f"{probe_html}</body></html>"
    )
    for scope, snapshot in snapshots.items():
        paths[f"evidently_{scope}"] = out_dir / f"drift_{scope}.html"
        snapshot.save_html(str(paths[f"evidently_{scope}"]))
    workspace = Workspace(str(workspace_dir(home)))
    found = workspace.search_project(model)
    project = found[0] if found else workspace.create_project(model, description=f"monitoring of {model}")
    for snapshot in (*snapshots.values(), *([summary] if summary is not None else [])):
        workspace.add_run(project.id, snapshot)
    update_dashboard(workspace, project.id, model, config, report)
    paths["workspace"] = workspace_dir(home)
    return {name: str(path) for name, path in paths.items()}


def run_report(
    model: str,
    current: pd.DataFrame,
    reference: pd.DataFrame,
    labels: pd.DataFrame | None,
    *,
    config: Mapping[str, Any],
    home: Path,
    out_dir: Path,
    version: str | None = None,
) -> dict:
    """``build_report`` then ``save_report``, with the summary snapshot of the report's numbers and
    its gate breaches (the thresholds of ``config``): the report dict with ``paths`` added."""
    snapshots: dict[str, Snapshot] = {}
    tags = (f"model:{model}",) + ((f"version:{version}",) if version else ())
    metadata = {"model": model} | ({"version": version} if version else {})
    title = f"{model} v{version} · " if version else f"{model} · "
    report = build_report(
        current,
        reference,
        labels,
        config=config,
        snapshots=snapshots,
        tags=tags,
        metadata=metadata,
        title=title,
    )
    report["model"], report["version"] = model, version
    breaches: list[Breach] = check(report, config["thresholds"])
    span, span_tags, span_metadata = window_labels(report["window"])
    end = report["window"]["end"]
    summary = summary_snapshot(
        report,
        breaches,
        name=f"{title}summary · {span}",
        tags=[*tags, *span_tags, "scope:all"],
        metadata={**metadata, **span_metadata, "scope": "all"},
        timestamp=datetime.fromisoformat(end) if end else None,
    )
    report["paths"] = save_report(
        report, snapshots, model=model, home=home, out_dir=out_dir, config=config, summary=summary
    )
    return report
