"""A pod's sandbox on the local disk: its volumes as directories and files, one directory per
container (holding the termination-message file), and the path rewriting that stands in for
mounts: containers run as host processes, so each ``volumeMount.mountPath`` and the
``terminationMessagePath`` in a container's command, args and env values is replaced by the
sandbox path it stands for.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from airflow_k8s_workflows.emulator.api import ApiServer
from airflow_k8s_workflows.emulator.kubelet.env import (
    PodFacts,
    configmap_data,
    field_value,
    resource_value,
    secret_data,
)

Obj = dict[str, Any]
_PATH_CHAR_BEFORE = r"(?<![\w.\-/$])"
_PATH_CHAR_AFTER = r"(?![\w.\-])"


class MountError(Exception):
    """A volume cannot be set up yet (``FailedMount``); the pod stays in ContainerCreating."""

    def __init__(self, volume: str, detail: str) -> None:
        self.message = f'MountVolume.SetUp failed for volume "{volume}" : {detail}'
        super().__init__(self.message)


class PathRewriter:
    """Replaces whole-path occurrences of container paths (``/data`` in ``/data/x`` or
    ``--dir=/data``, not in ``/database``) by their sandbox paths, longest first."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = {k.rstrip("/"): v for k, v in mapping.items() if k.rstrip("/")}
        if self.mapping:
            alternatives = "|".join(re.escape(k) for k in sorted(self.mapping, key=len, reverse=True))
            self._pattern: re.Pattern[str] | None = re.compile(
                f"{_PATH_CHAR_BEFORE}({alternatives}){_PATH_CHAR_AFTER}"
            )
        else:
            self._pattern = None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.mapping[m.group(1)], text)


class Sandbox:
    def __init__(self, root: Path, shared: Path) -> None:
        self.root = root
        self.shared = shared  # survives pods: persistentVolumeClaims and hostPaths
        self.volumes: dict[str, Path] = {}

    @property
    def home(self) -> Path:
        return self.root / "home"

    def create(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def termination_file(self, container: Obj) -> Path:
        return self.root / f"{container['name']}.termination-log"

    def reset_termination_file(self, container: Obj) -> Path:
        path = self.termination_file(container)
        path.write_bytes(b"")
        return path

    def rewriter(self, container: Obj) -> PathRewriter:
        mapping: dict[str, str] = {}
        for mount in container.get("volumeMounts") or []:
            source = self.volumes.get(mount.get("name", ""))
            mount_path = mount.get("mountPath", "")
            if source is None or mount_path.rstrip("/") == "":
                continue
            target = source / mount["subPath"] if mount.get("subPath") else source
            if not target.exists():
                target.mkdir(parents=True, exist_ok=True)
            mapping[mount_path] = str(target)
        mapping[container.get("terminationMessagePath") or "/dev/termination-log"] = str(
            self.termination_file(container)
        )
        return PathRewriter(mapping)

    # -- volumes --------------------------------------------------------------------------
    def mount_volumes(self, api: ApiServer, facts: PodFacts) -> None:
        """Materialize every volume; raises ``MountError`` for the first that cannot be."""
        pod = facts.pod
        namespace = pod["metadata"]["namespace"]
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = volume.get("name", "")
            if name in self.volumes:
                continue
            self.volumes[name] = self._mount(api, namespace, volume, facts)

    def _mount(self, api: ApiServer, namespace: str, volume: Obj, facts: PodFacts) -> Path:
        name = volume["name"]
        if isinstance(volume.get("persistentVolumeClaim"), dict):
            path = (
                self.shared
                / "persistentvolumeclaims"
                / namespace
                / volume["persistentVolumeClaim"].get("claimName", name)
            )
        elif isinstance(volume.get("hostPath"), dict):
            path = self.shared / "hostpath" / volume["hostPath"].get("path", "/").lstrip("/")
        else:
            path = self.root / "volumes" / name
        path.mkdir(parents=True, exist_ok=True)
        files: dict[str, tuple[bytes, int | None]] = {}
        default_mode = None
        for kind in ("configMap", "secret", "downwardAPI"):
            if isinstance(volume.get(kind), dict):
                default_mode = volume[kind].get("defaultMode")
                files.update(self._source_files(api, namespace, name, kind, volume[kind], facts))
        if isinstance(volume.get("projected"), dict):
            default_mode = volume["projected"].get("defaultMode")
            for source in volume["projected"].get("sources") or []:
                for kind in ("configMap", "secret", "downwardAPI"):
                    if isinstance(source.get(kind), dict):
                        files.update(self._source_files(api, namespace, name, kind, source[kind], facts))
                token = source.get("serviceAccountToken")
                if isinstance(token, dict):
                    files[token.get("path", "token")] = (b"emulator-service-account-token", None)
        for relative, (content, mode) in files.items():
            target = path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            file_mode = mode if mode is not None else default_mode
            if isinstance(file_mode, int):
                with contextlib.suppress(OSError):
                    os.chmod(target, file_mode & 0o777)
        return path

    def _source_files(self, api: ApiServer, namespace: str, volume: str, kind: str, source: Obj,
                      facts: PodFacts) -> dict[str, tuple[bytes, int | None]]:  # fmt: skip
        if kind == "downwardAPI":
            return {item.get("path", ""): (_downward_item(item, facts).encode(), item.get("mode"))
                    for item in source.get("items") or []}  # fmt: skip
        getter: Callable[[ApiServer, str, str], dict[str, bytes] | None]
        getter, label = (configmap_data, "configmap") if kind == "configMap" else (secret_data, "secret")
        ref_name = str(source.get("name", "") if kind == "configMap" else source.get("secretName", ""))
        data = getter(api, namespace, ref_name)
        if data is None:
            if source.get("optional"):
                return {}
            raise MountError(volume, f'{label} "{ref_name}" not found')
        items = source.get("items")
        if not items:
            return {key: (value, None) for key, value in data.items()}
        files: dict[str, tuple[bytes, int | None]] = {}
        for item in items:
            key = item.get("key", "")
            if key not in data:
                if source.get("optional"):
                    continue
                noun = "config" if kind == "configMap" else "secret"
                raise MountError(volume, f"{label} references non-existent {noun} key: {key}")
            files[item.get("path", key)] = (data[key], item.get("mode"))
        return files


def _downward_item(item: Obj, facts: PodFacts) -> str:
    if isinstance(item.get("fieldRef"), dict):
        return field_value(item["fieldRef"].get("fieldPath", ""), facts, volume=True)
    ref = item.get("resourceFieldRef")
    if isinstance(ref, dict):
        spec = facts.pod.get("spec") or {}
        container = next(
            (c for c in spec.get("containers") or [] if c.get("name") == ref.get("containerName")), None
        )
        return resource_value(ref, container, facts)
    return ""
