"""pytest plugin: a Kubernetes API emulator for the test session, with Airflow pointed at it.

Fixtures:

- ``kube_emulator``: a running ``KubeEmulator`` shared by the session; the environment variable
  ``AIRFLOW_CONN_KUBERNETES_DEFAULT`` points the ``kubernetes_default`` connection at it.
- ``kube_namespace``: a fresh namespace per test in that emulator (deleted afterwards), so tests
  sharing the emulator don't see each other's objects.

ini options: ``kube_emulator_speed`` (default 20: back-offs and deadlines 20 times shorter).
Nothing heavy is imported until a fixture is used.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_k8s_workflows.emulator import KubeEmulator


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("kube_emulator_speed", "speed factor of the kube_emulator fixture", default="20")


@pytest.fixture(scope="session")
def kube_emulator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeEmulator]:
    """A Kubernetes API emulator for the whole session; ``kubernetes_default`` points at it."""
    from airflow_k8s_workflows.emulator import KubeEmulator

    speed = float(request.config.getini("kube_emulator_speed"))
    emu = KubeEmulator(speed=speed, workdir=tmp_path_factory.mktemp("kube-emulator"))
    emu.start()
    previous = os.environ.get("AIRFLOW_CONN_KUBERNETES_DEFAULT")
    os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = emu.airflow_connection(inline=True)
    try:
        yield emu
    finally:
        if previous is None:
            os.environ.pop("AIRFLOW_CONN_KUBERNETES_DEFAULT", None)
        else:
            os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = previous
        emu.stop()


@pytest.fixture
def kube_namespace(kube_emulator: KubeEmulator) -> Iterator[str]:
    """A namespace of its own for one test (deleted with everything in it afterwards)."""
    from airflow_k8s_workflows.emulator.api import CONTROLLER

    name = f"test-{uuid.uuid4().hex[:10]}"
    rt = kube_emulator.api.rt("", "namespaces")

    def create() -> Any:
        return kube_emulator.api.create(rt, None, {"metadata": {"name": name}}, CONTROLLER)

    kube_emulator.call(create)
    try:
        yield name
    finally:
        kube_emulator.call(lambda: kube_emulator.api.delete(rt, None, name, CONTROLLER))
