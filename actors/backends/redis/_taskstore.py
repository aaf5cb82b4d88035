"""`RedisTaskStore`: the task queue's `TaskStore` on Redis Streams with a consumer group.

Layout 2, per queue `Q` (every key starts with `{prefix}:tq:Q:`):

- `p0` ... `p9`: one stream per priority, consumer group `workers`. A due task is
  one entry carrying all of it: `i` id, `d` payload (raw JSON), `m` meta
  ("priority enqueued_at [traceparent]"), `n` due time, and once it was claimed
  before, `a` attempts made and `e` its last error (`r` marks an entry counted in
  `enq`). An enqueue is one XADD per task; a claim reads the entries with
  XREADGROUP and an ack removes them with XACK + XDEL: nothing else per task.
- `lease`: task id -> "token priority entry-id attempts r owner" while it is held;
  `batches`: sorted set of claim tokens by lease expiry (a claim's tasks share one
  expiry, so this is one member per claim call); `bids`, `bleft`: a claim's tasks
  ("id priority entry-id" each) and how many it still holds. An expired claim's
  tasks are taken over with XCLAIM.
- `payload`, `meta`, `error`, `notbefore`, `attempts`: hashes by task id holding a
  task that is out of its stream: delayed or backing off (`delayed`, sorted by due
  time; moved to its stream by the first claim after that) or dead (`dead`
  "reason at", `dead_order`).
- `enq`: sorted set by enqueue time of the tasks that went back to a stream or wait
  out of it; with the head entry of each stream it gives the oldest task's age.
- `{prefix}:tq:where` (one for all queues): task id -> queue of each dead letter,
  so that a replay that knows only the task id finds its queue's keys. A lease
  token carries its queue ("token/queue"), so ack, retry and dead-letter need no
  lookup.
- `ready`: a bitmap, bit p set while stream `pp` may hold entries no worker has
  read (set by every XADD of ours, cleared by a claim that drains the stream),
  so a claim reads only those streams; `scanned`: when a claim last read all ten
  (at most a second of the caller's clock apart, which also finds entries that
  another program added, and rebuilds `ready` if it is lost).
- `layout`: "2" once the queue's tasks of layout 1 (a task's fields in hashes, its
  stream entry only an id, streams `s0`..`s9`) were moved to this one; a store
  does that on its first use of the queue, in chunks (`_MIGRATE`).

Every operation is one Lua script, so it is atomic and one round trip.
Concurrent `enqueue_many` calls share one script call (`actors.core.GroupCommit`:
the first caller leads and sends every enqueue waiting at that moment; each
caller returns once Redis has applied the call holding its tasks).
Lease expiry uses the caller's wall clock (as the SQLite store does, so a
fleet of workers agrees on it).
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
import redis.exceptions

from actors.backends.redis._client import connect
from actors.backends.redis._errors import RedisUnavailable
from actors.backends.redis._registry import RedisGroupRegistry
from actors.core import (
    ConfigError,
    CorruptData,
    GroupCommit,
    IdBlocks,
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
LAYOUT = "2"  # the version of the key layout below (1: a task's fields in hashes)
_PRIORITIES = range(9, -1, -1)  # streams in claim order: highest priority first
_FIELDS = ("payload", "meta", "error", "notbefore", "attempts", "delayed", "enq", "dead",
           "dead_order", "lease", "batches", "bids", "bleft")
# KEYS layout shared by every script: the 13 names above, the 10 streams (p9..p0), then
# `ready`, `scanned`, the task -> queue index and the layout mark (`RedisTaskStore._keys`).
_STREAM0 = len(_FIELDS) + 1
_OLD_STREAMS = tuple(f"s{p}" for p in _PRIORITIES)  # layout 1, read once by the migration
_OLD_KEYS = ("entry", "token", "owner", "leases")
_MIGRATE_CHUNK = 500
LAYOUT_1_LOOK_INTERVAL = 60.0  # seconds between a store's looks for layout-1 streams

_LUA_PRELUDE = """
local K = {}
local names = {'payload','meta','error','notbefore','attempts','delayed','enq','dead',
               'dead_order','lease','batches','bids','bleft'}
for i, n in ipairs(names) do K[n] = KEYS[i] end
local READY, SCANNED, WHERE = KEYS[24], KEYS[25], KEYS[26]
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
local function stream(p) return KEYS[14 + (9 - p)] end
local function count(s)  -- a stored count: decimal digits only (no sign, no 1e999)
  if type(s) == 'string' and #s <= 15 and string.match(s, '^%d+$') then return tonumber(s) end
  return nil
