"""Kubernetes resource quantities (``100m``, ``0.5``, ``1Gi``, ``500M``, ``1e3``) as exact numbers.

The grammar is apimachinery's ``resource.Quantity``::

    <quantity>       ::= <signedNumber><suffix>
    <number>         ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>         ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>       ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI>      ::= n | u | m | "" | k | M | G | T | P | E
    <decimalExponent>::= "e" <signedNumber> | "E" <signedNumber>

The official client's ``kubernetes.utils.parse_quantity`` is not used on purpose: importing it
pulls in the whole client (about 0.6 s), and it accepts strings the API server rejects
(``1K``, ``NaN``, ``1_000``, surrounding blanks).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = [
    "QuantityError",
    "cpu_millicores",
    "memory_bytes",
    "parse_quantity",
    "pod_requests",
]

_QUANTITY_RE = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|n|u|m|k|M|G|T|P|E|)$"
)

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """Return the exact value of a quantity: ``"100m"`` → ``Decimal("0.1")``, ``"1Gi"`` → ``1073741824``.

    Numbers (as YAML gives them for ``cpu: 0.5``) are accepted as they are.
    Raises :class:`QuantityError` naming the offending string.
    """
    if isinstance(value, bool):
        raise QuantityError(f"quantities must be strings or numbers, got {value!r}")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise QuantityError(f"{value!r} is not a quantity")
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"{value!r} is not a quantity")
        return Decimal(repr(value))
    if not isinstance(value, str):
        raise QuantityError(f"quantities must be strings or numbers, got {type(value).__name__}")
    match = _QUANTITY_RE.match(value)
    if match is None:
        raise QuantityError(
            f"quantities must match the regular expression "
            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {value!r}"
        )
    number = Decimal(match.group("number"))
    suffix = match.group("suffix")
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    return number.scaleb(int(suffix[1:]))


def cpu_millicores(value: str | int | float | Decimal) -> int:
    """CPU in millicores, rounded up like ``Quantity.MilliValue()``: ``"0.5"`` → 500, ``"1"`` → 1000."""
    return math.ceil(parse_quantity(value) * 1000)


def memory_bytes(value: str | int | float | Decimal) -> int:
    """Memory (or any byte quantity) in bytes, rounded up like ``Quantity.Value()``: ``"1Ki"`` → 1024."""
    return math.ceil(parse_quantity(value))


def pod_requests(pod_spec: Mapping[str, Any]) -> dict[str, Decimal]:
    """The resources the scheduler reserves for a pod, as exact quantities per resource name.

    Follows ``k8s.io/component-helpers/resource.PodRequests``: the sum over app containers
    (a restartable init container, i.e. a sidecar with ``restartPolicy: Always``, counts like
    one), at least the largest single init container (plus the sidecars started before it), plus
    ``overhead``. A container without ``requests`` for a resource but with ``limits`` requests
    its limit (the API server's defaulting).
    """
    total: dict[str, Decimal] = {}
    for container in pod_spec.get("containers") or []:
        _add(total, _container_requests(container))

    sidecars: dict[str, Decimal] = {}
    init_peak: dict[str, Decimal] = {}
    for container in pod_spec.get("initContainers") or []:
        requests = _container_requests(container)
        if container.get("restartPolicy") == "Always":
            _add(total, requests)
            _add(sidecars, requests)
            candidate = dict(sidecars)
        else:
            candidate = dict(sidecars)
            _add(candidate, requests)
        for name, amount in candidate.items():
            if amount > init_peak.get(name, Decimal(0)):
                init_peak[name] = amount
    for name, amount in init_peak.items():
        if amount > total.get(name, Decimal(0)):
            total[name] = amount
    _add(total, {k: parse_quantity(v) for k, v in (pod_spec.get("overhead") or {}).items()})
    return total


def _container_requests(container: Mapping[str, Any]) -> dict[str, Decimal]:
    resources = container.get("resources") or {}
    merged = dict(resources.get("limits") or {})
    merged.update(resources.get("requests") or {})
    return {name: parse_quantity(amount) for name, amount in merged.items()}


def _add(into: dict[str, Decimal], extra: Mapping[str, Decimal]) -> None:
    for name, amount in extra.items():
        into[name] = into.get(name, Decimal(0)) + amount
