"""What a new user installs: the licence, the metadata, a `make` that copes with a stale .venv."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_licence_file_is_the_one_the_metadata_names():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_the_metadata_has_project_urls():
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())


def _stale_venv(tmp_path: Path, *, ours: bool) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    # The interpreter that made it is gone: the venv's python no longer runs.
    (bin_dir / "python").symlink_to(tmp_path / "no-such-python3.9")
    if ours:
        (tmp_path / ".venv" / ".installed").touch()
    return tmp_path


def _make(where: Path, *goals: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-n", f"PYTHON={sys.executable}", *goals], cwd=where,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_rebuilds_a_venv_it_made_with_another_python(tmp_path):
    where = _stale_venv(tmp_path, ours=True)
    done = _make(where, "demo")
    assert done.returncode == 0, done.stderr
    assert ".venv was made by Python gone, not" in done.stdout
    assert "rebuilding it" in done.stdout
    assert not (where / ".venv").exists()
    assert f"{sys.executable} -m venv .venv" in done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_leaves_a_venv_it_did_not_make_and_says_make_clean(tmp_path):
    where = _stale_venv(tmp_path, ours=False)
    done = _make(where, "demo")
    assert done.returncode != 0
    assert "run `make clean` (it removes .venv), then make again" in done.stderr
    assert (where / ".venv" / "bin").exists()
    assert _make(where, "clean").returncode == 0  # make clean itself still works
