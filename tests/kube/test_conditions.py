"""kubectl wait semantics. Cases come from staging/src/k8s.io/kubectl/pkg/cmd/wait/wait_test.go
(TestWaitForCondition's observedGeneration cases, TestWaitForDifferentJSONPathExpression on its
podYAML, TestWaitForJSONPathCondition) and wait.go (conditionFuncFor, processJSONPathInput,
splitJSONPathInput, JSONPathWait.checkCondition, compareResults)."""

import pytest
import yaml

from airflow_k8s_workflows.kube.conditions import (
    ConditionWait,
    DeletedWait,
    JSONPathWait,
    WaitForError,
    go_value_text,
    parse_wait_for,
    to_jsonpath_ng,
)

# wait_test.go's podYAML, trimmed to what the cases read.
POD = yaml.safe_load(
    """
apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: "1998-10-21T18:39:43Z"
  labels:
    app: nginx
    pod-template-hash: b6699dcfb
    app.kubernetes.io/name: web
  name: foo-b6699dcfb-rnv7t
  namespace: default
spec:
  containers:
  - image: nginx
    name: nginx
    ports:
    - containerPort: 80
      protocol: TCP
  nodeName: knode0
status:
  conditions:
  - status: "True"
    type: Initialized
  - status: "True"
    type: Ready
  - status: "True"
    type: ContainersReady
  - status: "True"
    type: PodScheduled
  containerStatuses:
  - name: nginx
    ready: true
    restartCount: 0
    started: true
  phase: Running
  podIP: 10.42.1.203
"""
)


def with_conditions(*conditions, generation=None, observed=None):
    obj = {
        "apiVersion": "group/version",
        "kind": "TheKind",
        "metadata": {"name": "name-foo", "namespace": "ns-foo"},
    }
    if generation is not None:
        obj["metadata"]["generation"] = generation
    obj["status"] = {"conditions": list(conditions)}
    if observed is not None:
        obj["status"]["observedGeneration"] = observed
    return obj


# --- condition -------------------------------------------------------------------------------


def test_condition_defaults_to_true_and_is_case_insensitive():
    wait = parse_wait_for(condition="Available")
    assert wait == ConditionWait("Available", "True")
    assert wait.matches(with_conditions({"type": "available", "status": "true"}))
    assert not wait.matches(with_conditions({"type": "Available", "status": "False"}))
    assert not wait.matches(with_conditions())
    assert not wait.matches(None)
    assert wait.description == "condition Available=True"


def test_condition_with_value():
    wait = parse_wait_for(condition="Ready=False")
    assert wait.matches(with_conditions({"type": "Ready", "status": "False"}))
    assert not wait.matches(with_conditions({"type": "Ready", "status": "True"}))
    # kubectl's own --for form is accepted as well
    assert parse_wait_for(condition="condition=Ready=false") == ConditionWait("Ready", "false")


def test_condition_status_value_can_be_anything():
    wait = parse_wait_for(condition="the-condition=status-value")
    assert wait.matches(with_conditions({"type": "the-condition", "status": "status-value"}))


def test_stale_condition_observed_generation_does_not_count():
    # "times out due to stale .condition[].observedGeneration"
    stale = with_conditions(
        {"type": "the-condition", "status": "status-value", "observedGeneration": 1}, generation=2
    )
    wait = parse_wait_for(condition="the-condition=status-value")
    assert not wait.matches(stale)
    fresh = with_conditions(
        {"type": "the-condition", "status": "status-value", "observedGeneration": 2}, generation=2
    )
    assert wait.matches(fresh)
    # "times out due to stale .status.observedGeneration"
    assert not wait.matches(
        with_conditions({"type": "the-condition", "status": "status-value"}, generation=2, observed=1)
    )
    assert wait.matches(
        with_conditions({"type": "the-condition", "status": "status-value"}, generation=2, observed=2)
    )


def test_first_condition_of_the_type_decides():
    obj = with_conditions({"type": "Ready", "status": "False"}, {"type": "Ready", "status": "True"})
    assert not parse_wait_for(condition="Ready").matches(obj)


