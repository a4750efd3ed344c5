"""The monitoring report end to end on synthetic windows in the store's schema: drift, fairness,
Evidently snapshots and the dashboard in the workspace, the Evidently UI serving them (and rendering
them in Chromium), files; and the reference data of a real tiny model."""

import copy
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser_support import artifact_path, chromium_or_skip, render
from evidently.ui.workspace import Workspace

from components.reference import reference_frame
from core.registry import REFERENCE_ARTIFACT, load_reference
from core.settings import load_settings
from models import get_family
from models.common.fairness import fairness_report
from models.hearing_loss.traffic import FEATURE_DIM, synthetic_window
from monitoring.config import load_config
from monitoring.dashboard import METRIC, dashboard_panels
from monitoring.drift import with_age_group
from monitoring.gates import check
from monitoring.report import build_report, run_report, ui_command, workspace_dir
from monitoring.summary import LABELS, summary_frame

pytestmark = pytest.mark.integration

ROWS, SUBJECTS = 1500, 750  # many subjects: windows of different subjects differ little by chance
THRESHOLDS = load_config("hearing_loss")["thresholds"]
# the drift gates: the drifted share, one column's drift (drift_<column>), the features, the embedding
DRIFT_GATES = {k: v for k, v in THRESHOLDS.items() if k.startswith(("drift_", "feature_drift", "embedding"))}


@pytest.fixture(scope="module")
def config() -> dict:
    config = copy.deepcopy(load_config("hearing_loss"))
    config["fairness"]["n_boot"] = 50
    return config


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return synthetic_window(ROWS, seed=10, subjects=SUBJECTS)[0]


def test_drift_is_detected_in_a_drifted_window_and_not_in_a_reference_like_one(reference, config) -> None:
    like, _ = synthetic_window(ROWS, seed=11, subjects=SUBJECTS)
    drifted, _ = synthetic_window(ROWS, seed=12, subjects=SUBJECTS, young_share=0.85, feature_shift=0.3)
    calm = build_report(like, reference, None, config=config)
    alarm = build_report(drifted, reference, None, config=config)

    overall = calm["drift"]["overall"]
    assert overall["unit"] == "subject"
    assert overall["units"]["reference"] == reference["subject_pseudonym"].nunique()
    assert overall["drift_share"] < 0.5 and not overall["columns"]["age"]["drifted"]
    assert overall["features"]["drifted_share"] < 0.05 and not overall["embedding"]["drifted"]
    assert check(calm, DRIFT_GATES) == []

    overall = alarm["drift"]["overall"]
    assert overall["columns"]["age"]["drifted"] and overall["columns"]["age_group"]["drifted"]
    assert overall["features"]["drifted_share"] > 0.9 and overall["embedding"]["drifted"]
    # the gates of what moved fire (age, the features), not those of what did not (gender, the score)
    fired = {b.metric for b in check(alarm, DRIFT_GATES)}
    assert {"drift_age", "feature_drift_share", "embedding_drift_score"} <= fired
    assert "drift_gender" not in fired  # (the score moves: the young are less often hearing impaired)
    # per age group: the young group is compared on its own, and its features drifted
    assert alarm["drift"]["young"]["rows"]["current"] > 0.7 * ROWS
    assert alarm["drift"]["young"]["features"]["drifted_share"] > 0.9
    assert "age_group" not in alarm["drift"]["young"]["columns"]
    assert calm["fairness"] == {} and calm["labelled"] == {"rows": 0, "subjects": 0}


def _clustered(rows: int, *, seed: int, subjects: int, young_share: float | None = None) -> pd.DataFrame:
    """A window whose subjects each carry a feature identity offset, as real faces do."""
    window, _ = synthetic_window(rows, seed=seed, subjects=subjects, young_share=young_share)
    codes, names = pd.factorize(window["subject_pseudonym"])
    identity = np.random.default_rng(seed).normal(0, 0.5, (len(names), FEATURE_DIM)).astype(np.float32)
    window["current_mean"] = list(np.stack(window["current_mean"].to_numpy()) + identity[codes])
    return window


