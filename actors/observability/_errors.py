"""The one error of the observability package."""

from __future__ import annotations

from actors.core import StanchionError


class ObservabilityNotInstalled(StanchionError, ImportError):
    """What was asked needs an extra that is not installed (`stanchion[otel]` or `[metrics]`)."""

    def __init__(self, what: str, missing: str) -> None:
        self.what = what
        self.missing = missing
        extra = "metrics" if missing == "prometheus_client" else "otel"
        super().__init__(f"{what} needs {missing!r}, which is not installed: "
                         f"pip install 'stanchion[{extra}]'")
