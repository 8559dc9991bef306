import sqlite3

import pytest

from synthloom.backends import Response, Usage
from synthloom.errors import ConfigError
from synthloom.record import Record
from synthloom.store import MIGRATIONS, Store


def test_response_cache_roundtrip(tmp_path):
    store = Store.open_dir(tmp_path)
    assert store.get_response("k") is None
    store.put_response("k", "{}", Response("hi", "length", Usage(3, 4), "m"))
    store.close()
    again = Store.open_dir(tmp_path)
    cached = again.get_response("k")
    assert cached == Response("hi", "length", Usage(3, 4), "m")


def test_finished_indices_exclude_transient_failures(tmp_path):
    store = Store.open_dir(tmp_path)
    store.put_record(Record(0, "r-0", {"a": 1}, {"t": "x"}))
    store.put_failure(Record(1, "r-1", {"a": 2}), "s", "empty_output", "", transient=False)
    store.put_failure(Record(2, "r-2", {"a": 3}), "s", "timeout", "", transient=True)
    assert store.finished_indices(10) == {0, 1}
    assert store.finished_indices(1) == {0}
    store.put_record(Record(2, "r-2", {"a": 3}, {"t": "y"}))
    assert store.finished_indices(10) == {0, 1, 2}
    assert [f["index"] for f in store.iter_failures(10)] == [1]
    assert [r["id"] for r in store.iter_rows(10)] == ["r-0", "r-2"]


def test_migrations_set_user_version(tmp_path):
    Store.open_dir(tmp_path).close()
    db = sqlite3.connect(tmp_path / Store.FILENAME)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path):
    Store.open_dir(tmp_path).close()
    db = sqlite3.connect(tmp_path / Store.FILENAME)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ConfigError, match="newer synthloom"):
        Store.open_dir(tmp_path)


def test_garbage_store_file_is_a_clear_error(tmp_path):
    (tmp_path / Store.FILENAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="not a usable synthloom store"):
        Store.open_dir(tmp_path)


def test_clear_records_keeps_responses(tmp_path):
    store = Store.open_dir(tmp_path)
    store.put_response("k", "{}", Response("x"))
    store.put_record(Record(0, "r", {}))
    store.clear_records()
    assert store.counts(10) == {"kept": 0, "rejected": 0}
    assert store.count_responses() == 1


def stored_records(tmp_path) -> int:
    db = sqlite3.connect(tmp_path / Store.FILENAME)
    try:
        return db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    finally:
        db.close()


def test_group_commit_queues_writes_until_flush_and_commits_the_rest_at_the_end(tmp_path):
    store, woken = Store.open_dir(tmp_path), []
    with store.group_commit(on_write=lambda: woken.append(1)):
        store.put_response("k", "{}", Response("queued"))
        store.put_record(Record(0, "r-0", {}))
        assert stored_records(tmp_path) == 0 and woken == [1]  # one wake-up per batch
        assert store.get_response("k") == Response("queued")  # a queued response is found before it is committed
        store.flush()
        assert stored_records(tmp_path) == 1
        store.put_record(Record(1, "r-1", {}))
        assert woken == [1, 1] and stored_records(tmp_path) == 1
    assert stored_records(tmp_path) == 2  # the end of the block committed the last batch
    store.put_record(Record(2, "r-2", {}))
    assert stored_records(tmp_path) == 3 and woken == [1, 1]  # outside a group commit: written at once
    store.close()