def test_new_subjects_drawn_like_a_small_clustered_reference_do_not_drift(config) -> None:
    # the demo's shape: a held-out fold of 16 subjects, about 12 segments each; traffic from new subjects
    # (16 subjects are few: a seed whose fold happens to be half young would leave an all-young
    # window's age shift within chance; this one's fold is 5 of 16 young, as expected)
    reference = _clustered(190, seed=30, subjects=16)
    like = _clustered(930, seed=21, subjects=80)
    young = _clustered(400, seed=22, subjects=40, young_share=1.0)
    rows_config = copy.deepcopy(config)
    calm = build_report(like, reference, None, config=config)
    alarm = build_report(young, reference, None, config=config)

    overall = calm["drift"]["overall"]
    assert calm["drift_unit"] == "subject" and overall["units"] == {"current": 80, "reference": 16}
    assert overall["rows"] == {"current": 930, "reference": 190}
    # each column is a 5% test, so one may flag by chance; age must not, nor the gate
    assert not overall["columns"]["age"]["drifted"] and not overall["columns"]["age_group"]["drifted"]
    assert check(calm, DRIFT_GATES) == []
    overall = alarm["drift"]["overall"]
    assert overall["columns"]["age"]["drifted"] and overall["columns"]["age_group"]["drifted"]
    # the age gate at the column's own 5% verdict; the default (set for production-sized windows,
    # benchmarks/monitoring_gates.py) needs more than 16 reference subjects to see this shift
    assert "drift_age" in {b.metric for b in check(alarm, {"drift_age": 1.0})}

    # the same rows compared as independent rows: the new subjects alone look drifted
    anonymous = build_report(
        like.drop(columns="subject_pseudonym"),
        reference.drop(columns="subject_pseudonym"),
        None,
        config=rows_config,
    )
    overall = anonymous["drift"]["overall"]
    assert anonymous["drift_unit"] == "row" and overall["units"]["current"] == 930
    assert check(anonymous, DRIFT_GATES) != []


def test_fairness_equals_fairness_report_on_the_joined_table(reference, config) -> None:
    window, labels = synthetic_window(ROWS, seed=13, subjects=300)
    window.loc[window.index[:25], "status"] = "error"  # failed requests are counted, not judged
    labels = labels.iloc[:250]  # some subjects have no screening result yet
    report = build_report(window, reference, labels, config=config)

    ok = window[window["status"] == "ok"]
    joined = with_age_group(
        ok.merge(labels, on="subject_pseudonym"), config["age_groups"], config["columns"]["age"]
    )
    expected = fairness_report(
        joined["hearing_loss"],
        joined["label"],
        {"age_group": joined["age_group"], "gender": joined["gender"]},
        clusters=joined["subject_pseudonym"],
        n_boot=50,
        seed=config["fairness"]["seed"],
    )
    assert report["fairness"] == expected
    assert report["labelled"] == {"rows": len(joined), "subjects": joined["subject_pseudonym"].nunique()}
    assert report["window"]["errors"] == 25 and report["window"]["ok"] == ROWS - 25
    # the age probe: one point per subject, Pearson r of its mean estimate against its age
    per_subject = ok.groupby("subject_pseudonym")[["age", "age_estimate"]].mean()
    assert report["age_probe"]["r"] == pytest.approx(
        np.corrcoef(per_subject["age"], per_subject["age_estimate"])[0, 1]
    )
    assert report["age_probe"]["subjects"] == len(per_subject)


@pytest.fixture(scope="module")
def two_reports(reference, config, tmp_path_factory) -> tuple[Path, list[dict]]:
    """Two weekly reports of hearing_loss version 3 into one home: (home, [report, report])."""
    home = tmp_path_factory.mktemp("two-reports")
    reports = []
    for week, seed in enumerate((14, 15)):
        window, labels = synthetic_window(ROWS, seed=seed, subjects=SUBJECTS, young_share=0.85)
        window["timestamp"] += pd.Timedelta(days=7 * week)
        report = run_report(
            "hearing_loss",
            window,
            reference,
            labels,
            config=config,
            home=home,
            out_dir=home / "reports" / f"week{week}",
            version="3",
        )
        reports.append(report)
    return home, reports


@pytest.fixture(scope="module")
def evidently_ui(two_reports, loopback_process, free_port, tmp_path_factory) -> Iterator[str]:
    """The Evidently UI (``evidently ui`` on loopback) over ``two_reports``' workspace: its URL."""
    home, _ = two_reports
    url = f"http://127.0.0.1:{free_port()}"
    command = ui_command(home, port=int(url.rsplit(":", 1)[1]))

    def projects_listed() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/api/projects", timeout=2) as response:
                return "hearing_loss" in response.read().decode()
        except OSError:
            return False

    log = tmp_path_factory.mktemp("evidently-ui") / "ui.log"
    with loopback_process(command, log, projects_listed, timeout=90):
        yield url


def _values(snapshot) -> dict[tuple[str, ...], float]:
    """A stored summary snapshot's ReportValue results by their labels."""
    out = {}
    for result in snapshot.metric_results.values():
        params = result.metric_value_location.metric.params
        if params["type"] == METRIC:
            out[tuple(params.get(label, "") for label in LABELS)] = result.value
    return out


