"""Image references as a container runtime reports them. Nothing is pulled: an image is
"present" on a node once a pull of it succeeded there."""

from __future__ import annotations

import hashlib


def normalize(image: str) -> str:
    """``busybox`` → ``docker.io/library/busybox:latest``, as containerd names images."""
    name, _, digest = image.partition("@")
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    if digest:
        return f"{name}@{digest}"
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def image_id(image: str) -> str:
    full = normalize(image)
    repository = full.split("@", 1)[0] if "@" in full else full.rsplit(":", 1)[0]
    return f"{repository}@sha256:{hashlib.sha256(full.encode()).hexdigest()}"


def pull_error(image: str) -> str:
    full = normalize(image)
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{full}": failed to resolve '
        f'reference "{full}": {full}: not found'
    )