def test_condition_current_text():
    wait = parse_wait_for(condition="Available")
    obj = with_conditions(
        {
            "type": "Available",
            "status": "False",
            "reason": "MinimumReplicasUnavailable",
            "message": "Deployment does not have minimum availability.",
        }
    )
    assert (
        wait.current(obj)
        == "Available=False (MinimumReplicasUnavailable): Deployment does not have minimum availability."
    )
    assert wait.current(with_conditions()) == "no Available condition yet"


@pytest.mark.parametrize("bad", ["", "=True", "Ready=", "condition="])
def test_malformed_condition_names_the_parameter(bad):
    with pytest.raises(WaitForError) as info:
        parse_wait_for(condition=bad)
    assert info.value.parameter == "condition"
    assert str(info.value).startswith("condition: ")


# --- jsonpath --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # TestWaitForDifferentJSONPathExpression
        ("{.foo.bar}=baz", False),  # "JSONPath entry not exist"
        ("{.status.containerStatuses[0].ready}=true", True),
        ("{.status.containerStatuses[0].ready}=false", False),
        ("{.spec.containers[0].ports[0].containerPort}=80", True),
        ("{.spec.containers[0].ports[0].containerPort}=81", False),
        ("{.spec.nodeName}=knode0", True),
        ("{.spec.nodeName}=kmaster", False),
        # TestWaitForJSONPathCondition "present on get"
        ("{.metadata.name}=foo-b6699dcfb-rnv7t", True),
        # wait.go's examples
        ("{.status.phase}=Running", True),
        ('{.status.conditions[?(@.type=="Ready")].status}=True', True),
        ("{.status.conditions[?(@.type=='Ready')].status}=True", True),
        # relaxed forms (RelaxedJSONPathExpression)
        (".status.phase=Running", True),
        ("status.phase=Running", True),
        ("{status.phase}=Running", True),
        # value quotes are trimmed, blanks around values ignored
        ('{.status.phase}="Running"', True),
        ("{.status.phase}=' Running'", True),
        # label keys with dots and slashes
        (r"{.metadata.labels.app\.kubernetes\.io/name}=web", True),
        ("{.metadata.labels['app.kubernetes.io/name']}=web", True),
        ("{.metadata.labels.pod-template-hash}=b6699dcfb", True),
        # recursive descent
        ("{..podIP}=10.42.1.203", True),
        # a filter with != stays inside the braces
        ('{.status.conditions[?(@.status!="True")].type}=Ready', False),
    ],
)
def test_jsonpath_values(spec, expected):
    assert parse_wait_for(jsonpath=spec).matches(POD) is expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{.status.conditions[*]}=foo", "given jsonpath expression matches more than one value"),
        ("{.status.conditions}=True", "jsonpath leads to a nested object or list which is not supported"),
        ("{.spec}=foo", "jsonpath leads to a nested object or list which is not supported"),
    ],
)
def test_jsonpath_evaluation_errors_like_kubectl(spec, message):
    wait = parse_wait_for(jsonpath=spec)
    with pytest.raises(WaitForError, match=message) as info:
        wait.matches(POD)
    assert info.value.parameter == "jsonpath"


