"""The store's key filter: look-ups of keys it never stored skip SQLite; stored keys are always found."""

import hashlib

from synthloom.backends.base import Response, Usage
from synthloom.store import Store
from synthloom.store.keyfilter import KeyFilter


def key(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def test_no_key_added_is_ever_missed_and_few_others_pass():
    keys = KeyFilter(50_000)
    for i in range(50_000):
        keys.add(key(i))
    assert all(key(i) in keys for i in range(50_000))
    false_positives = sum(key(i) in keys for i in range(50_000, 100_000))
    assert false_positives < 500  # under 1%: each costs only the SELECT it would have made anyway


def answer(text):
    return Response(text=text, usage=Usage(prompt_tokens=1, completion_tokens=1), model="m")


def selects(store):
    seen = []
    store.db.set_trace_callback(lambda sql: seen.append(sql) if sql.startswith("SELECT response FROM responses") else None)
    return seen


def test_a_fresh_store_answers_misses_without_sqlite_and_finds_what_it_stored(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    seen = selects(store)
    assert all(store.get_response(key(i)) is None for i in range(1000))
    assert len(seen) < 10  # not one SELECT per look-up
    with store.group_commit():
        store.put_response(key(1), "{}", answer("one"))
        assert store.get_response(key(1)).text == "one"  # queued, not committed yet: still found
    assert store.get_response(key(1)).text == "one"
    store.close()


def test_a_reopened_store_finds_every_stored_key(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for i in range(300):
        store.put_response(key(i), "{}", answer(str(i)))
    store.close()
    again = Store(tmp_path / "s.sqlite")
    assert [again.get_response(key(i)).text for i in range(300)] == [str(i) for i in range(300)]
    assert again.get_response(key(301)) is None
    again.close()


def test_what_another_connection_wrote_is_found_after_reload(tmp_path):
    """A Ray run's writer writes the driver's store through its own connection; the driver reloads."""
    store = Store(tmp_path / "s.sqlite")
    assert store.get_response(key(7)) is None  # the filter is built now, without key 7
    writer = Store(tmp_path / "s.sqlite")
    writer.put_response(key(7), "{}", answer("seven"))
    writer.close()
    store.reload()
    assert store.get_response(key(7)).text == "seven"
    store.close()
