"""The monitoring gate on hand-written report dicts, and the alerts a breach raises."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from monitoring.alerts import raise_alerts, retrain_request
from monitoring.config import load_config
from monitoring.gates import Breach, check

pytestmark = pytest.mark.unit

THRESHOLDS = {
    "drift_share": 0.5,
    "feature_drift_share": 0.25,
    "embedding_drift_score": 0.6,
    "abs_age_probe_r": 0.3,
    "f1_young": 0.4,
    "f1_gap": 0.35,
    "demographic_parity_difference": 0.3,
    "equalized_odds_difference": 0.35,
}


def ci(value, low=None, high=None) -> dict:
    return {"value": value, "low": low, "high": high}


def fairness(young_f1, gap, dpd=0.1, eod=0.1) -> dict:
    return {
        "groups": {"young": {"n": 40, "f1": young_f1}, "old": {"n": 50, "f1": ci(0.8)}},
        "f1_gap": gap,
        "demographic_parity_difference": ci(dpd),
        "equalized_odds_difference": ci(eod),
    }


def report(
    *, drift_share=0.2, feature_share=0.0, auc=0.52, chance=0.55, r=0.1, young=None, gap=None, **extra
) -> dict:
    young = young or ci(0.7, 0.6, 0.8)
    gap = gap or ci(0.1, 0.02, 0.2)
    return {
        "drift": {
            "overall": {
                "drift_share": drift_share,
                "features": {"drifted_share": feature_share},
                "embedding": {"score": auc, "chance_level": chance},
            },
            # per-group scopes are not gated: a small group's share may be high by chance
            "young": {"drift_share": 1.0, "features": {"drifted_share": 1.0}, "embedding": {"score": 0.99}},
        },
        "age_probe": {"r": r, "p": 0.2, "subjects": 90},
        "fairness": {"age_group": fairness(young, gap), "gender": fairness(ci(0.9), ci(0.05))} | extra,
    }


def test_a_healthy_report_passes() -> None:
    assert check(report(), THRESHOLDS) == []


def test_every_breach_is_named_with_scope_value_and_threshold() -> None:
    bad = report(
        drift_share=0.6, feature_share=0.3, auc=0.9, r=-0.45, young=ci(0.3, 0.2, 0.38), gap=ci(0.5, 0.3, 0.6)
    )
    breaches = check(bad, THRESHOLDS)
    assert [(b.metric, b.scope, b.kind) for b in breaches] == [
        ("drift_share", "overall", "ceiling"),
        ("feature_drift_share", "overall", "ceiling"),
        ("embedding_drift_score", "overall", "ceiling"),
        ("abs_age_probe_r", "overall", "ceiling"),
        ("f1_young", "age_group", "floor"),
        ("f1_gap", "age_group", "ceiling"),
    ]
    young = breaches[4]
    assert young.value == 0.3 and young.threshold == 0.4 and young.interval == (0.2, 0.38)
    assert young.message == "age_group: f1_young = 0.300 (CI 0.200 to 0.380) is below the floor 0.4"
    assert breaches[3].value == pytest.approx(0.45)  # |r|


def test_boundaries_are_inclusive_and_fairness_gaps_are_gated_per_feature() -> None:
    at_limit = report(drift_share=0.5, young=ci(0.4), gap=ci(0.35))
    assert check(at_limit, THRESHOLDS) == []
    gender_gap = report()
    gender_gap["fairness"]["gender"] = fairness(ci(0.9), ci(0.05), eod=0.5)
    assert [(b.metric, b.scope) for b in check(gender_gap, THRESHOLDS)] == [
        ("equalized_odds_difference", "gender")
    ]


def test_missing_metrics_are_not_breaches() -> None:
    unlabelled = report(r=None)
    unlabelled["fairness"] = {}
    assert check(unlabelled, THRESHOLDS) == []
    undefined = report(young=ci(None))
    assert check(undefined, THRESHOLDS) == []


def test_bad_thresholds_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"thresholds\['f1_yuong'\]: no group 'yuong'"):
        check(report(), {"f1_yuong": 0.4})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \[.drifted_share.\]"):
        check(report(), {"drifted_share": 0.4})
    with pytest.raises(ValueError, match=r"thresholds\['f1_gap'\]: must be a number"):
        check(report(), {"f1_gap": "0.3"})


def test_config_thresholds_are_all_known() -> None:
    assert check(report(), load_config("hearing_loss")["thresholds"]) == []


BREACHES = [
    Breach("f1_young", "age_group", 0.3, 0.4, "floor", (0.2, 0.38)),
    Breach("drift_share", "overall", 0.6, 0.5, "ceiling"),
]
WINDOW = {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-08T00:00:00+00:00"}


@pytest.fixture
def receiver():
    """A webhook receiver on loopback that keeps the JSON bodies it is sent."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()
    server.server_close()


