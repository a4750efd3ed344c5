"""`affectops demo`, the main job, end to end on embedded defaults in a fresh AFFECTOPS_HOME, at its tiny
size (``--size tiny``, run once per session by tests/e2e/conftest.py): every step `make demo` runs.

Why the tiny size is what it is (affectops/demo.py ``SIZES`` has the measurements): what `make demo`
concludes must still come out, for real. The training cohort stays the demo's (80 subjects, 6-minute
sessions): its held-out fold of 16 subjects is the fairness gate's data and answers for the
monitoring reference, which holds all 80 (so each age group is compared).
The epochs stay too: with fewer, ABM has not yet removed age and the age-probe gate fails. What
shrinks is the GRU (64 -> 32 wide: the same gates pass with margin) and the reference-like window's
cohort (80 -> 48 subjects: serving is paced by the sink's ingest of two events per inference); the
drifted window keeps its cohort of 80, whose 32 mostly young subjects are what clears the drift test.
"""

from pathlib import Path

import pytest
from e2e_support import DemoRun

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_runs_the_training_pipeline_and_reports_what_it_registered(hearing_loss_demo: DemoRun) -> None:
    out, home = hearing_loss_demo.stdout, hearing_loss_demo.home
    assert "80 subjects in 40 sessions" in out
    version = out.split("dataset version (DVC content hash): ")[1].split()[0]
    assert len(version) == 32
    assert (home / "dvc-remote" / "files" / "md5" / version[:2] / f"{version[2:]}.dir").is_file()
    assert "held-out fold 0: F1" in out and "per age group: young" in out
    assert "age probe (Fig. 5): Pearson r" in out  # computed: the held-out fold has its 16 subjects
    assert "registered: models:/hearing_loss/1" in out
    for gate in ("quality", "fairness", "age_probe"):
        assert f"gate {gate}: passed" in out  # the family's own gates
    assert "champion: hearing_loss version 1" in out
    docs = out.split("Great Expectations Data Docs: ")[1].split()[0]
    assert "<html" in Path(docs).read_text().lower()
    # served: the held-out fold through the kserve client, then two logged windows reported
    accuracy = float(out.split("held-out slice over the kserve client: accuracy ")[1].split()[0])
    assert accuracy > 0.5
    assert "reference-like window: no drift detected" in out
    assert "drifted window (mostly young): DRIFT DETECTED" in out
    (verdict,) = [line for line in out.splitlines() if line.startswith("drifted window (mostly young): ")]
    assert {"age", "age_group"} <= set(verdict.split("drifted columns: ")[1].rstrip(")").split(", "))
    for name, compared in (
        ("reference-like window", ["mid", "old", "young"]),
        # 85% young: the window's few mid and old subjects are listed, not compared
        ("drifted window (mostly young)", ["young"]),
    ):
        # the reference is every subject the version was developed on: each age group has enough
        section = out.split(f"=== {name}\n")[1].split("\n===")[0]
        assert "reference: inputs and demographics of 80 subjects; the version's answers on 16" in section
        rows = [line for line in section.splitlines() if line.split()[:1] in (["young"], ["mid"], ["old"])]
        assert sorted(r.split()[0] for r in rows) == ["mid", "old", "young"], section
        assert sorted(r.split()[0] for r in rows if "fewer than" not in r) == compared, section
    report = out.split("=== drifted window (mostly young)")[1]
    assert "age_group" in report and "f1_gap" in report  # the per-group fairness table
    html = report.split("html: ")[1].split()[0]
    assert Path(html).is_file()


def test_demo_output_is_for_reading_and_its_logs_are_in_a_file(hearing_loss_demo: DemoRun) -> None:
    out = hearing_loss_demo.stdout
    # a line per step with its time, kfp.local's tasks as they finish, then the results
    lines = out.splitlines()
    starts, ends = (sum(line.startswith(mark) for line in lines) for mark in ("-> ", "   done in "))
    assert starts == ends >= 8
    for task in ("validate-data", "train-model", "evaluate-model", "register-model"):
        assert any(line.split()[:1] == [task] for line in lines), task
    # the executor JSON, the child processes' and the HTTP clients' logs went to the file it names
    assert "Executing task" not in out and "HTTP Request" not in out and "executor_input" not in out
    log = Path(out.split("full logs of this run: ")[1].split()[0])
    assert log.parent == hearing_loss_demo.home / "logs"
    logged = log.read_text()
    assert "Executing task" in logged and "finished with status" in logged
    assert "gate fairness: passed" in logged  # what the terminal showed is in the log too
    # where to look next: both UIs with their commands and pages
    assert "mlflow ui --backend-store-uri sqlite:///" in out
    assert "http://127.0.0.1:5000/#/models/hearing_loss" in out
    assert "affectops monitor ui --port 8000, then http://127.0.0.1:8000" in out
