"""`RedisTaskStore`: the task queue's `TaskStore` on Redis Streams with a consumer group.

Layout, per queue `Q` (every key starts with `{prefix}:tq:Q:`):

- `s0` ... `s9`: one stream per priority, consumer group `workers`; an entry per
  due task; the group's pending entries are the tasks in flight.
- `payload`, `meta`, `error`, `notbefore`: hashes by task id holding the task
  (raw JSON payload, "priority enqueued_at [traceparent]", last error, due time).
- `entry`: task id -> "priority stream-entry-id" while the task is in a stream.
- `attempts`, `token`, `owner`: claims made, the current lease token, its worker.
- `delayed`: sorted set of tasks waiting for their due time (delayed, backing off).
- `leases`: sorted set of tasks in flight, scored by lease expiry.
- `enq`: sorted set of every undone task by enqueue time (the oldest task's age).
- `dead`, `dead_order`: dead letters ("reason at") and their order.
- `{prefix}:tq:where` (one for all queues): task id -> queue, so that an ack,
  retry or replay that knows only the task id finds its queue's keys; removed
  when the task is acked (a dead letter keeps it, for its replay).
- `ready`: a bitmap, bit p set while stream `sp` may hold entries no worker has
  read (set by every XADD of ours, cleared by a claim that drains the stream),
  so a claim reads only those streams; `scanned`: when a claim last read all ten
  (at most a second of the caller's clock apart, which also finds entries that
  another program added, and rebuilds `ready` if it is lost).

Every operation is one Lua script, so it is atomic and one round trip.
Concurrent `enqueue_many` calls share one script call (`actors.core.GroupCommit`:
the first caller leads and sends every enqueue waiting at that moment; each
caller returns once Redis has applied the call holding its tasks).
Lease expiry uses the caller's wall clock (as the SQLite store does, so a
fleet of workers agrees on it); an expired lease is taken over with XCLAIM,
which moves the pending entry to the new worker and counts the delivery.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
import redis.exceptions

from actors.backends.redis._client import connect
from actors.backends.redis._errors import RedisUnavailable
from actors.backends.redis._registry import RedisGroupRegistry
from actors.core import (
    CorruptData,
    GroupCommit,
    describe_raw,
    short_repr,
    storable_text,
)
from actors.taskqueue.storage import (
    ClaimedTask,
    DeadLetteredTask,
    Lease,
    NewTask,
    QueueStats,
    Task,
    TaskNotFound,
    TaskQueueConfig,
    TaskStoreClosed,
    TaskStoreError,
    TaskStoreTimeout,
    checked_leases,
    claim_request,
    decode_payload,
    events,
    listing_limit,
    new_tasks,
    queue_name,
    store_text,
    store_time,
    task_id_text,
    task_number,
)

GROUP = "workers"
_PRIORITIES = range(9, -1, -1)  # streams in claim order: highest priority first
_FIELDS = ("payload", "meta", "error", "notbefore", "entry", "attempts", "token", "owner",
           "delayed", "leases", "enq", "dead", "dead_order")
# KEYS layout shared by every script: the 13 fields above, then the 10 streams (s9..s0).
_STREAM0 = len(_FIELDS) + 1

_LUA_PRELUDE = """
local K = {}
local names = {'payload','meta','error','notbefore','entry','attempts','token','owner',
               'delayed','leases','enq','dead','dead_order'}
for i, n in ipairs(names) do K[n] = KEYS[i] end
-- Every stored value is parsed defensively: a value another program (or damage)
-- left behind quarantines its one task instead of failing the script for all.
local function split(s)
  if type(s) ~= 'string' then return nil end
  local sp = string.find(s, ' ', 1, true)
  if not sp then return nil end
  local rest = string.sub(s, sp + 1)
  local sp2 = string.find(rest, ' ', 1, true)  -- a traceparent may follow
  if sp2 then rest = string.sub(rest, 1, sp2 - 1) end
  return string.sub(s, 1, sp - 1), rest
end
local function level(p)
  local n = tonumber(p)
  if n and n >= 0 and n <= 9 and n == math.floor(n) then return n end
  return nil
