"""Inspecting stanchion's JSON-lines logs: the `stanchion-logs` command and its filters.

Example:
    >>> import io
    >>> from actors.logtool import LogQuery, read_records, select
    >>> log = io.StringIO('{"event": "order.created", "order_id": "o-1"}\\n{broken\\n')
    >>> bad = []
    >>> [r.event for r in select(read_records(log), LogQuery(ids=("o-1",)), bad)]
    ['order.created']
    >>> bad[0].line_number
    2
"""

from actors.logtool._cli import main
from actors.logtool._filter import (
           BadLine,
           EventCount,
           LogQuery,
           Record,
           count_events,
           format_line,
           read_records,
           select,
           timeline,
)

__all__ = ["BadLine", "EventCount", "LogQuery", "Record", "count_events", "format_line", "main",
           "read_records", "select", "timeline"]
