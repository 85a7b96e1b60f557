"""``kubectl wait`` semantics as predicates over objects.

:func:`parse_wait_for` takes exactly one of

* ``condition="Available"`` / ``condition="Ready=False"`` — a ``status.conditions[]`` entry whose
  ``type`` equals the name and whose ``status`` equals the value (default ``True``), both
  compared case-insensitively (Unicode case folding, like kubectl). A condition whose
  ``observedGeneration`` (or else ``status.observedGeneration``) is older than
  ``metadata.generation`` does not count yet.
* ``jsonpath="{.status.phase}=Running"`` — kubectl's JSONPath with a value: the expression must
  give exactly one value, a scalar, whose text (Go's ``%v``: ``true``, ``3``) equals the value
  after trimming blanks. Without ``=value`` (``jsonpath="{.status.loadBalancer.ingress}"``) it
  is met as soon as the path exists (kubectl 1.31+). A missing path is "not yet"; a path that
  matches several values or an object/list compared to a value is an error, as in kubectl.
* ``deleted=True`` — the object is gone (or replaced by another with a different uid).

Differences from kubectl, on purpose: an index out of range (``{.items[3]}`` on two items) or
indexing a non-list is "not yet" instead of an error, since a wait starts before the list
fills; and when the expression is wrapped in braces, ``=`` inside it (filters such as
``[?(@.status!="True")]``) does not split expression from value.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = [
    "ConditionWait",
    "DeletedWait",
    "JSONPathWait",
    "WaitFor",
    "WaitForError",
    "parse_wait_for",
]

_RELAXED_RE = re.compile(r"^\{\.?([^{}]+)\}$|^\.?([^{}]+)$")


class WaitForError(ValueError):
    """A malformed wait specification, or a JSONPath that cannot be compared; names the parameter."""

    def __init__(self, parameter: str, reason: str) -> None:
        self.parameter = parameter
        self.reason = reason
        super().__init__(f"{parameter}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.parameter, self.reason))


class WaitFor(ABC):
    """A predicate over an object (``None`` = the object does not exist)."""

    @property
    @abstractmethod
    def description(self) -> str:
        """e.g. ``condition Available=True``."""

    @abstractmethod
    def matches(self, obj: Mapping[str, Any] | None) -> bool:
        """Whether ``obj`` satisfies the wait (may raise :class:`WaitForError` for jsonpath)."""

    def matches_event(self, event_type: str, obj: Mapping[str, Any] | None) -> bool:
        """For watch events: a ``DELETED`` event means the object is gone."""
        return self.matches(None if event_type == "DELETED" else obj)

    @abstractmethod
    def current(self, obj: Mapping[str, Any] | None) -> str:
        """What the object shows now, for a progress line."""

    @abstractmethod
    def kwargs(self) -> dict[str, Any]:
        """The arguments that rebuild this predicate with :func:`parse_wait_for` (serializable)."""

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class ConditionWait(WaitFor):
    condition_type: str
    status: str = "True"

    @property
    def description(self) -> str:
        return f"condition {self.condition_type}={self.status}"

    def _find(self, obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
        conditions = (obj.get("status") or {}).get("conditions")
        if not isinstance(conditions, list):
            return None
        wanted = self.condition_type.casefold()
        for condition in conditions:
            if not isinstance(condition, Mapping):
                continue
            name, status = condition.get("type"), condition.get("status")
            if not isinstance(name, str) or name.casefold() != wanted or not isinstance(status, str):
                continue
            return condition
        return None

    def matches(self, obj: Mapping[str, Any] | None) -> bool:
        if obj is None:
            return False
        condition = self._find(obj)
        if condition is None:
            return False
        generation = (obj.get("metadata") or {}).get("generation")
        if isinstance(generation, int):
            observed = condition.get("observedGeneration")
            if not isinstance(observed, int):
                observed = (obj.get("status") or {}).get("observedGeneration")
            if isinstance(observed, int) and observed < generation:
                return False
        return bool(str(condition["status"]).casefold() == self.status.casefold())

    def current(self, obj: Mapping[str, Any] | None) -> str:
        if obj is None:
            return "object not found"
        condition = self._find(obj)
        if condition is None:
            return f"no {self.condition_type} condition yet"
        text = f"{condition.get('type')}={condition.get('status')}"
        if condition.get("reason"):
            text += f" ({condition['reason']})"
        if condition.get("message"):
            text += f": {condition['message']}"
        return text

    def kwargs(self) -> dict[str, Any]:
        return {"condition": f"{self.condition_type}={self.status}"}


@dataclass(frozen=True)
class JSONPathWait(WaitFor):
    expression: str
    """kubectl's form, e.g. ``{.status.phase}``."""
    value: str | None
    """None: the path only has to exist."""
    _parsed: Any = field(compare=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self._parsed is None:
            match = _RELAXED_RE.match(self.expression)
            if match is None:
                raise WaitForError("jsonpath", f"unexpected path string {self.expression!r}")
            body = match.group(1) or match.group(2)
            object.__setattr__(self, "expression", "{." + body + "}")
            object.__setattr__(self, "_parsed", _compile(body, self.expression))

    @property
    def description(self) -> str:
        if self.value is None:
            return f"jsonpath {self.expression} exists"
        return f"jsonpath {self.expression}={self.value}"

    def _values(self, obj: Mapping[str, Any]) -> list[Any]:
        return [match.value for match in self._parsed.find(obj)]

    def matches(self, obj: Mapping[str, Any] | None) -> bool:
        if obj is None:
            return False
        values = self._values(obj)
        if not values:
            return False
        if len(values) > 1:
            raise WaitForError("jsonpath", "given jsonpath expression matches more than one value")
        if self.value is None:
            return True
        found = values[0]
        if isinstance(found, Mapping | list):
            raise WaitForError("jsonpath", "jsonpath leads to a nested object or list which is not supported")
        return go_value_text(found).strip() == self.value.strip()

    def current(self, obj: Mapping[str, Any] | None) -> str:
        if obj is None:
            return "object not found"
        values = self._values(obj)
        if not values:
            return f"{self.expression} not set"
        shown = ", ".join(
            go_value_text(v) if not isinstance(v, Mapping | list) else "<object>" for v in values
        )
        return f"{self.expression} is {shown}"

    def kwargs(self) -> dict[str, Any]:
        text = self.expression if self.value is None else f"{self.expression}={self.value}"
        return {"jsonpath": text}


@dataclass(frozen=True)
class DeletedWait(WaitFor):
    uid: str | None = None
    """When set, an object with another uid (deleted and recreated) also counts as deleted."""

    @property
    def description(self) -> str:
        return "deleted"

    def matches(self, obj: Mapping[str, Any] | None) -> bool:
        if obj is None:
            return True
        return bool(self.uid) and (obj.get("metadata") or {}).get("uid") != self.uid

    def current(self, obj: Mapping[str, Any] | None) -> str:
        if obj is None:
            return "deleted"
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            return "being deleted (finalizers pending)"
        return "still exists"

    def kwargs(self) -> dict[str, Any]:
        return {"deleted": True}


def parse_wait_for(
    condition: str | None = None,
    jsonpath: str | None = None,
    deleted: bool = False,
    *,
    uid: str | None = None,
) -> WaitFor:
    """Build the predicate for exactly one of ``condition``, ``jsonpath`` or ``deleted``.

    ``uid`` (with ``deleted``) is the uid of the object being waited on. Raises
    :class:`WaitForError` naming the parameter for malformed input.
    """
    given = [name for name, value in (("condition", condition), ("jsonpath", jsonpath)) if value is not None]
    if deleted:
        given.append("deleted")
    if len(given) != 1:
        names = ", ".join(given) if given else "none"
        raise WaitForError(
            "condition" if not given else given[0],
            f"give exactly one of condition, jsonpath or deleted=True (got {names})",
        )
    if deleted:
        return DeletedWait(uid=uid)
    if condition is not None:
        return _parse_condition(condition)
    assert jsonpath is not None
    return _parse_jsonpath(jsonpath)


def _parse_condition(text: str) -> ConditionWait:
    if not isinstance(text, str):
        raise WaitForError("condition", f"must be a string like 'Available' or 'Ready=False', got {text!r}")
    spec = text.strip()
    if spec.startswith("condition="):
        spec = spec[len("condition=") :]
    name, sep, value = spec.partition("=")
    name = name.strip()
    if not name:
        raise WaitForError(
            "condition", f"no condition type in {text!r}; use e.g. 'Available' or 'Ready=False'"
        )
    if sep and not value.strip():
        raise WaitForError("condition", f"no status after '=' in {text!r}; use e.g. 'Ready=False'")
    return ConditionWait(condition_type=name, status=value.strip() if sep else "True")


def _split_kubectl(text: str) -> list[str]:
    """kubectl's splitJSONPathInput: split on single '=', keep '=='."""
    out: list[str] = []
    element = ""
    index = 0
    while index < len(text):
        char = text[index]
        if char == "=":
            if index < len(text) - 1 and text[index + 1] == "=":
                element += "=="
                index += 2
                continue
            out.append(element)
            element = ""
            index += 1
            continue
        element += char
        index += 1
    out.append(element)
    return out


def _parse_jsonpath(text: str) -> JSONPathWait:
    if not isinstance(text, str):
        raise WaitForError("jsonpath", f"must be a string like '{{.status.phase}}=Running', got {text!r}")
    spec = text.strip()
    if spec.startswith("jsonpath="):
        spec = spec[len("jsonpath=") :]
    if len(spec) >= 2 and spec[0] == spec[-1] and spec[0] in "'\"" and "=" not in spec[1:-1]:
        spec = spec[1:-1]
    # The expression in braces ends at its closing brace; anything else uses kubectl's splitting.
    expression: str
    value: str | None
    stripped = spec.lstrip("'\"")
    if stripped.startswith("{") and "}" in stripped:
        end = stripped.index("}")
        expression = stripped[: end + 1]
        rest = stripped[end + 1 :].lstrip("'\"")
        if rest and not rest.startswith("="):
            raise WaitForError(
                "jsonpath",
                f"unexpected {rest!r} after the expression; use '{{.status.readyReplicas}}=3' "
                "or '{.status.readyReplicas}'",
            )
        value = rest[1:] if rest else None
    else:
        parts = _split_kubectl(spec)
        if len(parts) > 2:
            raise WaitForError(
                "jsonpath",
                "jsonpath wait format must be '{.status.readyReplicas}=3' or '{.status.readyReplicas}'",
            )
        expression = parts[0]
        value = parts[1] if len(parts) == 2 else None
    if value is not None:
        value = value.strip("'\"")
        if value == "":
            raise WaitForError(
                "jsonpath",
                "jsonpath wait has to have a value after equal sign, like '{.status.readyReplicas}=3'",
            )
    expression = expression.strip()
    if not expression:
        raise WaitForError("jsonpath", "jsonpath expression cannot be empty")
    match = _RELAXED_RE.match(expression)
    if match is None:
        raise WaitForError(
            "jsonpath",
            "unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' "
            "or '{.name1.name2}'",
        )
    body = match.group(1) or match.group(2)
    relaxed = "{." + body + "}"
    parsed = _compile(body, relaxed)
    return JSONPathWait(expression=relaxed, value=value, _parsed=parsed)


def _quote_field(name: str) -> str:
    if name == "*":
        return "*"
    if "'" not in name:
        return f"'{name}'"
    return '"' + name.replace('"', '\\"') + '"'


def to_jsonpath_ng(path: str) -> str:
    """Translate the inside of kubectl's ``{.a.b[0]}`` (``.a.b[0]``, ``..name``) to jsonpath-ng's
    ``$.'a'.'b'[0]``: every field name quoted (so ``/``, ``-`` and escaped dots in label keys
    work), brackets (indexes, slices, filters, unions) copied as they are."""
    text = path if path.startswith((".", "[")) else "." + path
    out = "$"
    index = 0
    while index < len(text):
        char = text[index]
        if char == ".":
            if text.startswith("..", index):
                out += ".."
                index += 2
            else:
                out += "."
                index += 1
            name = ""
            while index < len(text) and text[index] not in ".[":
                if text[index] == "\\" and index + 1 < len(text):
                    name += text[index + 1]
                    index += 2
                    continue
                name += text[index]
                index += 1
            if not name:
                if index < len(text) and text[index] == "[":
                    if not out.endswith(".."):
                        out = out[:-1]  # ".[0]" is "[0]"
                    continue
                raise ValueError("empty field name")
            out += _quote_field(name.strip())
        elif char == "[":
            depth = 0
            quote: str | None = None
            start = index
            while index < len(text):
                current = text[index]
                if quote:
                    if current == quote:
                        quote = None
                elif current in "'\"":
                    quote = current
                elif current == "[":
                    depth += 1
                elif current == "]":
                    depth -= 1
                    if depth == 0:
                        break
                index += 1
            if index >= len(text):
                raise ValueError("unterminated [")
            out += text[start : index + 1]
            index += 1
        else:
            raise ValueError(f"unexpected {char!r}")
    return out


def _compile(body: str, relaxed: str) -> Any:
    from jsonpath_ng.ext import parse

    try:
        translated = to_jsonpath_ng("." + body.strip())
        return parse(translated)
    except Exception as exc:  # jsonpath-ng raises plain Exception subclasses of several kinds
        raise WaitForError("jsonpath", f"cannot parse {relaxed}: {exc}")


def go_value_text(value: Any) -> str:
    """``fmt.Sprintf("%v", v)`` for a JSON scalar: ``true``, ``3``, ``1e+06``, ``<nil>``."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(number: float) -> str:
    # strconv.FormatFloat(f, 'g', -1, 64): shortest digits, %e when exp < -4 or exp >= 6.
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    sign = "-" if number < 0 else ""
    shortest = Decimal(repr(abs(number))).normalize().as_tuple()
    digits = "".join(str(d) for d in shortest.digits)
    assert isinstance(shortest.exponent, int)
    decimal_point = len(digits) + shortest.exponent
    exponent = decimal_point - 1
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
    if decimal_point <= 0:
        return f"{sign}0.{'0' * -decimal_point}{digits}"
    if decimal_point >= len(digits):
        return sign + digits + "0" * (decimal_point - len(digits))
    return f"{sign}{digits[:decimal_point]}.{digits[decimal_point:]}"
