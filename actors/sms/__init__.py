"""SMS through an external provider: validation, a pooled client, a fake provider for tests."""

from actors.sms._client import SmsClient, SmsClientClosed, SmsReceipt, parse_retry_after
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
from actors.sms._fake_provider import (
    DeliveredText,
    FakeProviderError,
    FakeSmsProvider,
    ProviderCounters,
    ProviderRequest,
)
from actors.sms._message import MAX_BODY_CHARS, SmsMessage, normalize_phone_number

__all__ = [
    "MAX_BODY_CHARS",
    "DeliveredText",
    "FakeProviderError",
    "FakeSmsProvider",
    "InvalidIdempotencyKey",
    "InvalidPhoneNumber",
    "InvalidSmsBody",
    "OutboxUnavailable",
    "ProviderCounters",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderRequest",
    "ProviderUnavailable",
    "SmsClient",
    "SmsClientClosed",
    "SmsError",
    "SmsMessage",
    "SmsReceipt",
    "normalize_phone_number",
    "parse_retry_after",
]
