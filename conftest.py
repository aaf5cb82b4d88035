"""Configuration shared by the tests and the doctests in actors/ and supervisor/."""

from __future__ import annotations

import pytest

from actors import configure_logging


@pytest.fixture(autouse=True, scope="session")
def quiet_logging() -> None:
    """Warnings and above to stderr, readable; tests that inspect events capture them."""
    configure_logging(level="warning", console=True)
