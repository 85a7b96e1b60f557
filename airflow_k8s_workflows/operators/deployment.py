"""Deploy a Deployment and wait for its rollout; roll it back when it fails."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_k8s_workflows.operators.base import KubernetesOperator, KubernetesTaskFailed
from airflow_k8s_workflows.triggers.rollout import RolloutTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_k8s_workflows.operators._rollback import Rollback

__all__ = ["DeployOperator", "RollbackDeploymentOperator"]


@dataclass(frozen=True)
class _Write:
    """What a deploy sent: the Deployment, the image that now runs in the chosen container, the
    live object before the write (None: created), and whether anything changed."""

    name: str
    namespace: str
    image: str | None
    before: dict[str, Any] | None
    changed: bool


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


class _RolloutWaiter(KubernetesOperator):
    """Waits on a Deployment rollout with the trigger's own timeout (so a timeout can be handled)."""

    def _wait_rollout(
        self, context: Context, name: str, namespace: str, method_name: str, *,
        stale_deadline: str | None, echo: dict[str, Any],
    ) -> Any:  # fmt: skip
        from airflow_k8s_workflows.operators._waiting import trigger_cluster_for, wait_with_trigger_timeout

        cluster = trigger_cluster_for(self)

        def make(timeout: float | None) -> RolloutTrigger:
            return RolloutTrigger(kind="Deployment", name=name, namespace=namespace, cluster=cluster,
                                  timeout=timeout, stale_deadline=stale_deadline, echo=echo)  # fmt: skip

        return wait_with_trigger_timeout(self, context, make, method_name)

    def _roll_back(self, name: str, namespace: str, to_revision: int = 0) -> Rollback:
        from airflow_k8s_workflows.operators._rollback import roll_back

        return roll_back(self.hook, name, namespace, to_revision)


