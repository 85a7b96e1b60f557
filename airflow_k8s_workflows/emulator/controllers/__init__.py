"""The emulator's controllers, each in its own module."""

from __future__ import annotations

from .base import Controller


def all_controllers() -> list[type[Controller]]:
    """Every controller the emulator starts, in start order."""
    return []
