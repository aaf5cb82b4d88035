"""The layers of docs/architecture.md, beyond what import-linter's contracts can say.

- No library module imports an underscore module of another package: a
  package's private modules are its own (and its sub-packages'); everything
  else goes through `actors.core` (the seam) or a package's public names.
- Only `actors.core` imports Pykka's private modules, and only it logs through
  structlog directly (everything else through `LibraryLogger`).
- Importing the library loads no HTTP client, no terminal UI, no Redis client
  and no example code; the pytest plugin costs next to nothing in a project
  that uses none of its fixtures.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("actors", "supervisor", "stanchion")


def library_modules() -> dict[str, Path]:
    found = {}
    for top in LIBRARY:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = library_modules()


def package_of(module: str) -> str:
    """The package a module belongs to (a package's `__init__` belongs to the package)."""
    path = MODULES.get(module)
    if path is not None and path.name == "__init__.py":
        return module
    return module.rpartition(".")[0]


def imports_of(module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import in `module`, a `from X import _y` as X._y."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{module}:{node.lineno} uses a relative import"
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                      if alias.name.startswith("_")]
    return found


def private_part(imported: str) -> str | None:
    """The package owning the first underscore module in `imported`, or None if all public."""
    parts = imported.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    return None


def test_the_walk_sees_every_layer() -> None:
    assert {"actors.core", "actors.supervision", "actors.saga", "actors.backends.redis",
            "supervisor", "stanchion"} <= set(MODULES)


def test_no_module_imports_another_packages_private_modules() -> None:
    crossings = []
    for module in MODULES:
        own = package_of(module)
        for line, imported in imports_of(module):
            if imported.split(".")[0] not in LIBRARY:
                continue
            owner = private_part(imported)
            # A package's private modules serve it and its sub-packages.
            if owner is not None and not (own == owner or own.startswith(owner + ".")):
                crossings.append(f"{module}:{line} imports {imported}")
    assert not crossings, "go through actors.core or the package's public names:\n" + "\n".join(
        crossings)


def test_only_the_core_imports_pykkas_private_modules() -> None:
    offenders = [f"{module}:{line} imports {imported}"
                 for module in MODULES if not module.startswith("actors.core")
                 for line, imported in imports_of(module)
                 if imported.startswith("pykka.") and private_part(imported) is not None]
    assert not offenders, "\n".join(offenders)


def test_only_the_core_logs_through_structlog_directly() -> None:
    """The library logs through `actors.core.LibraryLogger`, which writes nothing to
    stdout until the application configures logging (docs/embedding.md)."""
    offenders = [f"{module}:{line} imports {imported}"
                 for module in MODULES if not module.startswith("actors.core")
                 for line, imported in imports_of(module)
                 if imported == "structlog" or imported.startswith("structlog.")]
    assert not offenders, "log with actors.core.LibraryLogger:\n" + "\n".join(offenders)


def _import_tree(code: str, *, cwd: Path = ROOT, prelude: str = "") -> list[tuple[str, int, str]]:
    """(module, cumulative microseconds, importer) for what a fresh interpreter imports."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", prelude + code],
                            capture_output=True, text=True, timeout=120, cwd=cwd, env=env,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = re.findall(r"^import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)$", result.stderr, re.M)
    # -X importtime prints a module after everything it imported, indented one level
    # deeper: read bottom-up, the importer of a line is the nearest shallower line.
    found, stack = [], []
    for cumulative, indent, name in reversed(rows):
        depth = len(indent) // 2
        while stack and stack[-1][0] >= depth:
            stack.pop()
        found.append((name, int(cumulative), stack[-1][1] if stack else ""))
        stack.append((depth, name))
    return found


def _top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def test_importing_the_library_loads_no_http_client_redis_or_examples() -> None:
    tree = _import_tree("import actors, supervisor, stanchion")
    loaded = {name for name, _, _ in tree}
    assert {"actors.core", "actors.supervision"} <= loaded
    unwanted = {name for name in loaded if _top(name) in ("httpx", "redis", "examples")}
    assert not unwanted, sorted(unwanted)
    # structlog imports rich for its tracebacks when rich is installed (the demo extra);
    # no stanchion module does.
    rich_importers = {importer for name, _, importer in tree
                      if _top(name) == "rich" and _top(importer) != "rich"}
    assert {_top(importer) for importer in rich_importers} <= {"structlog"}, rich_importers


# A meta path finder that makes packages look uninstalled, for a fresh interpreter.
_UNINSTALL = textwrap.dedent("""
    import sys
    class _Absent:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {absent!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
    sys.meta_path.insert(0, _Absent())
""")


def test_the_library_works_without_the_demo_and_redis_extras_or_httpx() -> None:
    prelude = _UNINSTALL.format(absent={"rich", "redis", "httpx"})
    tree = _import_tree("import actors, supervisor, stanchion, actors.saga, actors.bus, "
                        "actors.taskqueue, actors.breaker, actors.bulkhead, actors.backends, "
                        "actors.testing, actors.logtool; actors.CircuitOpen", prelude=prelude)
    assert "actors.backends" in {name for name, _, _ in tree}


def test_a_pattern_loads_only_what_it_needs() -> None:
    tree = _import_tree("import actors.saga, actors.taskqueue, actors.bus, actors.breaker")
    unwanted = {name for name, _, _ in tree
                if _top(name) in ("httpx", "redis", "examples")
                or name.startswith(("actors.backends", "actors.sms", "actors.testing"))}
    assert not unwanted, sorted(unwanted)


def test_the_pytest_plugin_module_costs_under_30_ms() -> None:
    # Its parent packages (the core, which any use of stanchion loads) come first, so the
    # plugin's line is what the plugin itself adds to every pytest run.
    tree = _import_tree("import pytest, actors.testing; import actors.testing.pytest_plugin")
    [cumulative_us] = [us for name, us, _ in tree if name == "actors.testing.pytest_plugin"]
    assert cumulative_us < 30_000, f"{cumulative_us} us"


def _modules_of_a_pytest_run(tmp_path: Path, *options: str) -> set[str]:
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n")
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        import sys
        def pytest_sessionfinish(session):
            with open("modules.txt", "w") as out:
                out.write("\\n".join(sorted(sys.modules)))
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *options, "test_one.py"], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path, env=env, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return set((tmp_path / "modules.txt").read_text().split())


def test_the_pytest_plugin_imports_nothing_heavy_until_a_fixture_is_used(
        tmp_path: Path) -> None:
    with_plugin = _modules_of_a_pytest_run(tmp_path)
    without = _modules_of_a_pytest_run(tmp_path, "-p", "no:stanchion")
    assert "actors.testing.pytest_plugin" in with_plugin
    assert "actors.testing.pytest_plugin" not in without
    added = with_plugin - without
    heavy = {name for name in added
             if _top(name) in ("httpx", "redis", "examples", "hypothesis", "http")
             or name.startswith(("actors.sms", "actors.supervision", "actors.testing._fake",
                                 "actors.backends", "actors.bus", "actors.saga"))}
    assert not heavy, sorted(heavy)


def test_importing_the_library_loads_no_opentelemetry_or_prometheus_client() -> None:
    tree = _import_tree("import actors, supervisor, stanchion, actors.saga, actors.bus, "
                        "actors.taskqueue, actors.breaker, actors.backends, actors.sms, "
                        "actors.observability")
    unwanted = {name for name, _, _ in tree
                if _top(name) in ("opentelemetry", "prometheus_client")}
    assert not unwanted, sorted(unwanted)


def test_without_the_observability_extras_the_library_works_and_says_what_to_install() -> None:
    prelude = _UNINSTALL.format(absent={"opentelemetry", "prometheus_client"})
    code = textwrap.dedent("""
        import actors.observability as obs
        from actors.core import context
        from actors.supervision import ActorSystem
        assert context.tracer is None
        with ActorSystem():
            pass
        for name in ("enable_tracing", "start_prometheus_server"):
            try:
                getattr(obs, name)
            except obs.ObservabilityNotInstalled as exc:
                assert "pip install 'stanchion[" in str(exc), exc
            else:
                raise AssertionError(name)
        try:
            obs.StanchionMetrics()
        except obs.ObservabilityNotInstalled as exc:
            assert "stanchion[otel]" in str(exc), exc
        else:
            raise AssertionError("StanchionMetrics")
        obs.StanchionMetrics(time_mailboxes=False).collect()
    """)
    tree = _import_tree(code, prelude=prelude)
    assert "actors.observability" in {name for name, _, _ in tree}
