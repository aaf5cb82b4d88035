"""The demo's terminal view: the live view and the summary table (needs `rich`: the demo extra).

A demo builds a `DemoSnapshot` from its counters (quickly, without messages to
the actors) and hands a function returning one to `LiveView`; at the end it
prints `summary_table(summary)`. See docs/bulkhead.md for an example.
"""

from examples.peaksale.view._snapshot import (
    BreakerView,
    BusCounts,
    DemoSnapshot,
    QueueCounts,
    SagaCounts,
    ServiceCounts,
    SmsCounts,
)
from examples.peaksale.view._view import (
    PLAIN_LEGEND,
    STRIP_LENGTH,
    LiveView,
    breaker_strip,
    plain_line,
    render,
    summary_report,
    summary_table,
    wants_plain,
)

__all__ = ["PLAIN_LEGEND", "STRIP_LENGTH", "BreakerView", "BusCounts", "DemoSnapshot", "LiveView",
           "QueueCounts", "SagaCounts", "ServiceCounts", "SmsCounts", "breaker_strip",
           "plain_line", "render", "summary_report", "summary_table", "wants_plain"]
