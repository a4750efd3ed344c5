"""Group fairness of a binary classifier with bootstrap confidence intervals.

Point values come from fairlearn's MetricFrame; intervals from a percentile bootstrap over
confusion counts, resampling whole clusters (subjects) when given, since one subject's segments
are correlated and a row bootstrap would make the intervals too narrow.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

# confusion cells, in the order the count arrays hold them
TP, FP, FN, TN = range(4)
GROUP_METRICS = ("f1", "tpr", "fpr", "selection_rate")
BOOT_CHUNK = 64  # bootstrap replicates drawn at once: bounds the weight matrix to 64 x clusters


def _cells(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    return np.where(y_true == 1, np.where(y_pred == 1, TP, FN), np.where(y_pred == 1, FP, TN))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Group metrics from confusion counts [..., 4]; NaN where undefined (no positives for F1 and
    TPR, no negatives for FPR)."""
    tp, fp, fn, tn = (counts[..., k].astype(np.float64) for k in (TP, FP, FN, TN))
    positives = tp + fn
    # F1 of a group with no positives is undefined, not 0: nothing there could be detected
    f1 = np.where(positives > 0, _ratio(2 * tp, 2 * tp + fp + fn), np.nan)
    return {
        "f1": f1,
        "tpr": _ratio(tp, positives),
        "fpr": _ratio(fp, fp + tn),
        "selection_rate": _ratio(tp + fp, tp + fp + fn + tn),
    }


