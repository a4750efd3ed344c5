"""Drift of a window of logged inferences against the serving version's reference data.

Speed (issue 6 asks the full report on 1M rows in at most half of DataDriftPreset's time): Evidently
never sees the whole window. Each scope (overall, each age group) draws a seeded uniform sample of at
most ``sample_rows`` rows per side first, and Evidently compares it with distance measures (normed
Wasserstein, Jensen-Shannon) whose verdict is an effect size, not a p-value. The cost in sensitivity,
measured on 1M uniform ages per side with 20k-row samples: no shift scores 0.001 in full and
0.010 +- 0.005 sampled (max 0.026 over 20 draws); a 5-year shift 0.239 in full and 0.238 +- 0.010
sampled; so the sampled verdict differs from the full one only for shifts within about 0.02 of the
0.1 threshold. What sampling gives up is p-value tests on the whole window, which at 1M rows flag any
negligible shift anyway. The 384-d input features are summarized before comparison: per-dimension
drift with the same normed Wasserstein statistic, vectorized in numpy on ``feature_rows`` rows, and
embedding drift with Evidently 0.7's domain-classifier method (``ModelDriftMethod``) on
``embedding_rows`` rows, called directly because its metric wrapper runs a t-SNE for the plot that
costs a minute on 5k rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.metrics import DriftedColumnsCount, ValueDrift
from evidently.metrics.embeddings import ModelDriftMethod

NUMERIC = ("age", "probability", "age_estimate")
CATEGORICAL = ("age_group", "gender", "noise_level", "label")
NUM_METHOD, CAT_METHOD = "wasserstein", "jensenshannon"


def age_groups(ages: pd.Series, groups: Mapping[str, tuple[int, int]]) -> pd.Series:
    """Age group names for ages (bounds inclusive); missing or out-of-range ages give NaN."""
    out = pd.Series(np.nan, index=ages.index, dtype=object)
    for name, (low, high) in groups.items():
        out[(ages >= low) & (ages <= high)] = name
    return out


def with_age_group(frame: pd.DataFrame, groups: Mapping[str, tuple[int, int]]) -> pd.DataFrame:
    if "age" not in frame:
        raise ValueError("age: the window has no age metadata; drift by age group needs it")
    # metadata passes through requests as JSON: an age may arrive as a string
    ages = pd.to_numeric(frame["age"], errors="coerce")
    return frame.assign(age=ages, age_group=age_groups(ages, groups))


def sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """A seeded uniform sample of at most ``rows`` rows, shuffled (so any prefix is uniform too)."""
    return frame.sample(n=min(rows, len(frame)), random_state=seed)


def feature_matrix(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A list column of equal-length vectors as an [n, D] float32 array."""
    if column not in frame:
        raise ValueError(f"{column}: not in the window; its input summaries are missing")
    values = frame[column].to_numpy()
    widths = {len(v) for v in values}
    if len(widths) > 1:
        raise ValueError(f"{column}: vectors of different lengths {sorted(widths)[:5]}")
    return np.stack(values).astype(np.float32) if len(values) else np.zeros((0, 0), np.float32)


