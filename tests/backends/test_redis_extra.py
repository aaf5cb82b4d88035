"""Without the `redis` extra, importing the Redis backends names the extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

NO_REDIS = "import sys; sys.modules['redis'] = None  # as if redis-py were not installed\n"


@pytest.mark.parametrize("module", ["actors.redis", "actors.backends.redis"])
def test_importing_the_redis_backends_without_the_extra_says_which_to_install(module):
    done = subprocess.run([sys.executable, "-c", f"{NO_REDIS}import {module}"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == ("ModuleNotFoundError: actors.backends.redis (the Redis backends) needs the "
                    "'redis' package, which is not installed: pip install 'stanchion[redis]'")


def test_the_rest_of_stanchion_imports_without_redis():
    done = subprocess.run([sys.executable, "-c", f"{NO_REDIS}import actors, stanchion, "
                           "actors.backends, actors.taskqueue, actors.saga, actors.bus"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
