"""What the backends share about URLs."""

from __future__ import annotations


def without_password(url: str) -> str:
    """The URL with any credentials masked, fit for a log line or an error message."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
