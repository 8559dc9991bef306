"""MinHash dedup of 100,000 documents: synthloom against datasketch and rensa used directly.

The documents are random word sequences (a Zipf-like vocabulary of 20,000 words, 60-200 words
each). About 10% are near-copies of an earlier original with a few words replaced, kept only if
their true Jaccard similarity on word 3-grams is at least 0.8; about 3% are copies with many
words replaced, true Jaccard 0.5-0.7, which must not be dropped. The truth is the set of
near-copies; precision and recall of each tool are measured against it.

Every tool starts from the same texts and the same shingles (`synthloom.curate.dedup.shingles`,
word 3-grams), with the same num_perm and threshold, and keeps the first text of each group:
- synthloom: `MinHashDeduper` (rensa signatures, numpy banding, estimated-Jaccard verification);
- datasketch: `MinHash.bulk` for the signatures, then `MinHashLSH` query-then-insert in order
  (its own bands and rows for the threshold; a candidate counts as a duplicate, as in its docs);
- rensa: `RMinHashDeduplicator.add_pairs` over the shingle sets (its own LSH and checks).

Memory: our deduper runs in a fresh subprocess over a generator (the texts are never held) at
10% of the documents and at all of them; the peak RSS of each, the difference per document, and
the ratio are reported.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from synthloom.curate.dedup import MinHashDeduper, shingles

VOCABULARY = 20_000


class Corpus:
    """Deterministic documents with planted near-copies, generated on demand (nothing is held)."""

    def __init__(self, docs: int, seed: int = 11, near: float = 0.10, far: float = 0.03):
        self.docs, self.seed, self.near, self.far = docs, seed, near, far
        self.words = [f"w{i}" for i in range(VOCABULARY)]
        self.weights = list(itertools.accumulate(1.0 / (rank + 10) ** 0.9 for rank in range(VOCABULARY)))

    def role(self, i: int) -> str:
        draw = random.Random(self.seed * 1_000_003 + i).random()
        if i < 100 or draw >= self.near + self.far:
            return "original"
        return "near" if draw < self.near else "far"

    def original(self, i: int) -> str:
        rng = random.Random(self.seed * 7_000_003 + i)
        return " ".join(rng.choices(self.words, cum_weights=self.weights, k=rng.randint(60, 200)))

    def plant(self, i: int) -> tuple[str, int, float]:
        """(text, source, true Jaccard) of a near or far copy."""
        rng = random.Random(self.seed * 13_000_027 + i)
        source = rng.randrange(i)
        while self.role(source) != "original":
            source = rng.randrange(i)
        text = self.original(source)
        size, near = len(text.split()), self.role(i) == "near"
        while True:
            count = rng.randint(1, max(1, size // 22)) if near else rng.randint(size // 12, size // 6)
            copy = replace_words(text, count, rng)
            similarity = jaccard(copy, text)
            if (near and similarity >= 0.8) or (not near and 0.5 <= similarity <= 0.7):
                return copy, source, similarity

    def text(self, i: int) -> str:
        return self.original(i) if self.role(i) == "original" else self.plant(i)[0]

    def __iter__(self) -> Iterator[str]:
        return (self.text(i) for i in range(self.docs))

    def materialise(self) -> tuple[list[str], dict[int, float], set[int]]:
        """All texts, the near-copies with their true Jaccard, and the far copies."""
        texts, near, far = [], {}, set()
        for i in range(self.docs):
            role = self.role(i)
            if role == "original":
                texts.append(self.original(i))
                continue
            text, _, similarity = self.plant(i)
            texts.append(text)
            if role == "near":
                near[i] = similarity
            else:
                far.add(i)
        return texts, near, far


def replace_words(text: str, count: int, rng: random.Random) -> str:
    words = text.split()
    for position in rng.sample(range(len(words)), count):
        words[position] = f"new{rng.randrange(10**9)}"
    return " ".join(words)


def jaccard(a: str, b: str) -> float:
    x, y = set(shingles(a)), set(shingles(b))
    return len(x & y) / len(x | y)


def run_ours(texts: list[str], threshold: float, num_perm: int) -> set[int]:
    return MinHashDeduper(threshold=threshold, num_perm=num_perm).dedup(texts).dropped_indices()


def run_strict(texts: list[str], threshold: float, num_perm: int) -> set[int]:
    return MinHashDeduper(threshold=threshold, num_perm=num_perm, recall=None).dedup(texts).dropped_indices()


def run_datasketch(texts: list[str], threshold: float, num_perm: int) -> set[int]:
    from datasketch import MinHash, MinHashLSH

    lsh, dropped = MinHashLSH(threshold=threshold, num_perm=num_perm), set()
    for start in range(0, len(texts), 4096):
        batch = [[s.encode("utf-8") for s in shingles(t)] for t in texts[start:start + 4096]]
        for offset, signature in enumerate(MinHash.bulk(batch, num_perm=num_perm)):
            if lsh.query(signature):
                dropped.add(start + offset)
            else:
                lsh.insert(start + offset, signature, check_duplication=False)
    return dropped


def run_rensa(texts: list[str], threshold: float, num_perm: int) -> set[int]:
    from rensa import RMinHashDeduplicator

    deduper, dropped = RMinHashDeduplicator(threshold, num_perm, True), set()
    for start in range(0, len(texts), 4096):
        added = deduper.add_pairs([(str(start + k), shingles(t)) for k, t in enumerate(texts[start:start + 4096])])
        dropped.update(start + k for k, kept in enumerate(added) if not kept)
    return dropped


def score(dropped: set[int], near: dict[int, float], far: set[int]) -> dict:
    found = dropped & near.keys()
    band = [i for i, s in near.items() if s < 0.85]
    return {
        "dropped": len(dropped),
        "precision": round(len(found) / len(dropped), 4) if dropped else 0.0,
        "recall": round(len(found) / len(near), 4) if near else 0.0,
        "recall_jaccard_0.80_0.85": round(sum(i in dropped for i in band) / len(band), 4) if band else None,
        "recall_jaccard_0.85_up": round(sum(i in dropped for i in near if near[i] >= 0.85) / max(1, len(near) - len(band)), 4),
        "far_dropped": len(dropped & far),
    }


def peak_rss(docs: int, threshold: float, num_perm: int, dedup: bool) -> int:
    """Peak RSS in bytes of a fresh process that streams `docs` documents (through our deduper if `dedup`)."""
    child = subprocess.run([sys.executable, __file__, "--memory-child", str(docs), "--threshold", str(threshold),
                            "--num-perm", str(num_perm), *(["--no-dedup"] if not dedup else [])],
                           capture_output=True, text=True, check=True)
    return int(child.stdout.split()[-1])


def memory_child(args: argparse.Namespace) -> None:
    corpus = Corpus(args.memory_child)
    if args.no_dedup:
        for _ in corpus:
            pass
    else:
        MinHashDeduper(threshold=args.threshold, num_perm=args.num_perm).dedup(iter(corpus))
    print(peak_of_this_process())


def peak_of_this_process() -> int:
    """VmHWM in bytes: unlike ru_maxrss, Linux does not carry it over from the parent across exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "dedup.json")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-dedup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args)

    start = time.perf_counter()
    corpus = Corpus(args.docs)
    texts, near, far = corpus.materialise()
    generated = time.perf_counter() - start
    start = time.perf_counter()
    for text in texts:
        shingles(text)
    shingling = time.perf_counter() - start

    # the default verifies candidates 1.65 sd of the estimate below the threshold (recall 0.95 right
    # at it); "synthloom, estimate at threshold" compares the estimate with the threshold itself
    tools = {"synthloom": (run_ours, args.threshold), "datasketch": (run_datasketch, args.threshold),
             "rensa": (run_rensa, args.threshold), "synthloom, estimate at threshold": (run_strict, args.threshold)}
    rows = {}
    for name, (run, threshold) in tools.items():
        run(texts[:500], threshold, args.num_perm)  # warm-up: imports, tables
        start = time.perf_counter()
        dropped = run(texts, threshold, args.num_perm)
        seconds = time.perf_counter() - start
        rows[name] = {"seconds": round(seconds, 2), "docs_per_s": round(len(texts) / seconds), **score(dropped, near, far)}
    for name in ("datasketch", "rensa"):
        rows["synthloom"][f"speed_ratio_vs_{name}"] = round(rows["synthloom"]["docs_per_s"] / rows[name]["docs_per_s"], 2)

    small = max(1000, args.docs // 10)
    idle = peak_rss(args.docs, args.threshold, args.num_perm, dedup=False)
    rss = {n: peak_rss(n, args.threshold, args.num_perm, dedup=True) for n in (small, args.docs)}
    deduper = MinHashDeduper(threshold=args.threshold, num_perm=args.num_perm)
    result = {
        "docs": args.docs, "near_copies": len(near), "far_copies": len(far), "threshold": args.threshold,
        "num_perm": args.num_perm, "bands": deduper.bands, "rows": deduper.rows,
        "generate_seconds": round(generated, 1), "shingle_seconds": round(shingling, 2), "tools": rows,
        "memory": {
            "docs_small": small, "peak_rss_small_mb": round(rss[small] / 2**20, 1),
            "peak_rss_large_mb": round(rss[args.docs] / 2**20, 1),
            "peak_rss_stream_only_large_mb": round(idle / 2**20, 1),
            "rss_ratio_large_vs_small": round(rss[args.docs] / rss[small], 2),
            "bytes_per_doc_marginal": round((rss[args.docs] - rss[small]) / (args.docs - small)),
            "bytes_per_doc_state": round(deduper.dedup(itertools.islice(iter(corpus), 5000)).bytes_per_document()),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"\n{args.docs:,} docs, {len(near):,} near-copies (J≥0.8), {len(far):,} far copies (J 0.5-0.7), "
          f"threshold {args.threshold}, num_perm {args.num_perm}")
    print(f"{'tool':<34}{'docs/s':>9}{'ours/it':>9}{'precision':>11}{'recall':>8}{'R@.80-.85':>11}{'R@.85+':>8}{'far drop':>10}")
    for name, row in rows.items():
        ratio = f"{rows['synthloom'][f'speed_ratio_vs_{name}']:.2f}x" if name in ("datasketch", "rensa") else ""
        print(f"{name:<34}{row['docs_per_s']:>9,}{ratio:>9}{row['precision']:>11}{row['recall']:>8}"
              f"{row['recall_jaccard_0.80_0.85']:>11}{row['recall_jaccard_0.85_up']:>8}{row['far_dropped']:>10}")
    memory = result["memory"]
    print(f"peak RSS of our deduper: {memory['peak_rss_small_mb']} MB at {small:,} docs, {memory['peak_rss_large_mb']} MB "
          f"at {args.docs:,} (ratio {memory['rss_ratio_large_vs_small']}; streaming alone {memory['peak_rss_stream_only_large_mb']} MB); "
          f"{memory['bytes_per_doc_marginal']} bytes/doc marginal, {memory['bytes_per_doc_state']} bytes/doc of state")


if __name__ == "__main__":
    main()