class DeployOperator(_RolloutWaiter):
    """Deploy, wait for the rollout like ``kubectl rollout status``, roll back if it fails.

    Either apply a Deployment manifest (server-side apply taking over conflicting fields; other
    objects in the manifest, e.g. its Service and ConfigMap, are applied first), or set a new
    image on one container of an existing Deployment (``kubectl set image``). Then the rollout
    is followed on a watch, with progress lines in the task log ("2 of 4 updated replicas are
    available..."); deferrable mode waits in the triggerer.

    When the rollout fails (ProgressDeadlineExceeded — set ``progressDeadlineSeconds`` — or
    ``timeout``) and ``rollback_on_failure``, the Deployment is rolled back to the previous
    revision (``kubectl rollout undo``), the rollback's rollout is waited for, and the task fails
    with the reason and the failing pods' problems (ImagePullBackOff, CrashLoopBackOff...).
    Deploying what already runs changes nothing and succeeds at once.

    Returns ``{"deployment", "namespace", "revision", "previous_revision", "image"}``
    (``image``: of ``container``, else of the first container).

    :param manifest: a Deployment, optionally with more objects (dict, list, YAML text or a
        ``.yaml``/``.yml``/``.json`` path relative to the DAG folder; templated).
    :param deployment: name of an existing Deployment whose image to change (with ``image``).
    :param image: the new image (templated).
    :param container: the container to update; required when the Deployment has several.
    :param rollback_on_failure: roll back a failed rollout before failing.

    Example::

        DeployOperator(task_id="deploy", deployment="web", image="registry/web:{{ params.tag }}",
                       namespace="prod", timeout=900)
    """

    template_fields: Sequence[str] = (
        *KubernetesOperator.template_fields, "manifest", "deployment", "image", "container",
    )  # fmt: skip
    template_ext: Sequence[str] = (".yaml", ".yml", ".json")
    ui_color = "#c9f2d0"

    def __init__(
        self,
        *,
        manifest: Any = None,
        deployment: str | None = None,
        image: str | None = None,
        container: str | None = None,
        rollback_on_failure: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.manifest = manifest
        self.deployment = deployment
        self.image = image
        self.container = container
        self.rollback_on_failure = rollback_on_failure
        self._check_arguments()

    def _check_arguments(self) -> None:
        from airflow_k8s_workflows.kube.manifests import check_object_name
        from airflow_k8s_workflows.kube.naming import image_reference_errors

        if (self.manifest is None) == (self.deployment is None):
            raise ValueError(
                "manifest / deployment: give exactly one (a manifest to apply, or a Deployment name)"
            )
        if self.deployment is not None:
            if not _templated(self.deployment):
                check_object_name(self.deployment, "deployment", api_version="apps/v1", kind="Deployment")
            if not self.image or not isinstance(self.image, str):
                raise ValueError(f"image: required with deployment=, got {self.image!r}")
            if not _templated(self.image):
                for problem in image_reference_errors(self.image):
                    raise ValueError(f"image: {problem}")
        elif self.image is not None:
            raise ValueError("image: only with deployment=; a manifest names its own images")
        if self.container is not None and (not isinstance(self.container, str) or not self.container):
            raise ValueError(f"container: must be a container name, got {self.container!r}")

    def execute(self, context: Context) -> Any:
        from airflow_k8s_workflows.kube.deploy import deadline_marker
        from airflow_k8s_workflows.kube.rollout import deployment_revision

        self._check_arguments()
        write = self._set_image() if self.deployment is not None else self._apply_manifest(context)
        previous = (deployment_revision(write.before) or None) if write.before is not None else None
        if not write.changed:
            return self._result(write.name, write.namespace, previous, previous, write.image)
        echo = {"deployment": write.name, "namespace": write.namespace, "previous_revision": previous,
                "image": write.image}  # fmt: skip
        return self._wait_rollout(context, write.name, write.namespace, "execute_complete",
                                  stale_deadline=deadline_marker(write.before), echo=echo)  # fmt: skip

    # -- the write ----------------------------------------------------------------------------
    def _set_image(self) -> _Write:
        from airflow_k8s_workflows.kube.deploy import choose_container, container_image, set_image_patch
        from airflow_k8s_workflows.kube.errors import NotFound

        assert self.deployment is not None and self.image is not None
        name, image, namespace = self.deployment, self.image, self.resolved_namespace
        try:
            live = self.hook.get("apps/v1", "Deployment", name, namespace)
        except NotFound:
            raise KubernetesTaskFailed(f'deployment: "{name}" not found in namespace "{namespace}"') from None
        container = choose_container(live, self.container)
        if container_image(live, container) == image:
            self.log.info('deployment "%s" already runs %s in container %s: nothing to deploy',
                          name, image, container)  # fmt: skip
            return _Write(name, namespace, image, live, changed=False)
        self.log.info('Setting image of deployment "%s" container %s to %s', name, container, image)
        self.hook.patch("apps/v1", "Deployment", name, set_image_patch(container, image), namespace,
                        patch_type="strategic")  # fmt: skip
        return _Write(name, namespace, image, live, changed=True)

    def _apply_manifest(self, context: Context) -> _Write:
        from airflow_k8s_workflows.kube.deploy import (
            choose_container,
            container_image,
            split_deploy_manifests,
        )
        from airflow_k8s_workflows.kube.manifests import ManifestError, load_manifests, validate_manifests
        from airflow_k8s_workflows.operators._manifests import resolve_items

        fileloc = getattr(context.get("dag") if context else None, "fileloc", None)
        try:
            docs = load_manifests(self.manifest, base_dir=os.path.dirname(fileloc) if fileloc else None)
            checks = validate_manifests(docs)
        except ManifestError as e:
            raise e.in_parameter("manifest") from None
        for doc in docs:
            declared = doc["metadata"].get("namespace")
            if self.namespace and declared and declared != self.namespace:
                raise ValueError(f"namespace: {self.namespace!r}, but {doc['kind']}/{doc['metadata'].get('name')} "
                                 f"declares namespace {declared!r}")  # fmt: skip
        deployment, others = split_deploy_manifests(docs)
        try:  # every kind served, no object twice: before the first write
            resolve_items(self.hook, docs, checks, self.namespace)
        except ManifestError as e:
            raise e.in_parameter("manifest") from None
        name = str(deployment["metadata"]["name"])
        containers = deployment["spec"]["template"]["spec"]["containers"]
        if self.container or len(containers) == 1:
            container = choose_container(deployment, self.container)
        else:  # the manifest sets every image; `container` only picks the one to report
            container = str(containers[0]["name"])
        namespace = self.hook.get_namespace(deployment["metadata"].get("namespace") or self.namespace)
        live = self.hook.get_or_none("apps/v1", "Deployment", name, namespace)
        self._dry_run([*others, deployment], namespace)
        for doc in others:  # objects without a namespace go next to their Deployment
            applied = self.hook.apply(
                doc, None if doc["metadata"].get("namespace") else namespace, force=True
            )
            self.log.info("%s/%s applied", applied.get("kind"), applied["metadata"]["name"])
        applied = self.hook.apply(deployment, namespace, force=True)
        image = container_image(applied, container)
        if live is not None and applied["metadata"].get("generation") == live["metadata"].get("generation"):
            self.log.info('deployment "%s" unchanged: nothing to roll out', name)
            return _Write(name, namespace, image, live, changed=False)
        self.log.info('deployment "%s" %s', name, "configured" if live is not None else "created")
        return _Write(name, namespace, image, live, changed=True)

    def _dry_run(self, docs: list[dict[str, Any]], namespace: str) -> None:
        """A server-side dry run of every object: what the cluster would refuse, nothing written."""
        from airflow_k8s_workflows.kube.errors import KubeApiError

        new_namespaces = {
            str(d["metadata"]["name"])
            for d in docs
            if d.get("kind") == "Namespace" and d.get("apiVersion") == "v1"
        }
        problems = []
        for doc in docs:
            declared = doc["metadata"].get("namespace")
            if doc.get("kind") == "Namespace" or (declared or namespace) in new_namespaces:
                continue  # its namespace is created by this manifest: the server cannot check it yet
            try:
                self.hook.apply(doc, None if declared else namespace, force=True, dry_run=True)
            except KubeApiError as e:
                problems.append(f"{doc['kind']}/{doc['metadata'].get('name')}: {e.describe()}")
        if problems:
            raise KubernetesTaskFailed(
                "nothing was applied; the cluster refused:\n  " + "\n  ".join(problems)
            )

    @staticmethod
    def _result(name: str, namespace: str, revision: int | None, previous: int | None,
                image: str | None) -> dict[str, Any]:  # fmt: skip
        return {"deployment": name, "namespace": namespace, "revision": revision,
                "previous_revision": previous, "image": image}  # fmt: skip

    # -- after the wait -------------------------------------------------------------------------
    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from airflow_k8s_workflows.kube.rollout import RollbackError

        echo = event.get("echo") or {}
        name, namespace = echo["deployment"], echo["namespace"]
        if event.get("status") == "success":
            revision = (event.get("result") or {}).get("revision")
            return self._result(name, namespace, revision, echo.get("previous_revision"), echo.get("image"))
        failure = _failure_text(event)
        if event.get("status") not in ("failed", "timeout") or not self.rollback_on_failure:
            raise KubernetesTaskFailed(failure)
        self.log.error("Rollout failed: %s", failure)
        try:
            rollback = self._roll_back(name, namespace)
        except RollbackError as e:
            raise KubernetesTaskFailed(f"{failure}\nnot rolled back: {e}") from None
        if rollback.plan.skipped:
            raise KubernetesTaskFailed(f"{failure}\nnot rolled back: {rollback.plan.message}")
        self.log.warning('Rolling deployment "%s" back to revision %d', name, rollback.plan.revision)
        echo = {**echo, "failure": failure, "rolled_back_to": rollback.plan.revision}
        return self._wait_rollout(context, name, namespace, "rollback_complete",
                                  stale_deadline=rollback.stale_deadline, echo=echo)  # fmt: skip

    def rollback_complete(self, context: Context, event: dict[str, Any]) -> Any:
        echo = event.get("echo") or {}
        target = echo.get("rolled_back_to")
        if event.get("status") == "success":
            revision = (event.get("result") or {}).get("revision")
            rolled_back = (
                f"rolled back to revision {target} (now revision {revision}): {event.get('message')}"
            )
            self.log.warning("%s", rolled_back)
            raise KubernetesTaskFailed(f"{echo.get('failure')}\n{rolled_back}")
        raise KubernetesTaskFailed(
            f"{echo.get('failure')}\nthe rollback to revision {target} did not complete either: "
            f"{_failure_text(event)}"
        )


def _failure_text(event: dict[str, Any]) -> str:
    reason = event.get("reason")
    message = str(event.get("message") or event)
    return f"{reason}: {message}" if reason else message


class RollbackDeploymentOperator(_RolloutWaiter):
    """Roll a Deployment back like ``kubectl rollout undo`` and wait for that rollout.

    ``to_revision`` picks the revision (default: the previous one). Refused for a paused
    Deployment and for an unknown revision (the error lists the revisions there are); when the
    Deployment already runs that template it logs "skipped rollback (current template already
    matches revision N)" and succeeds. Returns ``{"deployment", "namespace", "revision",
    "previous_revision", "rolled_back_to", "skipped"}``.

    :param deployment: the Deployment (templated).
    :param to_revision: the revision to go back to (templated; None or 0: the previous one).

    Example::

        RollbackDeploymentOperator(task_id="undo", deployment="web", namespace="prod",
                                   trigger_rule="one_failed")
    """

    template_fields: Sequence[str] = (*KubernetesOperator.template_fields, "deployment", "to_revision")
    ui_color = "#f6d6c9"

    def __init__(self, *, deployment: str, to_revision: int | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deployment = deployment
        self.to_revision = to_revision
        if not _templated(deployment) and not _templated(to_revision):
            self._checked()

    def _checked(self) -> tuple[str, int]:
        from airflow_k8s_workflows.kube.manifests import check_object_name
        from airflow_k8s_workflows.kube.scaling import parse_count

        check_object_name(self.deployment, "deployment", api_version="apps/v1", kind="Deployment")
        revision = parse_count(self.to_revision, "to_revision", optional=True)
        return self.deployment, revision or 0

    def execute(self, context: Context) -> Any:
        from airflow_k8s_workflows.kube.errors import NotFound
        from airflow_k8s_workflows.kube.rollout import RollbackError

        name, to_revision = self._checked()
        namespace = self.resolved_namespace
        try:
            rollback = self._roll_back(name, namespace, to_revision)
        except NotFound:
            raise KubernetesTaskFailed(f'deployment: "{name}" not found in namespace "{namespace}"') from None
        except RollbackError as e:
            raise KubernetesTaskFailed(str(e)) from None
        result = {"deployment": name, "namespace": namespace, "revision": rollback.from_revision,
                  "previous_revision": rollback.from_revision, "rolled_back_to": rollback.plan.revision,
                  "skipped": rollback.plan.skipped}  # fmt: skip
        if rollback.plan.skipped:
            self.log.info('deployment "%s": %s', name, rollback.plan.message)
            return result
        self.log.info("deployment.apps/%s rolled back to revision %d", name, rollback.plan.revision)
        return self._wait_rollout(context, name, namespace, "execute_complete",
                                  stale_deadline=rollback.stale_deadline, echo=result)  # fmt: skip

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        if event.get("status") != "success":
            raise KubernetesTaskFailed(_failure_text(event))
        return {**(event.get("echo") or {}), "revision": (event.get("result") or {}).get("revision")}
