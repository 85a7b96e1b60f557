"""The emulator's kubelet: runs the containers of pods bound to its nodes as local processes,
writes their status as the real kubelet does, and serves their logs. See ``docs/emulator.md``
("Kubelet and scheduler") for what it simulates and where it simplifies."""

from __future__ import annotations

from airflow_k8s_workflows.emulator.kubelet.kubelet import Kubelet, NodeInfo

__all__ = ["Kubelet", "NodeInfo"]