end
local function stream(p) return KEYS[14 + (9 - tonumber(p))] end
-- One command for many members (in chunks: Lua's unpack has a stack limit).
local function bulk(cmd, key, items)
  for i = 1, #items, 4000 do
    redis.call(cmd, key, unpack(items, i, math.min(i + 3999, #items)))
  end
end
local function meta(id) return split(redis.call('HGET', K.meta, id)) end
local corrupt = {}
local function leave_stream(id)
  local p, eid = split(redis.call('HGET', K.entry, id))
  if level(p) then
    redis.call('XACK', stream(p), 'workers', eid)
    redis.call('XDEL', stream(p), eid)
  end
  redis.call('HDEL', K.entry, id)
  redis.call('HDEL', K.token, id)
  redis.call('HDEL', K.owner, id)
  redis.call('ZREM', K.leases, id)
end
local function quarantine(id, why, at, p, eid)
  if p and eid then
    redis.call('XACK', stream(p), 'workers', eid)
    redis.call('XDEL', stream(p), eid)
  end
  leave_stream(id)
  redis.call('ZREM', K.delayed, id)
  redis.call('ZREM', K.enq, id)
  redis.call('HSET', K.error, id, 'task ' .. why)
  redis.call('HSET', K.dead, id, 'corrupt ' .. at)
  redis.call('ZADD', K.dead_order, tonumber(id) or 0, id)
  table.insert(corrupt, id)
  table.insert(corrupt, why)
end
local function to_stream(id, at)
  local p = meta(id)
  if not level(p) then return quarantine(id, 'meta is malformed', at) end
  local eid = redis.call('XADD', stream(p), '*', 'id', id)
  redis.call('HSET', K.entry, id, p .. ' ' .. eid)
  if KEYS[24] then redis.call('SETBIT', KEYS[24], tonumber(p), 1) end
end
local function current(id, tok)
  return tok ~= '' and redis.call('HGET', K.token, id) == tok
end
"""

# Self-contained (no prelude): one call may span several queues, all or nothing.
# Only the keys an enqueue writes are passed: a lone task is 9 keys, not 25.
_ENQUEUE = """
-- KEYS: the id counter, the task->queue index, then 8 keys per (queue, priority) block:
--   payload, meta, notbefore, entry, delayed, enq, that priority's stream, and ready
-- ARGV: now, count, then per task: block, queue, priority, enqueued_at, not_before, payload,
-- traceparent ('' for none)
local now = tonumber(ARGV[1])
local last = redis.call('INCRBY', KEYS[1], tonumber(ARGV[2]))
local id = last - tonumber(ARGV[2])
local marked = {}
for i = 3, #ARGV, 7 do
  id = id + 1
  local base = 2 + tonumber(ARGV[i]) * 8
  local p, enq, nb, trace = ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+6]
  redis.call('HSET', KEYS[2], id, ARGV[i+1])
  redis.call('HSET', KEYS[base + 1], id, ARGV[i+5])
  if trace ~= '' then
    redis.call('HSET', KEYS[base + 2], id, p .. ' ' .. enq .. ' ' .. trace)
  else
    redis.call('HSET', KEYS[base + 2], id, p .. ' ' .. enq)
  end
  redis.call('HSET', KEYS[base + 3], id, nb)
  redis.call('ZADD', KEYS[base + 6], enq, id)
  if tonumber(nb) <= now then
    local eid = redis.call('XADD', KEYS[base + 7], '*', 'id', id)
    redis.call('HSET', KEYS[base + 4], id, p .. ' ' .. eid)
    if not marked[base] then
      redis.call('SETBIT', KEYS[base + 8], tonumber(p), 1)
      marked[base] = true
    end
  else
    redis.call('ZADD', KEYS[base + 5], nb, id)
  end
end
return last
"""

_CLAIM_BODY = """
-- ARGV: now, expires, worker, limit, token, max_attempts (-1: unlimited)
local now, expires, worker = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local limit, tok, max_attempts = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.delayed, '-inf', now, 'LIMIT', 0, 10000)) do
  redis.call('ZREM', K.delayed, id)
  to_stream(id, ARGV[1])
end
-- KEYS[24], KEYS[25]: ready, scanned
local marks = redis.call('MGET', KEYS[24], KEYS[25])
local ready, scanned = marks[1], tonumber(marks[2])
-- written as the fresh case negated, so a foreign NaN scan time also means a full read
local full = not ready or not scanned or not (now - scanned < 1 and now >= scanned)
if full then redis.call('SET', KEYS[25], ARGV[1]) end
local function unread(p)  -- may stream p hold entries no worker has read?
  if full then return true end
  local byte = string.byte(ready, math.floor(p / 8) + 1)
  return byte ~= nil and math.floor(byte / 2 ^ (7 - p % 8)) % 2 == 1
end
local expired = {}
for p = 0, 9 do expired[p] = {} end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.leases, '-inf', now, 'LIMIT', 0, 10000)) do
  local p, eid = split(redis.call('HGET', K.entry, id))
  if level(p) then
    table.insert(expired[level(p)], {id, eid})
  else
    quarantine(id, 'stream entry is malformed', ARGV[1])
  end
