"""Event filters and payloads for both Event APIs. Field names follow core/v1 Event and
events.k8s.io/v1 Event; field selector labels are the ones the API server registers
(involvedObject.kind|name, reason, type; regarding.* for events.k8s.io)."""

import json

import pytest

from airflow_k8s_workflows.kube.events import (
    EventFilter,
    event_count,
    event_dedup_key,
    event_payload,
    field_selector_for,
    is_events_v1,
)

CORE = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": {"name": "web-7d4b9c-x2x.17c1a2b3c4d5e6f7", "namespace": "prod", "uid": "u-1"},
    "involvedObject": {
        "kind": "Pod",
        "name": "web-7d4b9c-x2x",
        "namespace": "prod",
        "uid": "pod-uid",
        "apiVersion": "v1",
        "fieldPath": "spec.containers{web}",
    },
    "reason": "BackOff",
    "message": "Back-off restarting failed container web in pod web-7d4b9c-x2x_prod(pod-uid)",
    "source": {"component": "kubelet", "host": "node-1"},
    "firstTimestamp": "2024-05-01T10:00:00Z",
    "lastTimestamp": "2024-05-01T10:05:00Z",
    "count": 4,
    "type": "Warning",
    "eventTime": None,
    "reportingComponent": "",
}

MODERN = {
    "apiVersion": "events.k8s.io/v1",
    "kind": "Event",
    "metadata": {"name": "job-1.17c1", "namespace": "batch", "uid": "u-2"},
    "regarding": {
        "kind": "Job",
        "name": "job-1",
        "namespace": "batch",
        "uid": "job-uid",
        "apiVersion": "batch/v1",
    },
    "reason": "BackoffLimitExceeded",
    "note": "Job has reached the specified backoff limit",
    "type": "Warning",
    "eventTime": "2024-05-01T10:00:00.000000Z",
    "reportingController": "job-controller",
    "reportingInstance": "job-controller-node-1",
    "action": "Failed",
    "series": {"count": 3, "lastObservedTime": "2024-05-01T10:07:00.000000Z"},
}


def test_which_api():
    assert not is_events_v1(CORE)
    assert is_events_v1(MODERN)
    assert is_events_v1({"regarding": {"kind": "Pod"}})


def test_counts():
    assert event_count(CORE) == 4
    assert event_count(MODERN) == 3
    assert event_count({"apiVersion": "v1", "reason": "x"}) == 1
    assert event_count({"apiVersion": "events.k8s.io/v1", "deprecatedCount": 7}) == 7
    assert event_count({"apiVersion": "v1", "count": 2, "series": {"count": 5}}) == 5


@pytest.mark.parametrize(
    ("kwargs", "core", "modern"),
    [
        ({}, True, True),
        ({"reasons": "BackOff"}, True, False),
        ({"reasons": ["BackOff", "BackoffLimitExceeded"]}, True, True),
        ({"event_type": "warning"}, True, True),
        ({"event_type": "Normal"}, False, False),
        ({"involved_kind": "Job"}, False, True),
        ({"involved_name": "job-1"}, False, True),
        ({"involved_name": "web-*"}, True, False),
        ({"involved_name": "re:web-[0-9a-f]+-x2x"}, True, False),
        ({"involved_name": "re:web"}, False, False),  # the whole name must match
        ({"min_count": 4}, True, False),
        ({"min_count": 3}, True, True),
        (
            {"reasons": "BackOff", "involved_kind": "Pod", "event_type": "Warning", "min_count": 2},
            True,
            False,
        ),
    ],
)
def test_filter_matches_both_apis(kwargs, core, modern):
    event_filter = EventFilter(**kwargs)
    assert event_filter.matches(CORE) is core
    assert event_filter.matches(MODERN) is modern


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"event_type": "Error"}, "event_type"),
        ({"min_count": 0}, "min_count"),
        ({"min_count": True}, "min_count"),
        ({"involved_name": "re:("}, "involved_name"),
        ({"reasons": ["", "x"]}, "reasons"),
    ],
)
def test_bad_filters_name_the_parameter(kwargs, parameter):
    with pytest.raises(ValueError, match=f"^{parameter}"):
        EventFilter(**kwargs)


