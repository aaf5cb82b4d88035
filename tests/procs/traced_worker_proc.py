"""A traced worker process: delivers one task to a service and prints the spans it made.

    python -m tests.procs.traced_worker_proc BACKEND_URL QUEUE

Tracing is on with the SDK's in-memory exporter; after the first delivery it
prints one JSON line: a list of {name, trace_id, span_id, parent_id, service}.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors import ServiceActor, configure_logging
from actors.backends import open_backend
from actors.observability import enable_tracing
from actors.supervision import ActorSystem, ChildSpec
from actors.taskqueue import QueueSpec, TaskQueueService

delivered = threading.Event()


class Billing(ServiceActor):
    def on_receive(self, message: Any) -> Any:
        delivered.set()
        return "ok"


def main() -> None:
    url, queue = sys.argv[1:]
    configure_logging(level="warning")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    enable_tracing(provider)
    store = open_backend(url, prefix="traced").task_store()
    with ActorSystem([ChildSpec("billing", Billing)]) as system:
        service = TaskQueueService.start(system, store, [QueueSpec(queue, "billing")])
        if not delivered.wait(20) or not service.wait_until_drained(queue, 20):
            sys.exit("not delivered")
    store.close()
    print(json.dumps([
        {"name": s.name, "trace_id": f"{s.context.trace_id:032x}",
         "span_id": f"{s.context.span_id:016x}",
         "parent_id": None if s.parent is None else f"{s.parent.span_id:016x}",
         "service": (s.attributes or {}).get("stanchion.service")}
        for s in exporter.get_finished_spans()]), flush=True)


if __name__ == "__main__":
    main()
