"""`SmsClient`: one pooled `httpx.Client` for the provider's API, answers mapped to typed errors."""

from __future__ import annotations

import email.utils
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from actors.core import ConfigError, context, validate as check
from actors.sms._errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    SmsError,
)
from actors.sms._message import SmsMessage

MESSAGES_PATH = "/v1/messages"
_TOKEN = re.compile(r"[!-~]+")  # visible ASCII: what a header value can carry as is


@dataclass(frozen=True, slots=True)
class SmsReceipt:
    """The provider accepted the message: its id for the text, and the key it was sent under."""

    message_id: str
    idempotency_key: str


class SmsClientClosed(SmsError, RuntimeError):
    """The client was closed; create a new `SmsClient` (an `SmsSender` does on restart)."""

    def __init__(self) -> None:
        super().__init__("the SMS client is closed and sends nothing; create a new SmsClient")


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date.

    Returns `None` when there is no usable value; never a negative number.

    Example:
        >>> parse_retry_after("7")
        7.0
        >>> parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=lambda: 1445412480.0)
        10.0
        >>> parse_retry_after("soon") is None
        True
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError("value", value, "a Retry-After header value (str), or None")
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
            if when.tzinfo is None:  # an HTTP date is always GMT
                return None
            seconds = when.timestamp() - now()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not check.is_finite_number(seconds):
        return None
    return max(0.0, seconds)


class SmsClient:
    """Sends one SMS per call over a pooled HTTP client; every failure becomes a typed error.

    Raises `ProviderUnavailable` for a refused or reset connection, a timeout,
    a 5xx or an unreadable answer (a breaker counts these), `ProviderRateLimited`
    for a 429 (with `retry_after` from `Retry-After`), and `ProviderRejected`
    for any other 4xx (the request's fault: a breaker ignores it). Thread-safe:
    one client serves a pool of sender actors.

    Args:
        base_url: the provider's API root, e.g. `https://api.example.com`.
        connect_timeout: seconds to open a connection (default 1.0: a healthy
            provider connects in milliseconds; longer means it is down).
        read_timeout: seconds to wait for the answer (default 5.0, well above a
            healthy API's p99 of a few hundred ms). Both are finite, > 0 and at
            most 3600.
        max_connections: connections in the pool, 1 to 1000 (default 20), the
            most requests in flight at once.
        max_keepalive: idle connections kept open for reuse, 0 to
            `max_connections` (default 10).
        api_key: sent as `Authorization: Bearer <key>` if given (printable
            ASCII, no spaces).

    Example:
        >>> from actors.sms import FakeSmsProvider, SmsMessage
        >>> with FakeSmsProvider() as provider, SmsClient(provider.base_url) as client:
        ...     receipt = client.send(SmsMessage("+15551234567", "hello", "k-1"))
        >>> receipt.idempotency_key, receipt.message_id.startswith("SM")
        ('k-1', True)
    """

    def __init__(self, base_url: str, *, connect_timeout: float = 1.0, read_timeout: float = 5.0,
                 max_connections: int = 20, max_keepalive: int = 10,
                 api_key: str | None = None) -> None:
        check.url("base_url", base_url)
        self.connect_timeout = check.seconds("connect_timeout", connect_timeout, maximum=3600.0)
        self.read_timeout = check.seconds("read_timeout", read_timeout, maximum=3600.0)
        check.integer("max_connections", max_connections, minimum=1, maximum=1000)
        check.integer("max_keepalive", max_keepalive, minimum=0, maximum=max_connections)
        if api_key is not None and not (isinstance(api_key, str) and _TOKEN.fullmatch(api_key)):
            raise ConfigError("api_key", api_key, "None, or printable ASCII without spaces "
                              "(it is sent in the Authorization header)")
        self.base_url = base_url.rstrip("/")
        self.pool_timeout = self.connect_timeout + self.read_timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            self._http = httpx.Client(
                base_url=self.base_url, headers=headers,
                timeout=httpx.Timeout(connect=self.connect_timeout, read=self.read_timeout,
                                      write=self.connect_timeout, pool=self.pool_timeout),
                limits=httpx.Limits(max_connections=max_connections,
                                    max_keepalive_connections=max_keepalive))
        except httpx.InvalidURL as exc:
            raise ConfigError("base_url", base_url, f"a URL httpx can use ({exc})") from exc
        self._closed = False
        self._lock = threading.Lock()

    @property
    def max_call_seconds(self) -> float:
        """About the longest one `send` takes: waiting for a pooled connection, then one try.

        Each phase has its own timeout (pool wait, connect, write, then read
        between bytes), so this is their sum; a provider trickling its answer
        byte by byte could exceed it.
        """
        return self.pool_timeout + 2 * self.connect_timeout + self.read_timeout

    def send(self, message: SmsMessage) -> SmsReceipt:
        """Send `message` once; the receipt, or a `ProviderError` saying what went wrong.

        With tracing on, the call is an `sms.send` span and the request carries
        its W3C `traceparent` header (docs/observability.md).
        """
        tracer = context.tracer
        if tracer is None:
            return self._send(message, {})
        with tracer.span("sms.send", {"idempotency_key": message.idempotency_key}) as span:
            carrier = span.carrier()
            return self._send(message, {"traceparent": carrier} if carrier else {})

    def _send(self, message: SmsMessage, headers: dict[str, str]) -> SmsReceipt:
        if self._closed:
            raise SmsClientClosed
        key = message.idempotency_key
        try:
            response = self._http.post(MESSAGES_PATH, json=message.as_payload(),
                                       headers={"Idempotency-Key": key, **headers})
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"network error: {type(exc).__name__}") from exc
        except RuntimeError as exc:  # httpx raises this once the client is closed
            if self._closed:
                raise SmsClientClosed from exc
            raise
        return _receipt(response, key)

    def close(self) -> None:
        """Close the pooled connections; later sends raise `SmsClientClosed`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._http.close()

    def __enter__(self) -> SmsClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SmsClient {self.base_url}{' closed' if self._closed else ''}>"


def _receipt(response: httpx.Response, key: str) -> SmsReceipt:
    status = response.status_code
    if 200 <= status < 300:
        try:
            data: Any = response.json()
            message_id = data["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderUnavailable(f"HTTP {status} without a message id", status) from exc
        if not isinstance(message_id, str) or not message_id:
            raise ProviderUnavailable(f"HTTP {status} with message id {message_id!r}", status)
        return SmsReceipt(message_id, key)
    if status == 429:
        raise ProviderRateLimited(parse_retry_after(response.headers.get("Retry-After")))
    if 400 <= status < 500:
        raise ProviderRejected(status, _detail(response))
    if status >= 500:
        raise ProviderUnavailable(f"HTTP {status}", status)
    raise ProviderUnavailable(f"unexpected HTTP {status}", status)


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or "no detail"
    if isinstance(data, dict):
        detail = data.get("detail") or data.get("error") or data.get("message")
        if isinstance(detail, str) and detail:
            return detail[:200]
    return response.reason_phrase or "no detail"


__all__ = ["ProviderError", "SmsClient", "SmsClientClosed", "SmsReceipt", "parse_retry_after"]