def test_snapshots_land_in_the_workspace_named_tagged_and_charted(two_reports, config) -> None:
    home, reports = two_reports
    report = reports[-1]
    paths = report["paths"]
    assert json.loads((home / "reports" / "week1" / "report.json").read_text())["model"] == "hearing_loss"
    saved = json.loads(Path(paths["json"]).read_text())
    assert saved["drift"]["overall"]["drift_share"] == report["drift"]["overall"]["drift_share"]
    assert saved["fairness"]["age_group"]["f1_gap"] == report["fairness"]["age_group"]["f1_gap"]
    html = Path(paths["html"]).read_text()
    assert "Drift" in html and "young" in html and "f1_gap" in html
    scopes = [s for s in report["drift"] if "skipped" not in report["drift"][s]]
    for scope in scopes:
        assert "<!DOCTYPE html>" in Path(paths[f"evidently_{scope}"]).read_text()
    workspace = Workspace(str(workspace_dir(home)))
    projects = workspace.search_project("hearing_loss")
    assert len(projects) == 1  # one project per model, reused by every report
    runs = [workspace.get_run(projects[0].id, i) for i in workspace.list_runs(projects[0].id)]
    assert len(runs) == 2 * (len(scopes) + 1)  # per window: a drift snapshot per scope and a summary

    # every snapshot says which model, version, scope and window it is
    names = [run.name for run in runs]
    assert len(set(names)) == len(names)
    for earlier_or_later in reports:
        window = earlier_or_later["window"]
        span = f"window:{window['start']}/{window['end']}"
        mine = [run for run in runs if span in run.tags]
        assert {m for run in mine for m in run.tags if m.startswith("scope:")} == {
            *(f"scope:{s}" for s in scopes),
            "scope:all",
        }
        for run in mine:
            assert {"model:hearing_loss", "version:3"} <= set(run.tags)
            assert run.metadata["model"] == "hearing_loss" and run.metadata["version"] == "3"
            assert run.name.startswith("hearing_loss v3 · ") and window["start"][:10] in run.name
            scope = run.metadata["scope"]
            assert run.name.split(" · ")[1] == ("summary" if scope == "all" else f"{scope} drift")

    # the summary snapshot holds the report's numbers as ReportValue metrics, exactly
    (latest,) = [
        r
        for r in runs
        if r.metadata["kind"] == "summary" and r.metadata["window_end"] == report["window"]["end"]
    ]
    values = _values(latest)
    expected = summary_frame(report, check(report, config["thresholds"]))
    assert len(values) == len(expected) > 50
    for row in expected.to_dict("records"):
        assert values[tuple(row[label] for label in LABELS)] == pytest.approx(row["value"])
    young_f1 = report["fairness"]["age_group"]["groups"]["young"]["f1"]
    assert values[("f1", "overall", "", "age_group", "young", "low")] == pytest.approx(young_f1["low"])
    assert values[("drift_share", "young", "", "", "", "value")] == pytest.approx(
        report["drift"]["young"]["drift_share"]
    )

    # the dashboard: the platform's panels once, though two reports wrote it
    dashboard = workspace.get_dashboard(projects[0].id)
    expected = dashboard_panels("hearing_loss", config, {"gender": ["female", "male"]})
    assert [p.title for p in dashboard.panels] == [p.title for p in expected]
    assert len({p.id for p in dashboard.panels}) == len(dashboard.panels)
    titles = {p.title for p in dashboard.panels}
    assert {"F1 and TPR: age_group young", "FPR and Selection rate: gender male", "Age probe |r|"} <= titles


