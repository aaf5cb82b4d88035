"""Demo support shipped with the library: the live terminal view and the summary table.

A demo builds a `DemoSnapshot` from its counters (quickly, without messages to
the actors) and hands a function returning one to `LiveView`; at the end it
prints `summary_table(summary)`. See docs/bulkheads.md for an example.
"""

from actors.demo._snapshot import (
    BreakerView,
    BusCounts,
    DemoSnapshot,
    QueueCounts,
    SagaCounts,
    ServiceCounts,
)
from actors.demo._view import (
    PLAIN_LEGEND,
    LiveView,
    breaker_strip,
    plain_line,
    render,
    summary_table,
    wants_plain,
)

__all__ = ["PLAIN_LEGEND", "BreakerView", "BusCounts", "DemoSnapshot", "LiveView", "QueueCounts",
           "SagaCounts", "ServiceCounts", "breaker_strip", "plain_line", "render",
           "summary_table", "wants_plain"]
