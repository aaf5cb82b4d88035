"""Rate limiting: a token bucket in front of a provider's quota, or at ingress.

See docs/bulkhead.md (ingress) and docs/sms.md (the provider's quota).
"""

from actors.ratelimit._bucket import RateLimitConfig, RateLimited, RateLimitMetrics, TokenBucket

RateLimit = RateLimitConfig  # the name before issue #12: every pattern's settings are an XConfig

__all__ = ["RateLimitConfig", "RateLimitMetrics", "RateLimited", "TokenBucket"]
