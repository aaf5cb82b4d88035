"""Profile updates propagated to every service through the durable queue, one of them down."""

from __future__ import annotations

import threading
import time
from typing import Any

from actors.supervision import ActorSystem, ChildSpec
from actors.taskqueue import QueueSpec, TaskQueueService
from examples.peaksale._story import Story
from examples.profiles import ProfileReplica, ProfileUpdate, propagate, queue_name

DESTINATIONS = ("billing", "search", "mail")


class Versions:
    """Asks a replica for user id -> version held."""


class Replica(ProfileReplica):
    """A profile replica whose outage the story switches on and off."""

    def __init__(self, outage: threading.Event) -> None:
        super().__init__()
        self.down = outage

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Versions):
            return self.versions()
        return super().on_receive(message)


def run_profile_updates(system: ActorSystem, story: Story, seconds: float) -> dict[str, Any]:
    """Users update their profiles while `mail` is down; it comes back; every service converges."""
    outages = {name: threading.Event() for name in DESTINATIONS}
    for name in DESTINATIONS:
        system.start_child(ChildSpec(name, Replica, args=(outages[name],)))
    tasks = TaskQueueService.start(
        system, story.task_store("profiles"),
        [QueueSpec(queue_name(d), d, workers=2, poll_interval=0.05) for d in DESTINATIONS],
        name="profile-queue", rng=story.rng_for("profile-queue"))
    sent = [0]  # tasks enqueued so far (read by the live view)

    def figures() -> dict[str, int]:
        metrics = [tasks.metrics(queue_name(d)) for d in DESTINATIONS]
        return {"enqueued": sent[0], "delivered": sum(m.delivered for m in metrics),
                "depth": sum(m.stats.depth + m.stats.delayed + m.stats.in_flight
                             for m in metrics)}

    story.counters["queue_figures"] = figures
    outages["mail"].set()
    latest: dict[str, int] = {}
    users = [f"user-{n}" for n in range(50)]
    choices = story.rng_for("profile-updates")  # drawn here only: the same users, in order
    deadline = time.monotonic() + seconds * 0.7
    while time.monotonic() < deadline:
        user = choices.choice(users)
        latest[user] = latest.get(user, 0) + 1
        update = ProfileUpdate(user, latest[user], {"name": f"{user} v{latest[user]}"})
        sent[0] += len(propagate(tasks, update, DESTINATIONS))
        time.sleep(0.01)  # pacing the offered load
    mail = tasks.metrics(queue_name("mail")).stats
    backlog_while_down = mail.depth + mail.delayed + mail.in_flight
    outages["mail"].clear()  # mail is back: its queued updates get through
    drained = all(tasks.wait_until_drained(queue_name(d), timeout=max(10.0, seconds))
                  for d in DESTINATIONS)
    replicas = {d: system.service(d).ask(Versions(), timeout=5) for d in DESTINATIONS}
    lost = sum(1 for d in DESTINATIONS for user, version in latest.items()
               if replicas[d].get(user) != version)
    delivered = sum(tasks.metrics(queue_name(d)).delivered for d in DESTINATIONS)
    return {"enqueued": sent[0], "delivered": delivered, "drained": drained,
            "mail_backlog_while_down": backlog_while_down, "users": len(latest),
            "converged": drained and lost == 0, "lost": lost}
