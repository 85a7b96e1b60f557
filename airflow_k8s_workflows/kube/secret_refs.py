"""Which Secrets a pod template reads, and what must therefore never reach a log or XCom.

A Job that takes a Secret as env (``valueFrom.secretKeyRef``, ``envFrom.secretRef``) or as a
volume (``secret``, ``projected`` sources) can print it; its pod logs stream into the task log
and its last line becomes the task's result. :func:`secret_refs` lists the Secrets (and keys)
a pod spec reads; :func:`secret_data_values` turns a Secret object into the strings to mask
(each value decoded, and as the base64 text the API returns); :func:`redact_values` replaces
them in a JSON-like result.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "pod_spec_of", "redact_values", "secret_data_values", "secret_refs"]

MASK = "***"
"""What Airflow's masker shows instead of a secret."""

_MIN_LENGTH = 4
"""Shorter values are not masked: replacing every "ok" or "1" in logs and results would
destroy them and protect nothing."""


def pod_spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of a Pod, or of a Job / workload's pod template (``{}`` when none)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        return spec
    return ((spec.get("template") or {}).get("spec")) or {}


def _containers(pod_spec: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod_spec.get(field) or []:
            if isinstance(container, Mapping):
                yield container


def secret_refs(pod_spec: Mapping[str, Any]) -> dict[str, set[str] | None]:
    """Secret name -> the keys read (``None``: all of them), in the pod's own namespace."""
    refs: dict[str, set[str] | None] = {}

    def add(name: Any, key: Any = None) -> None:
        if not isinstance(name, str) or not name:
            return
        if key is None or not isinstance(key, str):
            refs[name] = None
        elif name not in refs:
            refs[name] = {key}
        elif refs[name] is not None:
            refs[name].add(key)  # type: ignore[union-attr]

    for container in _containers(pod_spec):
        for env in container.get("env") or []:
            ref = (
                ((env or {}).get("valueFrom") or {}).get("secretKeyRef") if isinstance(env, Mapping) else None
            )
            if isinstance(ref, Mapping):
                add(ref.get("name"), ref.get("key"))
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef") if isinstance(source, Mapping) else None
            if isinstance(ref, Mapping):
                add(ref.get("name"))
    for volume in pod_spec.get("volumes") or []:
        if not isinstance(volume, Mapping):
            continue
        secret = volume.get("secret")
        if isinstance(secret, Mapping):
            add(secret.get("secretName"))
        for source in (volume.get("projected") or {}).get("sources") or []:
            secret = source.get("secret") if isinstance(source, Mapping) else None
            if isinstance(secret, Mapping):
                add(secret.get("name"))
    return refs


def secret_data_values(secret: Mapping[str, Any], keys: set[str] | None = None) -> list[str]:
    """The strings to mask for ``secret`` (only ``keys`` when given): each value of ``data``
    decoded (as text) and as its base64 text, each of ``stringData`` as it is; short ones left
    out (see ``_MIN_LENGTH``)."""
    values: list[str] = []
    for key, encoded in (secret.get("data") or {}).items():
        if (keys is not None and key not in keys) or not isinstance(encoded, str):
            continue
        values.append(encoded)
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        text = raw.decode("utf-8", errors="ignore")
        values.append(text)
        values.extend(line for line in text.splitlines() if line != text)
    for key, plain in (secret.get("stringData") or {}).items():
        if (keys is None or key in keys) and isinstance(plain, str):
            values.append(plain)
    seen: set[str] = set()
    out = []
    for value in values:
        value = value.strip()
        if len(value) >= _MIN_LENGTH and value not in seen:
            seen.add(value)
            out.append(value)
    return out


def redact_values(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` (str / list / dict, nested) with every occurrence of each secret replaced by
    ``***`` (longest first, so a secret containing another is masked whole)."""
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not ordered:
        return value

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            for secret in ordered:
                if secret in v:
                    v = v.replace(secret, MASK)
            return v
        if isinstance(v, Mapping):
            return {walk(k) if isinstance(k, str) else k: walk(item) for k, item in v.items()}
        if isinstance(v, list | tuple):
            return type(v)(walk(item) for item in v)
        return v

    return walk(value)
