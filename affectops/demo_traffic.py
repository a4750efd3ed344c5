"""The demo after promotion: serve the champion locally, call it with the kserve client, watch it.

The model server (``affectops serve``) logs every inference to the sink (``affectops monitor sink``),
both child processes on loopback. A held-out slice checks the served accuracy; then two windows of
traffic, one drawn like the reference and one from a cohort that is mostly young, are labelled and
reported: drift must show in the second and not in the first.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from affectops.console import Console
from affectops.local_services import free_port, running, send, wait_stored
from core.settings import Settings
from models.hearing_loss.synth import PLATFORM_COHORT

FAMILY = "hearing_loss"
YOUNG_SHARE_DRIFTED = 0.85


def _cohort(settings: Settings, name: str, seed: int, subjects: int) -> Path:
    """A fresh synthetic cohort of the demo's make, split into folds (for its anchors)."""
    import shutil

    from components.split import split_cohort
    from models import get_family

    spec = get_family(FAMILY)
    cohort = settings.home / "datasets" / name
    shutil.rmtree(cohort, ignore_errors=True)
    config = spec.data.synth_config(
        subjects=subjects, session_seconds=(330.0, 390.0), seed=seed, **PLATFORM_COHORT
    )
    spec.data.synthesize(config, cohort)
    split_cohort(cohort, 5, seed)
    return cohort


def _traffic(cohort: Path, prefix: str, *, young_share: float | None, seed: int) -> tuple[list, pd.DataFrame]:
    """Requests for the cohort's segments and its subjects' labels; with ``young_share``, every young
    subject and just enough whole other subjects that the young are that share of the SUBJECTS (drift
    is judged per subject: monitoring/drift.py)."""
    from models.hearing_loss.data import load_split
    from models.hearing_loss.requests import segment_requests

    frame = load_split(cohort)
    rows = frame
    if young_share is not None:
        subjects = frame.groupby("subject_id")["age_group"].first()
        young = subjects.index[subjects == "young"]
        others = subjects.index[subjects != "young"].to_series().sample(frac=1.0, random_state=seed)
        keep = round(len(young) * (1 - young_share) / young_share)
        rows = frame[frame["subject_id"].isin([*young, *others.iloc[:keep]])]
    labels = rows.groupby("subject_id")["hearing_loss"].max().rename_axis("subject_pseudonym").reset_index()
    labels["subject_pseudonym"] = prefix + labels["subject_pseudonym"]
    return list(segment_requests(cohort, rows, pseudonym_prefix=prefix)), labels


def _drift_line(name: str, result) -> str:
    """The window's verdict is the drift gate's (monitoring.yaml): single columns drift by chance at 5%."""
    overall = result.report["drift"]["overall"]
    drifted = [column for column, value in overall["columns"].items() if value["drifted"]]
    breaches = [
        b.message
        for b in result.breaches
        if b.metric.startswith(("drift_share", "feature_drift", "embedding"))
    ]
    verdict = "DRIFT DETECTED" if breaches else "no drift detected"
    detail = "; ".join(breaches) if breaches else "drift gates passed"
    return f"{name}: {verdict} ({detail}; drifted columns: {', '.join(drifted) or 'none'})"


def serve_and_monitor(
    console: Console,
    settings: Settings,
    split: Path,
    holdout: int,
    *,
    seed: int,
    subjects: int,
    reference_like_subjects: int | None = None,
) -> int:
    """The serving and monitoring half of the demo; an exit code. Each window's traffic comes from a
    fresh cohort of ``subjects`` subjects (the reference-like one: ``reference_like_subjects``)."""
    from affectops.cli_monitoring import format_result
    from models.hearing_loss.data import load_split
    from models.hearing_loss.requests import segment_requests
    from monitoring.job import report_window
    from monitoring.labels import add_labels
    from monitoring.store import default_root

    sink_port, http_port, grpc_port = free_port(), free_port(), free_port()
    sink_url, url = f"http://127.0.0.1:{sink_port}", f"http://127.0.0.1:{http_port}"
    store = default_root(settings)
    logs = settings.home / "logs"
    sink_args = ["monitor", "sink", "--port", str(sink_port), "--compact-interval", "5"]
    serve_args = ["serve", f"{FAMILY}@champion", "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    serve_args += ["--log-url", sink_url]
    with ExitStack() as services:

        def start_services() -> None:
            services.enter_context(running(sink_args, logs / "sink.log", f"{sink_url}/healthz"))
            services.enter_context(running(serve_args, logs / "serve.log", f"{url}/v2/models/{FAMILY}/ready"))

        console.step(f"start the model server ({FAMILY}@champion) and the inference-log sink", start_services)
        console.print(f"   serving on {url} (v2 REST), logging to the sink on {sink_url}; logs in {logs}")
        frame = load_split(split)
        held_out = frame[frame["fold"] == holdout]
        requests = list(segment_requests(split, held_out, pseudonym_prefix="demo-"))
        answers = console.step(
            f"send the held-out fold's {len(requests)} segments through the kserve client",
            lambda: send(url, FAMILY, requests),
        )
        outputs = [{name: float(value.reshape(-1)[0]) for name, value in out.items()} for out in answers]
        predicted = np.array([int(out["label"]) for out in outputs])
        accuracy = float((predicted == held_out["hearing_loss"].to_numpy()).mean())
        for (_, segment), out in list(zip(held_out.iterrows(), outputs, strict=True))[:3]:
            console.print(
                f"  {segment['segment_id']}: p = {out['probability']:.2f}, label {int(out['label'])} "
                f"(truth {int(segment['hearing_loss'])}), "
                f"age estimate {out.get('age_estimate', float('nan')):.0f} (true age {int(segment['age'])})"
            )
        console.print(
            f"held-out slice over the kserve client: accuracy {accuracy:.3f} on {len(held_out)} segments"
        )
        sent = len(held_out)
        wait_stored(sink_url, 2 * sent)  # logged before the first window opens: windows are by log time

        windows = {}
        for name, window_seed, young_share, size in (
            ("reference-like window", seed + 101, None, reference_like_subjects or subjects),
            ("drifted window (mostly young)", seed + 202, YOUNG_SHARE_DRIFTED, subjects),
        ):
            cohort = _cohort(settings, f"traffic-{window_seed}", window_seed, size)
            requests, labels = _traffic(cohort, f"w{window_seed}-", young_share=young_share, seed=window_seed)
            start = datetime.now(UTC)
            console.step(
                f"send the {name}: {len(requests)} requests of {labels.shape[0]} subjects",
                lambda requests=requests: send(url, FAMILY, requests),
            )
            sent += len(requests)
            wait_stored(sink_url, 2 * sent)
            windows[name] = (start, datetime.now(UTC))
            add_labels(labels, store)

    for name, (start, end) in windows.items():
        result = console.step(
            f"monitoring report on the {name} (drift, fairness by age group, age probe)",
            lambda start=start, end=end: report_window(
                FAMILY, settings=settings, store_root=store, start=start, end=end
            ),
        )
        console.print(f"=== {name}")
        console.print(format_result(result))
        console.print()
        windows[name] = result
    for name, result in windows.items():
        console.print(_drift_line(name, result))
    return 0
