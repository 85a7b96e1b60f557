"""Per-kind API behaviour (defaulting, validation), one module per API group or kind.

Each module calls ``strategy.register(Strategy(...))`` at import; ``load_all()`` imports them.
"""

from __future__ import annotations

import importlib
import pkgutil

_loaded = False


def load_all() -> None:
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True
