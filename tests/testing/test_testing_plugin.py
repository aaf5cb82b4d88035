"""The pytest plugin and fault injection that embedders use to test their own actors."""

from __future__ import annotations

import pytest

from actors import AskTimeout, ConfigError
from actors.supervision import ChildSpec
from actors.testing import FaultScript, InjectedFault, ScriptedService

pytest_plugins = ["pytester"]


def test_fault_script_drives_a_service(stanchion_system, stanchion_faults):
    script = stanchion_faults("ok, fail, slow:0.01, hang")
    system = stanchion_system([ChildSpec("payment", ScriptedService, args=(script,),
                                         ask_timeout=0.2)])
    payment = system.service("payment")
    assert payment.ask("a") == "a"
    with pytest.raises(InjectedFault, match="injected failure on call 2"):
        payment.ask("b")
    assert payment.ask("c") == "c"  # slow, within the deadline
    with pytest.raises(AskTimeout):
        payment.ask("d")  # hangs until the fixture releases it at teardown
    script.release()
    assert payment.ask("e", timeout=5) == "e"


def test_repeat_last_keeps_failing_and_bad_scripts_are_config_errors():
    script = FaultScript.parse("ok, fail", repeat_last=True)
    assert [script.next().kind for _ in range(4)] == ["ok", "fail", "fail", "fail"]
    with pytest.raises(ConfigError, match="ok, fail, hang or slow:SECONDS"):
        FaultScript.parse("explode")
    with pytest.raises(ConfigError, match=r"seconds=-1\.0"):
        FaultScript.parse("slow:-1")


def test_plugin_is_registered_for_any_test_suite(pytester):
    pytester.makepyfile(
        """
        import structlog
        from actors import ServiceActor
        from actors.supervision import ChildSpec

        class Greeter(ServiceActor):
            def on_receive(self, message):
                structlog.get_logger().info("greeting.sent", to_name=message)
                return f"hello {message}"

        def test_greeter(stanchion_system, stanchion_logs):
            system = stanchion_system([ChildSpec("greeter", Greeter)])
            assert system.service("greeter").ask("ada") == "hello ada"
            sent = [e for e in stanchion_logs if e["event"] == "greeting.sent"]
            assert sent[0]["actor"] == "greeter"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
