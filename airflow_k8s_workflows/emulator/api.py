"""The API server's semantics over the store: what a create, update, patch or delete does.

HTTP handlers, controllers and the kubelet all go through ``ApiServer`` so that a write from a
controller obeys the same rules (metadata, generation, status split, finalizers, watch events)
as a write from a client.
"""

from __future__ import annotations

import base64
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import errors
from .clock import Clock, rfc3339
from .errors import ApiError, Cause
from .registry import Registry, ResourceType
from .selectors import FieldSelector, LabelSelector, object_matcher
from .store import Change, ObjKey, Store, Stored, clone, dumps
from .strategy import Strategy, strategy_for

Obj = dict[str, Any]

_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_SERVER_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "selfLink", "deletionTimestamp",
                "deletionGracePeriodSeconds")  # fmt: skip
SYSTEM_USER = "system:admin"
_IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")


@dataclass
class Request:
    """Who is asking and how: carried from HTTP (or a controller) into every write."""

    user: str = SYSTEM_USER
    groups: tuple[str, ...] = ()
    field_manager: str | None = None
    dry_run: bool = False
    field_validation: str = "Warn"  # Strict | Warn | Ignore
    user_agent: str = ""
    warnings: list[str] = field(default_factory=list)

    def manager(self) -> str:
        if self.field_manager:
            return self.field_manager
        # the real server derives the manager from the user agent's program name
        agent = self.user_agent.split("/")[0] if self.user_agent else ""
        return agent or "unknown"


CONTROLLER = Request(user="system:kube-controller-manager", field_manager="kube-controller-manager")


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    return meta


def object_key(rt: ResourceType, namespace: str | None, name: str) -> tuple[str, str]:
    return ((namespace or "") if rt.namespaced else "", name)


