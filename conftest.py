"""Configuration shared by the tests, the doctests in actors/ and supervisor/, and the docs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sybil import Example, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown import CodeBlockParser, SkipParser

from actors import configure_logging


@pytest.fixture(autouse=True, scope="session")
def quiet_logging() -> None:
    """Warnings and above to stderr, readable; tests that inspect events capture them."""
    configure_logging(level="warning", console=True)


# -- the docs run as written -----------------------------------------------------------------
# Every ```python block of README.md and docs/*.md runs as a test (Sybil), each on its own:
# a fresh namespace, so a block that needs an earlier block's names fails. A fragment that
# cannot run alone is marked just above it with `<!-- skip: next "why" -->`.

_run_python = PythonEvaluator()


def _run_block_alone(example: Example) -> str | None:
    namespace = example.namespace
    kept = {key: namespace[key] for key in ("__name__", "__builtins__") if key in namespace}
    namespace.clear()
    namespace.update(kept)
    result: str | None = _run_python(example)
    return result


@pytest.fixture
def doc_block_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A doc block runs in an empty temporary directory; its logging set-up is undone after."""
    monkeypatch.chdir(tmp_path)
    was_configured, config = structlog.is_configured(), structlog.get_config()
    configure_logging(level="warning", console=True)   # as for the tests; a block may change it
    yield
    if was_configured:
        structlog.configure(**config)
    else:
        structlog.reset_defaults()


pytest_collect_file = Sybil(
    parsers=[CodeBlockParser("python", _run_block_alone), SkipParser()],
    patterns=["README.md", "docs/*.md"],
    fixtures=["doc_block_sandbox"],
).pytest()
