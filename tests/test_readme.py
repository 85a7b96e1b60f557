"""The README stays true: it starts with the two set-up commands, every Python block compiles,
every name it imports from this package exists, and every public operator, sensor, trigger and
notifier appears in it."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_starts_with_the_two_commands_and_make_knows_them() -> None:
    first = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first is not None and README.index(first.group(0)) < README.index("\n## ")
    commands = [line.split("#")[0].strip() for line in first.group(1).strip().splitlines()]
    assert commands == ["make demo", "make test"]
    makefile = (REPO / "Makefile").read_text()
    assert "demo:\n\t./scripts/demo.sh" in makefile and "test:\n\t./scripts/test.sh" in makefile
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_python_blocks_compile_and_their_imports_exist() -> None:
    assert len(BLOCKS) >= 8
    for block in BLOCKS:
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("airflow_k8s_workflows")
            ):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{node.module}.{alias.name}"


def test_every_public_class_is_shown() -> None:
    import airflow_k8s_workflows.notifiers.alertmanager as am
    import airflow_k8s_workflows.notifiers.kubernetes_event as ke

    public = {"RunJobOperator", "ApplyManifestsOperator", "DeleteResourcesOperator", "DeployOperator",
              "RollbackDeploymentOperator", "ScaleOperator", "AutoscaleOperator", "ClusterHealthOperator",
              "JobSensor", "RolloutSensor", "ResourceConditionSensor", "KubernetesEventSensor",
              "PrometheusQuerySensor", "JobTrigger", "RolloutTrigger", "ScaleTrigger", "ResourceConditionTrigger",
              "ResourcesReadyTrigger", "PrometheusQueryTrigger", "KubernetesEventTrigger", "ResourceChangeTrigger",
              am.AlertmanagerNotifier.__name__, ke.KubernetesEventNotifier.__name__}  # fmt: skip
    used_in_code = {name for block in BLOCKS for name in public if f"{name}(" in block}
    missing_code = public - used_in_code - {"JobTrigger", "RolloutTrigger", "ScaleTrigger", "ResourceConditionTrigger",
                                            "ResourcesReadyTrigger", "PrometheusQueryTrigger"}  # fmt: skip
    assert not missing_code, f"no example for {sorted(missing_code)}"
    assert all(f"`{name}`" in README or f"{name}(" in README for name in public)


def test_linked_files_exist() -> None:
    for target in re.findall(r"\]\(((?!http)[^)#]+)\)", README):
        assert (REPO / target).exists(), target
