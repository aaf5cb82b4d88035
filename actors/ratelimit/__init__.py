"""Rate limiting: a token bucket in front of a provider's quota, or at ingress."""

from actors.ratelimit._bucket import RateLimited, TokenBucket

__all__ = ["RateLimited", "TokenBucket"]
