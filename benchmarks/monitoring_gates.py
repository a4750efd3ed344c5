"""The hearing-loss monitoring gates as a detector: false alarms on windows drawn like the reference,
detection of planted shifts, at the demo's scale and at the paper's cohort size (issue 15).

Each trial draws a fresh reference and a fresh window from ``models.hearing_loss.traffic``'s synthetic
population of logged inferences (labelled as synthetic: no model is trained; the score depends on
hearing loss, which is more common in the old, as in the paper's Table 1), builds the monitoring
report with the window's labels joined, and checks it against the family's thresholds
(models/hearing_loss/monitoring.yaml). The reference is what a registered version logs: every
subject it was developed on, its answers on the held-out fifth only. A condition's rate is the share of
its trials in which each gate fired (``any``: at least one), with a 95% Wilson interval.

The shifts, fixed before any was measured: the young (18-39) 85% of the window's subjects (the demo's
drifted window); 80% female instead of half; the model's logit +1 for the young (their scores move);
the model blind to the young's condition (its logit noise alone for them: a fairness gap).

Thresholds (``--calibrate``): on windows like the reference drawn from seeds the measurement never
uses, each gate's threshold is the quantile of what it reads that it crosses in at most 5% / (number
of gates) of them, at each scale; the default is the full scale's, rounded outward, so that a report
of a production-sized window has at most about a 5% chance of any false alarm (Bonferroni); a window
of the demo's size has more, as the measurement shows. A threshold is only ever loosened this way,
never tightened: the synthetic population is tidier than real traffic (its input summaries are
independent across a subject's segments, a real subject's are not), so a threshold tighter than the
configured policy value would be tuned to the simulation.

Usage: python -m benchmarks.monitoring_gates [--calibrate] [--trials N] [--quick]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmarks.results import write_section

ROWS_PER_SUBJECT = 20  # segments a subject sends in a window (the demo's 6-minute sessions: ~20)
DEFAULT_SCALE = "full"  # the thresholds are set for windows of production size
CALIBRATION_SEED = 1_000_000  # calibration windows never share a seed with the measured ones
FALSE_ALARM = 0.05  # per report, any gate


@dataclass(frozen=True)
class Scale:
    reference_subjects: int  # subjects the version was developed on
    answered: int  # of them, held out: the version's answers in the reference
    window_subjects: int


SCALES = {
    # the demo: 80 subjects, fold 0 held out (16); its reference-like window holds 48 subjects
    "demo": Scale(80, 16, 48),
    # the paper's cohort (178 subjects, 5 folds: ~36 held out); a window of as many new subjects
    "full": Scale(178, 36, 178),
}

CONDITIONS: Mapping[str, Mapping[str, object]] = {
    "like the reference": {},
    "age mix shifted young (85%)": {"young_share": 0.85},
    "gender mix (80% female)": {"female_share": 0.8},
    "score shift in the young (+1 logit)": {"young_logit_shift": 1.0},
    "fairness gap in the young (blind)": {"young_blind": True},
}


Readings = dict[str, list]  # gate -> its monitoring.gates.Reading per scope


def _trial(scale: str, condition: str, trial: int, seed_base: int = 0) -> Readings:
    """What each gate read in one report (``monitoring.gates.readings``)."""
    from models.hearing_loss.traffic import synthetic_reference, synthetic_window
    from monitoring.config import load_config
    from monitoring.gates import readings
    from monitoring.report import build_report

    config = load_config("hearing_loss")
    size = SCALES[scale]
    seed = seed_base + 2 * trial
    reference = synthetic_reference(
        size.reference_subjects * ROWS_PER_SUBJECT,
        seed=seed,
        subjects=size.reference_subjects,
        answered=size.answered,
    )
    window, labels = synthetic_window(
        size.window_subjects * ROWS_PER_SUBJECT,
        seed=seed + 1,
        subjects=size.window_subjects,
        **CONDITIONS[condition],
    )
    report = build_report(window, reference, labels, config=config)
    return readings(report, list(config["thresholds"]))


def fires(kind: str, found: list, threshold: float) -> bool:
    from monitoring.gates import crossed

    return any(crossed(kind, reading, threshold) is not None for reading in found)


def statistic(kind: str, found: list) -> float:
    """One number per report that crosses a threshold exactly when the gate fires: a ceiling's
    largest value above its chance level, a floor's smallest value."""
    if kind == "ceiling":
        return max((r.value for r in found if r.raise_to is None or r.value > r.raise_to), default=-math.inf)
    return min((r.value for r in found), default=math.inf)


