"""Kafka broker, delivery, triggers and reply routing."""

from __future__ import annotations

import copy

import pytest

from .kube import config_data, find, ksvc, one, upstream_configmap
from .rules import (
    CONSUMED,
    DELIVERY_ORDER,
    EMITTED,
    backoff_total_seconds,
    delivery_errors,
    trigger_errors,
)

COLD_START_EAGER_S = 20


def sinks(objs):
    return {(o["kind"], o["metadata"]["name"]) for o in objs}


def function_triggers(objs):
    return [
        t for t in find(objs, "Trigger")
        if t["spec"]["subscriber"].get("ref", {}).get("kind") == "Service"
        and t["spec"]["subscriber"]["ref"]["name"] == "emotivoice"
    ]


def test_kafka_broker_with_config_in_its_namespace(overlay, need_crds):
    name, objs = overlay
    broker = one(objs, "Broker", "emotivoice")
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "Kafka"
    ref = broker["spec"]["config"]
    assert ref["kind"] == "ConfigMap" and ref["namespace"] == broker["metadata"]["namespace"]
    cm = one(objs, "ConfigMap", ref["name"])
    upstream = set(upstream_configmap("kafka-broker-config")["data"])
    assert set(cm["data"]) <= upstream, f"keys unknown to the Kafka broker: {set(cm['data']) - upstream}"
    assert {"bootstrap.servers", "default.topic.partitions", "default.topic.replication.factor"} <= set(cm["data"])
    assert int(cm["data"]["default.topic.partitions"]) >= 1
    assert int(cm["data"]["default.topic.replication.factor"]) >= 1


def test_dead_letter_sink_is_a_kafka_topic_on_the_same_cluster(overlay):
    _, objs = overlay
    broker = one(objs, "Broker", "emotivoice")
    cm = one(objs, "ConfigMap", broker["spec"]["config"]["name"])
    sink = one(objs, "KafkaSink", "emotivoice-dead-letter")
    assert sink["spec"]["bootstrapServers"] == cm["data"]["bootstrap.servers"].split(",")
    assert sink["spec"]["replicationFactor"] <= int(cm["data"]["default.topic.replication.factor"])


def test_broker_and_trigger_delivery(overlay):
    name, objs = overlay
    names = sinks(objs)
    deliveries = [one(objs, "Broker")["spec"]["delivery"]] + [
        t["spec"]["delivery"] for t in find(objs, "Trigger") if "delivery" in t["spec"]
    ]
    for d in deliveries:
        assert delivery_errors(d, names) == [], (name, d)
        assert d["backoffPolicy"] == "exponential"
        # Retries must outlast an eager cold start plus a scale-out after overload replies.
        assert backoff_total_seconds(d) >= 3 * COLD_START_EAGER_S, d


def test_one_exact_type_trigger_per_consumed_type(overlay):
    name, objs = overlay
    triggers = function_triggers(objs)
    types = [t["spec"]["filter"]["attributes"]["type"] for t in triggers]
    assert sorted(types) == sorted(CONSUMED), name
    for t in triggers:
        assert trigger_errors(t) == [], (name, t["metadata"]["name"])
        assert t["spec"]["broker"] == one(objs, "Broker")["metadata"]["name"]
        assert set(t["spec"]["filter"]["attributes"]) == {"type"}


def test_replies_are_never_routed_back_to_the_function(overlay):
    """Simulate routing: every event type the function emits matches no Trigger to the function."""
    _, objs = overlay

    def matches(trigger, event):
        attrs = trigger["spec"].get("filter", {}).get("attributes", {})
        return all(event.get(k) == v for k, v in attrs.items())

    for etype in EMITTED:
        event = {"type": etype, "source": "/emotivoice/emotivoice-00001-deployment-abc"}
        assert not [t["metadata"]["name"] for t in find(objs, "Trigger") if matches(t, event)
                    and t in function_triggers(objs)], etype
    # ...and each request type reaches the function exactly once (no duplicate delivery).
    for etype in CONSUMED:
        assert len([t for t in function_triggers(objs) if matches(t, {"type": etype})]) == 1, etype


def test_unordered_delivery(overlay):
    _, objs = overlay
    for t in find(objs, "Trigger"):
        assert t["metadata"]["annotations"][DELIVERY_ORDER] == "unordered"


def test_batch_fan_out_path(overlay):
    """batch.requested -> function -> chunk events to K_SINK (this broker) -> chunk Trigger -> function."""
    _, objs = overlay
    broker = one(objs, "Broker")
    k_sink = config_data(objs, ksvc(objs))["K_SINK"]
    assert k_sink.endswith(f"/{broker['metadata']['namespace']}/{broker['metadata']['name']}")
    chunk = [t for t in function_triggers(objs) if t["spec"]["filter"]["attributes"]["type"] == "dev.emotivoice.batch.chunk"]
    assert len(chunk) == 1
    assert chunk[0]["spec"]["delivery"]["retry"] >= one(objs, "Broker")["spec"]["delivery"]["retry"]


def test_event_types_catalogue(overlay):
    _, objs = overlay
    declared = {e["spec"]["type"] for e in find(objs, "EventType")}
    assert declared == CONSUMED | EMITTED
    for e in find(objs, "EventType"):
        assert e["spec"]["reference"]["name"] == one(objs, "Broker")["metadata"]["name"]


# --- the rules reject loops and bad delivery ---------------------------------------------------------


def _a_trigger():
    from .kube import render_overlay

    return copy.deepcopy(function_triggers(render_overlay("cpu"))[0])


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda t: t["spec"].pop("filter"), "exact `type`"),
        (lambda t: t["spec"]["filter"]["attributes"].__setitem__("type", "dev.emotivoice.synthesis.completed"), "loop"),
        (lambda t: t["spec"]["filter"]["attributes"].__setitem__("type", "dev.emotivoice.batch.progress"), "loop"),
        (lambda t: t["spec"]["filter"]["attributes"].__setitem__("type", "com.example.other"), "not one"),
        (lambda t: t["spec"].__setitem__("filters", [{"exact": {"type": "x"}}]), "filters"),
        (lambda t: t["metadata"]["annotations"].pop(DELIVERY_ORDER), DELIVERY_ORDER),
    ],
)
def test_trigger_rules_reject(need_kubectl, mutate, needle):
    t = _a_trigger()
    assert trigger_errors(t) == []
    mutate(t)
    errors = trigger_errors(t)
    assert errors and any(needle in e for e in errors), errors


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda d: d.__setitem__("backoffDelay", "2s"), "ISO 8601"),
        (lambda d: d.__setitem__("backoffPolicy", "fibonacci"), "backoffPolicy"),
        (lambda d: d.pop("retry"), "retry"),
        (lambda d: d["deadLetterSink"]["ref"].__setitem__("name", "nowhere"), "does not name"),
    ],
)
def test_delivery_rules_reject(need_kubectl, mutate, needle):
    from .kube import render_overlay

    objs = render_overlay("cpu")
    d = copy.deepcopy(one(objs, "Broker")["spec"]["delivery"])
    assert delivery_errors(d, sinks(objs)) == []
    mutate(d)
    errors = delivery_errors(d, sinks(objs))
    assert errors and any(needle in e for e in errors), errors


def test_backoff_arithmetic():
    assert backoff_total_seconds({"backoffDelay": "PT2S", "retry": 6, "backoffPolicy": "exponential"}) == 126
    assert backoff_total_seconds({"backoffDelay": "PT1S", "retry": 3, "backoffPolicy": "linear"}) == 6
