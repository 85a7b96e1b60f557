"""Where the real Kubernetes OpenAPI definitions live: the ``kubernetes-validate`` package ships them."""

from __future__ import annotations

import functools
from pathlib import Path


@functools.lru_cache(maxsize=1)
def definitions_path() -> Path:
    """``_definitions.json`` of the newest ``v*-local-strict`` schema set in kubernetes-validate."""
    import kubernetes_validate

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    candidates = [p for p in root.glob("v*-local-strict") if (p / "_definitions.json").exists()]
    if not candidates:
        raise RuntimeError(f"no Kubernetes schemas found under {root}")

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in p.name[1:].split("-")[0].split("."))

    return max(candidates, key=version) / "_definitions.json"
