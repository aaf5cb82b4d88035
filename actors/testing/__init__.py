"""Helpers for testing code built on stanchion: fault injection and a pytest plugin.

The pytest plugin is registered automatically when stanchion is installed
(fixtures `stanchion_system`, `stanchion_logs`, `stanchion_faults`,
`fake_sms_provider`).
"""

from actors.testing._faults import Fault, FaultScript, InjectedFault, ScriptedService

__all__ = ["Fault", "FaultScript", "InjectedFault", "ScriptedService"]
