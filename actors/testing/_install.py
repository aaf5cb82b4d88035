"""Is the top-level `supervisor` package stanchion's facade, or someone else's?

supervisord's distribution (`pip install supervisor`) owns the same top-level
name. Installed after stanchion, its `supervisor/__init__.py` replaces ours
(`pip check` sees nothing), and `from supervisor import ActorSystem` fails.
stanchion's own modules never import `supervisor`, so they keep working; this
check says what happened and what to do (`python -m stanchion doctor`, the
pytest plugin's summary). Standard library only: the plugin runs it in every
pytest session.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
from pathlib import Path

# A line of stanchion's `supervisor/__init__.py` that no other package's has.
_MARKER = "from actors.supervision import"


def facade_problem() -> str | None:
    """What is wrong with the `supervisor` import path, or `None` when it is stanchion's.

    Never imports `supervisor` (whatever it is); reads where it would load from.

    Example:
        >>> facade_problem() is None
        True
    """
    try:
        spec = importlib.util.find_spec("supervisor")
    except (ImportError, ValueError) as exc:
        return _explain(f"looking the `supervisor` package up failed ({exc!r})")
    if spec is None:
        return _explain("there is no `supervisor` package in this environment")
    origin = spec.origin if spec.origin not in (None, "namespace") else None
    if origin is None:
        places = ", ".join(spec.submodule_search_locations or [])
        return _explain(f"the `supervisor` package in {places} has no `__init__.py` (an "
                        "uninstall of a package sharing the name removed it)")
    try:
        text = Path(origin).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return _explain(f"{origin} cannot be read ({exc.strerror})")
    if _MARKER in text:
        return None
    owner = "another package"
    if (Path(origin).parent / "supervisord.py").exists():
        owner = "supervisord (`pip install supervisor`)"
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            owner += f", version {importlib.metadata.version('supervisor')},"
    return _explain(f"{origin} belongs to {owner} which uses the same top-level name and "
                    "replaced stanchion's `supervisor/__init__.py`")


def _explain(what: str) -> str:
    return (
        f"stanchion: `from supervisor import ...` will not work here: {what}. "
        "stanchion itself is unaffected (it never imports `supervisor`): import the same "
        "names from `stanchion` (`from stanchion import ActorSystem, ChildSpec`) or "
        "`actors.supervision`. To get `supervisor` back as stanchion's, install supervisord "
        "in an environment of its own (`pipx install supervisor`), then here run "
        "`pip uninstall supervisor` and `pip install --force-reinstall --no-deps stanchion`."
    )
