"""Pod log throughput and latency of the emulator's kubelet, end to end through the official client.

    .venv/bin/python benchmarks/log_throughput.py [--lines 200000] [--runs 3]

For each run a pod prints ``--lines`` lines; a client follows ``pods/log`` from the moment the
container runs. Reported:

- lines/s end to end: lines received / time from pod creation to the last line received;
- lines/s streaming: the same from the first byte received to the last;
- per-line flushes: the same with the container flushing after every line (one write per line);
- line latency: a container prints a line with its clock every 20 ms; the follower's receive
  time minus that clock, median and p99 over 100 lines;
- kubectl logs -f: end-to-end lines/s through the real kubectl.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client, config

from airflow_k8s_workflows.emulator import KubeEmulator

PRINT = "import sys\nw = sys.stdout.write\nfor i in range({n}):\n    w('line %d of the benchmark output\\n' % i)\n"
PRINT_FLUSHED = (
    "import sys\nfor i in range({n}):\n    print('line %d of the benchmark output' % i, flush=True)\n"
)
CLOCK = "import time\nfor i in range(100):\n    print(repr(time.time()), flush=True)\n    time.sleep(0.02)\n"


def _pod(name: str, script: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {"restartPolicy": "Never", "containers": [
        {"name": "c", "image": "python", "command": [sys.executable, "-c", script]}]}}  # fmt: skip


def _wait_started(core: client.CoreV1Api, name: str) -> None:
    while True:
        statuses = core.read_namespaced_pod(name, "default").status.container_statuses or []
        if statuses and (statuses[0].state.running or statuses[0].state.terminated):
            return
        time.sleep(0.005)


def follow_run(core: client.CoreV1Api, name: str, script: str, lines: int) -> tuple[float, float]:
    """(end-to-end lines/s, streaming lines/s)."""
    created = time.monotonic()
    core.create_namespaced_pod("default", _pod(name, script.format(n=lines)))
    _wait_started(core, name)
    received = 0
    first: float | None = None
    for chunk in core.read_namespaced_pod_log(name, "default", follow=True, _preload_content=False).stream(
        1 << 16
    ):
        first = first or time.monotonic()
        received += chunk.count(b"\n")
    done = time.monotonic()
    assert received == lines, (received, lines)
    return lines / (done - created), lines / max(done - (first or done), 1e-9)


def latency_run(core: client.CoreV1Api) -> tuple[float, float]:
    """(median, p99) seconds between a line's print and its arrival at a follower."""
    core.create_namespaced_pod("default", _pod("latency", CLOCK))
    _wait_started(core, "latency")
    delays: list[float] = []
    pending = b""
    for chunk in core.read_namespaced_pod_log(
        "latency", "default", follow=True, _preload_content=False
    ).stream(1024):
        now = time.time()
        pending += chunk
        *complete, pending = pending.split(b"\n")
        delays.extend(now - float(line) for line in complete if line)
    delays.sort()
    return statistics.median(delays), delays[int(len(delays) * 0.99) - 1]


def kubectl_run(emu: KubeEmulator, core: client.CoreV1Api, lines: int) -> float:
    kubectl = Path(sys.executable).parent / "kubectl"
    created = time.monotonic()
    core.create_namespaced_pod("default", _pod("kubectl", PRINT.format(n=lines)))
    _wait_started(core, "kubectl")
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([str(kubectl), "--kubeconfig", emu.kubeconfig, "--cache-dir", cache, "logs", "-f", "kubectl"],
                             capture_output=True, check=True, env={"HOME": cache, "PATH": "/usr/bin:/bin"}).stdout  # fmt: skip
    assert out.count(b"\n") == lines
    return lines / (time.monotonic() - created)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with KubeEmulator(speed=20) as emu:
        api_client = config.new_client_from_config(emu.kubeconfig)
        core = client.CoreV1Api(api_client)
        for label, script in (("block writes", PRINT), ("per-line flushes", PRINT_FLUSHED)):
            results = [follow_run(core, f"bench-{label[0]}{i}", script, args.lines) for i in range(args.runs)]
            best = max(results)
            print(f"{label:>17}: {args.lines} lines, end to end {best[0]:>10,.0f} lines/s, "
                  f"streaming {best[1]:>10,.0f} lines/s (best of {args.runs})")  # fmt: skip
        median, p99 = latency_run(core)
        print(
            f"     line latency: median {median * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms (100 lines, follow)"
        )
        print(f"  kubectl logs -f: end to end {kubectl_run(emu, core, args.lines):>10,.0f} lines/s")
        api_client.close()


if __name__ == "__main__":
    main()
