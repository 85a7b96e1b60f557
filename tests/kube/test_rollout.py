"""Rollout status and rollback.

The status tables are kubectl's own: staging/src/k8s.io/kubectl/pkg/polymorphichelpers/
rollout_status_test.go (TestDeploymentStatusViewerStatus, TestDaemonSetStatusViewerStatus,
TestStatefulSetStatusViewerStatus, ...WithWrongUpdateStrategyType), messages without the
trailing newline. Rollback cases follow rollback.go (DeploymentRollbacker.Rollback,
deploymentRevision, equalIgnoreHash, getDeploymentPatch, annotationsToSkip).
"""

import copy

import pytest

from airflow_k8s_workflows.kube.rollout import (
    RollbackError,
    controlled_replica_sets,
    deployment_revision,
    find_revision,
    rollback_plan,
    rollout_history,
    rollout_status,
)


def deployment(generation, spec_replicas, status, *, revision=None, conditions=None, api_version="apps/v1"):
    meta = {
        "namespace": "bar",
        "name": "foo",
        "uid": "8764ae47-9092-11e4-8393-42010af018ff",
        "generation": generation,
    }
    if revision is not None:
        meta["annotations"] = {"deployment.kubernetes.io/revision": revision}
    if conditions:
        status = {**status, "conditions": conditions}
    return {
        "apiVersion": api_version,
        "kind": "Deployment",
        "metadata": meta,
        "spec": {"replicas": spec_replicas},
        "status": status,
    }


# TestDeploymentStatusViewerStatus
@pytest.mark.parametrize(
    ("generation", "spec_replicas", "status", "message", "done"),
    [
        (
            0,
            1,
            {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 0, "availableReplicas": 1},
            'Waiting for deployment "foo" rollout to finish: 0 out of 1 new replicas have been updated...',
            False,
        ),
        (
            1,
            1,
            {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 2},
            'Waiting for deployment "foo" rollout to finish: 1 old replicas are pending termination...',
            False,
        ),
        (
            1,
            2,
            {
                "observedGeneration": 1,
                "replicas": 2,
                "updatedReplicas": 2,
                "availableReplicas": 1,
                "unavailableReplicas": 1,
            },
            'Waiting for deployment "foo" rollout to finish: 1 of 2 updated replicas are available...',
            False,
        ),
        (
            1,
            2,
            {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
            'deployment "foo" successfully rolled out',
            True,
        ),
        (
            2,
            2,
            {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
            "Waiting for deployment spec update to be observed...",
            False,
        ),
    ],
)
def test_deployment_status_kubectl_table(generation, spec_replicas, status, message, done):
    result = rollout_status(deployment(generation, spec_replicas, status))
    assert result.message == message
    assert result.done is done
    assert result.failed is False


def test_deployment_progress_deadline_exceeded():
    conditions = [
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"},
    ]
    status = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 0}
    result = rollout_status(deployment(1, 2, status, conditions=conditions))
    assert result.failed
    assert not result.done
    assert result.reason == "ProgressDeadlineExceeded"
    assert result.message == 'deployment "foo" exceeded its progress deadline'


def test_progress_deadline_only_counts_once_observed():
    conditions = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    status = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    result = rollout_status(deployment(2, 2, status, conditions=conditions))
    assert result.message == "Waiting for deployment spec update to be observed..."
    assert not result.failed


def test_deployment_revision_mismatch_and_match():
    status = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    result = rollout_status(deployment(1, 2, status, revision="2"), revision=3)
    assert result.failed
    assert result.reason == "RevisionMismatch"
    assert result.message == "desired revision (3) is different from the running revision (2)"
    assert rollout_status(deployment(1, 2, status, revision="3"), revision=3).done
    result = rollout_status(deployment(1, 2, status, revision="x"), revision=3)
    assert result.reason == "InvalidRevision"
    assert (
        result.message
        == 'cannot get the revision of deployment "foo": strconv.ParseInt: parsing "x": invalid syntax'
    )


def test_extensions_group_deployment_is_supported():
    status = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    assert rollout_status(deployment(1, 1, status, api_version="extensions/v1beta1")).done


def daemonset(generation, status, strategy="RollingUpdate"):
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"namespace": "bar", "name": "foo", "generation": generation},
        "spec": {"updateStrategy": {"type": strategy}},
        "status": status,
    }


