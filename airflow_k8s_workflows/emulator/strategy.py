"""Per-kind behaviour of the API server: defaulting, validation, and what counts as a spec change.

A kind without an entry gets the generic behaviour. Kind modules register themselves with
``register(Strategy(...))``; ``kinds/`` holds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import Cause

Obj = dict[str, Any]
TypeKey = tuple[str, str]


def _no_defaults(obj: Obj, ctx: Any) -> None:
    return None


def _no_causes(obj: Obj) -> list[Cause]:
    return []


def _no_update_causes(old: Obj, new: Obj) -> list[Cause]:
    return []


def spec_of(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def generic_spec_changed(old: Obj, new: Obj) -> bool:
    return spec_of(old) != spec_of(new)


@dataclass(frozen=True)
class Strategy:
    key: TypeKey
    # fill in defaults on create (and on update for fields that must always be set); ctx is the ApiServer
    defaults: Callable[[Obj, Any], None] = _no_defaults
    validate: Callable[[Obj], list[Cause]] = _no_causes
    validate_update: Callable[[Obj, Obj], list[Cause]] = _no_update_causes
    spec_changed: Callable[[Obj, Obj], bool] = generic_spec_changed
    # objects whose DELETE answers with the object itself rather than a Status
    return_deleted_object: bool = False
    # metadata fields a write through the status subresource may change (the real Deployment
    # status strategy resets only spec and labels, so the controller records revisions there)
    status_metadata: tuple[str, ...] = ()


_STRATEGIES: dict[TypeKey, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    _STRATEGIES[strategy.key] = strategy
    return strategy


def strategy_for(key: TypeKey, *, custom: bool = False) -> Strategy:
    from .kinds import load_all

    load_all()
    found = _STRATEGIES.get(key)
    if found is not None:
        return found
    return Strategy(key, return_deleted_object=custom)