end
local out, spent = {}, {}
local counts, tokens, owners, leases = {}, {}, {}, {}
local taken = 0
local function take(id, p, eid)
  local made = tonumber(redis.call('HGET', K.attempts, id) or '0')
  local m = redis.call('HGET', K.meta, id)
  if not made or not m then
    return quarantine(id, made and 'has no meta' or 'attempts is malformed', ARGV[1], p, eid)
  end
  if max_attempts >= 0 and made >= max_attempts then
    table.insert(spent, id)
    table.insert(spent, tostring(made))
    table.insert(spent, redis.call('HGET', K.owner, id) or '')
    return
  end
  -- written below in one command per key for the whole batch
  table.insert(counts, id); table.insert(counts, made + 1)
  table.insert(tokens, id); table.insert(tokens, tok)
  table.insert(owners, id); table.insert(owners, worker)
  table.insert(leases, expires); table.insert(leases, id)
  table.insert(out, id)
  table.insert(out, tostring(made + 1))
  table.insert(out, redis.call('HGET', K.payload, id) or '')
  table.insert(out, m)
  table.insert(out, redis.call('HGET', K.notbefore, id) or '')
  table.insert(out, redis.call('HGET', K.error, id) or '')
  taken = taken + 1
end
for p = 9, 0, -1 do
  for _, pair in ipairs(expired[p]) do
    if taken >= limit then break end
    local moved = redis.call('XCLAIM', stream(p), 'workers', worker, 0, pair[2])
    if #moved > 0 then take(pair[1], p, pair[2]) end
  end
  if taken < limit and unread(p) then
    local want = limit - taken
    local fresh = redis.call('XREADGROUP', 'GROUP', 'workers', worker, 'COUNT', want,
                             'STREAMS', stream(p), '>')
    local got = fresh and #fresh[1][2] or 0
    if got < want then
      redis.call('SETBIT', KEYS[24], p, 0)  -- drained: skipped until an XADD sets it
    elseif full then
      redis.call('SETBIT', KEYS[24], p, 1)
    end
    if fresh then
      for _, entry in ipairs(fresh[1][2]) do
        local fields = entry[2]
        if fields[1] == 'id' and fields[2] then
          take(fields[2], p, entry[1])
        else  -- not an entry of ours: dropped from the stream, reported
          redis.call('XACK', stream(p), 'workers', entry[1])
          redis.call('XDEL', stream(p), entry[1])
          table.insert(corrupt, 'stream entry ' .. entry[1])
          table.insert(corrupt, 'is not a task entry')
        end
      end
    end
  end
end
if #counts > 0 then
  bulk('HSET', K.attempts, counts)
  bulk('HSET', K.token, tokens)
  bulk('HSET', K.owner, owners)
  bulk('ZADD', K.leases, leases)
end
return {out, spent, corrupt, acked}
"""

_ACK_FUNCTION = """
-- ARGV[first..]: pairs of id, token; per pair, 1 if it was acked
local function ack_leases(first)
local result, ids, entries, seen = {}, {}, {}, {}
for i = first, #ARGV, 2 do
  local id, tok = ARGV[i], ARGV[i+1]
  if not seen[id] and current(id, tok) then
    seen[id] = true
    local p, eid = split(redis.call('HGET', K.entry, id))
    if level(p) then
      entries[p] = entries[p] or {}
      table.insert(entries[p], eid)
    end
    table.insert(ids, id)
    table.insert(result, 1)
  else
    table.insert(result, 0)
  end
