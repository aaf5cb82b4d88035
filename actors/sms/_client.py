"""`SmsClient`: one pooled `httpx.Client` for the provider's API, answers mapped to typed errors."""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from actors._errors import require
from actors.sms._errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    SmsError,
)
from actors.sms._message import SmsMessage

MESSAGES_PATH = "/v1/messages"


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
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP date is always GMT
            return None
        seconds = when.timestamp() - now()
    if not math.isfinite(seconds):
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
            healthy API's p99 of a few hundred ms).
        max_connections: connections in the pool (default 20), the most
            requests in flight at once.
        max_keepalive: idle connections kept open for reuse (default 10).
        api_key: sent as `Authorization: Bearer <key>` if given.

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
        require(isinstance(base_url, str) and base_url.startswith(("http://", "https://")),
                "base_url", base_url, "an http:// or https:// URL")
        require(_positive(connect_timeout), "connect_timeout", connect_timeout,
                "finite seconds > 0")
        require(_positive(read_timeout), "read_timeout", read_timeout, "finite seconds > 0")
        require(isinstance(max_connections, int) and max_connections >= 1, "max_connections",
                max_connections, "an integer >= 1")
        require(isinstance(max_keepalive, int) and 0 <= max_keepalive <= max_connections,
                "max_keepalive", max_keepalive, f"an integer from 0 to max_connections "
                f"({max_connections})")
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.pool_timeout = self.connect_timeout + self.read_timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers,
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout,
                                  write=connect_timeout, pool=self.pool_timeout),
            limits=httpx.Limits(max_connections=max_connections,
                                max_keepalive_connections=max_keepalive))
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
        """Send `message` once; the receipt, or a `ProviderError` saying what went wrong."""
        if self._closed:
            raise SmsClientClosed
        key = message.idempotency_key
        try:
            response = self._http.post(MESSAGES_PATH, json=message.as_payload(),
                                       headers={"Idempotency-Key": key})
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


def _positive(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


__all__ = ["ProviderError", "SmsClient", "SmsClientClosed", "SmsReceipt", "parse_retry_after"]
