"""An example of the durable task queue: a profile update propagated to every replica."""

from examples.profiles._profiles import (
    DestinationDown,
    ProfileReplica,
    ProfileUpdate,
    propagate,
    queue_name,
)

__all__ = ["DestinationDown", "ProfileReplica", "ProfileUpdate", "propagate", "queue_name"]
