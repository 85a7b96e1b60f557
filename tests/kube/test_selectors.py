"""kube.selectors: the selector syntax checks agree with the API server (the emulator's parser
mirrors it) on what is valid, so a check before sending never refuses what a cluster accepts."""

from __future__ import annotations

import pytest

from airflow_k8s_workflows.emulator.errors import ApiError
from airflow_k8s_workflows.emulator.selectors import FieldSelector, LabelSelector
from airflow_k8s_workflows.kube.selectors import (
    check_field_selector,
    check_label_selector,
    field_selector_errors,
    label_selector_errors,
)

LABEL_SELECTORS = [
    # valid
    "app=web", "app==web", "app!=web", "app=", "app", "!canary", "app in (web,api)", "tier notin (a, b)",
    "app=web,tier in (front),!canary", "example.com/app=web", "app.kubernetes.io/name=web-1",
    " app = web ", "app in (web),  env=prod",
    # invalid
    "app in (web", "-app=web", "app=web app", "app notin prod", "a,,b", "app=-web", "app=" + "v" * 64,
    "Example.com/app=web", "app=(web)", ",",
]  # fmt: skip


def _server_accepts_label(text: str) -> bool:
    try:
        LabelSelector.parse(text)
    except ApiError:
        return False
    return True


@pytest.mark.parametrize("text", LABEL_SELECTORS)
def test_label_selector_verdict_matches_the_server(text: str) -> None:
    assert (label_selector_errors(text) == []) == _server_accepts_label(text), label_selector_errors(text)


@pytest.mark.parametrize("text", ["status.phase=Running", "metadata.name!=a,spec.nodeName==n", "status.phase",
                                  "=Running", "metadata.name=a,,"])  # fmt: skip
def test_field_selector_syntax_matches_the_server(text: str) -> None:
    try:
        FieldSelector.parse(text, supported=("status.phase", "spec.nodeName"))
        server_ok = True
    except ApiError:
        server_ok = False
    assert (field_selector_errors(text) == []) == server_ok


def test_an_empty_value_set_is_refused_as_apimachinery_does() -> None:
    # labels.NewRequirement: "for 'in', 'notin' operators, values set can't be empty" (the
    # emulator's parser is laxer here)
    assert label_selector_errors("app in ()") == [
        "unable to parse requirement: for 'in', 'notin' operators, values set can't be empty"
    ]


def test_errors_lead_with_the_parameter_and_empty_means_none() -> None:
    with pytest.raises(
        ValueError, match=r"^label_selector: unable to parse requirement: found 'app=web app'"
    ):
        check_label_selector("app=web app")
    with pytest.raises(ValueError, match=r"^selector: must be a selector string"):
        check_label_selector({"app": "web"}, "selector")
    with pytest.raises(ValueError, match=r"^field_selector: invalid field selector: 'status.phase'"):
        check_field_selector("status.phase")
    assert check_label_selector("") is None and check_field_selector(None) is None
    assert check_label_selector("app=web") == "app=web"