def test_alert_record_is_appended_and_posted(tmp_path, receiver) -> None:
    url, received = receiver
    path = raise_alerts(
        BREACHES, model="hearing_loss", version="3", window=WINDOW, alerts_dir=tmp_path, webhook_url=url
    )
    raise_alerts(BREACHES[1:], model="hearing_loss", version="3", window=WINDOW, alerts_dir=tmp_path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 2
    assert records[0]["webhook"] == {"url": url, "status": 204}
    assert [b["metric"] for b in records[0]["breaches"]] == ["f1_young", "drift_share"]
    assert records[0]["breaches"][0]["message"].startswith("age_group: f1_young = 0.300")
    assert received == [{k: v for k, v in records[0].items() if k != "webhook"}]
    assert "webhook" not in records[1] and len(received) == 1


def test_a_down_webhook_keeps_the_record(tmp_path) -> None:
    path = raise_alerts(
        BREACHES,
        model="m",
        version=None,
        window=WINDOW,
        alerts_dir=tmp_path,
        webhook_url="http://127.0.0.1:9/down",
    )
    record = json.loads(path.read_text())
    assert "error" in record["webhook"] and record["breaches"]


def test_no_breaches_write_nothing(tmp_path) -> None:
    path = raise_alerts([], model="m", version="1", window=WINDOW, alerts_dir=tmp_path)
    assert not path.exists()


def test_retrain_request_adds_the_window_to_the_lineage() -> None:
    request = retrain_request(
        BREACHES,
        WINDOW,
        family="hearing_loss",
        dataset_uri="s3://affectops/data/cohort",
        window_uri="s3://affectops/inference-log/hearing_loss/2026-01-01_2026-01-08",
        base_arguments={"variant": "marlin_vm_abm", "promote": True},
    )
    assert request["arguments"] == {
        "variant": "marlin_vm_abm",
        "promote": True,
        "dataset_uri": "s3://affectops/data/cohort",
        "family": "hearing_loss",
    }
    lineage = request["lineage"]
    assert lineage["sources"] == [
        "s3://affectops/data/cohort",
        "s3://affectops/inference-log/hearing_loss/2026-01-01_2026-01-08",
    ]
    assert lineage["window"]["uri"].endswith("2026-01-08") and lineage["window"]["start"] == WINDOW["start"]
    assert lineage["breaches"] == [b.message for b in BREACHES]
    with pytest.raises(ValueError, match="breaches: none"):
        retrain_request([], WINDOW, family="hearing_loss", dataset_uri="x", window_uri="y")


def test_the_embedding_ceiling_is_raised_to_its_chance_level() -> None:
    # an AUC of 0.7 is drift on many subjects, and chance on few (THRESHOLDS: 0.6)
    assert [b.metric for b in check(report(auc=0.7, chance=0.55), THRESHOLDS)] == ["embedding_drift_score"]
    assert check(report(auc=0.7, chance=0.76), THRESHOLDS) == []
    (raised,) = check(report(auc=0.8, chance=0.76), THRESHOLDS)
    assert (
        raised.threshold == 0.76
        and raised.message == "overall: embedding_drift_score = 0.800 is above the ceiling 0.76"
    )


def test_a_group_f1_floor_applies_to_the_group_its_key_names() -> None:
    # f1_<group>: the family's group names come from its config, not from the gate's code
    breaches = check(report(), {"f1_old": 0.85})
    assert [(b.metric, b.scope, b.value, b.threshold) for b in breaches] == [
        ("f1_old", "age_group", 0.8, 0.85),
        ("f1_old", "gender", 0.8, 0.85),  # this report's gender part has an "old" group too
    ]
    assert check(report(), {"f1_old": 0.75}) == []


def test_a_group_f1_floor_on_a_group_the_report_lacks_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match=r"f1_teen.*no group 'teen'.*\['old', 'young'\]"):
        check(report(), {"f1_teen": 0.4})
    assert check({"drift": {}, "fairness": {}}, {"f1_teen": 0.4}) == []  # labels not joined yet
    with pytest.raises(ValueError, match="unknown key"):
        check(report(), {"f1": 0.4})


def test_readings_are_what_check_compares_and_the_calibration_statistic_agrees() -> None:
    from benchmarks.monitoring_gates import fires, statistic
    from monitoring.gates import kind_of, readings

    shown = report(auc=0.7, chance=0.65, gap=ci(0.3, 0.1, 0.5))
    read = readings(shown, THRESHOLDS)
    (embedding,) = read["embedding_drift_score"]
    assert (embedding.value, embedding.raise_to) == (0.7, 0.65)
    assert [(r.scope, r.value) for r in read["f1_gap"]] == [("age_group", 0.3), ("gender", 0.05)]
    assert [r.scope for r in read["f1_young"]] == ["age_group", "gender"]  # both parts have "young" here
    # the benchmark's one number per report crosses a threshold exactly when check() fires
    for key, found in read.items():
        kind = kind_of(key)
        for threshold in (0.0, 0.05, 0.1, 0.3, 0.5, 0.66, 0.7, 0.9, 1.0):
            fired = any(b.metric == key for b in check(shown, {key: threshold}))
            assert fires(kind, found, threshold) == fired, (key, threshold)
            s = statistic(kind, found)
            assert fired == (s > threshold if kind == "ceiling" else s < threshold), (key, threshold)


def test_a_column_drift_ceiling_reads_the_distance_as_a_multiple_of_its_threshold() -> None:
    columns = {
        "gender": {"score": 0.3, "threshold": 0.12, "drifted": True},
        "age": {"score": 0.05, "threshold": 0.1, "drifted": False},
    }
    drifted = report()
    drifted["drift"]["overall"] |= {"columns": columns, "skipped_columns": {"probability": "too few"}}
    (breach,) = check(drifted, {"drift_gender": 2.0, "drift_age": 2.0})
    assert (breach.metric, breach.scope, breach.value) == ("drift_gender", "overall", pytest.approx(2.5))
    assert check(drifted, {"drift_gender": 2.5}) == []
    # a column left out for too few answered units is not a breach; a name the report lacks is an error
    assert check(drifted, {"drift_probability": 1.0}) == []
    with pytest.raises(ValueError, match=r"drift_gendr.*no column 'gendr'.*\['age', 'gender'\]"):
        check(drifted, {"drift_gendr": 1.0})
    assert check({"drift": {}}, {"drift_gender": 1.0}) == []  # no drift section yet: nothing read
