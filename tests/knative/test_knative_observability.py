"""Scrape config, alert rules (promtool) and the dashboard; every metric they query is one the function
exports (checked against the function's live /metrics)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from .kube import KNATIVE, find, ksvc, one, render_overlay
from .promql import exposed_sample_names, metric_names

OBS = KNATIVE / "components" / "observability"


def rule_groups() -> list[dict]:
    return yaml.safe_load((OBS / "alerts.yaml").read_text())["spec"]["groups"]


def dashboard() -> dict:
    return json.loads((OBS / "dashboard.json").read_text())


def alert_exprs() -> list[str]:
    return [r["expr"] for g in rule_groups() for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def queried_metrics() -> set[str]:
    recorded = {r["record"] for g in rule_groups() for r in g["rules"] if "record" in r}
    names = set().union(*(metric_names(e) for e in alert_exprs() + dashboard_exprs()))
    return names - recorded


# --- PodMonitor ---------------------------------------------------------------------------------------

# The fields we use of monitoring.coreos.com/v1 PodMonitor (no CRD for it is vendored in ../shared, so
# this explicit shape stands in for the schema: unknown or misspelled fields fail).
PODMONITOR_SPEC_KEYS = {"selector", "podMetricsEndpoints", "namespaceSelector", "jobLabel", "podTargetLabels"}
ENDPOINT_KEYS = {"port", "path", "interval", "scrapeTimeout", "relabelings", "metricRelabelings", "scheme"}
RELABEL_KEYS = {"action", "sourceLabels", "targetLabel", "replacement", "regex", "separator"}


def test_podmonitor_scrapes_the_function_pods_directly(need_kubectl):
    for name in ("cpu", "gpu"):
        objs = render_overlay(name)
        pm = one(objs, "PodMonitor", "emotivoice")
        assert pm["apiVersion"] == "monitoring.coreos.com/v1"
        assert set(pm["spec"]) <= PODMONITOR_SPEC_KEYS
        # Knative labels every pod of the Service with serving.knative.dev/service=<name>.
        assert pm["spec"]["selector"] == {"matchLabels": {"serving.knative.dev/service": ksvc(objs)["metadata"]["name"]}}
        (ep,) = pm["spec"]["podMetricsEndpoints"]
        assert set(ep) <= ENDPOINT_KEYS
        # Knative renames the user container's port to "user-port" in the pod; scraping it bypasses the
        # activator and the route, so scrapes neither wake nor keep alive the revision.
        assert ep["port"] == "user-port" and ep["path"] == "/metrics"
        for r in ep["relabelings"]:
            assert set(r) <= RELABEL_KEYS
        assert {"action": "replace", "targetLabel": "job", "replacement": "emotivoice"} in ep["relabelings"]
        assert not find(objs, "ServiceMonitor")
        assert one(objs, "ConfigMap", "emotivoice-dashboard")["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_every_query_selects_the_scrape_job():
    """Each raw metric selector carries job="emotivoice" (the PodMonitor's job), so queries never mix in
    another workload that happens to export a metric of the same name."""
    import re

    for expr in alert_exprs() + dashboard_exprs():
        for name in metric_names(expr):
            if ":" in name:
                continue  # recording rules are built from selectors checked here
            selectors = re.findall(rf"\b{re.escape(name)}\b(\{{[^}}]*\}})?", expr)
            assert selectors and all('job="emotivoice"' in s for s in selectors), (name, expr)


# --- PromQL metric extraction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr,names",
    [
        ('sum by (le, route) (rate(a_bucket{job="x", route!~"/h.*"}[5m]))', {"a_bucket"}),
        ("histogram_quantile(0.99, sum by (le) (rate(b_bucket[1h])))", {"b_bucket"}),
        ("x / on (job) group_left (instance) y > 0.05", {"x", "y"}),
        ("count(time() - process_start_time_seconds{job=\"e\"} < 900) > 10", {"process_start_time_seconds"}),
        ("max by (pod) (up) == 0 and ignoring (a) c offset 5m", {"up", "c"}),
        ('rec:rule:p99 > 30 or vector(0)', {"rec:rule:p99"}),
        ("sum(rate(m_total[5m] @ end()))", {"m_total"}),
        ("1e3 * inf + nan", set()),
    ],
)
def test_metric_name_extraction(expr, names):
    assert metric_names(expr) == names


def test_queries_reference_function_metrics():
    q = queried_metrics()
    assert "emotivoice_http_request_duration_seconds_bucket" in q
    assert "emotivoice_events_total" in q
    assert len(q) >= 12


def _unknown(names: set[str], text: str) -> set[str]:
    return names - exposed_sample_names(text)


def test_queried_metrics_exist_in_the_registry():
    from function.metrics import Metrics

    assert _unknown(queried_metrics(), Metrics().render().decode()) == set()
    assert _unknown({"emotivoice_http_requests"}, Metrics().render().decode()) == {"emotivoice_http_requests"}


def _live_app():
    try:
        from function.http.app import create_app
    except ImportError as exc:
        pytest.skip(f"function.http.app.create_app not available yet ({exc}); the registry test covers names")
    from function.settings import Settings

    return create_app(Settings(engine="espeak"))


def test_queried_metrics_exist_in_live_metrics_endpoint():
    """Start the real app (espeak engine), make one real synthesis request, scrape /metrics."""
    import time

    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    app = _live_app()
    with TestClient(app) as client:
        deadline = time.monotonic() + 30  # bounded wait for the engine to load (not a timing assertion)
        while client.get("/health/readiness").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        speech = client.post("/v1/audio/speech", json={"input": "hello", "voice": "alloy", "response_format": "wav"})
        assert speech.status_code == 200, speech.text
        resp = client.get("/metrics")
    assert resp.status_code == 200
    assert _unknown(queried_metrics(), resp.text) == set()
    # The label values the alerts filter on are the ones the app really produces.
    routes = {
        s.labels["route"]
        for f in text_string_to_metric_families(resp.text)
        if f.name == "emotivoice_http_requests"
        for s in f.samples
        if s.name.endswith("_total")
    }
    assert "/v1/audio/speech" in routes, routes
    assert not any(r.startswith("/health") or r == "/metrics" for r in routes), "unmetered paths"


# --- alert rules with promtool ------------------------------------------------------------------------


def promtool() -> str:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool not installed (Debian: apt-get install --no-install-recommends prometheus)")
    return exe


def write_rules(tmp_path) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule_groups()}, sort_keys=False))
    return str(path)


def test_promtool_check_rules(tmp_path):
    exe = promtool()
    proc = subprocess.run([exe, "check", "rules", write_rules(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


def test_promtool_check_rules_catches_errors(tmp_path):
    exe = promtool()
    groups = rule_groups()
    groups[1]["rules"][0]["expr"] = "sum(rate(emotivoice_http_requests_total[5m]) >"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"groups": groups}))
    proc = subprocess.run([exe, "check", "rules", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0


def test_alert_names_and_severities():
    alerts = {r["alert"]: r for g in rule_groups() for r in g["rules"] if "alert" in r}
    assert {"EmotivoiceHighP99Latency", "EmotivoiceHighErrorRatio", "EmotivoiceHighColdStartRate",
            "EmotivoiceEventsDeadLettered"} <= set(alerts)
    for a in alerts.values():
        assert a["labels"]["severity"] in ("warning", "critical")
        assert a["annotations"]["summary"] and a["annotations"]["description"]


def test_promtool_alert_unit_tests(tmp_path):
    """The alerts fire on synthetic series that should trigger them, and stay quiet on healthy ones."""
    exe = promtool()
    write_rules(tmp_path)
    tests = yaml.safe_load((KNATIVE.parents[0] / "tests" / "knative" / "alerts_test.yaml").read_text())
    tests["rule_files"] = ["rules.yaml"]
    (tmp_path / "alerts_test.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    proc = subprocess.run([exe, "test", "rules", "alerts_test.yaml"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- dashboard ---------------------------------------------------------------------------------------


def test_dashboard_is_well_formed():
    d = dashboard()
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    assert d["uid"] and d["title"]
    for p in d["panels"]:
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["expr"].strip() and t["refId"]
