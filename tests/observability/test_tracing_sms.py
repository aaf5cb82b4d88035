"""An outbound SMS call is an `sms.send` span; a provider failure fails it."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from actors.sms import ProviderUnavailable, SmsClient, SmsMessage
from actors.testing import FakeSmsProvider
from tests.observability.conftest import by_name


def test_each_send_is_a_span_and_a_5xx_sets_its_status(
        spans: InMemorySpanExporter, fake_sms_provider: FakeSmsProvider) -> None:
    with SmsClient(fake_sms_provider.base_url, connect_timeout=0.5, read_timeout=0.5) as client:
        client.send(SmsMessage("+15551234567", "hello", "k-1"))
        fake_sms_provider.set_error_rate(1.0)
        with pytest.raises(ProviderUnavailable):
            client.send(SmsMessage("+15551234567", "hello", "k-2"))
    sent = by_name(spans.get_finished_spans(), "sms.send")
    assert [s.attributes["stanchion.idempotency_key"] for s in sent] == ["k-1", "k-2"]  # type: ignore[index]
    assert [s.status.status_code for s in sent] == [StatusCode.UNSET, StatusCode.ERROR]
