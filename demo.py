"""stanchion demo: a small supervised shop that survives a crash and a saturated service.

    python demo.py [--log-file stanchion-demo.jsonl] [--seed 7]

What you will see:
1. a supervision tree starts (orders, a pool of 3 payment workers, notifications);
2. orders flow through it, each with its own correlation id;
3. the payment pool is saturated: its bounded mailbox rejects the excess at once
   and the caller's fallback runs, while notifications keep answering;
4. notifications crash on a bad message; the supervisor restarts them, the
   queued messages reach the new incarnation, and the reference kept by the
   caller still works;
5. the system shuts down cleanly, and the JSON log tells the story.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import structlog

from actors import MailboxFull, ServiceActor, bind_context, configure_logging
from supervisor import ActorSystem, ChildSpec, SupervisorSpec

log = structlog.get_logger("demo")


class Notifications(ServiceActor):
    """Sends order notifications; a malformed message makes it crash (let it crash)."""

    mailbox_size = 100

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, dict) or "order_id" not in message:
            raise ValueError(f"malformed notification: {message!r}")
        self.sent += 1
        log.info("notification.sent", order_id=message["order_id"], phone=message["phone"])
        return "sent"


class Payments(ServiceActor):
    """A payment worker; the pool of three shares one bounded mailbox."""

    mailbox_size = 6

    def __init__(self, slow: threading.Event) -> None:
        super().__init__()
        self.slow = slow

    def on_receive(self, message: Any) -> Any:
        if self.slow.is_set():
            time.sleep(0.05)  # the demo's stand-in for a payment provider that slowed down
        log.info("payment.charged", order_id=message["order_id"], amount=message["amount"])
        return "charged"


class Orders(ServiceActor):
    """Accepts an order, charges it (with a fallback), and notifies the customer."""

    def __init__(self, system_box: list[ActorSystem]) -> None:
        super().__init__()
        self.system_box = system_box

    def on_receive(self, message: Any) -> Any:
        system = self.system_box[0]
        payments, notifications = system.service("payments"), system.service("notifications")
        with bind_context(order_id=message["order_id"]):
            log.info("order.created", amount=message["amount"])
            try:
                payments.tell(message)
                outcome = "charging"
            except MailboxFull:
                outcome = "payment_pending"  # the fallback: accept now, charge later
                log.warning("order.payment_deferred", reason="payments_saturated")
            notifications.tell({"order_id": message["order_id"], "phone": message["phone"]})
            return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-file", default="stanchion-demo.jsonl",
                        help="JSON lines log (default: %(default)s in the working directory)")
    parser.add_argument("--seed", type=int, default=7, help="same seed, same story")
    args = parser.parse_args(argv)

    log_path = Path(args.log_file)
    log_path.unlink(missing_ok=True)
    configure_logging(level="info", json_file=log_path)
    rng = random.Random(args.seed)
    slow = threading.Event()
    box: list[ActorSystem] = []
    tree = [
        SupervisorSpec("shop", [
            ChildSpec("payments", Payments, args=(slow,), pool_size=3),
            ChildSpec("notifications", Notifications),
        ]),
        ChildSpec("orders", Orders, args=(box,), mailbox_size=500),
    ]
    system = ActorSystem(tree, rng=rng)
    box.append(system)
    say = print

    with system:
        say("1. started: root -> shop (payments x3, notifications), orders")
        orders = system.service("orders")
        notifications = system.service("notifications")  # looked up once, kept

        outcomes: Counter[str] = Counter()
        for n in range(20):
            with bind_context(request_id=f"req-{n}"):
                outcomes[orders.ask(order(n, rng))] += 1
        say(f"2. 20 orders under normal load: {dict(outcomes)}")

        slow.set()
        outcomes.clear()
        burst = [orders.ask(order(100 + n, rng), block=False) for n in range(60)]
        outcomes.update(f.get(timeout=10) for f in burst)
        started = time.perf_counter()
        notifications.ask({"order_id": "probe", "phone": "+447700900000"}, timeout=2)
        healthy_ms = (time.perf_counter() - started) * 1000
        pay = system.service("payments").stats()
        say(f"3. payments slowed down, 60-order burst: {dict(outcomes)}; payments mailbox "
            f"{pay.depth}/{pay.capacity}, {pay.rejected} rejected at once; "
            f"notifications still answer in {healthy_ms:.1f} ms")
        slow.clear()

        notifications.tell("not a notification")  # crashes the actor, 3 times, then dead letters
        for n in range(3):
            notifications.tell({"order_id": f"after-crash-{n}", "phone": "+447700900001"})
        system.dead_letters.wait_for(service="notifications", reason="poison", timeout=5)
        reply = notifications.ask({"order_id": "after-restart", "phone": "+447700900002"})
        say(f"4. notifications crashed and were restarted {notifications.restarts} time(s); "
            f"the same reference still works: {reply!r}; "
            f"poison messages dead-lettered: "
            f"{len(system.dead_letters.list(service='notifications', reason='poison'))}")
        children = {c.name: c.alive_members for c in system.which_children("shop")}
        say(f"   shop's children alive: {children}")

    threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    events = Counter(r["event"] for r in records)
    kept = sum(1 for r in records if r["event"] == "notification.sent"
               and str(r.get("order_id", "")).startswith("after-crash"))
    say(f"   of the 3 notifications queued behind the crash, {kept} were delivered")
    say(f"5. stopped cleanly; threads left: {threads or 'none'}")
    say(f"   {sum(events.values())} JSON log lines in {log_path}; top events: "
        f"{dict(events.most_common(6))}")
    say("   inspect one order's story: grep '\"order_id\": \"o-105\"' " + str(log_path))
    return 0 if not threads else 1


def order(n: int, rng: random.Random) -> dict[str, Any]:
    return {"order_id": f"o-{n}", "amount": rng.randint(5, 200), "phone": "+447700900123"}


if __name__ == "__main__":
    sys.exit(main())