def normed_wasserstein(current: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per column: W1(reference, current) / std(reference), Evidently's "wasserstein" statistic.

    Vectorized over columns via quantile functions: W1 = integral over p of |Q_ref(p) - Q_cur(p)|,
    both step functions whose breakpoints (i/n, j/m) are shared by every column.
    """
    ref, cur = np.sort(reference, axis=0), np.sort(current, axis=0)
    n, m = len(ref), len(cur)
    edges = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    widths = np.diff(edges, prepend=0.0)
    middle = edges - widths / 2
    q_ref = ref[np.minimum((middle * n).astype(int), n - 1)]
    q_cur = cur[np.minimum((middle * m).astype(int), m - 1)]
    distance = (widths[:, None] * np.abs(q_ref - q_cur)).sum(axis=0)
    return distance / np.maximum(reference.std(axis=0), 0.001)


def dimension_drift(
    current: np.ndarray,
    reference: np.ndarray,
    threshold: float,
    *,
    seed: int,
    null_draws: int = 3,
    top: int = 5,
) -> dict:
    """Per-dimension drift of summary vectors: the share of dimensions whose score reaches the threshold.

    The threshold is raised to the sampling noise floor when that is higher: the 99th percentile of
    the scores of ``null_draws`` random re-splits of the pooled rows (no drift by construction),
    since on a few hundred rows a 0.1 normed distance is often chance alone.
    """
    scores = normed_wasserstein(current, reference)
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([current, reference])
    null = []
    for _ in range(null_draws):
        order = rng.permutation(len(pooled))
        null.append(normed_wasserstein(pooled[order[: len(current)]], pooled[order[len(current) :]]))
    floor = float(np.quantile(np.concatenate(null), 0.99)) if null else 0.0
    effective = max(threshold, floor)
    order = np.argsort(scores)[::-1][:top]
    return {
        "method": "normed Wasserstein per dimension",
        "dimensions": int(scores.size),
        "threshold": effective,
        "noise_floor": floor,
        "drifted_share": float(np.mean(scores >= effective)),
        "mean_score": float(scores.mean()),
        "top": {f"dim_{int(k)}": float(scores[k]) for k in order},
    }


def embedding_drift(current: np.ndarray, reference: np.ndarray, threshold: float) -> dict:
    """Evidently 0.7's domain-classifier embedding drift: ROC AUC of telling current from reference."""
    columns = [f"e{k}" for k in range(current.shape[1])]
    # Evidently's own rule: below 1000 reference rows, compare with a bootstrap of random AUCs
    method = ModelDriftMethod(threshold=threshold, bootstrap=len(reference) < 1000)
    score, drifted, _ = method(
        pd.DataFrame(current, columns=columns), pd.DataFrame(reference, columns=columns)
    )
    return {"method": "domain classifier ROC AUC", "score": float(score), "drifted": bool(drifted)}


def _columns(
    current: pd.DataFrame, reference: pd.DataFrame, exclude: tuple[str, ...]
) -> dict[str, list[str]]:
    """Scalar columns both sides have with some values (noise level only where known)."""

    def usable(name: str) -> bool:
        return all(name in f and f[name].notna().any() for f in (current, reference)) and name not in exclude

    def numeric(name: str) -> bool:
        return all(pd.api.types.is_numeric_dtype(f[name]) for f in (current, reference))

    candidates = [c for c in (*NUMERIC, *CATEGORICAL) if usable(c)]
    # noise level is a category ("low") or a number (dBA) depending on the client: compare it as it is
    return {
        "numerical": [c for c in candidates if c in NUMERIC or (c == "noise_level" and numeric(c))],
        "categorical": [
            c for c in candidates if c in CATEGORICAL and not (c == "noise_level" and numeric(c))
        ],
    }


def _evidently(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    columns: dict[str, list[str]],
    thresholds: Mapping[str, float],
    run: Mapping[str, Any],
) -> tuple[dict[str, dict], Snapshot]:
    """Evidently drift of each scalar column (plus feature components) on already-sampled frames."""
    scalar = columns["numerical"] + columns["categorical"]
    numeric = columns["numerical"] + columns.get("components", [])
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=columns["categorical"])

    def dataset(frame: pd.DataFrame) -> Dataset:
        table = frame[numeric + columns["categorical"]].copy()
        table[columns["categorical"]] = table[columns["categorical"]].astype(str)
        return Dataset.from_pandas(table, data_definition=definition)

    def method(column: str) -> tuple[str, float]:
        if column in columns["categorical"]:
            return CAT_METHOD, thresholds["categorical"]
        return NUM_METHOD, thresholds["numerical"]

    metrics = [
        # the share the UI charts over time; the per-column verdicts below come from ValueDrift
        DriftedColumnsCount(
            columns=scalar,
            num_method=NUM_METHOD,
            cat_method=CAT_METHOD,
            num_threshold=thresholds["numerical"],
            cat_threshold=thresholds["categorical"],
        )
    ] + [
        ValueDrift(column=c, method=method(c)[0], threshold=method(c)[1])
        for c in numeric + columns["categorical"]
    ]
    snapshot = Report(metrics).run(dataset(current), dataset(reference), **run)
    results = {}
    for entry in snapshot.dict()["metrics"]:
        config = entry["config"]
        if config["type"].endswith("ValueDrift"):
            name, threshold = config["column"], method(config["column"])[1]
            score = float(entry["value"])
            # both methods are distances: drift when at or over the threshold (as Evidently decides)
            results[name] = {
                "method": config["method"],
                "score": score,
                "threshold": threshold,
                "drifted": score >= threshold,
            }
    return results, snapshot


