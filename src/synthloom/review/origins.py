"""Tracing bad records by meaning: nearest neighbours of flagged records and clusters of the
dataset, on WordLlama embeddings (the model the `corpus` extra ships; no network).

Embeddings are computed once per record (in a worker thread, with a read-only connection of
its own) and kept as float32: 1 KB a record, 100 MB for 100,000. Embedding 100,000 records takes
about 30 s on two busy cores, once; a neighbour search after that is a matrix product.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson

from ..corpus.embed import load_embedder
from ..errors import ConfigError, missing_extra
from ..store.decisions import row_signature
from ..store.reader import StoreReader

__all__ = ["Embeddings"]

BATCH = 2048
FIT_SAMPLE = 20_000


class Embeddings:
    """Record embeddings of one run, filled on first use and topped up when records change."""

    def __init__(self, run: Path, text_fields: list[str], embedder: Any = None):
        self.run, self.text_fields, self.embedder = run, text_fields, embedder
        self.lock = threading.Lock()
        self.indices: list[int] = []
        self.sigs: list[str] = []
        self.matrix: Any = None
        self.seen: tuple | None = None  # (count, newest) of records and failures when last embedded

    def load_embedder(self) -> Any:
        """The given embedder, or the WordLlama model shipped in its wheel (the `corpus` extra)."""
        if self.embedder is None:
            self.embedder = load_embedder()
        return self.embedder

    def text(self, row: dict[str, Any]) -> str:
        """What a record means: its text fields (every string field but the id when the run names none)."""
        names = [n for n in self.text_fields if isinstance(row.get(n), str)] or \
            [n for n, v in row.items() if n != "id" and isinstance(v, str)]
        return "\n".join(row[n] for n in names)

    def update(self) -> None:
        """Embed the records not embedded yet (or changed since); blocking: call from a worker thread."""
        import numpy as np

        with self.lock:
            reader = StoreReader(self.run / "store.sqlite")
            try:
                seen = reader.written()
                if seen == self.seen:
                    return
                stored = reader.rows()
            finally:
                reader.close()
            known = dict(zip(self.indices, self.sigs))
            signatures = [row_signature(text) for _, text in stored]
            old = {idx: pos for pos, idx in enumerate(self.indices)}
            vectors = np.zeros((len(stored), 256), dtype=np.float32)
            missing = []
            for pos, ((idx, _), sig) in enumerate(zip(stored, signatures)):
                if known.get(idx) == sig:
                    vectors[pos] = self.matrix[old[idx]]
                else:
                    missing.append(pos)
            embedder = self.load_embedder()
            for start in range(0, len(missing), BATCH):
                chunk = missing[start:start + BATCH]
                texts = [self.text(orjson.loads(stored[pos][1])) for pos in chunk]
                vectors[chunk] = np.asarray(embedder.embed(texts), dtype=np.float32)
            self.indices, self.sigs, self.matrix, self.seen = [i for i, _ in stored], signatures, vectors, seen

    def neighbours(self, flagged: list[int], k: int = 20, minimum: float = 0.0) -> list[dict[str, Any]]:
        """The k records closest (cosine) to any flagged record, flagged ones left out, closest first."""
        import numpy as np

        self.update()
        with self.lock:
            position = {idx: pos for pos, idx in enumerate(self.indices)}
            chosen = [position[i] for i in flagged if i in position]
            if not chosen:
                raise ConfigError("none of the flagged records is in the store")
            matrix = self.matrix
            similarity = (matrix @ matrix[chosen].T).max(axis=1)
            similarity[chosen] = -np.inf
            k = max(1, min(k, len(self.indices) - len(chosen)))
            if k <= 0:
                return []
            top = np.argpartition(-similarity, k - 1)[:k] if k < len(similarity) else np.arange(len(similarity))
            top = top[np.argsort(-similarity[top], kind="stable")]
            return [{"idx": self.indices[p], "similarity": round(float(similarity[p]), 4)} for p in top
                    if similarity[p] >= minimum and np.isfinite(similarity[p])]

    def clusters(self, k: int, seed: int = 0) -> tuple[dict[int, int], list[dict[str, Any]]]:
        """k-means over every record: idx → cluster, and per cluster its size and the record
        nearest its centre (the one to review for it)."""
        import numpy as np

        try:
            from sklearn.cluster import MiniBatchKMeans
        except ImportError as exc:
            raise missing_extra("curate", exc) from None
        self.update()
        with self.lock:
            matrix = self.matrix
            if len(matrix) == 0:
                return {}, []
            k = max(1, min(k, len(matrix)))
            rng = np.random.default_rng(seed)  # centres from a sample; every record is then assigned
            sample = matrix[rng.choice(len(matrix), FIT_SAMPLE, replace=False)] if len(matrix) > FIT_SAMPLE else matrix
            model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1, batch_size=4096, max_iter=30).fit(sample)
            labels = model.predict(matrix)
            summary = []
            for cluster in range(k):
                members = np.flatnonzero(labels == cluster)
                if not len(members):
                    continue
                centre = model.cluster_centers_[cluster]
                nearest = members[np.argmax(matrix[members] @ centre)]
                summary.append({"cluster": cluster, "size": int(len(members)), "representative": self.indices[nearest]})
            summary.sort(key=lambda c: -c["size"])
            return {self.indices[p]: int(c) for p, c in enumerate(labels)}, summary