end
if #ids > 0 then  -- what leave_stream and the deletes do per task, one command per key
  for p, eids in pairs(entries) do
    for i = 1, #eids, 4000 do
      redis.call('XACK', stream(p), 'workers', unpack(eids, i, math.min(i + 3999, #eids)))
    end
    bulk('XDEL', stream(p), eids)
  end
  for _, key in ipairs({K.entry, K.token, K.owner, K.payload, K.meta, K.error, K.notbefore,
                        K.attempts}) do
    bulk('HDEL', key, ids)
  end
  bulk('ZREM', K.leases, ids)
  bulk('ZREM', K.enq, ids)
  bulk('HDEL', KEYS[26], ids)  -- the task -> queue index
end
return result
end
"""

_ACK = _LUA_PRELUDE + _ACK_FUNCTION + "return ack_leases(1)"

_CLAIM = _LUA_PRELUDE + "local acked = {}" + _CLAIM_BODY

# A worker's ack of the batch it delivered and its next claim, in one call: ARGV is the
# claim's six, then the ack's pairs.
_ACK_THEN_CLAIM = _LUA_PRELUDE + _ACK_FUNCTION + "local acked = ack_leases(7)" + _CLAIM_BODY

_RETRY = _LUA_PRELUDE + """
-- ARGV: id, token, not_before, error
local id, tok = ARGV[1], ARGV[2]
if not current(id, tok) then return 0 end
leave_stream(id)
redis.call('HSET', K.error, id, ARGV[4])
redis.call('HSET', K.notbefore, id, ARGV[3])
redis.call('ZADD', K.delayed, ARGV[3], id)
return 1
"""

_BURY = _LUA_PRELUDE + """
-- ARGV: id, token ('' = no lease check), reason, error ('' keeps the last), now, numeric id
local id, tok = ARGV[1], ARGV[2]
if tok ~= '' and not current(id, tok) then return 0 end
if not redis.call('HGET', K.meta, id) or redis.call('HEXISTS', K.dead, id) == 1 then return 0 end
leave_stream(id)
redis.call('ZREM', K.delayed, id)
if ARGV[4] ~= '' then redis.call('HSET', K.error, id, ARGV[4]) end
redis.call('HSET', K.dead, id, ARGV[3] .. ' ' .. ARGV[5])
redis.call('ZADD', K.dead_order, ARGV[6], id)
redis.call('ZREM', K.enq, id)
return 1
"""

_REPLAY = _LUA_PRELUDE + """
-- ARGV: id, now
local id = ARGV[1]
if redis.call('HDEL', K.dead, id) == 0 then return 0 end
redis.call('ZREM', K.dead_order, id)
redis.call('HDEL', K.attempts, id)
redis.call('HSET', K.notbefore, id, ARGV[2])
local _, enq = meta(id)
redis.call('ZADD', K.enq, tonumber(enq) or tonumber(ARGV[2]), id)
to_stream(id, ARGV[2])
return 1
"""

_STATS = _LUA_PRELUDE + """
-- ARGV: now
local now = tonumber(ARGV[1])
local queued = 0
for p = 0, 9 do queued = queued + redis.call('XLEN', stream(p)) end
local leased = redis.call('ZCARD', K.leases)
local expired = redis.call('ZCOUNT', K.leases, '-inf', now)
local delayed = redis.call('ZCARD', K.delayed)
local due_delayed = redis.call('ZCOUNT', K.delayed, '-inf', now)
local oldest = redis.call('ZRANGE', K.enq, 0, 0, 'WITHSCORES')
return {queued - leased + expired + due_delayed, leased - expired, delayed - due_delayed,
        redis.call('HLEN', K.dead), oldest[2] or ''}
"""

R = TypeVar("R")

_QUEUE_CACHE_MAX = 100_000  # task ids remembered with their queue; forgotten all at once


class RedisTaskStore:
    """The task queue on Redis: several worker processes, on one machine or many, share it.

    Same contract as `SqliteTaskStore` (the `TaskStore` protocol): at-least-once
    delivery with leases, only the current lease holder can ack, retry or
    dead-letter, corrupt payloads are quarantined. Durability is Redis's: see
    docs/scaling.md for which persistence settings give which guarantee.

    Args:
        url: e.g. `redis://127.0.0.1:6379/0`.
        config: visibility timeout, retry policy and batch limits (its SQLite
            settings are ignored).
        prefix: the key prefix, so several systems can share one Redis.
        socket_timeout: seconds before a Redis call is abandoned.
        retries: how often a call is retried with backoff when the connection drops.
    """

    def __init__(
        self,
        url: str,
        config: TaskQueueConfig | None = None,
        *,
        prefix: str = "stanchion",
        socket_timeout: float = 5.0,
        retries: int = 3,
    ) -> None:
        self._config = config or TaskQueueConfig()
        self.url = url
        self._prefix = prefix
        self._client = connect(url, socket_timeout=socket_timeout, retries=retries)
        # The enqueue writer's own connection (one leader at a time uses it), opened on
        # the first enqueue: see `connect(single_connection=True)`.
        self._connect_writer = functools.partial(
            connect, url, socket_timeout=socket_timeout, retries=retries,
            single_connection=True)
        self._writer: redis.Redis | None = None
        self._scripts = {
            name: self._client.register_script(source)
            for name, source in (("enqueue", _ENQUEUE), ("claim", _CLAIM), ("ack", _ACK),
                                 ("ack_then_claim", _ACK_THEN_CLAIM),
                                 ("retry", _RETRY), ("bury", _BURY), ("replay", _REPLAY),
                                 ("stats", _STATS))
        }
        self._groups_ready: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._key_cache: dict[str, list[str]] = {}
        self._claim_key_cache: dict[str, list[str]] = {}
        self._queue_cache: dict[str, str] = {}  # task id -> queue, of the tasks claimed here
        self._enqueues: GroupCommit[tuple[Sequence[NewTask], float]] = GroupCommit(
            self._enqueue_batch, max_batch=self._config.max_group_commit,
            closed_error=TaskStoreClosed, timeout_error=TaskStoreTimeout,
            name="redis-enqueue-writer")

    @property
    def config(self) -> TaskQueueConfig:
        """The configuration the store was opened with."""
        return self._config

    def group_registry(self) -> RedisGroupRegistry:
        """The durable bus groups, in Redis beside these tasks (shared by every process)."""
        return RedisGroupRegistry(self)

    @property
    def prefix(self) -> str:
        """The key prefix of this store's keys."""
        return self._prefix

    @property
    def client(self) -> redis.Redis:
        """The pooled client (for other backends that share this store's Redis)."""
        return self._client

    def call(self, operation: str, action: Callable[[], R]) -> R:
        """Run `action` with this store's error translation (`RedisUnavailable`)."""
        return self._call(operation, action)

    # -- keys ----------------------------------------------------------------------------

    def _keys(self, queue: str) -> list[str]:
        keys = self._key_cache.get(queue)
        if keys is None:
            base = f"{self._prefix}:tq:{queue}:"
            keys = [base + name for name in _FIELDS] + [f"{base}s{p}" for p in _PRIORITIES]
            if len(self._key_cache) < 10_000:  # queue names are few; never grow unbounded
                self._key_cache[queue] = keys
        return keys

    def _claim_keys(self, queue: str) -> list[str]:
        """`_keys`, the `ready` bitmap and `scanned` time (scripts that read streams), and
        the task -> queue index (scripts that ack)."""
        keys = self._claim_key_cache.get(queue)
        if keys is None:
            base = f"{self._prefix}:tq:{queue}:"
            keys = [*self._keys(queue), base + "ready", base + "scanned", self._where_key()]
            if len(self._claim_key_cache) < 10_000:
                self._claim_key_cache[queue] = keys
        return keys

    def _enqueue_keys(self, queue: str, priority: int) -> list[str]:
        """The keys an enqueue of `priority` to `queue` writes (the `_ENQUEUE` block)."""
        keys = self._claim_keys(queue)
        return [keys[0], keys[1], keys[3], keys[4], keys[8], keys[10],
                keys[_STREAM0 - 1 + _PRIORITIES.index(priority)], keys[-3]]

    def _evalsha(self, name: str, keys: Sequence[str], args: Sequence[Any],
                 client: redis.Redis | None = None) -> Any:
        """Run one of this store's scripts by its digest: how every script is called
        (redis-py's `Script` call, without its per-call import and argument copies;
        a server that lost its scripts gets them again)."""
        script = self._scripts[name]
        client = client or self._client
        try:
            return client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            script.sha = client.script_load(script.script)
            return client.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", script.sha, len(keys), *keys, *args)

    def _writer_client(self) -> redis.Redis:
        """The enqueue writer's connection; only a group-commit leader calls this."""
        writer = self._writer
        if writer is None:
            writer = self._writer = self._connect_writer()
        return writer

    def _where_key(self) -> str:
        return f"{self._prefix}:tq:where"

    def _call(self, operation: str, action: Callable[[], R]) -> R:
        if self._closed:
            raise TaskStoreClosed(operation)
        try:
            try:
                return action()
            except redis.exceptions.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # Redis lost its data (restarted without persistence): make the groups again.
                with self._lock:
                    self._groups_ready.clear()
                return action()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise RedisUnavailable(operation, self.url, exc) from exc
        except redis.exceptions.ResponseError as exc:  # e.g. WRONGTYPE: a key not ours
            raise TaskStoreError(f"{operation} (a key under {self._prefix!r} does not hold "
                                 "what stanchion wrote there)", exc) from exc

    def _ensure_groups(self, queue: str) -> None:
        if queue in self._groups_ready:
            return
        keys = self._keys(queue)
        pipe = self._client.pipeline(transaction=False)
        for stream in keys[_STREAM0 - 1:]:
            pipe.xgroup_create(stream, GROUP, id="0", mkstream=True)
        for result in pipe.execute(raise_on_error=False):
            if isinstance(result, Exception) and "BUSYGROUP" not in str(result):
                raise result
        with self._lock:
            self._groups_ready.add(queue)

    # -- the TaskStore protocol ------------------------------------------------------------------

    def enqueue_many(self, tasks: Sequence[NewTask], now: float) -> list[str]:
        """Store `tasks` atomically and return their ids, in order, once Redis applied them.

        Calls made at the same moment by several threads go to Redis in one
        script call (still atomic per call: one script is all or nothing).
        """
        tasks, now = new_tasks(tasks), store_time("now", now)
        if not tasks:
            return []
        if self._closed:
            raise TaskStoreClosed("enqueue")
        ids: list[str] = self._enqueues.submit("enqueue", (tasks, now),
                                               self._config.write_timeout)
        return ids

    def _enqueue_batch(self, batch: list[tuple[Sequence[NewTask], float]]) -> list[list[str]]:
        """One script call for every enqueue waiting: ids come out consecutive, in call order."""
        blocks: dict[tuple[str, int], int] = {}
        count = sum(len(tasks) for tasks, _ in batch)
        latest = max(now for _, now in batch)
        args: list[str | int] = [repr(latest), count]
        for tasks, now in batch:
            enqueued_at = repr(now)
            for task in tasks:
                block = blocks.setdefault((task.queue, task.priority), len(blocks))
                due = enqueued_at if task.not_before is None else repr(task.not_before)
                args += [block, task.queue, task.priority, enqueued_at, due, task.payload_json,
                         task.trace or ""]
        keys = [f"{self._prefix}:tq:ids", self._where_key()]
        for queue, priority in blocks:
            keys += self._enqueue_keys(queue, priority)
        queues = {queue for queue, _ in blocks}

        def run() -> int:
            for queue in queues:
                self._ensure_groups(queue)
            return int(self._evalsha("enqueue", keys, args, self._writer_client()))

        first = self._call("enqueue", run) - count + 1
        results = []
        for tasks, _ in batch:
            results.append([str(n) for n in range(first, first + len(tasks))])
            first += len(tasks)
        return results

    def claim(self, queue: str, worker_id: str, limit: int, now: float) -> list[ClaimedTask]:
        """Lease up to `limit` due tasks of `queue` to `worker_id`."""
        return self._claim(queue, worker_id, limit, now, [])[1]

    def ack_then_claim(self, leases: Sequence[Lease], queue: str, worker_id: str, limit: int,
                       now: float) -> tuple[list[bool], list[ClaimedTask]]:
        """`ack_many(leases)` and `claim(...)` in one script call (`AckThenClaim`)."""
        leases = checked_leases(leases)
        acked, claimed = self._claim(queue, worker_id, limit, now, leases)
        self._forget(leases)
        return acked, claimed

    def _claim(self, queue: str, worker_id: str, limit: int, now: float,
               leases: Sequence[Lease]) -> tuple[list[bool], list[ClaimedTask]]:
        queue, worker_id, limit, now = claim_request(queue, worker_id, limit, now,
                                                     self._config.max_claim_batch)
        token = events.new_lease_token()
        expires = now + self._config.visibility_timeout
        max_attempts = self._config.retry.max_attempts
        script = "ack_then_claim" if leases else "claim"
        args: list[str | int | float] = [repr(now), repr(expires), worker_id, limit, token,
                                         -1 if max_attempts is None else max_attempts]
        for lease in leases:
            args += (lease.task_id, lease.token)

        def run() -> tuple[list[str], list[str], list[str], list[int]]:
            self._ensure_groups(queue)
            out, spent, corrupt, acked = self._evalsha(script, self._claim_keys(queue), args)
            return out, spent, corrupt, acked

        out, spent, corrupt, acked = self._call("claim", run)
        for i in range(0, len(corrupt), 2):  # quarantined by the script itself
            events.dead_lettered(queue, str(corrupt[i]), "corrupt", 0,
                                  f"task {corrupt[i + 1]}")
        claimed: list[ClaimedTask] = []
        for i in range(0, len(out), 6):
            task_id, attempts = out[i], out[i + 1]
            lease = Lease(task_id, token, worker_id, expires)
            try:
                task = _task(queue, out[i:i + 6])
            except CorruptData as exc:
                self._bury(queue, task_id, token=token, reason="corrupt",
                           error=f"payload {exc.reason}", now=now,
                           attempts=_int(attempts))
                continue
            claimed.append(ClaimedTask(task, lease))
        queue_of = self._queue_cache
        if len(queue_of) > _QUEUE_CACHE_MAX:
            queue_of.clear()
        for item in claimed:
            queue_of[item.task.id] = queue
        for i in range(0, len(spent), 3):
            task_id, made, owner = spent[i:i + 3]
            error = events.expired_lease_error(owner or None, _int(made)) if owner else ""
            self._bury(queue, task_id, token="", reason="max_attempts", error=error, now=now,
                       attempts=_int(made))
        return [bool(ok) for ok in acked], claimed

    def _bury(self, queue: str, task_id: str, *, token: str, reason: str, error: str | None,
              now: float, attempts: int) -> bool:
        buried = bool(self._call("dead_letter", lambda: self._evalsha(
            "bury", self._keys(queue),
            [task_id, token, storable_text(reason), storable_text(error or ""), repr(now),
             _int(task_id)])))
        if buried:
            events.dead_lettered(queue, task_id, reason, attempts, error or None)
        return buried

    def ack_many(self, leases: Sequence[Lease]) -> list[bool]:
        """Remove the tasks whose lease is current; per lease, whether it was."""
        leases = checked_leases(leases)
        if not leases:
            return []
        queues = self._queues_of([lease.task_id for lease in leases])
        results: dict[int, bool] = {}
        grouped: dict[str, list[int]] = {}
        for index, lease in enumerate(leases):
            queue = queues.get(lease.task_id)
            if queue is None:
                results[index] = False
            else:
                grouped.setdefault(queue, []).append(index)
        for queue, indexes in grouped.items():
            args = list(itertools.chain.from_iterable(
                (leases[i].task_id, leases[i].token) for i in indexes))

            def run(queue: str = queue, args: list[str] = args) -> list[int]:
                return list(self._evalsha("ack", self._claim_keys(queue), args))

            for index, ok in zip(indexes, self._call("ack", run), strict=True):
                results[index] = bool(ok)
        self._forget(leases)
        return [results[i] for i in range(len(leases))]

    def _forget(self, leases: Sequence[Lease]) -> None:
        """Drop acked (or no longer held) tasks from the task -> queue cache."""
        for lease in leases:
            self._queue_cache.pop(lease.task_id, None)

    def _queues_of(self, task_ids: Sequence[str]) -> dict[str, str]:
        # A task never changes queue: the ones this store claimed are known without a
        # round trip; the others (claimed by another process, replayed) are looked up.
        cache = self._queue_cache
        known = {task_id: cache[task_id] for task_id in task_ids if task_id in cache}
        # Ids are decimal numbers (the id counter's): anything else is no task of ours.
        unknown = [task_id for task_id in task_ids
                   if task_id not in known and task_number(task_id) is not None]
        if unknown:
            found = self._call("lookup", lambda: self._client.hmget(self._where_key(), unknown))
            known.update((task_id, str(queue))
                         for task_id, queue in zip(unknown, found, strict=True) if queue)
        return known

    def _queue_of(self, task_id: str) -> str | None:
        return self._queues_of([task_id]).get(task_id)

    def retry(self, lease: Lease, not_before: float, error: str) -> bool:
        """Release the task to be due again at `not_before`, recording `error`."""
        queue = self._queue_of(checked_leases([lease])[0].task_id)
        not_before = store_time("not_before", not_before)
        error = storable_text(store_text("error", error))
        if queue is None:
            return False
        return bool(self._call("retry", lambda: self._evalsha(
            "retry", self._keys(queue),
            [lease.task_id, lease.token, repr(not_before), error])))

    def dead_letter(self, lease: Lease, reason: str, error: str | None, now: float) -> bool:
        """Move the task to the dead-letter queue if `lease` is current."""
        queue = self._queue_of(checked_leases([lease])[0].task_id)
        reason = store_text("reason", reason)
        error = store_text("error", error, optional=True)
        now = store_time("now", now)
        if queue is None:
            return False
        attempts = self._call("dead_letter", lambda: self._client.hget(
            self._keys(queue)[_FIELDS.index("attempts")], lease.task_id))
        return self._bury(queue, lease.task_id, token=lease.token, reason=reason, error=error,
                          now=now, attempts=int(attempts or 0))

    def list_dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetteredTask]:
        """Up to `limit` dead-lettered tasks of `queue`, oldest task first."""
        queue, limit = queue_name(queue), listing_limit(limit)
        keys = dict(zip(_FIELDS, self._keys(queue), strict=False))

        def run() -> list[tuple[str, list[Any]]]:
            ids = [str(x) for x in self._client.zrange(keys["dead_order"], 0, limit - 1)]
            pipe = self._client.pipeline(transaction=False)
            for task_id in ids:
                for name in ("dead", "payload", "meta", "notbefore", "error", "attempts"):
                    pipe.hget(keys[name], task_id)
            values = pipe.execute()
            return [(task_id, values[i * 6:(i + 1) * 6]) for i, task_id in enumerate(ids)]

        letters = []
        for task_id, (dead, raw, meta, not_before, error, attempts) in self._call(
                "list_dead_letters", run):
            # Whatever another program left in the hashes, the operator gets a listing.
            reason, _, at = str(dead).rpartition(" ")
            priority, enqueued_at, trace = _meta(meta)
            try:
                payload = decode_payload(raw or "")
            except CorruptData:
                payload = None
            task = Task(task_id, queue, payload, _int(attempts), _float(not_before),
                        _int(priority), _float(enqueued_at), error or None, trace)
            letters.append(DeadLetteredTask(task, reason, _float(at), describe_raw(raw)))
        return letters

    def replay_dead_letter(self, task_id: str, now: float) -> None:
        """Put a dead-lettered task back in its queue, due at `now`, attempts reset."""
        queue = self._queue_of(task_id_text(task_id))
        now = store_time("now", now)
        replayed = queue is not None and self._call("replay", lambda: self._evalsha(
            "replay", self._claim_keys(queue), [task_id, repr(now)]))
        if not replayed:
            raise TaskNotFound(task_id)

    def stats(self, queue: str, now: float) -> QueueStats:
        """The queue's metrics at `now`."""
        queue = queue_name(queue)
        depth, in_flight, delayed, dead, oldest = self._call(
            "stats", lambda: self._evalsha("stats", self._keys(queue), [repr(now)]))
        oldest_age = max(0.0, now - float(oldest)) if oldest else 0.0
        return QueueStats(int(depth), int(in_flight), int(delayed), int(dead), oldest_age)

    def close(self) -> None:
        """Finish the enqueues under way, release the connection pool; later calls raise
        `TaskStoreClosed`."""
        self._enqueues.close(self._config.write_timeout)
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        self._client.close()

    def __enter__(self) -> RedisTaskStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()



def _task(queue: str, row: list[Any]) -> Task:
    """The claimed task, or `CorruptData` if any of its stored fields is not what we write."""
    task_id, attempts, raw, meta, not_before, error = row
    payload = decode_payload(raw)
    priority, enqueued_at, trace = _meta(meta)
    try:
        return Task(task_id, queue, payload, int(attempts), _finite(not_before),
                    int(priority), _finite(enqueued_at), error or None, trace)
    except ValueError:
        raise CorruptData(f"row is malformed: meta {short_repr(meta)}, not_before "
                          f"{short_repr(not_before)}") from None


def _meta(meta: object) -> tuple[str, str, str | None]:
    """Priority, enqueue time and traceparent (None if the task has none) from a meta value."""
    parts = meta.split(" ") if isinstance(meta, str) else []
    parts += [""] * (2 - len(parts))
    return parts[0], parts[1], parts[2] if len(parts) > 2 else None


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return 0


def _float(value: object) -> float:
    try:
        return _finite(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
