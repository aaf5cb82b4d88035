"""OTP-style supervision for stanchion's service actors.

A tree is data: `SupervisorSpec`s and `ChildSpec`s. `ActorSystem` starts it,
restarts what fails by strategy and intensity, and stops it all on exit.
"""

from actors.supervision._intensity import RestartIntensity
from actors.supervision._spec import ChildSpec, RestartType, Strategy, SupervisorSpec
from actors.supervision._supervisor import ChildInfo, ServiceStartFailed, SupervisorGaveUp
from actors.supervision._system import ActorSystem, ServiceInfo

__all__ = [
    "ActorSystem",
    "ChildInfo",
    "ChildSpec",
    "RestartIntensity",
    "RestartType",
    "ServiceInfo",
    "ServiceStartFailed",
    "Strategy",
    "SupervisorGaveUp",
    "SupervisorSpec",
]
