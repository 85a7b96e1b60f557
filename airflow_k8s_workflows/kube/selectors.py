"""Label and field selector syntax, checked before a selector is sent to a cluster.

The API server answers a malformed selector with ``400 BadRequest`` at the first LIST or WATCH,
which for a trigger means in the triggerer, long after the DAG was parsed. These checks give
the same verdict up front, in the server's words, led by the parameter::

    check_label_selector("app in (web", "label_selector")
    # ValueError: label_selector: unable to parse requirement: found 'app in (web', expected: ...

Only the syntax is checked: which fields a field selector may use depends on the kind, and
the server says so itself.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_k8s_workflows.kube.naming import label_value_errors, qualified_name_errors

__all__ = ["check_field_selector", "check_label_selector", "field_selector_errors", "label_selector_errors"]

_SET = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>.*)\)$")
_EQUALITY = re.compile(r"^(?P<key>[^!=\s]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^=\s]*)$")
_COMPARE = re.compile(r"^(?P<key>[^!=<>\s]+)\s*[<>]\s*(?P<value>\S+)$")
_EXISTS = re.compile(r"^!?\s*(?P<key>[^!=\s(),]+)$")
_OPERATORS = "in, notin, =, ==, !=, gt, lt"


def _split(text: str) -> list[str] | None:
    """The requirements of ``text`` split on commas outside parentheses; None when unbalanced."""
    parts, current, depth = [], "", 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return None
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if depth != 0:
        return None
    parts.append(current)
    return parts


def _key_errors(key: str) -> list[str]:
    return [f'Invalid value: "{key}": {message}' for message in qualified_name_errors(key)]


def _value_errors(value: str) -> list[str]:
    return [f'Invalid value: "{value}": {message}' for message in label_value_errors(value)]


def label_selector_errors(text: str) -> list[str]:
    """What the API server would say about the label selector ``text`` (empty when valid)."""
    requirements = _split(text)
    if requirements is None:
        return [f"unable to parse requirement: unbalanced parentheses in {text!r}"]
    for raw in requirements:
        part = raw.strip()
        if not part:
            return [f"unable to parse requirement: found '', expected: identifier (in {text!r})"]
        if match := _SET.match(part):
            problems = _key_errors(match["key"])
            values = [v.strip() for v in match["values"].split(",")]
            if values == [""]:
                problems.append("for 'in', 'notin' operators, values set can't be empty")
            for value in values:
                problems.extend(_value_errors(value))
        elif match := _EQUALITY.match(part):
            problems = _key_errors(match["key"]) + _value_errors(match["value"])
        elif match := _COMPARE.match(part):
            problems = _key_errors(match["key"])
            if not re.fullmatch(r"-?[0-9]+", match["value"]):
                problems.append(
                    f"Invalid value: \"{match['value']}\": for 'gt', 'lt' operators, the value must be an integer"
                )
        elif match := _EXISTS.match(part):
            problems = _key_errors(match["key"])
        else:
            return [f"unable to parse requirement: found '{part}', expected: {_OPERATORS}"]
        if problems:
            return [f"unable to parse requirement: {problems[0]}"]
    return []


def field_selector_errors(text: str) -> list[str]:
    """What the API server would say about the syntax of the field selector ``text``."""
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        for operator in ("!=", "==", "="):
            field, found, _ = part.partition(operator)
            if found:
                break
        if not found:
            return [f"invalid field selector: '{part}': expected field=value, field==value or field!=value"]
        if not field.strip():
            return [f"invalid field selector: '{part}': no field name before {operator!r}"]
    return []


def _check(value: Any, field: str, errors: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field}: must be a selector string such as 'app=web', got {value!r}")
    for message in errors(value):
        raise ValueError(f"{field}: {message}")
    return value


def check_label_selector(value: Any, field: str = "label_selector") -> str | None:
    """``value`` (None when empty) or ``ValueError("label_selector: ...")``."""
    return _check(value, field, label_selector_errors)


def check_field_selector(value: Any, field: str = "field_selector") -> str | None:
    """``value`` (None when empty) or ``ValueError("field_selector: ...")``."""
    return _check(value, field, field_selector_errors)
