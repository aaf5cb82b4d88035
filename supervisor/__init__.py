"""OTP-style supervision for stanchion's service actors.

A tree is data: `SupervisorSpec`s and `ChildSpec`s. `ActorSystem` starts it,
restarts what fails by strategy and intensity, and stops it all on exit.
"""

from supervisor._intensity import RestartIntensity
from supervisor._spec import ChildSpec, RestartType, Strategy, SupervisorSpec
from supervisor._supervisor import ChildInfo, ServiceStartFailed, SupervisorGaveUp
from supervisor._system import ActorSystem

__all__ = [
    "ActorSystem",
    "ChildInfo",
    "ChildSpec",
    "RestartIntensity",
    "RestartType",
    "ServiceStartFailed",
    "Strategy",
    "SupervisorGaveUp",
    "SupervisorSpec",
]
