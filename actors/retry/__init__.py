"""Retry policies: exponential backoff with jitter, shared by every pattern."""

from actors.retry._policy import RetryPolicy

__all__ = ["RetryPolicy"]
