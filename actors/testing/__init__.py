"""Helpers for testing code built on stanchion: fault injection, a fake SMS provider, fixtures.

The pytest plugin is registered automatically when stanchion is installed
(fixtures `stanchion_system`, `stanchion_logs`, `stanchion_faults`,
`fake_sms_provider`); it imports what a fixture needs only when a test uses it.
"""

from typing import TYPE_CHECKING

from actors.core import lazy_names
from actors.testing._faults import Fault, FaultScript, InjectedFault, ScriptedService
from actors.testing._install import facade_problem

if TYPE_CHECKING:
    from actors.testing._fake_sms import (
        DeliveredText as DeliveredText,
        FakeProviderError as FakeProviderError,
        FakeSmsProvider as FakeSmsProvider,
        ProviderCounters as ProviderCounters,
        ProviderMetrics as ProviderMetrics,
        ProviderRequest as ProviderRequest,
    )

# An HTTP server: loaded when first used, not by every pytest run the plugin is in.
__getattr__ = lazy_names(__name__, globals(), lazy=dict.fromkeys(
    ("DeliveredText", "FakeProviderError", "FakeSmsProvider", "ProviderCounters",
     "ProviderMetrics", "ProviderRequest"), "actors.testing._fake_sms"))

__all__ = [
    "DeliveredText",
    "FakeProviderError",
    "FakeSmsProvider",
    "Fault",
    "FaultScript",
    "InjectedFault",
    "ProviderMetrics",
    "ProviderRequest",
    "ScriptedService",
    "facade_problem",
]
