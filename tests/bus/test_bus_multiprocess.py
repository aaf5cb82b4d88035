"""Bus events fan out across processes: each durable group gets every event once per group."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from actors.backends.redis import RedisTaskStore
from actors.bus import EventBus
from actors.supervision import ActorSystem
from tests.redis_server import redis_server

ROOT = Path(__file__).resolve().parents[2]


class Member:
    """A group member process and the event numbers it reported."""

    def __init__(self, url: str, group: str, pattern: str, seen: Counter[tuple[str, int]],
                 cond: threading.Condition) -> None:
        self.group = group
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.procs.bus_group_proc", url, group, pattern],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"
        self.got = 0
        self.reader = threading.Thread(target=self._read, args=(seen, cond), daemon=True)
        self.reader.start()

    def _read(self, seen: Counter[tuple[str, int]], cond: threading.Condition) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with cond:
                seen[(self.group, int(line.split()[1]))] += 1
                self.got += 1
                cond.notify_all()

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.mark.slow
def test_each_group_gets_every_event_across_processes_even_when_a_member_dies(tmp_path):
    seen: Counter[tuple[str, int]] = Counter()
    cond = threading.Condition()
    with redis_server(tmp_path) as server:
        members = [Member(server.url, "audit", "order.#", seen, cond),
                   Member(server.url, "audit", "order.#", seen, cond),
                   Member(server.url, "mail", "order.paid", seen, cond)]
        store = RedisTaskStore(server.url)
        try:
            with ActorSystem() as system:
                bus = EventBus.start(system, store=store)  # publishes only: no local subscriber
                for n in range(200):
                    bus.publish("order.paid" if n % 2 else "order.created", {"n": n})
                    if n == 100:
                        with cond:  # kill the busier audit member once it has handled some
                            assert cond.wait_for(lambda: members[0].got + members[1].got >= 5,
                                                 20)
                            victim = max(members[:2], key=lambda m: m.got)
                        victim.proc.kill()
                expected = {("audit", n) for n in range(200)} | {("mail", n)
                                                               for n in range(1, 200, 2)}
                with cond:
                    assert cond.wait_for(lambda: expected <= set(seen), 30), (
                        sorted(expected - set(seen))[:10])
        finally:
            for member in members:
                member.stop()
            store.close()
    assert set(seen) == expected  # nothing delivered to a group that does not match
    survivor = members[1] if victim is members[0] else members[0]
    assert survivor.got > 0  # it took over the dead member's share
    mail = [seen[("mail", n)] for n in range(1, 200, 2)]
    assert mail == [1] * 100  # a group with no crash gets each event exactly once
