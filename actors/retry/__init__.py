"""Retry policies: exponential backoff with jitter, shared by every pattern, and retry budgets."""

from actors.retry._budget import RetryBudget, RetryBudgetConfig, RetryBudgetMetrics
from actors.retry._policy import RetryPolicy

__all__ = ["RetryBudget", "RetryBudgetConfig", "RetryBudgetMetrics", "RetryPolicy"]