# TestDaemonSetStatusViewerStatus
@pytest.mark.parametrize(
    ("generation", "status", "message", "done"),
    [
        (
            0,
            {
                "observedGeneration": 1,
                "updatedNumberScheduled": 0,
                "desiredNumberScheduled": 1,
                "numberAvailable": 0,
            },
            'Waiting for daemon set "foo" rollout to finish: 0 out of 1 new pods have been updated...',
            False,
        ),
        (
            1,
            {
                "observedGeneration": 1,
                "updatedNumberScheduled": 2,
                "desiredNumberScheduled": 2,
                "numberAvailable": 1,
            },
            'Waiting for daemon set "foo" rollout to finish: 1 of 2 updated pods are available...',
            False,
        ),
        (
            1,
            {
                "observedGeneration": 1,
                "updatedNumberScheduled": 2,
                "desiredNumberScheduled": 2,
                "numberAvailable": 2,
            },
            'daemon set "foo" successfully rolled out',
            True,
        ),
        (
            2,
            {
                "observedGeneration": 1,
                "updatedNumberScheduled": 2,
                "desiredNumberScheduled": 2,
                "numberAvailable": 2,
            },
            "Waiting for daemon set spec update to be observed...",
            False,
        ),
    ],
)
def test_daemonset_status_kubectl_table(generation, status, message, done):
    result = rollout_status(daemonset(generation, status))
    assert result.message == message
    assert result.done is done


# TestDaemonSetStatusViewerStatusWithWrongUpdateStrategyType
def test_daemonset_on_delete_is_an_error():
    result = rollout_status(daemonset(0, {}, strategy="OnDelete"))
    assert result.failed
    assert result.reason == "UnsupportedStrategy"
    assert result.message == "rollout status is only available for RollingUpdate strategy type"


def statefulset(generation, strategy, status):
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"namespace": "default", "name": "foo", "labels": {"a": "b"}, "generation": generation},
        "spec": {"replicas": 3, "updateStrategy": strategy, "podManagementPolicy": "OrderedReady"},
        "status": status,
    }


