"""The batches ledger: what a re-run follows, and which provider ids are certainly this directory's."""

from synthloom.store import Store
from synthloom.store.batches import BatchLedger


def test_a_guessed_id_is_followed_but_not_claimed(tmp_path):
    store = Store.open_dir(tmp_path)
    ledger = BatchLedger(store)
    for tag in ("a", "b", "c", "d"):
        ledger.record(tag, "anthropic http://x", "story", [(f"{tag}-key", "{}")])
    ledger.submitted("a", "X", certain=False)  # lost id, guessed by size and time: not proved yet
    ledger.submitted("b", "Y")
    ledger.submitted("c", "Z")
    ledger.collected("c", "ended")
    assert ledger.known_ids() == {"Y", "Z"}  # another lost batch of the same size may still try X
    assert [(row.tag, row.batch_id, row.state) for row in ledger.open_batches("anthropic http://x")] == [
        ("a", "X", "adopted"), ("b", "Y", "submitted"), ("d", None, "recorded")]
    assert ledger.open_batches("openai http://x") == []
    store.close()
    reopened = BatchLedger(Store.open_dir(tmp_path))
    assert [row.tag for row in reopened.open_batches("anthropic http://x")] == ["a", "b", "d"]  # committed at once
