"""The peak-sale story's shared context: configuration, backends, phases, counters."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actors.backends import Backend, open_backend
from actors.core import ConfigError, validate as check
from actors.retry import RetryPolicy
from actors.saga import SagaLog
from actors.taskqueue import TaskQueueConfig, TaskStore

SCENARIOS = ("all", "bulkhead", "breaker", "saga", "bus", "queue")

#: Each phase's share of `duration` when the whole story runs. A single scenario
#: gets the whole duration ("bus" runs the checkouts, which publish the events).
PHASE_SHARES = {"bulkhead": 0.3, "breaker": 0.3, "saga": 0.2, "queue": 0.2}


@dataclass(frozen=True, slots=True)
class StoryConfig:
    """What `demo.py` runs.

    Args:
        scenario: one of `SCENARIOS`; "all" tells the whole story.
        duration: seconds the story should take, from 5 to 3600: each phase
            of the whole story gets a share (`PHASE_SHARES`), a single
            scenario all of it. Draining and settling at the end of a phase
            come on top.
        seed: fixes every random choice of the story (an int): which
            checkouts run and each one's faults, the profile updates, the SMS
            texts. What thread timing decides (which call meets a full
            mailbox, how many SMS fall into the outage) it cannot fix;
            docs/demo.md lists both.
        workdir: where SQLite files live (a path; kept as a `pathlib.Path`).
        backend: where the task queue, the durable bus subscribers and the saga
            log keep their data: a backend URL (`memory://`, `sqlite:///dir`,
            `redis://host:port/db`; docs/backends.md), or "sqlite" (default:
            SQLite files in `workdir`) or "memory".
    """

    scenario: str = "all"
    duration: float = 40.0
    seed: int = 7
    workdir: Path = Path("stanchion-demo")
    backend: str = "sqlite"

    def __post_init__(self) -> None:
        check.one_of("scenario", self.scenario, SCENARIOS)
        if not (check.is_finite_number(self.duration) and 5 <= self.duration <= 3600):
            raise ConfigError("duration", self.duration, "seconds from 5 to 3600")
        check.integer("seed", self.seed)
        object.__setattr__(self, "workdir", Path(check.path("workdir", self.workdir)))
        check.text("backend", self.backend, max_length=2048)
        try:
            open_backend(self.backend_url)  # opens nothing yet: checks the URL (and the extra)
        except ConfigError:
            raise ConfigError("backend", self.backend, "'sqlite', 'memory' or a backend URL: "
                              "memory://, sqlite:///path/to/dir or redis://host:port/db") from None

    @property
    def backend_url(self) -> str:
        """`backend` as a URL: "sqlite" is SQLite files in `workdir`, "memory" is memory://."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.workdir}"
        if self.backend == "memory":
            return "memory://"
        return self.backend

    def runs(self, phase: str) -> bool:
        """Whether `phase` is told: the whole story, its scenario, or ("saga") for "bus"."""
        return self.scenario in ("all", phase) or (phase == "saga" and self.scenario == "bus")

    def seconds_for(self, phase: str) -> float:
        """How long `phase`'s traffic lasts: its share of `duration` among the phases told."""
        check.one_of("phase", phase, tuple(PHASE_SHARES))
        told = sum(share for name, share in PHASE_SHARES.items() if self.runs(name))
        return max(1.0, self.duration * PHASE_SHARES[phase] / max(told, PHASE_SHARES[phase]))


@dataclass
class Story:
    """What the phases share while the story runs; `counters` feed the live view."""

    config: StoryConfig
    rng: random.Random
    #: a key prefix unique to this run, so runs sharing one Redis do not meet
    run_id: str = field(default_factory=lambda: f"demo-{uuid.uuid4().hex[:8]}")
    # What the phases share while the story runs; not settings, so not arguments.
    phase: str = field(default="starting", init=False)
    started: float = field(default_factory=time.monotonic, init=False)
    counters: dict[str, Any] = field(default_factory=dict, init=False)
    breaker_states: list[str] = field(default_factory=list, init=False)
    lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    closers: list[Callable[[], None]] = field(default_factory=list, init=False)
    storage: Backend = field(init=False)
    #: the view's last figures, taken before the stores close (then shown instead of live ones)
    final: Any = field(default=None, init=False)
    _root: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        check.instance("config", self.config, StoryConfig, "an examples.peaksale.StoryConfig")
        check.instance("rng", self.rng, random.Random, "a random.Random")
        check.name("run_id", self.run_id, max_length=64)
        # Every stream of random numbers derives from one draw of the injected rng, so
        # no thread's timing moves another's draws (see `rng_for`).
        self._root = self.rng.getrandbits(64)
        # A run's own key prefix, so runs sharing one Redis do not meet.
        self.storage = open_backend(self.config.backend_url, prefix=self.run_id)

    def rng_for(self, purpose: str) -> random.Random:
        """A random source of its own for `purpose` (a queue's jitter, order 3's faults...).

        The same injected rng gives the same source for the same purpose,
        however many numbers other threads have drawn from theirs meanwhile.
        """
        check.text("purpose", purpose, max_length=200)
        return random.Random(f"{self._root}:{purpose}")

    def enter(self, phase: str) -> None:
        with self.lock:
            self.phase = phase

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def seconds_for(self, phase: str) -> float:
        """How long `phase`'s traffic lasts (`StoryConfig.seconds_for`)."""
        return self.config.seconds_for(phase)

    def task_store(self, name: str) -> TaskStore:
        """A task store on the configured backend; retries back off from 50 ms to 0.5 s."""
        retry = RetryPolicy(max_attempts=None, base_delay=0.05, max_delay=0.5)
        return self.storage.task_store(name, TaskQueueConfig(retry=retry))

    def saga_log(self) -> SagaLog:
        return self.storage.saga_log()

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()
        self.storage.close()
