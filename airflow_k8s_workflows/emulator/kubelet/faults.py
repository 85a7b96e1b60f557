"""Fault injection through pod annotations (prefix ``emulator.airflow-k8s-workflows.io/``).

Read from the live pod each time they matter, so adding or removing one takes effect at the
next pull, start or probe. Durations are in controller seconds (divided by the emulator's speed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PREFIX = "emulator.airflow-k8s-workflows.io/"
IMAGE_PULL = PREFIX + "image-pull"  # "fail": every pull fails (ErrImagePull, then ImagePullBackOff)
OOM_KILL = PREFIX + "oom-kill"  # "true": app containers are OOMKilled (exit 137) right after starting
OOM_KILL_AFTER = PREFIX + "oom-kill-after-seconds"  # "N": ... N seconds after starting
START_DELAY = PREFIX + "start-delay-seconds"  # "N": containers stay ContainerCreating for N seconds
NEVER_READY = PREFIX + "never-ready"  # "true": containers run but never become ready
MISSING_IMAGE_SUFFIX = ":does-not-exist"  # an image tag that no registry has


def _seconds(value: Any) -> float | None:
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Faults:
    image_pull_fails: bool = False
    oom_after: float | None = None
    start_delay: float = 0.0
    never_ready: bool = False

    @classmethod
    def of(cls, pod: dict[str, Any]) -> Faults:
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        oom_after = _seconds(annotations.get(OOM_KILL_AFTER))
        if oom_after is None and str(annotations.get(OOM_KILL, "")).lower() == "true":
            oom_after = 0.0
        return cls(
            image_pull_fails=str(annotations.get(IMAGE_PULL, "")).lower() == "fail",
            oom_after=oom_after,
            start_delay=_seconds(annotations.get(START_DELAY)) or 0.0,
            never_ready=str(annotations.get(NEVER_READY, "")).lower() == "true",
        )