def _with_components(frame: pd.DataFrame, feature: str, center: np.ndarray, axes: np.ndarray) -> pd.DataFrame:
    """``frame`` plus its features' projections on ``axes`` as ``{feature}_pc1``, ... columns."""
    projected = (feature_matrix(frame, feature) - center) @ axes.T
    return frame.assign(**{f"{feature}_pc{j + 1}": projected[:, j] for j in range(len(axes))})


def scope_drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    config: Mapping[str, Any],
    *,
    exclude: tuple[str, ...] = (),
    components: int = 0,
    run: Mapping[str, Any] | None = None,
) -> tuple[dict, Snapshot]:
    """Drift of one scope (the whole window or one age group) on seeded samples of both sides;
    ``components`` principal components of the features go to Evidently too (for the UI)."""
    drift = config["drift"]
    cur = sample(current, drift["sample_rows"], drift["seed"])
    ref = sample(reference, drift["sample_rows"], drift["seed"] + 1)
    columns = _columns(cur, ref, exclude)
    feature, rows = drift["feature_column"], drift["feature_rows"]
    # the samples are shuffled, so a prefix is a uniform subsample
    cur_x, ref_x = feature_matrix(cur.iloc[:rows], feature), feature_matrix(ref.iloc[:rows], feature)
    columns["components"] = [f"{feature}_pc{j + 1}" for j in range(min(components, len(ref_x)))]
    if columns["components"]:
        # the reference's principal axes, so the UI can chart the features' drift over time
        center = ref_x.mean(axis=0)
        axes = np.linalg.svd(ref_x - center, full_matrices=False)[2][: len(columns["components"])]
        cur, ref = _with_components(cur, feature, center, axes), _with_components(ref, feature, center, axes)
    values, snapshot = _evidently(cur, ref, columns, drift["thresholds"], run or {})
    scalar = {c: values[c] for c in columns["numerical"] + columns["categorical"]}
    drifted = sum(v["drifted"] for v in scalar.values())
    result = {
        "rows": {"current": len(current), "reference": len(reference)},
        "sampled": {"current": len(cur), "reference": len(ref)},
        "columns": scalar,
        "drifted_columns": drifted,
        "drift_share": drifted / len(scalar) if scalar else None,
        "features": dimension_drift(
            cur_x, ref_x, drift["thresholds"]["numerical"], seed=drift["seed"], null_draws=drift["null_draws"]
        ),
        "components": {c: values[c] for c in columns["components"]},
        "embedding": embedding_drift(
            cur_x[: drift["embedding_rows"]],
            ref_x[: drift["embedding_rows"]],
            drift["thresholds"]["embedding_auc"],
        ),
        "positive_rate": {
            side: float(frame["label"].mean()) if "label" in frame and frame["label"].notna().any() else None
            for side, frame in (("current", current), ("reference", reference))
        },
        "mean_probability": {
            side: float(frame["probability"].mean()) if "probability" in frame else None
            for side, frame in (("current", current), ("reference", reference))
        },
    }
    return result, snapshot


def drift_report(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    config: Mapping[str, Any],
    *,
    tags: tuple[str, ...] = (),
    timestamp: datetime | None = None,
) -> tuple[dict, dict[str, Snapshot]]:
    """Drift overall and per age group: ``({"overall": ..., "<group>": ...}, {scope: snapshot})``.

    A group with fewer than ``min_group_rows`` rows on either side is reported as skipped; each
    snapshot is tagged with ``tags`` and its scope, and dated ``timestamp`` (the window's end).
    """

    def run(scope: str) -> dict[str, Any]:
        return {"tags": [*tags, f"scope:{scope}"], "timestamp": timestamp, "name": scope}

    groups = config["age_groups"]
    current, reference = with_age_group(current, groups), with_age_group(reference, groups)
    result, snapshots = {}, {}
    result["overall"], snapshots["overall"] = scope_drift(
        current, reference, config, components=config["drift"]["components"], run=run("overall")
    )
    floor = config["drift"]["min_group_rows"]
    for name in groups:
        cur, ref = current[current["age_group"] == name], reference[reference["age_group"] == name]
        if min(len(cur), len(ref)) < floor:
            result[name] = {
                "rows": {"current": len(cur), "reference": len(ref)},
                "skipped": f"fewer than {floor} rows on a side",
            }
            continue
        result[name], snapshots[name] = scope_drift(cur, ref, config, exclude=("age_group",), run=run(name))
    return result, snapshots
