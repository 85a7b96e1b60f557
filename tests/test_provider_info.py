"""``get_provider_info()`` lists every module that defines a public operator, sensor or trigger,
and Airflow's own provider manager accepts it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import airflow_k8s_workflows
from airflow_k8s_workflows.get_provider_info import get_provider_info


def _modules_defining(package: str, base: type) -> set[str]:
    found = set()
    pkg = importlib.import_module(f"airflow_k8s_workflows.{package}")
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, base) and obj.__module__ == module.__name__
                    and not name.startswith("_") and not inspect.isabstract(obj) and name in getattr(module, "__all__", [name])):  # fmt: skip
                found.add(module.__name__)
    return found


def _listed(section: str) -> set[str]:
    return {m for entry in get_provider_info()[section] for m in entry["python-modules"]}


def test_every_operator_sensor_and_trigger_module_is_listed() -> None:
    from airflow.sdk.bases.operator import BaseOperator
    from airflow.sdk.bases.sensor import BaseSensorOperator
    from airflow.triggers.base import BaseTrigger

    operators = _modules_defining("operators", BaseOperator) - {"airflow_k8s_workflows.operators.base"}
    sensors = _modules_defining("sensors", BaseSensorOperator) - {"airflow_k8s_workflows.sensors.base"}
    bases = {f"airflow_k8s_workflows.triggers.{m}" for m in ("base", "watcher", "workload")}  # shared bases
    triggers = _modules_defining("triggers", BaseTrigger) - bases
    assert operators and sensors and triggers
    assert operators <= _listed("operators"), operators - _listed("operators")
    assert sensors <= _listed("sensors"), sensors - _listed("sensors")
    assert triggers <= _listed("triggers"), triggers - _listed("triggers")
    for section in ("operators", "sensors", "triggers", "hooks"):
        for module in _listed(section):
            importlib.import_module(module)


def test_airflow_lists_the_provider() -> None:
    from airflow.providers_manager import ProvidersManager

    providers = ProvidersManager().providers
    assert "airflow-k8s-workflows" in providers
    assert providers["airflow-k8s-workflows"].version == airflow_k8s_workflows.__version__