# TestStatefulSetStatusViewerStatus ("on delete returns an error" is covered below)
@pytest.mark.parametrize(
    ("generation", "strategy", "status", "message", "done"),
    [
        (
            2,
            {"type": "RollingUpdate"},
            {
                "observedGeneration": 1,
                "replicas": 3,
                "readyReplicas": 3,
                "currentReplicas": 3,
                "updatedReplicas": 0,
            },
            "Waiting for statefulset spec update to be observed...",
            False,
        ),
        (
            1,
            {"type": "RollingUpdate"},
            {
                "observedGeneration": 2,
                "replicas": 3,
                "readyReplicas": 2,
                "currentReplicas": 3,
                "updatedReplicas": 0,
            },
            "Waiting for 1 pods to be ready...",
            False,
        ),
        (
            1,
            {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            {
                "observedGeneration": 2,
                "replicas": 3,
                "readyReplicas": 3,
                "currentReplicas": 2,
                "updatedReplicas": 1,
            },
            "partitioned roll out complete: 1 new pods have been updated...",
            True,
        ),
        (
            1,
            {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            {
                "observedGeneration": 2,
                "replicas": 3,
                "readyReplicas": 3,
                "currentReplicas": 3,
                "updatedReplicas": 0,
            },
            "Waiting for partitioned roll out to finish: 0 out of 1 new pods have been updated...",
            False,
        ),
        (
            1,
            {"type": "RollingUpdate"},
            {
                "observedGeneration": 2,
                "replicas": 3,
                "readyReplicas": 3,
                "currentReplicas": 3,
                "updatedReplicas": 3,
                "currentRevision": "foo",
                "updateRevision": "foo",
            },
            "statefulset rolling update complete 3 pods at revision foo...",
            True,
        ),
    ],
)
def test_statefulset_status_kubectl_table(generation, strategy, status, message, done):
    result = rollout_status(statefulset(generation, strategy, status))
    assert result.message == message
    assert result.done is done


def test_statefulset_revisions_differ_and_unobserved():
    status = {
        "observedGeneration": 1,
        "readyReplicas": 3,
        "updatedReplicas": 1,
        "currentRevision": "a",
        "updateRevision": "b",
    }
    result = rollout_status(statefulset(1, {"type": "RollingUpdate"}, status))
    assert result.message == "waiting for statefulset rolling update to complete 1 pods at revision b..."
    assert not result.done
    # observedGeneration 0 is never "observed"
    result = rollout_status(statefulset(0, {"type": "RollingUpdate"}, {"readyReplicas": 3}))
    assert result.message == "Waiting for statefulset spec update to be observed..."


def test_statefulset_on_delete_is_an_error():
    status = {"observedGeneration": 1, "replicas": 0, "readyReplicas": 1}
    result = rollout_status(statefulset(1, {"type": "OnDelete"}, status))
    assert result.failed
    assert result.message == "rollout status is only available for RollingUpdate strategy type"


def test_missing_strategy_type_is_the_api_default():
    status = {
        "observedGeneration": 1,
        "updatedNumberScheduled": 1,
        "desiredNumberScheduled": 1,
        "numberAvailable": 1,
    }
    ds = daemonset(1, status)
    del ds["spec"]["updateStrategy"]
    assert rollout_status(ds).done


def test_other_kinds_have_no_status_viewer():
    with pytest.raises(ValueError, match=r"no status viewer has been implemented for Job\.batch"):
        rollout_status({"apiVersion": "batch/v1", "kind": "Job"})


# --- rollback --------------------------------------------------------------------------------

UID = "d-uid"


def template(image, *, hash_=None, extra_labels=None):
    labels = {"app": "web", **(extra_labels or {})}
    if hash_:
        labels["pod-template-hash"] = hash_
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": image}]}}


def replica_set(name, revision, image, *, owner_uid=UID, owner_name="web", annotations=None):
    meta = {
        "name": name,
        "namespace": "prod",
        "annotations": {"deployment.kubernetes.io/revision": str(revision), **(annotations or {})},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": owner_name,
                "uid": owner_uid,
                "controller": True,
            }
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta,
        "spec": {"template": template(image, hash_=name.split("-")[-1])},
    }


def web(image="web:3", *, paused=False, annotations=None):
    meta = {
        "name": "web",
        "namespace": "prod",
        "uid": UID,
        "annotations": annotations
        if annotations is not None
        else {
            "deployment.kubernetes.io/revision": "3",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "team": "payments",
        },
    }
    spec = {"replicas": 2, "template": template(image)}
    if paused:
        spec["paused"] = True
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


HISTORY = [
    replica_set("web-111", 1, "web:1", annotations={"kubernetes.io/change-cause": "first"}),
    replica_set("web-333", 3, "web:3"),
    replica_set(
        "web-222",
        2,
        "web:2",
        annotations={
            "kubernetes.io/change-cause": "second",
            "deployment.kubernetes.io/desired-replicas": "2",
        },
    ),
    replica_set("other-999", 9, "other:9", owner_uid="someone-else", owner_name="other"),
    replica_set("web-888", 8, "web:8", owner_uid="a-deleted-web"),  # an older "web" with another uid
]


def test_deployment_revision():
    assert deployment_revision(web()) == 3
    assert deployment_revision({"metadata": {}}) == 0
    with pytest.raises(ValueError, match="invalid syntax"):
        deployment_revision({"metadata": {"annotations": {"deployment.kubernetes.io/revision": "3 "}}})


def test_controlled_replica_sets_ignores_other_owners():
    assert [rs["metadata"]["name"] for rs in controlled_replica_sets(web(), HISTORY)] == [
        "web-111",
        "web-333",
        "web-222",
    ]
    no_uid = web()
    del no_uid["metadata"]["uid"]
    # without a uid only kind and name can tell: the older "web"'s ReplicaSet counts too
    assert len(controlled_replica_sets(no_uid, HISTORY)) == 4


def test_default_target_is_the_previous_revision():
    assert find_revision(web(), HISTORY)["metadata"]["name"] == "web-222"
    assert find_revision(web(), HISTORY, 1)["metadata"]["name"] == "web-111"


def test_rollback_patch_like_kubectl():
    plan = rollback_plan(web(), HISTORY)
    assert not plan.skipped
    assert plan.message == "rolled back"
    assert plan.revision == 2
    assert plan.replica_set == "web-222"
    assert plan.patch == [
        {
            "op": "replace",
            "path": "/spec/template",
            "value": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:2"}]},
            },
        },
        {
            "op": "replace",
            "path": "/metadata/annotations",
            # skipped keys stay from the Deployment, others come from the ReplicaSet; "team" is dropped
            "value": {
                "deployment.kubernetes.io/revision": "3",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "kubernetes.io/change-cause": "second",
            },
        },
    ]


