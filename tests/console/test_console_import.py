"""The console is an extra: `import actors` loads none of it, and without it the error says so."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_PACKAGES = ("starlette", "uvicorn", "jinja2")


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=env, check=False)


def test_importing_the_library_loads_no_console() -> None:
    result = _run(f"""
        import sys
        import actors, supervisor, stanchion, actors.supervision, actors.saga, actors.bus
        loaded = sorted(m for m in sys.modules if m.startswith("actors.console")
                        or m.split(".")[0] in {CONSOLE_PACKAGES!r})
        print(loaded)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_without_the_extra_the_console_says_what_to_install() -> None:
    result = _run(f"""
        import sys
        class Absent:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {CONSOLE_PACKAGES!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Absent())
        import stanchion
        try:
            stanchion.serve_console
        except ImportError as exc:
            print(type(exc).__name__, exc)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ConsoleNotInstalled" in result.stdout
    assert "pip install 'stanchion[console]'" in result.stdout
