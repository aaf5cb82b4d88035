"""supervisord (`pip install supervisor`) owns the same top-level name as stanchion's facade.

Installed after stanchion, its `supervisor/__init__.py` replaces ours. Simulated
here with a site directory holding a supervisord-like `supervisor` package ahead
of stanchion on the path, in fresh interpreters: stanchion, its pytest plugin and
`python -m stanchion doctor` keep working, and say what happened and what to do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

USER_TEST = '''
from stanchion import ChildSpec, ServiceActor


class Echo(ServiceActor):
    def on_receive(self, message):
        return message


def test_a_system_from_the_plugin(stanchion_system):
    system = stanchion_system([ChildSpec("echo", Echo)])
    assert system.service("echo").ask("hi", timeout=5) == "hi"
'''


@pytest.fixture
def clash(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    site = tmp_path / "site"
    (site / "supervisor").mkdir(parents=True)
    (site / "supervisor" / "__init__.py").write_text("# this is a package\n")
    (site / "supervisor" / "supervisord.py").write_text("# supervisord's main program\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_app.py").write_text(USER_TEST)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("PYTEST_ADDOPTS", None)
    return project, env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env, check=False)


def test_the_clash_is_real_in_the_simulation(clash):
    project, env = clash
    done = _run(["-c", "from supervisor import ActorSystem"], project, env)
    assert "cannot import name 'ActorSystem' from 'supervisor'" in done.stderr


def test_stanchion_and_its_pytest_plugin_work_and_say_what_happened(clash):
    project, env = clash
    assert _run(["-c", "import stanchion, actors.saga, actors.taskqueue, actors.bus"],
                project, env).returncode == 0
    done = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app.py"], project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "stanchion: the `supervisor` package is not stanchion's" in done.stdout
    assert "belongs to supervisord (`pip install supervisor`)" in done.stdout
    assert "from stanchion import ActorSystem, ChildSpec" in done.stdout


def test_doctor_names_the_owner_and_what_to_do(clash):
    project, env = clash
    done = _run(["-m", "stanchion", "doctor"], project, env)
    assert done.returncode == 1
    problem = next(line for line in done.stdout.splitlines() if line.startswith("PROBLEM"))
    assert "site/supervisor/__init__.py belongs to supervisord" in problem
    assert "stanchion itself is unaffected" in problem
    assert "pip install --force-reinstall --no-deps stanchion" in problem


def test_without_the_clash_doctor_is_happy_and_the_plugin_quiet(tmp_path):
    (tmp_path / "test_app.py").write_text(USER_TEST)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    done = _run(["-m", "stanchion", "doctor"], tmp_path, env)
    assert done.returncode == 0, done.stdout
    assert "`supervisor` package: stanchion's facade" in done.stdout
    done = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app.py"], tmp_path, env)
    assert done.returncode == 0
    assert "not stanchion's" not in done.stdout


def test_an_uninstall_that_took_the_init_away_is_named(clash, tmp_path):
    project, env = clash
    (tmp_path / "site" / "supervisor" / "__init__.py").unlink()
    done = _run(["-m", "stanchion", "doctor"], project, env)
    assert done.returncode == 1
    assert "has no `__init__.py`" in done.stdout
