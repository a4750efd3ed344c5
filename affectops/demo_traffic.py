"""The demo after promotion: serve the champion locally, call it with the kserve client, watch it.

The model server (``affectops serve``) logs every inference to the sink (``affectops monitor sink``),
both child processes on loopback. A held-out slice checks the served accuracy; then two windows of
the family's synthetic traffic (its ``monitor.traffic``), one drawn like the reference and one of
its shifted population (for the headline family: mostly young), are labelled and reported: drift
must show in the second and not in the first.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from affectops.console import Console
from affectops.local_services import free_port, running, send, wait_stored
from core.settings import Settings
from models import DEFAULT_FAMILY as FAMILY
from models import get_family
from models.contract import FamilySpec, Holdout, KFolds

HELD_OUT_PREFIX = "demo-"  # the held-out slice's request ids and units in the inference log


def _cohort(
    spec: FamilySpec, settings: Settings, name: str, seed: int, subjects: int, trained_on: Any
) -> Path:
    """Fresh subjects of the population the served model was trained on (``trained_on``: its cohort's
    synth config), split (for its anchors)."""
    import shutil

    cohort = settings.home / "datasets" / name
    shutil.rmtree(cohort, ignore_errors=True)
    spec.data.synthesize(spec.monitor.traffic.cohort(subjects, seed, trained_on), cohort)
    partitions = spec.data.partitions
    if isinstance(partitions, KFolds):  # fixed partitions come with the dataset
        partitions.split(cohort, partitions.k, seed)
    return cohort


def _drift_line(name: str, result) -> str:
    """The window's verdict is the drift gate's (monitoring.yaml): single columns drift by chance at 5%."""
    overall = result.report["drift"]["overall"]
    drifted = [column for column, value in overall["columns"].items() if value["drifted"]]
    breaches = [
        b.message
        for b in result.breaches
        if b.metric.startswith(("drift_", "feature_drift", "embedding"))  # drift_share, drift_<column>
    ]
    verdict = "DRIFT DETECTED" if breaches else "no drift detected"
    detail = "; ".join(breaches) if breaches else "drift gates passed"
    return f"{name}: {verdict} ({detail}; drifted columns: {', '.join(drifted) or 'none'})"


def serve_and_monitor(
    console: Console,
    settings: Settings,
    split: Path,
    holdout: Holdout,
    *,
    seed: int,
    subjects: int,
    trained_on: Any,
    reference_like_subjects: int | None = None,
) -> int:
    """The serving and monitoring half of the demo; an exit code. Each window's traffic comes from
    ``subjects`` new subjects (the reference-like one: ``reference_like_subjects``) of the population
    of ``trained_on``, the served model's training cohort (its synth config)."""
    from affectops.cli_monitoring import format_result
    from monitoring.config import load_config
    from monitoring.job import report_window
    from monitoring.labels import add_labels
    from monitoring.store import default_root

    spec = get_family(FAMILY)
    traffic = spec.monitor.traffic
    config = load_config(FAMILY)
    columns, label = config["columns"], config["fairness"]["label_column"]
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
        requests, labels = traffic.window(split, holdout=holdout, prefix=HELD_OUT_PREFIX)
        answers = console.step(
            f"send the held-out fold's {len(requests)} segments through the kserve client",
            lambda: send(url, FAMILY, requests),
        )
        outputs = [{name: float(value.reshape(-1)[0]) for name, value in out.items()} for out in answers]
        label_of = labels.set_index("subject_pseudonym")[label]
        truths = np.array([int(label_of[request.unit]) for request in requests])
        predicted = np.array([int(out[columns["prediction"]]) for out in outputs])
        accuracy = float((predicted == truths).mean())
        for request, out, true in list(zip(requests, outputs, truths, strict=True))[:3]:
            console.print(
                f"  {request.request_id.removeprefix(HELD_OUT_PREFIX)}: p = {out[columns['score']]:.2f}, "
                f"label {int(out[columns['prediction']])} (truth {true}), "
                f"age estimate {out.get(columns['age_estimate'], float('nan')):.0f} "
                f"(true age {int(request.metadata[columns['age']])})"
            )
        console.print(
            f"held-out slice over the kserve client: accuracy {accuracy:.3f} on {len(requests)} segments"
        )
        sent = len(requests)
        wait_stored(sink_url, 2 * sent)  # logged before the first window opens: windows are by log time

        windows = {}
        for name, window_seed, shifted, size in (
            ("reference-like window", seed + 101, False, reference_like_subjects or subjects),
            (f"drifted window ({traffic.shift})", seed + 202, True, subjects),
        ):
            cohort = _cohort(spec, settings, f"traffic-{window_seed}", window_seed, size, trained_on)
            requests, labels = traffic.window(
                cohort, shifted=shifted, prefix=f"w{window_seed}-", seed=window_seed
            )
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