def _series(url: str, project: str, **labels: str) -> list[dict]:
    body = {
        "series_filter": [
            {"tags": ["kind:summary"], "metadata": {}, "metric": METRIC, "metric_labels": labels}
        ]
    }
    request = urllib.request.Request(
        f"{url}/api/v2/snapshots/{project}/data_series_batch",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["series"]


def test_the_evidently_ui_serves_the_snapshots_and_the_dashboards_series(two_reports, evidently_ui) -> None:
    home, reports = two_reports
    project = Workspace(str(workspace_dir(home))).search_project("hearing_loss")[0].id
    with urllib.request.urlopen(f"{evidently_ui}/api/projects/{project}/snapshots", timeout=5) as response:
        listed = json.loads(response.read())
    assert len(listed) == len(Workspace(str(workspace_dir(home))).list_runs(project))
    # what a panel asks the UI for: one series per number, one point per window, in window order
    (series,) = _series(evidently_ui, str(project), measure="drift_share", scope="overall")
    assert series["values"] == pytest.approx([r["drift"]["overall"]["drift_share"] for r in reports])
    f1 = _series(evidently_ui, str(project), measure="f1", feature="age_group", group="young")
    assert {s["params"]["bound"] for s in f1} == {"value", "low", "high"}
    for entry in f1:
        expected = [
            r["fairness"]["age_group"]["groups"]["young"]["f1"][entry["params"]["bound"]] for r in reports
        ]
        assert entry["values"] == pytest.approx(expected)


def _shown(value: float) -> str:
    """A value as the Evidently UI's counter prints it (two decimals, trailing zeros dropped)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def test_the_dashboard_renders_in_chromium(two_reports, evidently_ui, tmp_path) -> None:
    chromium = chromium_or_skip()
    home, reports = two_reports
    workspace = Workspace(str(workspace_dir(home)))
    project = workspace.search_project("hearing_loss")[0].id
    panels = workspace.get_dashboard(project).panels
    assert len(panels) > 15
    # every line series of every panel drawn (each names one number, so one series each), and a bar
    lines = sum(len(p.values) for p in panels if p.plot_params["plot_type"] == "line")
    drawn = (
        f"document.querySelectorAll('path.MuiLineElement-root').length >= {lines}"
        " && document.querySelectorAll('.MuiBarElement-root').length > 0"
    )
    screenshot = artifact_path(tmp_path, "evidently-dashboard.png")
    page = render(chromium, f"{evidently_ui}/projects/{project}", screenshot, ready=drawn)
    print(f"screenshot of the Evidently dashboard: {screenshot}")

    assert "This dashboard is currently empty" not in page.text
    for panel in panels:
        assert panel.title in page.text, panel.title
    # the counter panel shows the newest window's numbers; the line charts one point per window
    latest = reports[-1]
    assert f"{_shown(latest['drift']['overall']['drift_share'])} drift share" in page.text
    assert f"{_shown(abs(latest['age_probe']['r']))} age probe |r|" in page.text
    for report in reports:
        end = pd.Timestamp(report["window"]["end"]).strftime("%Y-%m-%d %H:%M:%S")
        assert end in page.text  # the x axis: one tick per report (render's clock is UTC)
    for legend in ("F1 low", "TPR high", "EO difference", "threshold", "drift_share (overall)"):
        assert legend in page.text
    assert screenshot.stat().st_size > 50_000  # a page of charts, not a blank one


def test_reference_frame_of_a_tiny_model_has_the_store_schema(
    trained_tiny, tiny_split, tmp_path, monkeypatch
) -> None:
    import mlflow

    from components.tracking import mlflow_run

    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is ./mlruns

    frame = reference_frame(
        "hearing_loss", trained_tiny(get_family("hearing_loss").train.tiny()), tiny_split, holdout=0
    )
    assert len(frame) > 0 and frame["inference_id"].is_unique
    # the held-out requests carry the version's answers; the trained-on ones only inputs and metadata
    answered, trained_on = frame[frame["scored"]], frame[~frame["scored"]]
    assert len(answered) > 0 and len(trained_on) > 0
    assert answered["probability"].between(0, 1).all() and set(answered["label"]) <= {0, 1}
    decided = (answered["probability"] >= answered["threshold"]).astype(int)
    assert answered["label"].tolist() == decided.tolist()
    assert answered["age_estimate"].notna().all() and frame["subject_pseudonym"].notna().all()
    assert trained_on[["probability", "label", "age_estimate"]].isna().all().all()
    assert frame["age"].notna().all()  # demographics of every subject: each age group is compared
    assert {len(v) for v in frame["current_mean"]} == {FEATURE_DIM} == {len(v) for v in frame["anchor_std"]}
    assert (frame["current_frames"] > 0).all() and set(frame["status"]) == {"ok"}

    # logged with a registered version's run, read back by name and version
    settings = load_settings(
        {"AFFECTOPS_HOME": str(tmp_path), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    )
    local = tmp_path / REFERENCE_ARTIFACT
    local.parent.mkdir(parents=True)
    frame.to_parquet(local)
    # a run of an experiment of this database: another test may have left mlflow's active experiment
    # pointing into its own
    with mlflow_run(settings, experiment="reference-test"):
        mlflow.log_artifact(str(local), artifact_path="reference")
        run = mlflow.active_run()
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    client.create_registered_model("hearing_loss")
    version = client.create_model_version(
        "hearing_loss", f"{run.info.artifact_uri}/reference", run.info.run_id
    )
    loaded = load_reference("hearing_loss", version.version, settings)
    pd.testing.assert_frame_equal(loaded, frame)
    with pytest.raises(ValueError, match="hearing_loss version 99: no reference data"):
        load_reference("hearing_loss", 99, settings)
