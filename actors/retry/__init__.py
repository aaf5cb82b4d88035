"""Retry policies: exponential backoff with jitter, shared by every pattern; retry budgets
and gRPC-style retry throttling (shareable between processes)."""

from actors.core import RetryPolicy
from actors.retry._budget import RetryBudget, RetryBudgetConfig, RetryBudgetMetrics
from actors.retry._throttle import RetryThrottle, RetryThrottleConfig, RetryThrottleMetrics

__all__ = ["RetryBudget", "RetryBudgetConfig", "RetryBudgetMetrics", "RetryPolicy",
           "RetryThrottle", "RetryThrottleConfig", "RetryThrottleMetrics"]
