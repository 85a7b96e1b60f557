"""Label and field selectors with the API server's syntax, semantics and error messages."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, bad_request

_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin" also match objects that lack the key
        return not present or labels[self.key] not in self.values


class LabelSelector:
    """A parsed label selector, e.g. ``app=web,tier in (a,b),!canary``."""

    def __init__(self, requirements: tuple[Requirement, ...] = ()) -> None:
        self.requirements = requirements

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text or not text.strip():
            return cls()
        return cls(tuple(_parse_label_selector(text)))

    @classmethod
    def from_label_selector(cls, sel: Mapping[str, Any] | None) -> LabelSelector:
        """From a structured ``metav1.LabelSelector`` (matchLabels / matchExpressions)."""
        if not sel:
            return cls()
        reqs = [Requirement(k, "=", (str(v),)) for k, v in sorted((sel.get("matchLabels") or {}).items())]
        ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
        for expr in sel.get("matchExpressions") or []:
            reqs.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
        return cls(tuple(reqs))

    def __str__(self) -> str:
        parts = []
        for r in self.requirements:
            if r.op == "exists":
                parts.append(r.key)
            elif r.op == "!":
                parts.append("!" + r.key)
            elif r.op in ("in", "notin"):
                parts.append(f"{r.key} {r.op} ({','.join(r.values)})")
            else:
                parts.append(f"{r.key}{r.op}{r.values[0]}")
        return ",".join(parts)


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


_SET_RE = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([^!=\s]+)\s*(==|=|!=)\s*(\S*)\s*$")


def _check_key(key: str) -> None:
    if not _KEY_RE.match(key) or len(key.split("/")[-1]) > 63:
        raise bad_request(
            f'unable to parse requirement: <nil>: Invalid value: "{key}": name part must consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )


def _check_value(value: str) -> None:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise bad_request(
            f'unable to parse requirement: values[0][]: Invalid value: "{value}": a valid label must be an '
            "empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
            "an alphanumeric character"
        )


def _parse_label_selector(text: str) -> list[Requirement]:
    reqs = []
    for raw in _split_top_level(text):
        part = raw.strip()
        if not part:
            raise bad_request(
                f"unable to parse requirement: found '', expected: identifier (selector {text!r})"
            )
        m = _SET_RE.match(part)
        if m:
            key, op, vals = m.group(1), m.group(2), m.group(3)
            values = tuple(v.strip() for v in vals.split(",") if v.strip())
            _check_key(key)
            for v in values:
                _check_value(v)
            reqs.append(Requirement(key, op, values))
            continue
        m = _EQ_RE.match(part)
        if m:
            key, op, value = m.group(1), m.group(2), m.group(3)
            _check_key(key)
            _check_value(value)
            reqs.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
            continue
        if part.startswith("!"):
            _check_key(part[1:].strip())
            reqs.append(Requirement(part[1:].strip(), "!"))
            continue
        if " " not in part and "(" not in part:
            _check_key(part)
            reqs.append(Requirement(part, "exists"))
            continue
        raise bad_request(
            f"unable to parse requirement: found '{part}', expected: in, notin, =, ==, !=, gt, lt"
        )
    return reqs


# -- field selectors --------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    negate: bool
    value: str


def _get_path(obj: Mapping[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


def _field_value(obj: Mapping[str, Any], field: str) -> str:
    if field == "source":  # core/v1 Event: source.component
        value = _get_path(obj, "source.component")
    elif field == "deprecatedSource":
        value = _get_path(obj, "deprecatedSource.component")
    else:
        value = _get_path(obj, field)
    if value is None:
        # Jobs' status.successful and friends are 0 when absent; strings are empty.
        return "0" if field == "status.successful" else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class FieldSelector:
    """A parsed field selector; only the fields the resource supports are accepted."""

    def __init__(self, requirements: tuple[FieldRequirement, ...] = ()) -> None:
        self.requirements = requirements

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for r in self.requirements:
            equal = _field_value(obj, r.field) == r.value
            if equal == r.negate:
                return False
        return True

    def exact_name(self) -> str | None:
        for r in self.requirements:
            if r.field == "metadata.name" and not r.negate:
                return r.value
        return None

    @classmethod
    def parse(cls, text: str | None, supported: tuple[str, ...] = ()) -> FieldSelector:
        if not text or not text.strip():
            return cls()
        allowed = {"metadata.name", "metadata.namespace", *supported}
        reqs = []
        for raw in text.split(","):
            part = raw.strip()
            if not part:
                continue
            if "!=" in part:
                field, _, value = part.partition("!=")
                negate = True
            elif "==" in part:
                field, _, value = part.partition("==")
                negate = False
            elif "=" in part:
                field, _, value = part.partition("=")
                negate = False
            else:
                raise bad_request(f"invalid field selector: '{part}'")
            field = field.strip()
            if field not in allowed:
                raise bad_request(f"field label not supported: {field}")
            reqs.append(FieldRequirement(field, negate, value.strip()))
        return cls(tuple(reqs))


Matcher = Callable[[Mapping[str, Any]], bool]


def object_matcher(label: LabelSelector, field: FieldSelector) -> Matcher:
    """One predicate for an object against both selectors."""
    if label.empty and field.empty:
        return _always
    if field.empty:
        return lambda obj: label.matches((obj.get("metadata") or {}).get("labels"))
    if label.empty:
        return field.matches
    return lambda obj: label.matches((obj.get("metadata") or {}).get("labels")) and field.matches(obj)


def _always(obj: Mapping[str, Any]) -> bool:
    return True


__all__ = ["ApiError", "FieldSelector", "LabelSelector", "Matcher", "Requirement", "object_matcher"]