def test_jsonpath_without_value_means_the_path_exists():
    wait = parse_wait_for(jsonpath="{.status.loadBalancer.ingress}")
    assert isinstance(wait, JSONPathWait)
    assert wait.value is None
    assert wait.description == "jsonpath {.status.loadBalancer.ingress} exists"
    assert not wait.matches({"status": {}})
    assert wait.matches({"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}})
    # exists even when the value is an object, a list or null
    assert wait.matches({"status": {"loadBalancer": {"ingress": []}}})


def test_out_of_range_index_is_not_yet():
    # kubectl errors ("array index out of bounds"); a wait that starts early should keep waiting
    wait = parse_wait_for(jsonpath="{.status.containerStatuses[3].ready}=true")
    assert not wait.matches(POD)


def test_jsonpath_values_are_go_formatted():
    assert parse_wait_for(jsonpath="{.spec.replicas}=3").matches({"spec": {"replicas": 3}})
    assert parse_wait_for(jsonpath="{.spec.ratio}=3").matches({"spec": {"ratio": 3.0}})
    assert parse_wait_for(jsonpath="{.spec.ratio}=1e+06").matches({"spec": {"ratio": 1000000.0}})
    assert parse_wait_for(jsonpath="{.spec.paused}=false").matches({"spec": {"paused": False}})
    assert not parse_wait_for(jsonpath="{.spec.paused}=False").matches({"spec": {"paused": False}})


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (None, "<nil>"), (3, "3"), (3.0, "3"), (0.5, "0.5"), (123456.0, "123456"), (1e6, "1e+06"),
     (1e-05, "1e-05"), (0.0001, "0.0001"), (-2.5, "-2.5"), (1.5e300, "1.5e+300"), ("x", "x")],
)  # fmt: skip
def test_go_value_text(value, text):
    assert go_value_text(value) == text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{.status.phase}=", "jsonpath wait has to have a value after equal sign"),
        ("", "jsonpath expression cannot be empty"),
        ("{}", "unexpected path string"),
        ("{.status.phase", "unexpected path string"),
        ("a=b=c", "jsonpath wait format must be"),
        ("{.status.phase}Running", "unexpected 'Running' after the expression"),
        ("{.status[?(@.x==}", "cannot parse {.status[?(@.x==}"),
        ("{.status.}", "cannot parse"),
    ],
)
def test_malformed_jsonpath_names_the_parameter(spec, message):
    with pytest.raises(WaitForError, match=r"^jsonpath: ") as info:
        parse_wait_for(jsonpath=spec)
    assert message in info.value.reason
    assert info.value.parameter == "jsonpath"


def test_translation_to_jsonpath_ng():
    assert to_jsonpath_ng(".status.phase") == "$.'status'.'phase'"
    assert to_jsonpath_ng(r".metadata.labels.a\.b/c") == "$.'metadata'.'labels'.'a.b/c'"
    assert to_jsonpath_ng(".items[*].metadata.name") == "$.'items'[*].'metadata'.'name'"
    assert to_jsonpath_ng("..name") == "$..'name'"


# --- deleted and the rest --------------------------------------------------------------------


def test_deleted():
    wait = parse_wait_for(deleted=True)
    assert wait == DeletedWait()
    assert wait.matches(None)
    assert not wait.matches(POD)
    assert wait.matches_event("DELETED", POD)
    assert wait.current({"metadata": {"deletionTimestamp": "x"}}) == "being deleted (finalizers pending)"


def test_deleted_with_uid_counts_a_replacement():
    wait = parse_wait_for(deleted=True, uid="old")
    assert wait.matches({"metadata": {"uid": "new"}})
    assert not wait.matches({"metadata": {"uid": "old"}})


def test_deleted_event_means_conditions_are_not_met():
    wait = parse_wait_for(jsonpath="{.status.phase}=Running")
    assert wait.matches_event("MODIFIED", POD)
    assert not wait.matches_event("DELETED", POD)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"condition": "Ready", "jsonpath": "{.a}"}, {"condition": "Ready", "deleted": True}],
)
def test_exactly_one_kind_of_wait(kwargs):
    with pytest.raises(WaitForError, match="give exactly one of condition, jsonpath or deleted=True"):
        parse_wait_for(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"condition": "Ready=False"},
        {"jsonpath": "{.status.phase}=Running"},
        {"jsonpath": "{.a.b}"},
        {"deleted": True},
    ],
)
def test_kwargs_round_trip(kwargs):
    wait = parse_wait_for(**kwargs)
    assert parse_wait_for(**wait.kwargs()) == wait
    assert str(wait) == wait.description


def test_jsonpath_wait_can_be_built_directly():
    wait = JSONPathWait("status.phase", "Running")
    assert wait.expression == "{.status.phase}"
    assert wait.matches(POD)
    assert wait == parse_wait_for(jsonpath="{.status.phase}=Running")


def test_wait_for_error_survives_pickling():
    import pickle

    error = WaitForError("jsonpath", "jsonpath expression cannot be empty")
    copy_ = pickle.loads(pickle.dumps(error))
    assert (copy_.parameter, copy_.reason, str(copy_)) == (error.parameter, error.reason, str(error))