def _run(jobs: list[tuple], workers: int) -> list[Readings]:
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_trial, *zip(*jobs, strict=True), chunksize=4))


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a rate of ``hits`` in ``n``."""
    if n == 0:
        return (math.nan, math.nan)
    p = hits / n
    middle = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, middle - half), min(1.0, middle + half))


def _rate(hits: int, n: int) -> str:
    low, high = wilson(hits, n)
    return f"{100 * hits / n:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"


def run(trials: Mapping[str, int], workers: int) -> pd.DataFrame:
    """The share of reports in which each gate, at the family's thresholds, fired."""
    from monitoring.config import load_config
    from monitoring.gates import kind_of

    thresholds = load_config("hearing_loss")["thresholds"]
    jobs = [(s, c, t) for s in SCALES for c in CONDITIONS for t in range(trials[c])]
    read = _run(jobs, workers)
    rows = []
    for scale in SCALES:
        for condition in CONDITIONS:
            got = [r for (s, c, _), r in zip(jobs, read, strict=True) if (s, c) == (scale, condition)]
            fired = [{g for g, t in thresholds.items() if fires(kind_of(g), r[g], t)} for r in got]
            row = {
                "scale": scale,
                "window": condition,
                "trials": len(got),
                "any gate": _rate(sum(map(bool, fired)), len(got)),
            }
            row |= {gate: _rate(sum(gate in f for f in fired), len(got)) for gate in thresholds}
            rows.append(row)
    return pd.DataFrame(rows)


def calibrate(trials: int, workers: int) -> pd.DataFrame:
    """Per gate and scale, the threshold a window like the reference crosses with probability at
    most FALSE_ALARM / gates (from ``trials`` windows on seeds of their own), and the default (the
    DEFAULT_SCALE's, where it is looser than the configured value)."""
    from monitoring.config import load_config
    from monitoring.gates import kind_of

    thresholds = load_config("hearing_loss")["thresholds"]
    level = FALSE_ALARM / len(thresholds)
    jobs = [(s, "like the reference", t, CALIBRATION_SEED) for s in SCALES for t in range(trials)]
    read = _run(jobs, workers)
    rows = []
    for gate, configured in thresholds.items():
        kind = kind_of(gate)
        row: dict[str, object] = {"gate": gate, "kind": kind, "configured": configured}
        found = []
        for scale in SCALES:
            values = [statistic(kind, r[gate]) for (s, *_), r in zip(jobs, read, strict=True) if s == scale]
            q = np.quantile(values, 1 - level if kind == "ceiling" else level, method="inverted_cdf")
            row[f"{scale} quantile"] = q if math.isfinite(q) else None
            found.append(q)
        lenient = found[list(SCALES).index(DEFAULT_SCALE)]
        # rounded outward, and only ever looser than the configured value (a ceiling that no null
        # window crosses above its chance level keeps it)
        if not math.isfinite(lenient):
            row["default"] = configured
        elif kind == "ceiling":
            row["default"] = max(configured, math.ceil(lenient * 100) / 100)
        else:
            row["default"] = min(configured, math.floor(lenient * 100) / 100)
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrate", action="store_true", help="set the thresholds (writes their section)")
    parser.add_argument("--trials", type=int, default=100, help="windows like the reference per scale")
    parser.add_argument("--shift-trials", type=int, default=50, help="windows per planted shift and scale")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="10 and 5 trials; prints, writes nothing")
    args = parser.parse_args(argv)
    null, shifted = (10, 5) if args.quick else (args.trials, args.shift_trials)
    start = time.perf_counter()
    if args.calibrate:
        table = calibrate(null, args.workers)
    else:
        table = run({c: null if not shift else shifted for c, shift in CONDITIONS.items()}, args.workers)
    seconds = time.perf_counter() - start
    print(table.to_string(index=False))
    print(f"{seconds:.0f} s")
    if args.quick:
        return
    method = __doc__.split("\n\nUsage")[0]
    if args.calibrate:
        notes = (
            method
            + f"\n\n{null} windows like the reference per scale (seeds from {CALIBRATION_SEED}); a quantile"
            + f" at level {FALSE_ALARM}/{len(table)} (ceilings: its upper tail); `default`: what"
            + " models/hearing_loss/monitoring.yaml then holds. A quantile of none: no window crossed"
            + f" the gate's chance level. {seconds:.0f} s. Rerun: `python -m benchmarks.monitoring_gates"
            + " --calibrate`."
        )
        write_section(
            "Monitoring gate thresholds (hearing loss), set on windows like the reference", table, notes
        )
        return
    notes = (
        method
        + f"\n\nEach cell: the share of trials in which the gate fired [95% Wilson interval]; {seconds:.0f} s"
        + " in all. Rerun: `python -m benchmarks.monitoring_gates`."
    )
    write_section("Monitoring gates as a detector (hearing loss)", table, notes)


if __name__ == "__main__":
    main()
