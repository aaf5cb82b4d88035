"""Bulkheads from the caller's side: every call a timeout and a fallback, counted.

The bulkhead itself is the service's bounded mailbox (`ServiceActor.mailbox_size`,
a pool shares one): a full one refuses at once with `MailboxFull`.
`ServiceCaller` turns each refusal, timeout or outage into the caller's
fallback, logs it with the reason, and keeps per-service counts and
latencies; `Ingress` refuses excess requests with `RateLimited` before any
service is touched; an `AdaptiveLimit` bounds the calls in flight by a
limit that follows measured latency (AIMD or gradient). See docs/bulkhead.md.
"""

from actors.bulkhead._adaptive import (
    AdaptiveLimit,
    AdaptiveLimitConfig,
    AdaptiveLimitMetrics,
    AimdLimit,
    FixedLimit,
    GradientLimit,
    LimitAlgorithm,
    LimitReached,
)
from actors.bulkhead._caller import CallerMetrics, Fallback, Reason, ServiceCaller
from actors.bulkhead._ingress import Ingress, IngressMetrics
from actors.bulkhead._latency import LatencyRecorder, LatencySnapshot

# The names before issue #12: every pattern's counters are its XMetrics.
CallCounts = CallerMetrics
IngressCounts = IngressMetrics

__all__ = ["AdaptiveLimit", "AdaptiveLimitConfig", "AdaptiveLimitMetrics", "AimdLimit",
           "CallerMetrics", "Fallback", "FixedLimit", "GradientLimit", "Ingress",
           "IngressMetrics", "LatencyRecorder", "LatencySnapshot", "LimitAlgorithm",
           "LimitReached", "Reason", "ServiceCaller"]
