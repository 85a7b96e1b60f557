"""The emulator's controllers, each in its own module of this package.

A module exposes its controllers by subclassing ``Controller``; ``all_controllers()`` finds
them, so adding a controller never touches this file.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from .base import Controller


def all_controllers() -> list[type[Controller]]:
    """Every concrete controller defined in this package, ordered by ``start_order`` then name."""
    found: list[type[Controller]] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Controller)
                and cls is not Controller
                and cls.__module__ == module.__name__
                and cls.enabled
            ):
                found.append(cls)
    return sorted(found, key=lambda c: (c.start_order, c.name))