def _path_get(obj: Obj, path: str) -> Any:
    cur: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _path_set(obj: Obj, path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    cur = obj
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value


class ApiServer:
    """The semantic core of the emulated API server."""

    def __init__(self, store: Store, registry: Registry, clock: Clock) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        # hooks other parts install: CRD registration, RBAC cache invalidation, ...
        self.after_commit: list[Callable[[ResourceType, str, Obj], None]] = []
        self._schema_index: Any = None

    # -- schema -------------------------------------------------------------------------
    def schema_node(self, rt: ResourceType) -> Any:
        from . import schema

        if rt.crd_schema is not None:
            return schema.SchemaNode.from_openapi_v3(rt.crd_schema)
        if self._schema_index is None:
            self._schema_index = schema.SchemaIndex.default()
        return self._schema_index.root(rt.api_version, rt.kind)

    def _check_schema(self, rt: ResourceType, obj: Obj, req: Request) -> Obj:
        from . import schema

        node = self.schema_node(rt)
        if node is None:
            return obj
        type_error = schema.type_errors(node, obj, rt.kind, rt.version)
        if type_error is not None:
            raise type_error
        if req.field_validation == "Ignore":
            return schema.prune_unknown(node, obj)
        unknown = schema.unknown_fields(node, obj)
        if unknown:
            if req.field_validation == "Strict":
                raise schema.strict_decoding_error(unknown, rt.kind, rt.version)
            req.warnings.extend(f'unknown field "{u}"' for u in unknown)
            return schema.prune_unknown(node, obj)
        return obj

    # -- presentation ---------------------------------------------------------------------
    def present(self, rt: ResourceType, obj: Obj) -> Obj:
        """The object as ``rt``'s API version shows it (CRD versions share one store)."""
        if obj.get("apiVersion") == rt.api_version:
            return obj
        out = dict(obj)
        out["apiVersion"] = rt.api_version
        return out

    def present_raw(self, rt: ResourceType, stored: Stored) -> bytes:
        if stored.obj.get("apiVersion") == rt.api_version:
            return stored.raw
        return dumps(self.present(rt, stored.obj))

    def strategy(self, rt: ResourceType) -> Strategy:
        return strategy_for(rt.key, custom=rt.is_custom)

    # -- reads --------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self.store.get(rt.key, object_key(rt, namespace, name))
        if obj is None:
            raise errors.not_found(rt.group, rt.resource, name)
        return self.present(rt, obj)

    def try_get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        obj = self.store.get(rt.key, object_key(rt, namespace, name))
        return None if obj is None else self.present(rt, obj)

    def select(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        label_selector: str | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
    ) -> list[Stored]:
        matcher = _matcher(rt, label_selector, field_selector)
        ns = namespace if rt.namespaced else None
        items = [s for s in self.store.items(rt.key, ns) if matcher(s.obj)]
        items.sort(key=lambda s: (s.obj["metadata"].get("namespace", ""), s.obj["metadata"]["name"]))
        return items

    def select_at(
        self,
        rt: ResourceType,
        rv: int,
        namespace: str | None = None,
        label_selector: str | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
    ) -> list[Stored]:
        """:meth:`select` as the objects were at resourceVersion ``rv`` (a consistent snapshot,
        as etcd serves a paginated list). The history must still reach back to ``rv``."""
        rs = self.store.resource(rt.key)
        earliest: dict[ObjKey, Change] = {}
        for change in rs.since(rv):
            earliest.setdefault(change.key, change)
        if not earliest:
            return self.select(rt, namespace, label_selector, field_selector)
        matcher = _matcher(rt, label_selector, field_selector)
        ns = namespace if rt.namespaced else None
        items = [s for k, s in rs.objects.items() if k not in earliest and (ns is None or k[0] == ns)]
        for key, change in earliest.items():
            # the version before the first change after rv is the one that existed at rv
            if change.old is not None and (ns is None or key[0] == ns):
                items.append(Stored(change.old, dumps(change.old)))
        items = [s for s in items if matcher(s.obj)]
        items.sort(key=lambda s: (s.obj["metadata"].get("namespace", ""), s.obj["metadata"]["name"]))
        return items

    def list_objects(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        label_selector: str | LabelSelector | None = None,
        field_selector: str | FieldSelector | None = None,
    ) -> list[Obj]:
        return [self.present(rt, s.obj) for s in self.select(rt, namespace, label_selector, field_selector)]

    def list_page(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        limit: int | None,
        continue_token: str | None,
    ) -> tuple[list[Stored], str, str | None, int | None]:
        """One page of a list: (items, resourceVersion, continue, remainingItemCount).

        Every page shows the objects as they were at the first page's resourceVersion (a
        consistent snapshot, as etcd serves it) until compaction passes it (then 410)."""
        list_rv = str(self.store.rv)
        start = 0
        if continue_token:
            try:
                token = json.loads(base64.urlsafe_b64decode(continue_token.encode()))
                list_rv = str(token["rv"])
                after = tuple(token["start"])
            except (ValueError, KeyError, TypeError):
                raise errors.bad_request("continue key is not valid: illegal base64 data at input byte 0")
            rs = self.store.resource(rt.key)
            if int(list_rv) < rs.compacted_rv:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter."
                )
            items = self.select_at(rt, int(list_rv), namespace, label_selector, field_selector)
            keys = [(s.obj["metadata"].get("namespace", ""), s.obj["metadata"]["name"]) for s in items]
            start = next((i for i, k in enumerate(keys) if k > after), len(keys))
        else:
            items = self.select(rt, namespace, label_selector, field_selector)
        if not limit or limit <= 0:
            return items[start:], list_rv, None, None
        page = items[start : start + limit]
        remaining = len(items) - start - len(page)
        if remaining <= 0 or not page:
            return page, list_rv, None, None
        last = page[-1].obj["metadata"]
        token_data = {"rv": int(list_rv), "start": [last.get("namespace", ""), last["name"]]}
        token_str = base64.urlsafe_b64encode(json.dumps(token_data).encode()).decode()
        return page, list_rv, token_str, remaining

    # -- create -------------------------------------------------------------------------
    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Obj,
        req: Request | None = None,
        managed_fields: list[Any] | None = None,
    ) -> Obj:
        """Create an object; ``managed_fields`` comes from server-side apply, else an Update entry is made."""
        req = req or Request()
        obj = self._prepare_body(rt, namespace, body, req)
        meta = obj["metadata"]
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise errors.invalid(
                    rt.group,
                    rt.kind,
                    "",
                    [errors.required("metadata.name", "name or generateName is required")],
                )
            meta["name"] = prefix[:58] + "".join(random.choices(_GENERATE_CHARS, k=5))
        if rt.namespaced:
            self._require_namespace(meta["namespace"], rt)
        obj = self._check_schema(rt, obj, req)
        meta = obj["metadata"]
        if rt.has_subresource("status"):
            obj.pop("status", None)
        # defaulting may need the uid (a Job's generated selector carries it)
        for k in _SERVER_META:
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = rfc3339()
        strat = self.strategy(rt)
        strat.defaults(obj, self)
        self._validate(rt, obj, strat.validate(obj))
        key = object_key(rt, meta.get("namespace"), meta["name"])
        if self.store.get(rt.key, key) is not None:
            raise errors.already_exists(rt.group, rt.resource, meta["name"])
        if rt.has_generation:
            meta["generation"] = 1
        meta["managedFields"] = (
            managed_fields if managed_fields is not None else self._managed_update(rt, None, obj, req, "")
        )
        if not meta["managedFields"]:
            meta.pop("managedFields")
        return self._commit(rt, key, "ADDED", obj, req)

    def _prepare_body(self, rt: ResourceType, namespace: str | None, body: Obj, req: Request) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request(
                f"the body of the request was in an unknown format: expected a {rt.kind} object"
            )
        obj = clone(body)
        kind = obj.get("kind")
        if kind and kind != rt.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind}) for the request"
            )
        api_version = obj.get("apiVersion")
        if api_version and api_version != rt.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})"
            )
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        meta = _meta(obj)
        if rt.namespaced:
            ns = meta.get("namespace") or namespace or "default"
            if namespace and meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        # store in the storage version (first served version of a CRD)
        storage = self.registry.preferred(rt.group, rt.resource)
        if storage is not None:
            obj["apiVersion"] = storage.api_version
        return obj

    def _require_namespace(self, namespace: str, rt: ResourceType) -> None:
        ns_obj = self.store.get(("", "namespaces"), ("", namespace))
        if ns_obj is None:
            raise errors.not_found("", "namespaces", namespace)
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise errors.ApiError(
                403,
                "Forbidden",
                f"{rt.resource}{'.' + rt.group if rt.group else ''} is forbidden: unable to create new content in "
                f"namespace {namespace} because it is being terminated",
            )

    def _validate(self, rt: ResourceType, obj: Obj, causes: list[Cause]) -> None:
        causes = _metadata_causes(rt, obj) + causes
        if causes:
            raise errors.invalid(rt.group, rt.kind, obj.get("metadata", {}).get("name", ""), causes)

    def _managed_update(
        self, rt: ResourceType, old: Obj | None, new: Obj, req: Request, subresource: str
    ) -> list[Any]:
        from . import fieldmanager

        node = self.schema_node(rt)
        return list(
            fieldmanager.update(
                old,
                new,
                manager=req.manager(),
                operation="Update",
                subresource=subresource,
                node=node,
                api_version=rt.api_version,
                now=rfc3339(),
                status_is_subresource=rt.has_subresource("status"),
            )
        )

    def _commit(self, rt: ResourceType, key: tuple[str, str], event: str, obj: Obj, req: Request) -> Obj:
        if req.dry_run:
            obj["metadata"].setdefault("resourceVersion", obj["metadata"].get("resourceVersion", ""))
            return self.present(rt, obj)
        obj["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.commit(rt.key, key, event, obj)
        for hook in tuple(self.after_commit):
            hook(rt, event, obj)
        return self.present(rt, obj)

    # -- update / patch -----------------------------------------------------------------
    def replace(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Obj,
        req: Request | None = None,
        subresource: str = "",
    ) -> Obj:
        req = req or Request()
        key = object_key(rt, namespace, name)
        old = self.store.get(rt.key, key)
        if old is None:
            raise errors.not_found(rt.group, rt.resource, name)
        new = self._prepare_body(rt, namespace, body, req)
        new_meta = new["metadata"]
        if new_meta.get("name") and new_meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({new_meta['name']}) does not match the name on the URL ({name})"
            )
        new_meta["name"] = name
        sent_rv = new_meta.get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.group, rt.resource, name)
        new = self._check_schema(rt, new, req)
        return self._write_update(rt, key, old, new, req, subresource)

    def _write_update(self, rt: ResourceType, key: tuple[str, str], old: Obj, new: Obj, req: Request,
                      subresource: str, managed_fields: list[Any] | None = None) -> Obj:  # fmt: skip
        strat = self.strategy(rt)
        new_meta = _meta(new)
        old_meta = old["metadata"]
        if subresource == "status":
            merged = clone(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            for k in strat.status_metadata:
                if k in new_meta:
                    merged["metadata"][k] = clone(new_meta[k])
                else:
                    merged["metadata"].pop(k, None)
            new = merged
        elif subresource == "finalize":
            # PUT namespaces/{name}/finalize changes spec.finalizers and nothing else
            merged = clone(old)
            finalizers = (new.get("spec") or {}).get("finalizers") or []
            merged.setdefault("spec", {})["finalizers"] = list(finalizers)
            new = merged
        else:
            if rt.key == ("", "namespaces"):
                kept = (old.get("spec") or {}).get("finalizers")
                if kept is None:
                    (new.get("spec") or {}).pop("finalizers", None)
                else:
                    new.setdefault("spec", {})["finalizers"] = clone(kept)
            if rt.has_subresource("status"):
                if "status" in old:
                    new["status"] = clone(old["status"])
                else:
                    new.pop("status", None)
            for k in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ):
                if k in old_meta:
                    new_meta[k] = old_meta[k]
                else:
                    new_meta.pop(k, None)
            if old_meta.get("deletionTimestamp"):
                added = set(new_meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
                if added:
                    raise errors.invalid(
                        rt.group,
                        rt.kind,
                        key[1],
                        [
                            errors.forbidden_field(
                                "metadata.finalizers",
                                "no new finalizers can be added if the object is being deleted",
                            )
                        ],
                    )
            strat.defaults(new, self)
            self._validate(rt, new, strat.validate(new) + strat.validate_update(old, new))
            if rt.has_generation and self._spec_changed(rt, strat, old, new):
                new_meta["generation"] = int(old_meta.get("generation", 1)) + 1
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        new["metadata"]["managedFields"] = (
            managed_fields
            if managed_fields is not None
            else self._managed_update(rt, old, new, req, subresource)
        )
        if not new["metadata"]["managedFields"]:
            new["metadata"].pop("managedFields")
        if _same(old, new):
            return self.present(rt, old)
        if new["metadata"].get("deletionTimestamp") and not self._deletion_pending(rt, new):
            return self._remove(rt, key, new, req)
        return self._commit(rt, key, "MODIFIED", new, req)

    @staticmethod
    def _spec_changed(rt: ResourceType, strat: Strategy, old: Obj, new: Obj) -> bool:
        if strat.spec_changed(old, new):
            return True
        if rt.key == ("apps", "deployments"):
            return old["metadata"].get("annotations") != new["metadata"].get("annotations")
        return False

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: bytes | str | Any,
        content_type: str,
        req: Request | None = None,
        subresource: str = "",
        force: bool = False,
    ) -> Obj:
        from . import patch as patching

        req = req or Request()
        node = self.schema_node(rt)
        media = patching.patch_type(content_type, node)
        if media == patching.APPLY_PATCH:
            return self.apply(rt, namespace, name, body, req, subresource=subresource, force=force)
        patch_doc = _decode_json(body)
        key = object_key(rt, namespace, name)
        old = self.store.get(rt.key, key)
        if old is None:
            raise errors.not_found(rt.group, rt.resource, name)
        if subresource == "scale":
            return self._patch_scale(rt, key, old, patch_doc, media, req)
        stored = self.store.get_stored(rt.key, key)
        current = json.loads(stored.raw) if stored is not None else clone(old)
        new = patching.apply_patch(self.present(rt, current), patch_doc, media, node)
        if not isinstance(new, dict):
            raise errors.bad_request("the patch did not produce an object")
        new_meta = _meta(new)
        sent_rv = new_meta.get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.group, rt.resource, name)
        if new_meta.get("uid") and new_meta["uid"] != old["metadata"]["uid"]:
            raise errors.conflict(
                rt.group,
                rt.resource,
                name,
                "Precondition failed: UID in precondition: "
                f"{new_meta['uid']}, UID in object meta: {old['metadata']['uid']}",
            )
        new = self._prepare_body(rt, namespace, new, req)
        new = self._check_schema(rt, new, req)
        return self._write_update(rt, key, old, new, req, subresource)

    def apply(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: bytes | str | Any,
        req: Request,
        subresource: str = "",
        force: bool = False,
    ) -> Obj:
        """Server-side apply (``application/apply-patch+yaml``)."""
        from . import fieldmanager

        if not req.field_manager:
            raise errors.bad_request(
                "PATCH, application/apply-patch+yaml: fieldManager must be set for apply requests"
            )
        applied = _decode_yaml(body)
        if not isinstance(applied, dict):
            raise errors.bad_request("error decoding YAML: the applied configuration must be an object")
        applied = self._prepare_body(rt, namespace, applied, req)
        if applied["metadata"].get("name") and applied["metadata"]["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({applied['metadata']['name']}) does not match the name on the URL ({name})"
            )
        applied["metadata"]["name"] = name
        # no pruning here: fields the schema lacks make the typed patch fail, as on the real server
        key = object_key(rt, namespace, name)
        old = self.store.get(rt.key, key)
        node = self.schema_node(rt)
        live = clone(old) if old is not None else None
        if live is not None and subresource != "status" and rt.has_subresource("status"):
            applied.pop("status", None)
        new = fieldmanager.apply(
            live,
            applied,
            manager=req.field_manager,
            force=force,
            node=node,
            api_version=rt.api_version,
            now=rfc3339(),
            subresource=subresource,
            status_is_subresource=rt.has_subresource("status"),
        )
        managed = list(new["metadata"].get("managedFields") or [])
        if old is None:
            return self.create(rt, namespace, new, req, managed_fields=managed)
        return self._write_update(rt, key, old, new, req, subresource, managed_fields=managed)

    # -- scale subresource ----------------------------------------------------------------
    def scale_of(self, rt: ResourceType, obj: Obj) -> Obj:
        meta = obj["metadata"]
        if rt.scale_paths:
            spec_path, status_path, selector_path = rt.scale_paths
            replicas = _path_get(obj, spec_path) or 0
            status_replicas = _path_get(obj, status_path) or 0
            selector = _path_get(obj, selector_path) if selector_path else None
        else:
            replicas = obj.get("spec", {}).get("replicas", 1)
            status_replicas = obj.get("status", {}).get("replicas", 0)
            selector = str(LabelSelector.from_label_selector(obj.get("spec", {}).get("selector")))
        status: Obj = {"replicas": status_replicas}
        if selector:
            status["selector"] = selector
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": replicas},
            "status": status,
        }

    def replace_scale(
        self, rt: ResourceType, namespace: str | None, name: str, scale: Obj, req: Request
    ) -> Obj:
        key = object_key(rt, namespace, name)
        old = self.store.get(rt.key, key)
        if old is None:
            raise errors.not_found(rt.group, rt.resource, name)
        sent_rv = (scale.get("metadata") or {}).get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.group, rt.resource, name)
        return self._write_scale(rt, key, old, scale, req)

    def _patch_scale(self, rt: ResourceType, key: tuple[str, str], old: Obj, patch_doc: Any, content_type: str,
                     req: Request) -> Obj:  # fmt: skip
        from . import patch as patching

        current = self.scale_of(rt, old)
        if content_type == "application/json-patch+json":
            new_scale = patching.json_patch(current, patch_doc)
        else:
            new_scale = patching.merge_patch(current, patch_doc)
        sent_rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.group, rt.resource, key[1])
        return self._write_scale(rt, key, old, new_scale, req)

    def _write_scale(self, rt: ResourceType, key: tuple[str, str], old: Obj, scale: Obj, req: Request) -> Obj:
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise errors.bad_request(
                f'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal {type(replicas).__name__} into Go struct field ScaleSpec.spec.replicas of type int32'
            )
        if replicas < 0:
            raise errors.invalid(
                "autoscaling",
                "Scale",
                key[1],
                [errors.invalid_value("spec.replicas", replicas, "must be greater than or equal to 0")],
            )
        new = clone(old)
        if rt.scale_paths:
            _path_set(new, rt.scale_paths[0], replicas)
        else:
            new.setdefault("spec", {})["replicas"] = replicas
        result = self._write_update(rt, key, old, new, req, "scale")
        return self.scale_of(rt, result)

    # -- delete ------------------------------------------------------------------------
    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        req: Request | None = None,
        propagation: str | None = None,
        grace_period: int | None = None,
        preconditions: Obj | None = None,
    ) -> tuple[Obj, bool]:
        """Delete an object. Returns (object or Status, removed_now)."""
        req = req or Request()
        if rt.key == ("", "namespaces") and name in _IMMORTAL_NAMESPACES:
            # the NamespaceLifecycle admission plugin
            raise errors.ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                                  {"name": name, "kind": "namespaces"})  # fmt: skip
        key = object_key(rt, namespace, name)
        old = self.store.get(rt.key, key)
        if old is None:
            raise errors.not_found(rt.group, rt.resource, name)
        meta = old["metadata"]
        preconditions = preconditions or {}
        if preconditions.get("uid") and preconditions["uid"] != meta["uid"]:
            raise errors.conflict(
                rt.group,
                rt.resource,
                name,
                f"Precondition failed: UID in precondition: {preconditions['uid']}, UID in object meta: {meta['uid']}",
            )
        if (
            preconditions.get("resourceVersion")
            and preconditions["resourceVersion"] != meta["resourceVersion"]
        ):
            raise errors.conflict(
                rt.group,
                rt.resource,
                name,
                f"Precondition failed: ResourceVersion in precondition: {preconditions['resourceVersion']}, ResourceVersion in object meta: {meta['resourceVersion']}",
            )
        if propagation is None:
            propagation = rt.default_propagation
            if rt.key == ("batch", "jobs"):
                req.warnings.append(
                    "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background "
                    "to remove them or set propagationPolicy=Orphan to suppress this warning"
                )
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise errors.invalid(
                rt.group,
                rt.kind,
                name,
                [
                    errors.unsupported_value(
                        "propagationPolicy", propagation, ["Foreground", "Background", "Orphan", "nil"]
                    )
                ],
            )
        new = clone(old)
        new_meta = new["metadata"]
        finalizers = list(new_meta.get("finalizers") or [])
        if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        if propagation == "Background":
            finalizers = (
                [f for f in finalizers if f not in ("orphan", "foregroundDeletion")]
                if not meta.get("deletionTimestamp")
                else finalizers
            )
        grace = self._grace_period(rt, old, grace_period)
        if meta.get("deletionTimestamp"):
            # already being deleted: a shorter grace period or a new propagation still applies
            if finalizers != list(meta.get("finalizers") or []) or (
                grace == 0 and meta.get("deletionGracePeriodSeconds")
            ):
                new_meta["finalizers"] = finalizers
                if grace == 0:
                    new_meta["deletionGracePeriodSeconds"] = 0
                    if not finalizers:
                        return self._finish_delete(rt, key, new, req)
                return self._commit(rt, key, "MODIFIED", new, req), False
            return self.present(rt, old), False
        if rt.key == ("", "namespaces") and (new.get("spec") or {}).get("finalizers"):
            # the namespace controller empties it, then clears spec.finalizers through /finalize
            new_meta["deletionTimestamp"] = rfc3339()
            new.setdefault("status", {})["phase"] = "Terminating"
            return self._commit(rt, key, "MODIFIED", new, req), False
        if not finalizers and not grace:
            return self._finish_delete(rt, key, new, req)
        new_meta["deletionTimestamp"] = rfc3339()
        new_meta["deletionGracePeriodSeconds"] = grace or 0
        if finalizers:
            new_meta["finalizers"] = finalizers
        return self._commit(rt, key, "MODIFIED", new, req), False

    def _finish_delete(
        self, rt: ResourceType, key: tuple[str, str], obj: Obj, req: Request
    ) -> tuple[Obj, bool]:
        removed = self._remove(rt, key, obj, req)
        if self.strategy(rt).return_deleted_object or rt.key == ("", "pods"):
            return removed, True
        details: Obj = {"name": key[1], "kind": rt.resource, "uid": obj["metadata"]["uid"]}
        if rt.group:
            details["group"] = rt.group
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }, True

    def _remove(self, rt: ResourceType, key: tuple[str, str], obj: Obj, req: Request) -> Obj:
        if req.dry_run:
            return self.present(rt, obj)
        obj = clone(obj)
        obj["metadata"]["resourceVersion"] = str(self.store.next_rv())
        self.store.commit(rt.key, key, "DELETED", obj)
        for hook in tuple(self.after_commit):
            hook(rt, "DELETED", obj)
        return self.present(rt, obj)

    @staticmethod
    def _grace_period(rt: ResourceType, obj: Obj, requested: int | None) -> int:
        if rt.key != ("", "pods"):
            return 0
        if not (obj.get("spec") or {}).get("nodeName"):
            return 0  # never scheduled: nothing for a kubelet to stop
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(0, int(requested))
        return int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))

    @staticmethod
    def _deletion_pending(rt: ResourceType, obj: Obj) -> bool:
        """Whether an object marked for deletion must stay: finalizers, a kubelet still stopping
        the pod, or a namespace still being emptied."""
        if obj["metadata"].get("finalizers"):
            return True
        if rt.key == ("", "pods"):
            return bool(obj["metadata"].get("deletionGracePeriodSeconds"))
        if rt.key == ("", "namespaces"):
            return bool((obj.get("spec") or {}).get("finalizers"))
        return False

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        req: Request | None = None,
        propagation: str | None = None,
        grace_period: int | None = None,
    ) -> list[Obj]:
        req = req or Request()
        deleted = []
        for stored in self.select(rt, namespace, label_selector, field_selector):
            meta = stored.obj["metadata"]
            try:
                obj, _ = self.delete(rt, meta.get("namespace"), meta["name"], req, propagation, grace_period)
            except ApiError as e:
                if e.code == 404:
                    continue
                raise
            deleted.append(self.present(rt, stored.obj) if obj.get("kind") == "Status" else obj)
        return deleted

    # -- pods/binding ---------------------------------------------------------------------
    def bind(self, rt: ResourceType, namespace: str | None, name: str, node: str, req: Request | None = None,
             uid: str | None = None) -> Obj:  # fmt: skip
        """``pods/binding``: set ``spec.nodeName`` and ``PodScheduled=True`` in one write.

        Not an update of the pod (whose spec is immutable): the registry's ``assignPod``.
        """
        req = req or Request()
        key = object_key(rt, namespace, name)
        old = self.store.get(rt.key, key)
        if old is None or (uid and old["metadata"]["uid"] != uid):
            raise errors.not_found(rt.group, rt.resource, name)
        current = (old.get("spec") or {}).get("nodeName")
        if old["metadata"].get("deletionTimestamp"):
            raise errors.conflict(
                "", "pods/binding", name, f"pod {name} is being deleted, cannot be assigned to a host"
            )
        if current:
            raise errors.conflict(
                "", "pods/binding", name, f'pod {name} is already assigned to node "{current}"'
            )
        new = clone(old)
        new.setdefault("spec", {})["nodeName"] = node
        conditions = [
            c
            for c in (new.setdefault("status", {}).get("conditions") or [])
            if c.get("type") != "PodScheduled"
        ]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": rfc3339()})  # fmt: skip
        new["status"]["conditions"] = conditions
        new["metadata"]["managedFields"] = self._managed_update(rt, old, new, req, "binding")
        if not new["metadata"]["managedFields"]:
            new["metadata"].pop("managedFields")
        return self._commit(rt, key, "MODIFIED", new, req)

    # -- helpers for controllers ------------------------------------------------------------
    def mutate(self, rt: ResourceType, namespace: str | None, name: str, fn: Callable[[Obj], Any],
               req: Request = CONTROLLER, subresource: str = "") -> Obj | None:  # fmt: skip
        """Read-modify-write of a live object; None if it is gone. ``fn`` edits a copy in place."""
        key = object_key(rt, namespace, name)
        old = self.store.get(rt.key, key)
        if old is None:
            return None
        new = clone(old)
        fn(new)
        return self._write_update(rt, key, old, new, req, subresource)

    def update_status(self, rt: ResourceType, namespace: str | None, name: str, fn: Callable[[Obj], Any],
                      req: Request = CONTROLLER) -> Obj | None:  # fmt: skip
        return self.mutate(rt, namespace, name, fn, req, subresource="status")

    def rt(self, group: str, resource: str) -> ResourceType:
        found = self.registry.preferred(group, resource)
        if found is None:
            raise KeyError((group, resource))
        return found