end
-- One command for many members (in chunks: Lua's unpack has a stack limit); `group`,
-- if given, goes before them (XACK's).
local function bulk(cmd, key, items, group)
  for i = 1, #items, 4000 do
    if group then
      redis.call(cmd, key, group, unpack(items, i, math.min(i + 3999, #items)))
    else
      redis.call(cmd, key, unpack(items, i, math.min(i + 3999, #items)))
    end
  end
end
local function fields_of(list)
  local f = {}
  for i = 1, #list - 1, 2 do f[list[i]] = list[i + 1] end
  return f
end
-- A lease: "token priority entry-id attempts requeued owner", by task id.
local LEASE = '^(%x+) (%d) (%d+%-%d+) (%d+) ([01]) (.*)$'
local function lease_of(id)
  local tok, p, eid, att, rq, owner = string.match(redis.call('HGET', K.lease, id) or '', LEASE)
  return tok, tonumber(p), eid, tonumber(att), rq, owner
end
-- The entry of a task leased at (p, eid) leaves its stream and the lease is dropped;
-- `held` counts, per claim token, the tasks that token no longer holds.
local function release(id, tok, p, eid, held)
  redis.call('XACK', stream(p), 'workers', eid)
  redis.call('XDEL', stream(p), eid)
  redis.call('HDEL', K.lease, id)
  held[tok] = (held[tok] or 0) + 1
end
-- A claim's tasks (`bids`): "id priority entry-id" each, so that a task whose lease
-- record is damaged can still be found and taken over.
local BID = '(%d+) (%d) (%d+%-%d+)'
-- Whether claim `tok` still holds task `id`: true with the lease's attempts, requeued
-- mark and owner; true with no attempts if the record is damaged (this claim then
-- recovers it); false once it was settled or taken over.
local function holds(tok, id)
  local record = redis.call('HGET', K.lease, id)
  if not record then return false end
  local t, _, _, att, rq, owner = string.match(record, LEASE)
  if not t then return true, nil, nil, '' end
  return t == tok, tonumber(att), rq, owner
end
local function still_held(tok)  -- counted again from the claim's ids and their leases
  local n = 0
  for id in string.gmatch(redis.call('HGET', K.bids, tok) or '', BID) do
    if holds(tok, id) then n = n + 1 end
  end
  return n
end
-- How many tasks claim `tok` still holds; a damaged count is counted again.
local function left_of(tok)
  return count(redis.call('HGET', K.bleft, tok)) or still_held(tok)
end
local function settle(held)  -- a claim whose tasks are all settled is forgotten
  for tok, n in pairs(held) do
    local left = count(redis.call('HGET', K.bleft, tok))
    left = left and left - n or still_held(tok)
    if left > 0 then
      redis.call('HSET', K.bleft, tok, left)
    else
      redis.call('HDEL', K.bleft, tok)
      redis.call('HDEL', K.bids, tok)
      redis.call('ZREM', K.batches, tok)
    end
  end
end
-- A task leaves its stream for the hashes (retried or dead-lettered): entry fields kept.
local function hold(id, f, att, err)
  redis.call('HSET', K.payload, id, f.d or '')
  redis.call('HSET', K.meta, id, f.m or '')
  redis.call('HSET', K.notbefore, id, f.n or '')
  redis.call('HSET', K.attempts, id, att)
  if err then redis.call('HSET', K.error, id, err) end
end
local function bury_held(id, reason, at, queue)
  redis.call('HSET', K.dead, id, reason .. ' ' .. at)
  redis.call('ZADD', K.dead_order, tonumber(id) or 0, id)
  redis.call('HSET', WHERE, id, queue)
  redis.call('ZREM', K.enq, id)
end
local corrupt = {}
local function quarantine_held(id, why, at, queue)
  redis.call('ZREM', K.delayed, id)
  redis.call('HSET', K.error, id, 'task ' .. why)
  bury_held(id, 'corrupt', at, queue)
  table.insert(corrupt, id)
  table.insert(corrupt, why)
end
local function quarantine_entry(f, why, at, queue, p, eid)
  redis.call('XACK', stream(p), 'workers', eid)
  redis.call('XDEL', stream(p), eid)
  hold(f.i, f, f.a or '0', 'task ' .. why)
  bury_held(f.i, 'corrupt', at, queue)
  table.insert(corrupt, f.i)
  table.insert(corrupt, why)
end
-- A task held in the hashes (delayed, retried, replayed) goes back to its stream as an
-- entry carrying all its fields; `r` marks it as counted in `enq`.
local function requeue(id, at, queue)
  local m = redis.call('HGET', K.meta, id)
  local p = level(split(m))
  if not p then return quarantine_held(id, 'meta is malformed', at, queue) end
  local entry = {'i', id, 'd', redis.call('HGET', K.payload, id) or '', 'm', m,
                 'n', redis.call('HGET', K.notbefore, id) or '', 'r', '1'}
  local att = redis.call('HGET', K.attempts, id)
  if att then table.insert(entry, 'a'); table.insert(entry, att) end
  local err = redis.call('HGET', K.error, id)
  if err then table.insert(entry, 'e'); table.insert(entry, err) end
  redis.call('XADD', stream(p), '*', unpack(entry))
  for _, key in ipairs({K.payload, K.meta, K.notbefore, K.attempts, K.error}) do
    redis.call('HDEL', key, id)
  end
  redis.call('HDEL', WHERE, id)
  redis.call('SETBIT', READY, p, 1)
end
"""

# Self-contained (no prelude): one call may span several queues, all or nothing.
# Only the keys an enqueue writes are passed: a lone task is 9 keys.
_ENQUEUE = """
-- KEYS: 7 keys per (queue, priority) block:
--   payload, meta, notbefore, delayed, enq, that priority's stream, and ready
-- ARGV: now, then per task: block, id, meta ("priority enqueued_at [traceparent]"),
-- not_before, payload
local now = tonumber(ARGV[1])
local marked = {}
for i = 2, #ARGV, 5 do
  local base = tonumber(ARGV[i]) * 7
  local id, m, nb, payload = ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
  if tonumber(nb) <= now then
    redis.call('XADD', KEYS[base + 6], '*', 'i', id, 'd', payload, 'm', m, 'n', nb)
    if not marked[base] then
      redis.call('SETBIT', KEYS[base + 7], tonumber(string.sub(m, 1, 1)), 1)
      marked[base] = true
    end
  else  -- delayed: held in the hashes until due, counted in `enq` meanwhile
    redis.call('HSET', KEYS[base + 1], id, payload)
    redis.call('HSET', KEYS[base + 2], id, m)
    redis.call('HSET', KEYS[base + 3], id, nb)
    redis.call('ZADD', KEYS[base + 4], nb, id)
    local _, enq = string.match(m, '^(%d) (%S+)')
    redis.call('ZADD', KEYS[base + 5], enq, id)
  end
end
return 1
"""

_CLAIM_BODY = """
-- ARGV: now, expires, worker, limit, token, max_attempts (-1: unlimited), queue
local now, expires, worker = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local limit, tok, max_attempts = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local queue = ARGV[7]
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.delayed, '-inf', now, 'LIMIT', 0, 10000)) do
  redis.call('ZREM', K.delayed, id)
  requeue(id, ARGV[1], queue)
end
local marks = redis.call('MGET', READY, SCANNED)
local ready, scanned = marks[1], tonumber(marks[2])
-- written as the fresh case negated, so a foreign NaN scan time also means a full read
local full = not ready or not scanned or not (now - scanned < 1 and now >= scanned)
if full then redis.call('SET', SCANNED, ARGV[1]) end
local function unread(p)  -- may stream p hold entries no worker has read?
  if full then return true end
  local byte = string.byte(ready, math.floor(p / 8) + 1)
  return byte ~= nil and math.floor(byte / 2 ^ (7 - p % 8)) % 2 == 1
end
-- Claims whose lease expired: the tasks they still hold are taken over, by priority.
local expired, lapsed = {}, {}
for p = 0, 9 do expired[p] = {} end
for _, old in ipairs(redis.call('ZRANGEBYSCORE', K.batches, '-inf', now, 'LIMIT', 0, 1000)) do
  local items = {}
  for id, p, eid in string.gmatch(redis.call('HGET', K.bids, old) or '', BID) do
    local held, att, rq, owner = holds(old, id)
    if held then
      local item = {id = id, p = tonumber(p), eid = eid, att = att, rq = rq, owner = owner}
      table.insert(expired[item.p], item)
      table.insert(items, item)
    end
  end
  lapsed[old] = items
end
local out, spent, leases, ids = {}, {}, {}, {}
local taken = 0
-- Lease the task to this claim; deliver it unless its attempts are spent (then the
-- caller dead-letters it with this claim's token).
local function take(id, p, eid, f, made, rq, owner)
  local att = made
  if max_attempts >= 0 and made >= max_attempts then
    table.insert(spent, id)
    table.insert(spent, tostring(made))
    table.insert(spent, owner)
  else
    att = made + 1
    table.insert(out, id)
    table.insert(out, tostring(att))
    table.insert(out, f.d or '')
    table.insert(out, f.m or '')
    table.insert(out, f.n or '')
    table.insert(out, f.e or '')
    taken = taken + 1
  end
  table.insert(leases, id)
  table.insert(leases, tok .. ' ' .. p .. ' ' .. eid .. ' ' .. att .. ' ' .. rq .. ' ' .. worker)
  table.insert(ids, id .. ' ' .. p .. ' ' .. eid)
end
for p = 9, 0, -1 do
  for _, item in ipairs(expired[p]) do
    if taken >= limit then break end
    item.done = true
    local moved = redis.call('XCLAIM', stream(p), 'workers', worker, 0, item.eid)
    if moved[1] and moved[1][2] then
      local f = fields_of(moved[1][2])
      if item.att then
        take(item.id, p, item.eid, f, item.att, item.rq, item.owner)
      else  -- its lease record was damaged: the claim that leased it counts as made
        take(item.id, p, item.eid, f, (count(f.a or '0') or 0) + 1, f.r == '1' and '1' or '0', '')
      end
    else  -- its entry is gone (deleted by hand, say): nothing left to deliver
      redis.call('XACK', stream(p), 'workers', item.eid)
      redis.call('HDEL', K.lease, item.id)
      redis.call('ZREM', K.enq, item.id)
      table.insert(corrupt, item.id)
      table.insert(corrupt, 'stream entry is gone')
    end
  end
  if taken < limit and unread(p) then
    local want = limit - taken
    local fresh = redis.call('XREADGROUP', 'GROUP', 'workers', worker, 'COUNT', want,
                             'STREAMS', stream(p), '>')
    local got = fresh and #fresh[1][2] or 0
    if got < want then
      redis.call('SETBIT', READY, p, 0)  -- drained: skipped until an XADD sets it
    elseif full then
      redis.call('SETBIT', READY, p, 1)
    end
    if fresh then
      for _, entry in ipairs(fresh[1][2]) do
        local f = fields_of(entry[2] or {})
        local made = count(f.a or '0')
        if not f.i or not string.match(f.i, '^%d+$') then  -- not an entry of ours: dropped
          redis.call('XACK', stream(p), 'workers', entry[1])
          redis.call('XDEL', stream(p), entry[1])
          table.insert(corrupt, 'stream entry ' .. entry[1])
          table.insert(corrupt, 'is not a task entry')
        elseif not made then
          quarantine_entry(f, 'attempts is malformed', ARGV[1], queue, p, entry[1])
        else
          take(f.i, p, entry[1], f, made, f.r == '1' and '1' or '0', '')
        end
      end
    end
  end
end
-- What is left of the lapsed claims stays for the next claim.
for old, items in pairs(lapsed) do
  local left = {}
  for _, item in ipairs(items) do
    if not item.done then table.insert(left, item.id .. ' ' .. item.p .. ' ' .. item.eid) end
  end
  if #left == 0 then
    redis.call('ZREM', K.batches, old)
    redis.call('HDEL', K.bids, old)
    redis.call('HDEL', K.bleft, old)
  else
    redis.call('HSET', K.bids, old, table.concat(left, ' '))
    redis.call('HSET', K.bleft, old, #left)
  end
end
if #ids > 0 then
  bulk('HSET', K.lease, leases)
  redis.call('ZADD', K.batches, expires, tok)
  redis.call('HSET', K.bids, tok, table.concat(ids, ' '))
  redis.call('HSET', K.bleft, tok, #ids)
end
return {out, spent, corrupt, acked}
"""

_ACK_FUNCTION = """
-- ARGV[first..]: pairs of id, token; per pair, 1 if it was acked
local function ack_leases(first)
  local result, want = {}, {}
  for i = first, #ARGV, 2 do table.insert(want, ARGV[i]) end
  if #want == 0 then return result end
  local records = {}
  for i = 1, #want, 4000 do
    for _, v in ipairs(redis.call('HMGET', K.lease, unpack(want, i, math.min(i + 3999, #want)))) do
      table.insert(records, v)
    end
  end
  local ids, entries, held, counted, seen = {}, {}, {}, {}, {}
  for k, id in ipairs(want) do
    local tk = ARGV[first + 2 * (k - 1) + 1]
    local tok, p, eid, _, rq = string.match(records[k] or '', LEASE)
    if tok and tok == tk and not seen[id] then
      seen[id] = true
      p = tonumber(p)
      entries[p] = entries[p] or {}
      table.insert(entries[p], eid)
      table.insert(ids, id)
      if rq == '1' then table.insert(counted, id) end
      held[tok] = (held[tok] or 0) + 1
      table.insert(result, 1)
    else
      table.insert(result, 0)
    end
  end
  for p, eids in pairs(entries) do  -- one command per stream and key for the whole batch
    bulk('XACK', stream(p), eids, 'workers')
    bulk('XDEL', stream(p), eids)
  end
  if #ids > 0 then bulk('HDEL', K.lease, ids) end
  if #counted > 0 then bulk('ZREM', K.enq, counted) end
  settle(held)
  return result
end
"""

_ACK = _LUA_PRELUDE + _ACK_FUNCTION + "return ack_leases(1)"

_CLAIM = _LUA_PRELUDE + "local acked = {}" + _CLAIM_BODY

# A worker's ack of the batch it delivered and its next claim, in one call: ARGV is the
# claim's seven, then the ack's pairs.
_ACK_THEN_CLAIM = _LUA_PRELUDE + _ACK_FUNCTION + "local acked = ack_leases(8)" + _CLAIM_BODY

# The entry of a current lease, out of its stream (what retry and bury start with).
_TAKE_BACK = """
local tok, p, eid, att = lease_of(ARGV[1])
if not tok or tok ~= ARGV[2] then return -1 end
local found = redis.call('XRANGE', stream(p), eid, eid)
local f = found[1] and fields_of(found[1][2]) or {}
release(ARGV[1], tok, p, eid, {})
settle({[tok] = 1})
"""

_RETRY = _LUA_PRELUDE + """
-- ARGV: id, token, not_before, error
""" + _TAKE_BACK + """
local id = ARGV[1]
hold(id, f, att, ARGV[4])
redis.call('HSET', K.notbefore, id, ARGV[3])
redis.call('ZADD', K.delayed, ARGV[3], id)
local _, enq = split(f.m)
redis.call('ZADD', K.enq, tonumber(enq) or tonumber(ARGV[3]), id)
return att
"""

_BURY = _LUA_PRELUDE + """
-- ARGV: id, token, reason, error ('' keeps the last), now, queue; the attempts, or -1
""" + _TAKE_BACK + """
hold(ARGV[1], f, att, ARGV[4] ~= '' and ARGV[4] or f.e)
bury_held(ARGV[1], ARGV[3], ARGV[5], ARGV[6])
return att
"""

_REPLAY = _LUA_PRELUDE + """
-- ARGV: id, now, queue
local id = ARGV[1]
if redis.call('HDEL', K.dead, id) == 0 then return 0 end
redis.call('ZREM', K.dead_order, id)
redis.call('HDEL', K.attempts, id)
redis.call('HSET', K.notbefore, id, ARGV[2])
local _, enq = split(redis.call('HGET', K.meta, id))
redis.call('ZADD', K.enq, tonumber(enq) or tonumber(ARGV[2]), id)
requeue(id, ARGV[2], ARGV[3])
return 1
"""

_STATS = _LUA_PRELUDE + """
-- ARGV: now. A fresh task is counted in `enq` only while held in the hashes or once it
-- went back to its stream; the others are read from the head of each stream.
local now = tonumber(ARGV[1])
local queued, oldest = 0, nil
for p = 0, 9 do
  queued = queued + redis.call('XLEN', stream(p))
  local head = redis.call('XRANGE', stream(p), '-', '+', 'COUNT', 1)
  if head[1] then
    local _, enq = split(fields_of(head[1][2]).m)
    enq = tonumber(enq)
    if enq and (not oldest or enq < oldest) then oldest = enq end
  end
end
local counted = redis.call('ZRANGE', K.enq, 0, 0, 'WITHSCORES')
local enq = tonumber(counted[2])
if enq and (not oldest or enq < oldest) then oldest = enq end
local leased, expired = redis.call('HLEN', K.lease), 0
for _, tok in ipairs(redis.call('ZRANGEBYSCORE', K.batches, '-inf', now)) do
  expired = expired + left_of(tok)
end
local delayed = redis.call('ZCARD', K.delayed)
local due_delayed = redis.call('ZCOUNT', K.delayed, '-inf', now)
return {queued - leased + expired + due_delayed, leased - expired, delayed - due_delayed,
        redis.call('HLEN', K.dead), oldest and tostring(oldest) or ''}
"""

# Layout 1 -> 2, a chunk at a time (each chunk atomic). KEYS: the usual 27, then the
# old streams (s9..s0), `entry`, `token`, `owner` and `leases`. ARGV: chunk size, queue, now.
# Every task in an old stream becomes an entry of its new stream; one in flight is
# released (delivered again: an old worker's ack no longer finds it).
_MIGRATE = _LUA_PRELUDE + """
local left = tonumber(ARGV[1])
local entry_key, token_key, owner_key, leases_key = KEYS[38], KEYS[39], KEYS[40], KEYS[41]
for p = 9, 0, -1 do
  local old = KEYS[28 + (9 - p)]
  for _, e in ipairs(redis.call('XRANGE', old, '-', '+', 'COUNT', left)) do
    local f = fields_of(e[2] or {})
    local id = f.id
    if id and redis.call('HEXISTS', K.meta, id) == 1 and redis.call('HEXISTS', K.dead, id) == 0 then
      requeue(id, ARGV[3], ARGV[2])
      for _, key in ipairs({entry_key, token_key, owner_key}) do redis.call('HDEL', key, id) end
      redis.call('ZREM', leases_key, id)
    end
    redis.call('XDEL', old, e[1])
    left = left - 1
  end
  if left <= 0 then return 1 end
end
return 0
"""

R = TypeVar("R")


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
                                 ("stats", _STATS), ("migrate", _MIGRATE))
        }
        self._groups_ready: set[str] = set()
        self._looked_at: dict[str, float] = {}  # queue -> when its layout-1 keys were looked for
        self._lock = threading.Lock()
        self._closed = False
        self._key_cache: dict[str, list[str]] = {}
        self._enqueue_key_cache: dict[tuple[str, int], list[str]] = {}
        # Task ids from blocks of the shared counter: an enqueue does not write it.
        self._ids = IdBlocks(lambda count: self._call("enqueue", lambda: self._reserve(count)))
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
        """The keys every script of `queue` is given (the `_LUA_PRELUDE` layout)."""
        keys = self._key_cache.get(queue)
        if keys is None:
            base = f"{self._prefix}:tq:{queue}:"
            keys = [*(base + name for name in _FIELDS), *(f"{base}p{p}" for p in _PRIORITIES),
                    base + "ready", base + "scanned", self._where_key(), base + "layout"]
            if len(self._key_cache) < 10_000:  # queue names are few; never grow unbounded
                self._key_cache[queue] = keys
        return keys

    def _enqueue_keys(self, queue: str, priority: int) -> list[str]:
        """The keys an enqueue of `priority` to `queue` writes (the `_ENQUEUE` block)."""
        keys = self._enqueue_key_cache.get((queue, priority))
        if keys is None:
            every = self._keys(queue)
            keys = [every[0], every[1], every[3], every[5], every[6],
                    every[_STREAM0 - 1 + _PRIORITIES.index(priority)], every[_STREAM0 + 9]]
            if len(self._enqueue_key_cache) < 10_000:
                self._enqueue_key_cache[(queue, priority)] = keys
        return keys

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

    def _check_open(self, operation: str) -> None:
        """`TaskStoreClosed` after `close`, also for a call that has nothing to send."""
        if self._closed:
            raise TaskStoreClosed(operation)

    def _call(self, operation: str, action: Callable[[], R]) -> R:
        self._check_open(operation)
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
        """Make `queue`'s consumer groups, and bring tasks stored by the layout before
        (an earlier version) into this one, once per queue and process."""
        if queue in self._groups_ready:
            return
        keys = self._keys(queue)
        pipe = self._client.pipeline(transaction=False)
        for stream in keys[_STREAM0 - 1:_STREAM0 + 9]:
            pipe.xgroup_create(stream, GROUP, id="0", mkstream=True)
        for result in pipe.execute(raise_on_error=False):
            if isinstance(result, Exception) and "BUSYGROUP" not in str(result):
                raise result
        self._look_for_layout_1(queue)
        with self._lock:
            self._groups_ready.add(queue)

    def _look_for_layout_1(self, queue: str) -> None:
        """Move `queue`'s tasks of layout 1 (an earlier version) to this one, if it has any:
        at a store's first use of the queue, then once a minute from claims and reads
        (a rolling upgrade: a process of the version before may still write them).
        Nothing is created for a queue that does not exist."""
        now = time.monotonic()
        if now - self._looked_at.get(queue, -LAYOUT_1_LOOK_INTERVAL) < LAYOUT_1_LOOK_INTERVAL:
            return
        if len(self._looked_at) > 10_000:
            self._looked_at.clear()
        self._looked_at[queue] = now
        base = f"{self._prefix}:tq:{queue}:"
        if self._client.exists(*(base + name for name in _OLD_STREAMS)):
            self._migrate(queue)

    def _reserve(self, count: int) -> tuple[int, int]:
        last = int(self._client.incrby(f"{self._prefix}:tq:ids", count))
        return last - count + 1, last

    def _migrate(self, queue: str) -> None:
        """Move `queue`'s tasks from layout 1 to this one, a chunk per script call (each
        atomic, so processes migrating at once cannot lose or double a task)."""
        keys = self._keys(queue)
        base = f"{self._prefix}:tq:{queue}:"
        old = [base + name for name in (*_OLD_STREAMS, *_OLD_KEYS)]
        now = repr(time.time())
        while self._evalsha("migrate", [*keys, *old], [_MIGRATE_CHUNK, queue, now]):
            pass
        self._client.delete(*old)
        self._client.set(keys[-1], LAYOUT)

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
        """One write for every enqueue waiting: ids come out in call order."""
        if len(batch) == 1 and len(batch[0][0]) == 1:
            (task,), now = batch[0]
            if task.not_before is None or task.not_before <= now:
                return [[self._call("enqueue", lambda: self._add_one(task, now))]]
        blocks: dict[tuple[str, int], int] = {}
        ids = iter(self._ids.take(sum(len(tasks) for tasks, _ in batch)))
        latest = max(now for _, now in batch)
        args: list[str | int] = [repr(latest)]
        results: list[list[str]] = []
        for tasks, now in batch:
            enqueued_at = repr(now)
            made: list[str] = []
            results.append(made)
            for task in tasks:
                task_id = str(next(ids))
                made.append(task_id)
                block = blocks.setdefault((task.queue, task.priority), len(blocks))
                due = enqueued_at if task.not_before is None else repr(task.not_before)
                args += [block, task_id, _meta_text(task, enqueued_at), due, task.payload_json]
        keys: list[str] = []
        for queue, priority in blocks:
            keys += self._enqueue_keys(queue, priority)
        queues = {queue for queue, _ in blocks}

        def run() -> None:
            for queue in queues:
                self._ensure_groups(queue)
            self._evalsha("enqueue", keys, args, self._writer_client())

        self._call("enqueue", run)
        return results

    def _add_one(self, task: NewTask, now: float) -> str:
        """A lone due task: XADD + SETBIT sent together on the writer's connection, with
        no script. On a dropped link it is sent again (with backoff) under a new id, so a
        task Redis applied before the link dropped is a duplicate, never one id twice."""
        self._ensure_groups(task.queue)
        stream, ready = self._enqueue_keys(task.queue, task.priority)[5:]
        enqueued_at = repr(now)
        meta = _meta_text(task, enqueued_at)
        due = enqueued_at if task.not_before is None else repr(task.not_before)
        connection = self._writer_client().connection
        assert connection is not None  # a single-connection client

        def send() -> str:
            task_id = str(self._ids.take_one())  # a new one on each try
            packed = connection.pack_commands([  # type: ignore[no-untyped-call]
                ("XADD", stream, "*", "i", task_id, "d", task.payload_json, "m", meta,
                 "n", due),
                ("SETBIT", ready, task.priority, 1)])
            try:
                connection.send_packed_command(  # type: ignore[no-untyped-call]
                    packed, check_health=False)
                replies = [connection.read_response(), connection.read_response()]
            except BaseException:
                connection.disconnect()  # type: ignore[no-untyped-call]  # no reply left unread
                raise
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return task_id

        # The connection's own retry (the errors, retries and backoff `connect` set up).
        task_id: str = connection.retry.call_with_retry(send, lambda _error: None)
        return task_id

    def claim(self, queue: str, worker_id: str, limit: int, now: float) -> list[ClaimedTask]:
        """Lease up to `limit` due tasks of `queue` to `worker_id`."""
        return self._claim(queue, worker_id, limit, now, [])[1]

    def ack_then_claim(self, leases: Sequence[Lease], queue: str, worker_id: str, limit: int,
                       now: float) -> tuple[list[bool], list[ClaimedTask]]:
        """`ack_many(leases)` and `claim(...)` in one script call (`AckThenClaim`)."""
        leases = checked_leases(leases)
        return self._claim(queue, worker_id, limit, now, leases)

    def _claim(self, queue: str, worker_id: str, limit: int, now: float,
               leases: Sequence[Lease]) -> tuple[list[bool], list[ClaimedTask]]:
        queue, worker_id, limit, now = claim_request(queue, worker_id, limit, now,
                                                     self._config.max_claim_batch)
        token = events.new_lease_token()
        lease_token = f"{token}/{queue}"
        expires = now + self._config.visibility_timeout
        max_attempts = self._config.retry.max_attempts
        script = "ack_then_claim" if leases else "claim"
        args: list[str | int | float] = [repr(now), repr(expires), worker_id, limit, token,
                                         -1 if max_attempts is None else max_attempts, queue]
        held = [_held_in(lease, queue) for lease in leases]  # claim tokens of this queue
        for lease, claim_token in zip(leases, held, strict=True):
            if claim_token is not None:
                args += (lease.task_id, claim_token)
        # A lease of another queue (or of no claim of ours) is acked on its own, first.
        foreign = [lease for lease, claim_token in zip(leases, held, strict=True)
                   if claim_token is None]
        foreign_acks = iter(self.ack_many(foreign) if foreign else ())

        def run() -> tuple[list[str], list[str], list[str], list[int]]:
            self._ensure_groups(queue)
            self._look_for_layout_1(queue)
            out, spent, corrupt, acked = self._evalsha(script, self._keys(queue), args)
            return out, spent, corrupt, acked

        out, spent, corrupt, acked = self._call("claim", run)
        for i in range(0, len(corrupt), 2):  # quarantined by the script itself
            events.dead_lettered(queue, str(corrupt[i]), "corrupt", 0,
                                  f"task {corrupt[i + 1]}")
        claimed: list[ClaimedTask] = []
        for i in range(0, len(out), 6):
            task_id = out[i]
            lease = Lease(task_id, lease_token, worker_id, expires)
            try:
                task = _task(queue, out[i:i + 6])
            except CorruptData as exc:
                self._bury(queue, task_id, token=token, reason="corrupt",
                           error=f"payload {exc.reason}", now=now)
                continue
            claimed.append(ClaimedTask(task, lease))
        for i in range(0, len(spent), 3):
            task_id, made, owner = spent[i:i + 3]
            error = events.expired_lease_error(owner or None, _int(made)) if owner else ""
            self._bury(queue, task_id, token=token, reason="max_attempts", error=error, now=now)
        ours = iter(acked)
        return [bool(next(ours)) if claim_token is not None else next(foreign_acks)
                for claim_token in held], claimed

    def _bury(self, queue: str, task_id: str, *, token: str, reason: str, error: str | None,
              now: float) -> bool:
        """Dead-letter the task `token` holds; False if it no longer does."""
        attempts = int(self._call("dead_letter", lambda: self._evalsha(
            "bury", self._keys(queue),
            [task_id, token, storable_text(reason), storable_text(error or ""), repr(now),
             queue])))
        if attempts < 0:
            return False
        events.dead_lettered(queue, task_id, reason, attempts, error or None)
        return True

    def ack_many(self, leases: Sequence[Lease]) -> list[bool]:
        """Remove the tasks whose lease is current; per lease, whether it was."""
        self._check_open("ack")
        leases = checked_leases(leases)
        results = [False] * len(leases)
        grouped: dict[str, list[int]] = {}
        tokens: list[str] = []
        for index, lease in enumerate(leases):
            parts = _lease_parts(lease)
            tokens.append("" if parts is None else parts[0])
            if parts is not None:
                grouped.setdefault(parts[1], []).append(index)
        for queue, indexes in grouped.items():
            args = list(itertools.chain.from_iterable(
                (leases[i].task_id, tokens[i]) for i in indexes))

            def run(queue: str = queue, args: list[str] = args) -> list[int]:
                self._ensure_groups(queue)
                return list(self._evalsha("ack", self._keys(queue), args))

            for index, ok in zip(indexes, self._call("ack", run), strict=True):
                results[index] = bool(ok)
        return results

    def retry(self, lease: Lease, not_before: float, error: str) -> bool:
        """Release the task to be due again at `not_before`, recording `error`."""
        self._check_open("retry")
        lease = checked_leases([lease])[0]
        not_before = store_time("not_before", not_before)
        error = storable_text(store_text("error", error))
        parts = _lease_parts(lease)
        if parts is None:
            return False
        token, queue = parts
        return int(self._call("retry", lambda: self._evalsha(
            "retry", self._keys(queue),
            [lease.task_id, token, repr(not_before), error]))) >= 0

    def dead_letter(self, lease: Lease, reason: str, error: str | None, now: float) -> bool:
        """Move the task to the dead-letter queue if `lease` is current."""
        self._check_open("dead_letter")
        lease = checked_leases([lease])[0]
        reason = store_text("reason", reason)
        error = store_text("error", error, optional=True)
        now = store_time("now", now)
        parts = _lease_parts(lease)
        if parts is None:
            return False
        token, queue = parts
        return self._bury(queue, lease.task_id, token=token, reason=reason, error=error,
                          now=now)

    def list_dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetteredTask]:
        """Up to `limit` dead-lettered tasks of `queue`, by task id (`TaskStore`)."""
        queue, limit = queue_name(queue), listing_limit(limit)
        keys = dict(zip(_FIELDS, self._keys(queue), strict=False))

        def run() -> list[tuple[str, list[Any]]]:
            self._look_for_layout_1(queue)
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
        self._check_open("replay")
        task_id = task_id_text(task_id)
        now = store_time("now", now)
        queue: str | None = None
        if task_number(task_id) is not None:  # a dead letter's queue is kept by its id
            found = self._call("replay", lambda: self._client.hget(self._where_key(), task_id))
            queue = str(found) if found else None

        def run(queue: str) -> bool:
            self._ensure_groups(queue)
            return bool(self._evalsha("replay", self._keys(queue), [task_id, repr(now), queue]))

        if queue is None or not self._call("replay", lambda: run(queue)):
            raise TaskNotFound(task_id)

    def stats(self, queue: str, now: float) -> QueueStats:
        """The queue's metrics at `now`."""
        queue = queue_name(queue)

        def run() -> list[Any]:
            self._look_for_layout_1(queue)
            return list(self._evalsha("stats", self._keys(queue), [repr(now)]))

        depth, in_flight, delayed, dead, oldest = self._call("stats", run)
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



def _meta_text(task: NewTask, enqueued_at: str) -> str:
    """A task's `m` field: "priority enqueued_at [traceparent]"."""
    if task.trace:
        return f"{task.priority} {enqueued_at} {task.trace}"
    return f"{task.priority} {enqueued_at}"


def _held_in(lease: Lease, queue: str) -> str | None:
    """The claim token of `lease` if a claim of `queue` made it, else None."""
    parts = _lease_parts(lease)
    return parts[0] if parts is not None and parts[1] == queue else None


def _lease_parts(lease: Lease) -> tuple[str, str] | None:
    """The claim token and queue a lease of this store carries; None for a lease no claim
    of ours made (then it holds nothing: an ack, retry or dead-letter returns False)."""
    token, _, queue = lease.token.partition("/")
    if not queue or not _ours(lease.task_id, token):
        return None
    try:
        return token, queue_name(queue)
    except ConfigError:
        return None


def _ours(task_id: str, token: str) -> bool:
    """Whether a task id and claim token could be ones this store made."""
    return (task_number(task_id) is not None and token.isascii() and token.isalnum()
            and len(token) <= 64)


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
