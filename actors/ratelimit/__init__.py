"""Rate limiting: a token bucket in front of a provider's quota, or at ingress.

See docs/bulkheads.md (ingress) and docs/sms.md (the provider's quota).
"""

from actors.ratelimit._bucket import RateLimit, RateLimited, TokenBucket

__all__ = ["RateLimit", "RateLimited", "TokenBucket"]
