"""What the manifest-taking operators share: templating, loading with Secret masking, and
resolving every document to where it lives in the cluster before anything is written.

Secret values are registered with Airflow's masker as soon as a manifest is seen (before and
after Jinja rendering), so logs, rendered-template views and error messages show ``***``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_k8s_workflows.kube.crds import crd_namespaced, crd_serves, crd_versions, defining_crd
from airflow_k8s_workflows.kube.manifests import (
    ManifestCheck,
    ManifestError,
    load_manifests,
    secret_values,
    validate_manifests,
)
from airflow_k8s_workflows.kube.resources import split_api_version

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

    from airflow_k8s_workflows.hooks.kubernetes import ClusterHook


MANIFEST_EXT = (".yaml", ".yml", ".json")


def mask_manifest_secrets(docs: Sequence[Mapping[str, Any]]) -> None:
    """Register every Secret value in ``docs`` with Airflow's secrets masker."""
    from airflow.sdk.log import mask_secret

    for doc in docs:
        for value in secret_values(doc):
            mask_secret(value)


class ManifestTemplating:
    """Mixin for operators with a ``manifests`` template field.

    Only the field's own value may name a template file (``template_ext``); strings inside a
    dict or list are rendered as Jinja text, so a ConfigMap value such as ``settings.yaml`` is
    not mistaken for a file. Secret values are masked before and after rendering.
    """

    manifests: Any

    def render_template(
        self,
        content: Any,
        context: Context,
        jinja_env: jinja2.Environment | None = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        if isinstance(content, dict | list | tuple):
            if jinja_env is None:
                jinja_env = self.get_template_env()  # type: ignore[attr-defined]
            return self._render_text(content, context, jinja_env)
        return super().render_template(content, context, jinja_env, seen_oids)  # type: ignore[misc]

    def _render_text(self, value: Any, context: Context, jinja_env: jinja2.Environment) -> Any:
        if isinstance(value, str):
            return self._render(jinja_env.from_string(value), context)  # type: ignore[attr-defined]
        if isinstance(value, dict):
            return {k: self._render_text(v, context, jinja_env) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._render_text(v, context, jinja_env) for v in value)
        return value

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        self._mask_quietly()
        super().render_template_fields(context, jinja_env)  # type: ignore[misc]
        self._mask_quietly()

    def _mask_quietly(self) -> None:
        try:
            mask_manifest_secrets(self.load_manifests())
        except ManifestError:
            pass  # unrendered Jinja or a broken document: execute() reports it

    def manifest_base_dir(self) -> str | None:
        has_dag = getattr(self, "has_dag", None)
        return self.dag.folder if has_dag is not None and has_dag() else None  # type: ignore[attr-defined]

    def load_manifests(self) -> list[dict[str, Any]]:
        return load_manifests(self.manifests, base_dir=self.manifest_base_dir())


def load_checked(source: Any, base_dir: str | None) -> tuple[list[dict[str, Any]], list[ManifestCheck]]:
    """Load, mask and validate: the documents and their checks; raises ``ManifestError``."""
    docs = load_manifests(source, base_dir=base_dir)
    mask_manifest_secrets(docs)
    if not docs:
        raise ManifestError("no Kubernetes objects found", field="manifests")
    return docs, validate_manifests(docs)


@dataclass
class Item:
    """One document of a batch, resolved against the cluster."""

    position: int
    """0-based index of the document."""
    doc: dict[str, Any]
    api_version: str
    kind: str
    name: str
    namespace: str | None
    """None for cluster-scoped kinds."""
    crd: Mapping[str, Any] | None = None
    """The CRD in this batch that serves the kind, when the cluster does not serve it yet."""
    live: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    @property
    def where(self) -> str:
        return f"{self.kind}/{self.name} (document {self.position + 1})"

    @property
    def body(self) -> dict[str, Any]:
        """The document with its namespace filled in (namespaced kinds)."""
        body = dict(self.doc)
        if self.namespace:
            body["metadata"] = {**(self.doc.get("metadata") or {}), "namespace": self.namespace}
        return body

    def ref(self, obj: Mapping[str, Any] | None = None) -> dict[str, Any]:
        meta = (obj or {}).get("metadata") or {}
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "uid": meta.get("uid"),
        }


def resolve_items(
    hook: ClusterHook,
    docs: Sequence[dict[str, Any]],
    checks: Sequence[ManifestCheck],
    namespace: str | None,
    *,
    missing_kind_ok: bool = False,
) -> tuple[list[Item], list[Item]]:
    """Where each document lives: ``(items, unserved)``.

    Every kind is looked up in discovery; a custom kind the cluster does not serve is accepted
    only when a CRD in the same batch defines it. ``namespace`` (the operator's explicit one)
    must agree with a document's own. Unserved kinds raise ``ManifestError`` naming the
    document, or are returned separately when ``missing_kind_ok`` (deletion: nothing to delete).
    """
    from airflow_k8s_workflows.kube.errors import UnknownKind

    items: list[Item] = []
    unserved: list[Item] = []
    seen: dict[tuple[str, str, str | None, str], int] = {}
    for position, (doc, check) in enumerate(zip(docs, checks, strict=True)):
        if not check.name:
            raise ManifestError(
                "Required value: apply and delete need metadata.name (generateName is not enough)",
                path="metadata.name", document=position + 1, kind=check.kind,
            )  # fmt: skip
        declared = check.namespace
        if namespace and declared and declared != namespace:
            raise ManifestError(
                f"the document's namespace {declared!r} does not match the operator's namespace {namespace!r}",
                path="metadata.namespace", document=position + 1, kind=check.kind, name=check.name,
            )  # fmt: skip
        crd = defining_crd(docs, check.api_version, check.kind)
        try:
            resource = hook.discover(check.api_version, check.kind)
            namespaced, kind, served = resource.namespaced, resource.kind, True
        except UnknownKind:
            served = False
            namespaced, kind = (crd_namespaced(crd), check.kind) if crd is not None else (True, check.kind)
        if not served and crd is not None and not crd_serves(crd, split_api_version(check.api_version)[1]):
            raise ManifestError(
                f"the CustomResourceDefinition {crd.get('metadata', {}).get('name')} in this batch does not "
                f"serve version {split_api_version(check.api_version)[1]!r} "
                f"(it serves {', '.join(crd_versions(crd)) or 'none'})",
                path="apiVersion", document=position + 1, kind=check.kind, name=check.name,
            )  # fmt: skip
        ns = (declared or namespace or hook.get_namespace()) if namespaced else None
        item = Item(position, doc, check.api_version, kind, check.name, ns, crd=None if served else crd)
        if not served and crd is None:
            if missing_kind_ok:
                item.notes.append("no API of the cluster serves this kind")
                unserved.append(item)
                continue
            raise ManifestError(
                f"kind {check.kind} ({check.api_version}) is not served by the cluster: is its "
                "CustomResourceDefinition installed? Apply the CRD first, or in the same batch",
                path="kind", document=position + 1, kind=check.kind, name=check.name,
            )  # fmt: skip
        key = (split_api_version(check.api_version)[0], kind, ns, check.name)
        if key in seen:
            raise ManifestError(
                f"the same object as document {seen[key] + 1}",
                document=position + 1, kind=check.kind, name=check.name,
            )  # fmt: skip
        seen[key] = position
        items.append(item)
    return items, unserved
