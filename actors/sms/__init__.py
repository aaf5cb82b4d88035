"""SMS through an external provider that is sometimes slow or down: stay fast, lose nothing.

`NotificationService.send_sms` validates the input, keeps under the
provider's quota with a token bucket, fails fast through a circuit breaker
while the provider is down, and sends through a pool of `SmsSender` actors.
It answers within its timeout: `sent`, or `queued` with a reason and a retry
time. Queued SMS wait in a durable outbox (`TaskQueueOutbox`) and are
delivered after recovery under their idempotency key, so the user gets one
text. `actors.testing.FakeSmsProvider` is a real HTTP server with knobs for every failure,
for tests (the `fake_sms_provider` pytest fixture) and benchmarks. See
docs/sms.md.

Example:
    >>> from actors.sms import NotificationService, SmsConfig
    >>> from actors.testing import FakeSmsProvider
    >>> from actors.supervision import ActorSystem
    >>> with FakeSmsProvider() as provider, ActorSystem() as system:
    ...     sms = NotificationService.start(system, SmsConfig(provider.base_url))
    ...     provider.outage("503")
    ...     for _ in range(10):  # the breaker opens after 10 failed calls
    ...         _ = sms.send_sms("+15551234567", "hi")
    ...     outcome = sms.send_sms("+15551234567", "Your code is 1234")
    ...     sms.stop()
    >>> outcome.status, outcome.reason
    ('queued', 'circuit_open')
"""

from actors.core import lazy_names
from actors.sms._client import SmsClient, SmsClientClosed, SmsReceipt, parse_retry_after
from actors.sms._config import SmsConfig
from actors.sms._errors import (
    InvalidIdempotencyKey,
    InvalidPhoneNumber,
    InvalidSmsBody,
    OutboxUnavailable,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    SmsError,
)
from actors.sms._message import MAX_BODY_CHARS, SmsMessage, normalize_phone_number
from actors.sms._notification import (
    NotificationService,
    QueuedReason,
    RateLimiter,
    SmsMetrics,
    SmsOutcome,
)
from actors.sms._outbox import SMS_RETRY_POLICY, DeliverQueued, SmsOutbox, TaskQueueOutbox
from actors.sms._sender import NotAnSmsCommand, SendLedger, SendSms, SmsSender

# The fake provider is a test double: it lives in actors.testing (a higher layer)
# and is found here on first use only, so importing the SMS client never loads it.
__getattr__ = lazy_names(__name__, globals(), lazy=dict.fromkeys(
    ("DeliveredText", "FakeProviderError", "FakeSmsProvider", "ProviderCounters",
     "ProviderMetrics", "ProviderRequest"), "actors.testing"))

SmsSettings = SmsConfig  # the name before issue #12: every pattern's settings are an XConfig

__all__ = [
    "MAX_BODY_CHARS",
    "SMS_RETRY_POLICY",
    "DeliverQueued",
    "InvalidIdempotencyKey",
    "InvalidPhoneNumber",
    "InvalidSmsBody",
    "NotAnSmsCommand",
    "NotificationService",
    "OutboxUnavailable",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderUnavailable",
    "QueuedReason",
    "RateLimiter",
    "SendLedger",
    "SendSms",
    "SmsClient",
    "SmsClientClosed",
    "SmsConfig",
    "SmsError",
    "SmsMessage",
    "SmsMetrics",
    "SmsOutbox",
    "SmsOutcome",
    "SmsReceipt",
    "SmsSender",
    "TaskQueueOutbox",
    "normalize_phone_number",
    "parse_retry_after",
]
