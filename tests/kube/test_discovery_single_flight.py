"""Concurrent discovery misses for one group version share one request (against the emulator)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.kube import clients, discovery
from airflow_k8s_workflows.kube.cluster import config_from_kubeconfig, load_kubeconfig_files
from airflow_k8s_workflows.kube.errors import UnknownKind
from airflow_k8s_workflows.kube.rest import Call, arequest


async def test_a_thousand_concurrent_lookups_send_one_request(tmp_path: Path) -> None:
    with KubeEmulator(controllers=False, kubelet=False, workdir=tmp_path / "emu") as emu:
        cfg = config_from_kubeconfig(load_kubeconfig_files([emu.kubeconfig]))
        discovery.clear_cache(cfg.identity)
        client = await clients.async_client(cfg)
        sent: list[str] = []

        async def fetch(call: Call) -> Any:
            sent.append(call.path)
            return await arequest(client, call)

        found = await asyncio.gather(
            *(discovery.adiscover(fetch, cfg.identity, "batch/v1", "Job") for _ in range(1000))
        )
        assert {(r.name, r.namespaced) for r in found} == {("jobs", True)}
        assert sent == ["/apis/batch/v1"]
        with pytest.raises(UnknownKind):
            await asyncio.gather(
                *(discovery.adiscover(fetch, cfg.identity, "nope.example/v1", "X") for _ in range(10))
            )
        assert sent == ["/apis/batch/v1", "/apis/nope.example/v1"]
        await clients.close_async_clients()
