"""OTP-style supervision for stanchion's service actors (a facade over `actors.supervision`).

A tree is data: `SupervisorSpec`s and `ChildSpec`s. `ActorSystem` starts it,
restarts what fails by strategy and intensity, and stops it all on exit.
stanchion itself never imports this package; it is here for user code.
"""

from actors.supervision import (
    ActorSystem,
    ChildInfo,
    ChildSpec,
    RestartIntensity,
    RestartType,
    ServiceInfo,
    ServiceStartFailed,
    Strategy,
    SupervisorGaveUp,
    SupervisorSpec,
)

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