def _same(old: Obj, new: Obj) -> bool:
    def strip(o: Obj) -> Obj:
        meta = {
            k: v for k, v in o.get("metadata", {}).items() if k not in ("resourceVersion", "managedFields")
        }
        return {**o, "metadata": meta}

    return strip(old) == strip(new)


def _decode_json(body: bytes | str | Any) -> Any:
    if isinstance(body, (bytes, str)):
        try:
            return json.loads(body)
        except ValueError as e:
            raise errors.bad_request(f"error decoding patch: {e}")
    return body


def _decode_yaml(body: bytes | str | Any) -> Any:
    if isinstance(body, (bytes, str)):
        try:
            return yaml.safe_load(body)
        except yaml.YAMLError as e:
            raise errors.bad_request(f"error decoding YAML: {e}")
    return body


# -- metadata validation shared by every kind ---------------------------------------------------

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME_KINDS = {("", "namespaces"), ("", "services")}
# kinds whose names are path segments and only need to avoid "/" and "%" (RBAC, events use subdomain too)
_PATH_SEGMENT_KINDS = {("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "rolebindings"),
                       ("rbac.authorization.k8s.io", "clusterroles"), ("rbac.authorization.k8s.io", "clusterrolebindings")}  # fmt: skip


def _metadata_causes(rt: ResourceType, obj: Obj) -> list[Cause]:
    from .selectors import _KEY_RE, _VALUE_RE

    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    causes: list[Cause] = []
    if rt.key in _PATH_SEGMENT_KINDS:
        if name in (".", "..") or "/" in name or "%" in name:
            causes.append(errors.invalid_value("metadata.name", name, "may not contain '/' or '%'"))
    elif rt.key in _LABEL_NAME_KINDS:
        if len(name) > 63 or not _DNS1123_LABEL.match(name):
            causes.append(
                errors.invalid_value(
                    "metadata.name",
                    name,
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                )
            )
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        causes.append(
            errors.invalid_value(
                "metadata.name",
                name,
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            )
        )
    for k, v in (meta.get("labels") or {}).items():
        if not _KEY_RE.match(k) or len(k.split("/")[-1]) > 63:
            causes.append(
                errors.invalid_value(
                    "metadata.labels",
                    k,
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                )
            )
        if not isinstance(v, str) or len(v) > 63 or not _VALUE_RE.match(v):
            causes.append(
                errors.invalid_value(
                    "metadata.labels",
                    v,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                )
            )
    annotations = meta.get("annotations") or {}
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > 256 * 1024:
        causes.append(errors.too_long("metadata.annotations", "", 256 * 1024))
    return causes


def _matcher(
    rt: ResourceType,
    label_selector: str | LabelSelector | None,
    field_selector: str | FieldSelector | None,
) -> Any:
    label = (
        label_selector if isinstance(label_selector, LabelSelector) else LabelSelector.parse(label_selector)
    )
    fields = (
        field_selector
        if isinstance(field_selector, FieldSelector)
        else FieldSelector.parse(field_selector, rt.field_selectors)
    )
    return object_matcher(label, fields)
