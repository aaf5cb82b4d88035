"""SQLite task ids: unique for the life of the file, taken from reserved blocks."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from actors.backends import SqliteTaskStore
from actors.backends.sqlite._ids import MAX_ID
from actors.core import ID_BLOCK
from actors.taskqueue import NewTask, TaskQueueConfig, TaskStoreError, TaskStoreTimeout

T0 = 1_000_000.0
Q = "profile->billing"


def store_at(path: Path) -> SqliteTaskStore:
    return SqliteTaskStore(TaskQueueConfig(sqlite_path=path))


def one(store: SqliteTaskStore, payload: object) -> int:
    [task_id] = store.enqueue_many([NewTask(Q, payload)], T0)
    return int(task_id)


def claim_all(store: SqliteTaskStore) -> list[int]:
    ids: list[int] = []
    while batch := store.claim(Q, "w1", 1000, T0):
        ids += [int(c.task.id) for c in batch]
    return ids


def sequence(path: Path) -> list[tuple[str, object]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall()
    conn.close()
    return rows


def test_ids_are_never_reused_after_acks_or_reopening(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite3"
    with store_at(path) as store:
        first = [one(store, n) for n in range(3)]
        assert first == [1, 2, 3]
        store.ack_many([c.lease for c in store.claim(Q, "w1", 10, T0)])
        assert one(store, "after acks") == 4  # the highest id was acked: not taken again
    with store_at(path) as store:
        # The block the first store reserved is skipped, not handed out twice.
        assert one(store, "reopened") == ID_BLOCK + 1
    assert sequence(path) == [("tasks", 2 * ID_BLOCK)]


def test_one_sequence_write_per_block_not_per_task(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite3"
    with store_at(path) as store:
        ids = [one(store, n) for n in range(ID_BLOCK + 5)]
        batch = [int(i) for i in store.enqueue_many([NewTask(Q, n) for n in range(3)], T0)]
        assert ids == list(range(1, ID_BLOCK + 6))
        assert batch == [ID_BLOCK + 6, ID_BLOCK + 7, ID_BLOCK + 8]
        assert sequence(path) == [("tasks", 2 * ID_BLOCK)]
        # A batch larger than a block reserves a block of its own size.
        big = store.enqueue_many([NewTask(Q, n) for n in range(ID_BLOCK + 10)], T0)
        assert [int(i) for i in big] == list(range(2 * ID_BLOCK + 1, 3 * ID_BLOCK + 11))
        assert sequence(path) == [("tasks", 3 * ID_BLOCK + 10)]


def test_stores_sharing_a_file_never_hand_out_the_same_id(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite3"
    with store_at(path) as a, store_at(path) as b:
        ids = [one(store, n) for n in range(3 * ID_BLOCK) for store in (a, b)]
        assert len(set(ids)) == len(ids)
        assert sorted(claim_all(a)) == sorted(ids)


def test_an_insert_left_to_autoincrement_starts_past_every_reserved_block(
        tmp_path: Path) -> None:
    # An older stanchion, or a tool, inserting without an id on the same file.
    path = tmp_path / "tasks.sqlite3"
    with store_at(path) as store:
        mine = one(store, "mine")
        with sqlite3.connect(path) as conn:
            cursor = conn.execute(
                "INSERT INTO tasks (queue, payload, priority, not_before, visible_at, "
                "enqueued_at) VALUES (?, '\"theirs\"', 0, ?, ?, ?)", (Q, T0, T0, T0))
            theirs = cursor.lastrowid
        conn.close()
        assert theirs == ID_BLOCK + 1
        assert one(store, "mine again") == mine + 1
        with store_at(path) as other:
            assert one(other, "next block") == ID_BLOCK + 2
        assert sorted(c.task.payload for c in store.claim(Q, "w1", 10, T0)) == [
            "mine", "mine again", "next block", "theirs"]


@pytest.mark.parametrize("seq", ["'garbage'", "2.5", "NULL", "-7", "1"])
def test_a_damaged_sequence_row_still_gives_ids_past_every_stored_one(
        tmp_path: Path, seq: str) -> None:
    path = tmp_path / "tasks.sqlite3"
    with store_at(path) as store:
        ids = [one(store, n) for n in range(5)]
        dead = store.claim(Q, "w1", 1, T0)[0]
        assert store.dead_letter(dead.lease, "poison", "boom", T0)
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE sqlite_sequence SET seq = {seq}")
        conn.execute("UPDATE tasks SET id = 40 WHERE id = 5")  # the highest id in use
    conn.close()
    with store_at(path) as store:
        fresh = one(store, "fresh")
        assert fresh == 41
        assert fresh not in ids
        assert store.list_dead_letters(Q)[0].task.id == str(ids[0])
        store.replay_dead_letter(str(ids[0]), T0)  # its id is still its own
        assert len(store.claim(Q, "w1", 10, T0)) == 6


def test_a_missing_sequence_row_starts_past_the_dead_letters_too(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite3"
    with store_at(path) as store:
        for n in range(3):
            one(store, n)
        for claimed in store.claim(Q, "w1", 3, T0):
            assert store.dead_letter(claimed.lease, "poison", "boom", T0)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM sqlite_sequence")
    conn.close()
    with store_at(path) as store:
        assert one(store, "fresh") == 4  # dead letters 1-3 keep theirs for a replay


def test_exhausted_ids_fail_the_enqueue_with_a_clear_error_and_the_store_goes_on(
        tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite3"
    with store_at(path) as store:
        one(store, "before")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE sqlite_sequence SET seq = ?", (MAX_ID - 10,))
    conn.close()
    with store_at(path) as store:
        with pytest.raises(TaskStoreError, match=r"task ids are exhausted.*new database file"):
            one(store, "refused")
        assert [c.task.payload for c in store.claim(Q, "w1", 10, T0)] == ["before"]
        with pytest.raises(TaskStoreError, match="task ids are exhausted"):
            store.enqueue_many([NewTask(Q, n) for n in range(3)], T0)
    assert sequence(path) == [("tasks", MAX_ID - 10)]


def test_threads_racing_for_a_new_block_get_distinct_ids(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite3"
    taken: dict[int, list[int]] = {}
    start = threading.Barrier(8)
    with store_at(path) as store:

        def produce(n: int) -> None:
            start.wait(5.0)
            taken[n] = [one(store, [n, i]) for i in range(400)]

        threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30.0)
        ids = [i for n in range(8) for i in taken[n]]
        assert len(ids) == len(set(ids)) == 3200
        assert sorted(claim_all(store)) == sorted(ids)


def test_a_caller_waiting_on_another_callers_reservation_keeps_its_write_timeout(
        tmp_path: Path) -> None:
    # A fresh store has no block: the first enqueue reserves one, a write of its own. With
    # another program holding the write lock, a second caller must get TaskStoreTimeout
    # after its write_timeout, not wait behind the first caller's reservation until
    # SQLite's busy_timeout fails them both (TaskStoreError "database is locked").
    path = tmp_path / "tasks.sqlite3"
    store = SqliteTaskStore(TaskQueueConfig(sqlite_path=path, write_timeout=0.2,
                                            busy_timeout=3.0))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    first: list[object] = []

    def enqueue_first() -> None:
        try:
            first.append(one(store, "first"))
        except TaskStoreError as exc:
            first.append(exc)

    thread = threading.Thread(target=enqueue_first)
    thread.start()
    try:
        wait = threading.Event()
        while store.write_stats().submitted < 1:  # the first caller's reservation is waiting
            wait.wait(0.001)
        with pytest.raises(TaskStoreTimeout, match=r"write_timeout=0\.2s"):
            one(store, "second")
    finally:
        holder.execute("COMMIT")
        holder.close()
        thread.join(10.0)
    assert first == [1]  # the reservation went through once the lock was free
    assert [c.task.payload for c in store.claim(Q, "w1", 10, T0)] == ["first"]
    store.close()
