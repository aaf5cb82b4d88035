"""Module `__getattr__`s for names that live elsewhere: re-exported lazily, or moved out."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(module: str, namespace: dict[str, Any], lazy: Mapping[str, str] | None = None,
               moved: Mapping[str, str] | None = None) -> Callable[[str], Any]:
    """A module `__getattr__` for `module` (whose globals are `namespace`).

    `lazy` maps a name to the module that defines it, imported on first
    access: for a name re-exported from a higher layer, so importing `module`
    never imports that layer. `moved` maps a name that is no longer part of
    the library to where it went; accessing it raises an `AttributeError`
    saying so (the library never imports example code to re-export it).
    """

    lazy, moved = dict(lazy or {}), dict(moved or {})

    def __getattr__(name: str) -> Any:  # noqa: N807 - it is a module's __getattr__
        source = lazy.get(name)
        if source is not None:
            value = getattr(importlib.import_module(source), name)
            namespace[name] = value
            return value
        if name in moved:
            raise AttributeError(f"{module}.{name} is not part of the library any more: "
                                 f"it moved to {moved[name]}")
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
