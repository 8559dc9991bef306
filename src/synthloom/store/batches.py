"""The batches of a run directory, in its store: what makes batch spend exactly-once across kills.

A batch's requests and its tag are committed (state `recorded`) before anything is sent; its
provider id is committed the moment the provider returns it (`submitted`; `adopted` when a lost id
was guessed by size and time, until the batch's custom_ids prove it); it is `collected`
once every answer it brought is in the request cache, or `abandoned` when it is known never
to have been created (its requests are free to go in another batch). A re-run reads the
batches that are neither, and follows them instead of submitting their requests again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from .core import Store

__all__ = ["BatchLedger", "BatchRow", "OPEN_STATES"]

OPEN_STATES = ("recorded", "submitted", "adopted")


@dataclass(frozen=True)
class BatchRow:
    """One batch as the store knows it."""

    tag: str
    provider: str
    stage: str
    lines: int
    batch_id: str | None
    state: str
    status: str
    created: float


class BatchLedger:
    """Reads and writes the `batches` and `batch_requests` tables; every write is committed at once."""

    def __init__(self, store: Store):
        self.store = store
        self.db = store.db

    def record(self, tag: str, provider: str, stage: str, requests: list[tuple[str, str]]) -> float:
        """Commit a batch about to be created: its tag and its (key, canonical request) pairs."""
        created = time.time()
        self.store.flush()
        with self.store.transaction():
            self.db.execute("INSERT INTO batches (tag, provider, stage, lines, state, created, updated) "
                            "VALUES (?, ?, ?, ?, 'recorded', ?, ?)", (tag, provider, stage, len(requests), created, created))
            self.db.executemany("INSERT INTO batch_requests (tag, key, request) VALUES (?, ?, ?)",
                                [(tag, key, request) for key, request in requests])
        return created

    def submitted(self, tag: str, batch_id: str, certain: bool = True) -> None:
        """The batch's id: returned by the provider or matched by tag (`submitted`), or a guess (`adopted`)."""
        self.update(tag, batch_id=batch_id, state="submitted" if certain else "adopted")

    def status(self, tag: str, status: str, detail: str = "") -> None:
        self.update(tag, status=status, detail=detail)

    def collected(self, tag: str, status: str) -> None:
        self.update(tag, state="collected", status=status)

    def abandoned(self, tag: str, detail: str) -> None:
        self.update(tag, state="abandoned", detail=detail[:500])

    def update(self, tag: str, **values: str) -> None:
        self.store.flush()
        columns = ", ".join(f"{name} = ?" for name in values)
        with self.store.transaction():
            self.db.execute(f"UPDATE batches SET {columns}, updated = ? WHERE tag = ?", (*values.values(), time.time(), tag))

    def open_batches(self, provider: str) -> list[BatchRow]:
        """Batches of this provider that were recorded or submitted and not yet collected."""
        query = (f"SELECT tag, provider, stage, lines, batch_id, state, status, created FROM batches "
                 f"WHERE provider = ? AND state IN {OPEN_STATES} ORDER BY created")
        return [BatchRow(*row) for row in self.db.execute(query, (provider,))]

    def known_ids(self) -> set[str]:
        """Ids certainly belonging to one of this directory's batches (a guess, `adopted`, is not: two lost
        batches of one size may both try it, and only its custom_ids tell whose it is)."""
        query = "SELECT batch_id FROM batches WHERE batch_id IS NOT NULL AND state != 'adopted'"
        return {row[0] for row in self.db.execute(query)}

    def requests(self, tag: str) -> Iterator[tuple[str, str]]:
        """(key, canonical request) of a batch's lines that have no stored answer yet."""
        self.store.flush()
        query = ("SELECT b.key, b.request FROM batch_requests b LEFT JOIN responses r ON r.key = b.key "
                 "WHERE b.tag = ? AND r.key IS NULL")
        yield from self.db.execute(query, (tag,))

    def keys(self, tag: str) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT key FROM batch_requests WHERE tag = ?", (tag,))}

    def summary(self) -> list[dict[str, object]]:
        """Every batch of the directory, for run.json."""
        query = "SELECT tag, provider, stage, lines, batch_id, state, status, detail, created, updated FROM batches ORDER BY created"
        names = ("tag", "provider", "stage", "lines", "batch_id", "state", "status", "detail", "created", "updated")
        return [dict(zip(names, row)) for row in self.db.execute(query)]
