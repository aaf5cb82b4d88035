"""Retry policies: exponential backoff with jitter, shared by every pattern, and retry budgets."""

from actors.core import RetryPolicy
from actors.retry._budget import RetryBudget, RetryBudgetConfig, RetryBudgetMetrics

__all__ = ["RetryBudget", "RetryBudgetConfig", "RetryBudgetMetrics", "RetryPolicy"]
