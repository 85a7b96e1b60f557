"""The REST request for each object operation, built once for the sync and the async hook.

Pure functions from a :class:`ResourceRef` (and a body) to a :class:`Call`::

    call = apply_call(ref, "web", manifest, field_manager="airflow", force=True)
    call.method, call.path, call.content_type
    # ('PATCH', '/apis/apps/v1/namespaces/prod/deployments/web', 'application/apply-patch+yaml')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .resources import ResourceRef
from .rest import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, Call

__all__ = [
    "PATCH_TYPES",
    "apply_call",
    "create_call",
    "delete_call",
    "get_call",
    "list_call",
    "patch_call",
    "replace_call",
]

PATCH_TYPES = {
    "merge": MERGE_PATCH,
    "strategic": STRATEGIC_MERGE_PATCH,
    "json": JSON_PATCH,
    "apply": APPLY_PATCH,
}


def _dry(query: list[tuple[str, str]], dry_run: bool) -> list[tuple[str, str]]:
    if dry_run:
        query.append(("dryRun", "All"))
    return query


def _call(method: str, ref: ResourceRef, name: str | None, verb: str, **kw: Any) -> Call:
    sub = kw.pop("subresource", None)
    path = ref.item_path(name, sub) if name else ref.collection_path()
    resource = f"{ref.qualified}/{sub}" if sub else ref.qualified
    return Call(method, path, verb=verb, resource=resource, namespace=ref.namespace, name=name, **kw)


def get_call(ref: ResourceRef, name: str, subresource: str | None = None) -> Call:
    return _call("GET", ref, name, "get", subresource=subresource)


def list_call(
    ref: ResourceRef,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    limit: int | None = None,
    continue_token: str | None = None,
) -> Call:
    query: list[tuple[str, str]] = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    if limit:
        query.append(("limit", str(limit)))
    if continue_token:
        query.append(("continue", continue_token))
    return _call("GET", ref, None, "list", query=query)


def create_call(ref: ResourceRef, body: Mapping[str, Any], *, dry_run: bool = False) -> Call:
    name = (body.get("metadata") or {}).get("name") or (body.get("metadata") or {}).get("generateName")
    return replace(_call("POST", ref, None, "create", body=dict(body), query=_dry([], dry_run)), name=name)


def replace_call(
    ref: ResourceRef,
    name: str,
    body: Mapping[str, Any],
    *,
    subresource: str | None = None,
    dry_run: bool = False,
) -> Call:
    return _call(
        "PUT", ref, name, "update", body=dict(body), subresource=subresource, query=_dry([], dry_run)
    )


def patch_call(
    ref: ResourceRef,
    name: str,
    patch: Any,
    *,
    patch_type: str = "merge",
    subresource: str | None = None,
    dry_run: bool = False,
    field_manager: str | None = None,
) -> Call:
    content_type = PATCH_TYPES.get(patch_type, patch_type)
    query = _dry([], dry_run)
    if field_manager:
        query.append(("fieldManager", field_manager))
    return _call(
        "PATCH",
        ref,
        name,
        "patch",
        body=patch,
        content_type=content_type,
        subresource=subresource,
        query=query,
    )


def apply_call(
    ref: ResourceRef,
    name: str,
    body: Mapping[str, Any],
    *,
    field_manager: str,
    force: bool = False,
    dry_run: bool = False,
    subresource: str | None = None,
) -> Call:
    """Server-side apply: ``PATCH`` with ``application/apply-patch+yaml`` (JSON is YAML)."""
    query = _dry([("fieldManager", field_manager)], dry_run)
    if force:
        query.append(("force", "true"))
    return _call(
        "PATCH",
        ref,
        name,
        "apply",  # for error messages: RBAC authorizes it as "patch" (and "create" when it creates)
        body=dict(body),
        content_type=APPLY_PATCH,
        subresource=subresource,
        query=query,
    )


def delete_call(
    ref: ResourceRef,
    name: str,
    *,
    propagation_policy: str | None = "Background",
    grace_period_seconds: int | None = None,
    dry_run: bool = False,
    preconditions: Mapping[str, str] | None = None,
) -> Call:
    body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if propagation_policy:
        body["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        body["gracePeriodSeconds"] = grace_period_seconds
    if dry_run:
        body["dryRun"] = ["All"]
    if preconditions:
        body["preconditions"] = dict(preconditions)
    return _call("DELETE", ref, name, "delete", body=body, query=_dry([], dry_run))
