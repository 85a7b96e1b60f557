"""``airflow-k8s-emulator``: serve a local Kubernetes API until Ctrl-C.

airflow-k8s-emulator --port 6443 --speed 5
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .core import KubeEmulator


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="airflow-k8s-emulator",
        description="A local Kubernetes API server with controllers and a kubelet that runs containers as "
        "local processes. Point kubectl, the kubernetes clients or Airflow at it.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument(
        "--speed", type=float, default=1.0, help="divide controller delays (back-offs, deadlines) by this"
    )
    p.add_argument("--nodes", type=int, default=1, help="number of Ready nodes (default 1)")
    p.add_argument("--node-cpu", default="4", help="CPU capacity per node (default 4)")
    p.add_argument("--node-memory", default="8Gi", help="memory capacity per node (default 8Gi)")
    p.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a self-signed certificate and a bearer token"
    )
    p.add_argument("--token", help="bearer token to require (default: generated with --tls, none otherwise)")
    p.add_argument(
        "--workdir", type=Path, help="where pods' sandboxes and the kubeconfig go (default: a temp dir)"
    )
    p.add_argument("--kubeconfig", type=Path, help="also write the kubeconfig here")
    p.add_argument(
        "--state-file", type=Path, help="keep the cluster's objects here across restarts (like etcd)"
    )
    p.add_argument("--namespace", default="default", help="the kubeconfig context's namespace")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    emu = KubeEmulator(
        args.host,
        args.port,
        speed=args.speed,
        nodes=args.nodes,
        node_cpu=args.node_cpu,
        node_memory=args.node_memory,
        tls=args.tls,
        token=args.token,
        workdir=args.workdir,
        state_file=args.state_file,
        namespace=args.namespace,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    emu.start()
    kubeconfig = emu.kubeconfig
    if args.kubeconfig:
        args.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        args.kubeconfig.write_text(Path(emu.kubeconfig).read_text())
        kubeconfig = str(args.kubeconfig)
    print(f"Kubernetes API emulator listening on {emu.url}", flush=True)
    print(f"  kubeconfig:  {kubeconfig}")
    print(f"  kubectl:     kubectl --kubeconfig {kubeconfig} get nodes")
    print("  Airflow connection (JSON form):")
    print(f"    export AIRFLOW_CONN_KUBERNETES_DEFAULT='{emu.airflow_connection(inline=True)}'")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        stop.wait()
    finally:
        emu.stop()
        print("emulator stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