def _spread(values: np.ndarray) -> np.ndarray:
    """Largest minus smallest over the last axis (groups), skipping undefined groups; NaN when fewer
    than two groups are defined (as MetricFrame.difference skips NaN groups)."""
    defined = np.sum(~np.isnan(values), axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: masked below
        gap = np.nanmax(values, axis=-1) - np.nanmin(values, axis=-1)
    return np.where(defined >= 2, gap, np.nan)


def _summaries(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Group metrics and the three gaps from counts [..., groups, 4]."""
    rates = _rates(counts)
    tpr_gap, fpr_gap = _spread(rates["tpr"]), _spread(rates["fpr"])
    return {
        **rates,
        "f1_gap": _spread(rates["f1"]),
        "demographic_parity_difference": _spread(rates["selection_rate"]),
        # fairlearn's equalized_odds_difference, agg="worst_case": the larger of the two gaps
        "equalized_odds_difference": np.fmax(tpr_gap, fpr_gap),
    }


def _number(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def _check(
    y_true, y_pred, sensitive, clusters
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray | None]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = len(y_true)
    if n == 0:
        raise ValueError("y_true: empty; fairness needs at least one labelled prediction")
    if len(y_pred) != n:
        raise ValueError(f"y_pred: {len(y_pred)} values for {n} labels in y_true")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        bad = set(pd.unique(values)) - {0, 1}
        if bad:
            raise ValueError(f"{name}: labels must be 0 or 1, got {sorted(map(str, bad))[:5]}")
    if not sensitive:
        raise ValueError("sensitive: name at least one sensitive feature")
    features = {}
    for name, values in sensitive.items():
        values = np.asarray(values, dtype=object)
        if len(values) != n:
            raise ValueError(f"sensitive[{name!r}]: {len(values)} values for {n} labels")
        if pd.isna(values).any():
            missing = int(pd.isna(values).sum())
            raise ValueError(f"sensitive[{name!r}]: {missing} missing values; drop or fill them first")
        features[name] = values.astype(str)
    cluster_ids = None
    if clusters is not None:
        clusters = np.asarray(clusters, dtype=object)
        if len(clusters) != n or pd.isna(clusters).any():
            raise ValueError(f"clusters: need one non-missing id per row ({n}), got {len(clusters)} values")
        cluster_ids = pd.factorize(clusters)[0]
    return y_true.astype(int), y_pred.astype(int), features, cluster_ids


def _bootstrap(
    cells: np.ndarray, groups: np.ndarray, n_groups: int, clusters: np.ndarray | None, n_boot: int, seed: int
) -> tuple[np.ndarray, int]:
    """Resampled counts [kept, groups, 4] and how many replicates were skipped (a group or one of
    its classes missing)."""
    rng = np.random.default_rng(seed)
    full = np.bincount(groups * 4 + cells, minlength=n_groups * 4)
    if clusters is None:
        # a row bootstrap is a multinomial draw over the (group, cell) categories: exact and O(categories)
        draws = rng.multinomial(len(cells), full / full.sum(), size=n_boot)
    else:
        n_clusters = int(clusters.max()) + 1
        width = n_groups * 4
        per_cluster = np.bincount(clusters * width + groups * 4 + cells, minlength=n_clusters * width)
        per_cluster = per_cluster.reshape(n_clusters, width).astype(np.float64)
        parts = []
        for start in range(0, n_boot, BOOT_CHUNK):
            size = min(BOOT_CHUNK, n_boot - start)
            weights = rng.multinomial(n_clusters, np.full(n_clusters, 1 / n_clusters), size=size)
            parts.append(weights @ per_cluster)
        draws = np.concatenate(parts) if parts else np.zeros((0, n_groups * 4))
    draws = draws.reshape(-1, n_groups, 4)
    full = full.reshape(n_groups, 4)
    had_pos, had_neg = full[:, TP] + full[:, FN] > 0, full[:, FP] + full[:, TN] > 0
    pos, neg = draws[..., TP] + draws[..., FN], draws[..., FP] + draws[..., TN]
    kept = ((pos + neg) > 0) & ((pos > 0) | ~had_pos) & ((neg > 0) | ~had_neg)
    kept = kept.all(axis=1)
    return draws[kept], int((~kept).sum())


def _interval(value: float | None, samples: np.ndarray, confidence: float) -> dict[str, float | None]:
    samples = samples[~np.isnan(samples)]
    if value is None or samples.size == 0:
        return {"value": value, "low": None, "high": None}
    tail = (1 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1 - tail])
    return {"value": value, "low": float(low), "high": float(high)}


def _metric_frame(y_true: np.ndarray, y_pred: np.ndarray, feature: np.ndarray) -> pd.DataFrame:
    """Point values per group via fairlearn, with this module's undefined-is-NaN rule.

    Rows are first collapsed to their distinct (group, label, prediction) triples, weighted by how
    often each occurs: the metrics are functions of confusion counts, so this is exact, and it keeps
    MetricFrame's per-row Python work from dominating on a million-row window.
    """
    triples = pd.DataFrame({"group": feature, "t": y_true, "p": y_pred})
    collapsed = triples.groupby(["group", "t", "p"], sort=False).size().reset_index(name="weight")

    def metric(name: str):
        def weighted(t, p, sample_weight) -> float:
            counts = np.bincount(_cells(np.asarray(t), np.asarray(p)), weights=sample_weight, minlength=4)
            return float(_rates(counts)[name])

        return weighted

    metrics = {name: metric(name) for name in GROUP_METRICS} | {
        "n": lambda t, p, sample_weight: sample_weight.sum()
    }
    frame = MetricFrame(
        metrics=metrics,
        y_true=collapsed["t"].to_numpy(),
        y_pred=collapsed["p"].to_numpy(),
        sensitive_features=collapsed["group"].rename("group"),
        sample_params={name: {"sample_weight": collapsed["weight"].to_numpy()} for name in metrics},
    )
    return frame.by_group


def fairness_report(
    y_true,
    y_pred,
    sensitive: Mapping[str, Any],
    *,
    clusters=None,
    n_boot: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict:
    """Per sensitive feature: F1, TPR, FPR and selection rate per group, the F1 gap, demographic
    parity and equalized odds differences, each ``{"value", "low", "high"}`` (None where undefined).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: must lie in (0, 1), got {confidence}")
    if n_boot < 0:
        raise ValueError(f"n_boot: must be >= 0, got {n_boot}")
    y_true, y_pred, features, cluster_ids = _check(y_true, y_pred, sensitive, clusters)
    cells = _cells(y_true, y_pred)
    report: dict[str, Any] = {}
    for offset, (name, feature) in enumerate(features.items()):
        by_group = _metric_frame(y_true, y_pred, feature)
        names = [str(g) for g in by_group.index]
        codes = pd.Categorical(feature, categories=names).codes
        counts = np.stack([np.bincount(cells[codes == k], minlength=4) for k in range(len(names))])
        point = _summaries(counts)
        samples, skipped = _bootstrap(cells, codes, len(names), cluster_ids, n_boot, seed + offset)
        boot = _summaries(samples)
        groups = {}
        for k, group in enumerate(names):
            entry: dict[str, Any] = {"n": int(by_group.loc[group, "n"])}
            for metric in GROUP_METRICS:
                value = _number(by_group.loc[group, metric])
                entry[metric] = _interval(value, boot[metric][:, k], confidence)
            groups[group] = entry
        report[name] = {
            "groups": groups,
            **{
                key: _interval(_number(point[key]), boot[key], confidence)
                for key in ("f1_gap", "demographic_parity_difference", "equalized_odds_difference")
            },
            "bootstrap": {
                "n_boot": n_boot,
                "skipped": skipped,
                "unit": "row" if clusters is None else "cluster",
                "confidence": confidence,
            },
        }
    return report


def overall_interval(
    y_true,
    y_pred,
    metric: str = "f1",
    *,
    clusters=None,
    n_boot: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, float | None]:
    """One of ``GROUP_METRICS`` over all rows, ``{"value", "low", "high"}``, with the same bootstrap as
    the per-group intervals (whole clusters resampled when given): the whole population as one group."""
    if metric not in GROUP_METRICS:
        raise ValueError(f"metric: one of {GROUP_METRICS}, got {metric!r}")
    everyone = np.zeros(len(np.asarray(y_true)), dtype=np.int64)
    report = fairness_report(
        y_true, y_pred, {"all": everyone}, clusters=clusters, n_boot=n_boot, seed=seed, confidence=confidence
    )
    return report["all"]["groups"]["0"][metric]


def flatten_fairness(report: Mapping[str, Any], feature: str) -> dict[str, float | None]:
    """Flat keys a metric gate reads: ``f1_<group>``, ``f1_gap``, ... each with ``_low`` / ``_high``."""
    if feature not in report:
        raise KeyError(f"feature {feature!r} is not in the fairness report (it has {sorted(report)})")
    part = report[feature]
    flat: dict[str, float | None] = {}

    def put(key: str, interval: Mapping[str, float | None]) -> None:
        flat[key] = interval["value"]
        flat[f"{key}_low"], flat[f"{key}_high"] = interval["low"], interval["high"]

    for group, entry in part["groups"].items():
        for metric in GROUP_METRICS:
            put(f"{metric}_{group}", entry[metric])
    for key in ("f1_gap", "demographic_parity_difference", "equalized_odds_difference"):
        put(key, part[key])
    return flat