def test_rollback_does_not_mutate_inputs():
    history = copy.deepcopy(HISTORY)
    rollback_plan(web(), history)
    assert history == HISTORY


def test_rollback_to_the_current_template_is_skipped():
    plan = rollback_plan(web(image="web:2"), HISTORY)
    assert plan.skipped
    assert plan.patch == []
    assert plan.message == "skipped rollback (current template already matches revision 2)"


def test_template_comparison_ignores_empty_values_and_the_hash():
    current = web(image="web:2")
    current["spec"]["template"]["metadata"]["annotations"] = {}
    current["spec"]["template"]["spec"]["volumes"] = None
    assert rollback_plan(current, HISTORY).skipped


@pytest.mark.parametrize(
    ("to_revision", "message"),
    [
        (7, "unable to find specified revision 7 in history"),
        (-1, "unable to find specified revision -1 in history"),
    ],
)
def test_unknown_revision(to_revision, message):
    with pytest.raises(RollbackError, match=f"^{message}$"):
        rollback_plan(web(), HISTORY, to_revision)


def test_no_history():
    with pytest.raises(RollbackError, match=r'^no rollout history found for deployment "web"$'):
        rollback_plan(web(), [HISTORY[1]])


def test_paused_deployment_is_refused_after_the_revision_lookup():
    with pytest.raises(
        RollbackError,
        match=r"you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume deployment/web' and try again",
    ):
        rollback_plan(web(paused=True), HISTORY)
    # kubectl looks the revision up first, so a missing revision wins over paused
    with pytest.raises(RollbackError, match="unable to find specified revision 8"):
        rollback_plan(web(paused=True), HISTORY, 8)


def test_malformed_revisions_are_ignored():
    broken = replica_set("web-444", 4, "web:4")
    broken["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "four"
    assert find_revision(web(), [*HISTORY, broken])["metadata"]["name"] == "web-222"


def test_deployment_without_annotations_gets_an_add():
    plan = rollback_plan(web(annotations={}), HISTORY)
    assert plan.patch[1]["op"] == "replace"
    bare = web()
    del bare["metadata"]["annotations"]
    plan = rollback_plan(bare, HISTORY)
    assert plan.patch[1] == {
        "op": "add",
        "path": "/metadata/annotations",
        "value": {"kubernetes.io/change-cause": "second"},
    }


def test_rollout_history():
    history = rollout_history(web(), HISTORY)
    assert [(h.revision, h.replica_set, h.change_cause, h.images) for h in history] == [
        (1, "web-111", "first", ("web:1",)),
        (2, "web-222", "second", ("web:2",)),
        (3, "web-333", None, ("web:3",)),
    ]