def test_filter_normalizes_and_compares():
    assert EventFilter(reasons="BackOff", event_type="WARNING") == EventFilter(
        reasons=["BackOff"], event_type="Warning"
    )
    assert EventFilter(reasons=[]).reasons is None
    assert EventFilter(
        event_type="warning", reasons=["A", "B"], involved_kind="Pod", involved_name="web-*", min_count=3
    ).describe() == ("Warning A/B events of Pod web-* (count >= 3)")


@pytest.mark.parametrize(
    ("kwargs", "core_selector", "modern_selector"),
    [
        ({}, "", ""),
        (
            {"reasons": "BackOff", "event_type": "Warning", "involved_kind": "Pod", "involved_name": "web-1"},
            "involvedObject.kind=Pod,involvedObject.name=web-1,reason=BackOff,type=Warning",
            "regarding.kind=Pod,regarding.name=web-1,reason=BackOff,type=Warning",
        ),
        # several reasons, a prefix or a regex cannot be filtered by the server
        ({"reasons": ["A", "B"], "involved_name": "web-*"}, "", ""),
        (
            {"involved_kind": "Job", "involved_name": "re:job-.*"},
            "involvedObject.kind=Job",
            "regarding.kind=Job",
        ),
    ],
)
def test_field_selectors(kwargs, core_selector, modern_selector):
    event_filter = EventFilter(**kwargs)
    assert field_selector_for(event_filter) == core_selector
    assert field_selector_for(event_filter, api_group="events.k8s.io") == modern_selector


def test_payload_of_a_core_event():
    payload = event_payload(CORE, cluster="prod-eu")
    assert payload == {
        "uid": "u-1",
        "name": "web-7d4b9c-x2x.17c1a2b3c4d5e6f7",
        "namespace": "prod",
        "reason": "BackOff",
        "message": "Back-off restarting failed container web in pod web-7d4b9c-x2x_prod(pod-uid)",
        "type": "Warning",
        "involvedObject": {
            "kind": "Pod",
            "name": "web-7d4b9c-x2x",
            "namespace": "prod",
            "uid": "pod-uid",
            "apiVersion": "v1",
            "fieldPath": "spec.containers{web}",
        },
        "count": 4,
        "firstTimestamp": "2024-05-01T10:00:00Z",
        "lastTimestamp": "2024-05-01T10:05:00Z",
        "eventTime": None,
        "reportingComponent": "kubelet",
        "cluster": "prod-eu",
    }
    json.dumps(payload)


def test_payload_of_an_events_k8s_io_event_has_the_same_keys():
    payload = event_payload(MODERN)
    assert set(payload) == set(event_payload(CORE))
    assert payload["message"] == "Job has reached the specified backoff limit"
    assert payload["involvedObject"]["kind"] == "Job"
    assert payload["count"] == 3
    assert payload["firstTimestamp"] == "2024-05-01T10:00:00.000000Z"
    assert payload["lastTimestamp"] == "2024-05-01T10:07:00.000000Z"
    assert payload["reportingComponent"] == "job-controller"
    assert payload["cluster"] is None


def test_payload_converts_datetimes():
    from datetime import datetime, timezone

    event = {**CORE, "lastTimestamp": datetime(2024, 5, 1, tzinfo=timezone.utc)}
    assert event_payload(event)["lastTimestamp"] == "2024-05-01T00:00:00+00:00"


def test_dedup_key_changes_with_count():
    assert event_dedup_key(CORE) == "u-1#4"
    assert event_dedup_key({**CORE, "count": 5}) == "u-1#5"
    assert event_dedup_key({"metadata": {"namespace": "a", "name": "b"}}) == "a/b#1"
