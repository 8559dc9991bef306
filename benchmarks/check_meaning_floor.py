"""How well the `rewrite` recipe's meaning floor (cosine 0.6 of WordLlama embeddings) separates a
faithful rewrite from a different text, measured on the shipped tickets.

    python benchmarks/check_meaning_floor.py [--floor 0.6] [--run runs/rewrite]

Different meaning: every pair of two different tickets of data/tickets (tickets.jsonl + gold.csv).
Same meaning: hand-written clean rewrites of tickets (below). With --run, also the similarity of
each rewrite the model made to its original (the `meaning_similarity` field, kept and rejected).
Writes benchmarks/results/meaning_floor.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REWRITES = [
    ("i was charged twice for my order last week, please refund one of the payments",
     "I was charged twice for my order last week. Please refund one of the two payments."),
    ("my package says delivered but it's not at my door or with neighbours",
     "My package is marked as delivered, but it is not at my door or with my neighbours."),
    ("the app crashes every time I open the settings page", "The app crashes every time I open the settings page."),
    ("how do i change the email address on my profile", "How can I change the email address on my profile?"),
    ("Refund still not on my card after 14 days. You said 5 to 7 business days.",
     "My refund has still not reached my card after 14 days, although you said it would take 5 to 7 business days."),
    ("tracking number doesn't work on the courier's website", "The tracking number does not work on the courier's website."),
    ("Two-factor codes from the app are always rejected.", "The two-factor authentication codes from the app are always rejected."),
    ("please log me out of all sessions, i lost my phone", "I lost my phone, so please log me out of all sessions."),
    ("why is there a $4.99 fee on my invoice?? nobody told me about that",
     "Why is there a $4.99 fee on my invoice? Nobody told me about it."),
    ("i want to change my billing address for future invoices", "I would like to change my billing address for future invoices."),
]


def main() -> int:
    import numpy as np

    from synthloom.corpus.embed import load_embedder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floor", type=float, default=0.6)
    parser.add_argument("--run", type=Path)
    args = parser.parse_args()
    embedder = load_embedder()
    texts = [json.loads(line)["text"] for line in open(ROOT / "data/tickets/tickets.jsonl", encoding="utf-8")]
    texts += [row["text"] for row in csv.DictReader(open(ROOT / "data/tickets/gold.csv", encoding="utf-8"))]
    vectors = embedder.embed(texts)
    sims = vectors @ vectors.T
    different = sims[np.triu_indices(len(texts), k=1)]
    same = np.array([float(np.dot(*embedder.embed([a, b]))) for a, b in REWRITES])
    result = {
        "floor": args.floor,
        "different_pairs": {"n": int(different.size), "mean": round(float(different.mean()), 3),
                            "p99": round(float(np.percentile(different, 99)), 3), "max": round(float(different.max()), 3),
                            "kept_fraction": round(float((different >= args.floor).mean()), 5)},
        "faithful_rewrites": {"n": int(same.size), "min": round(float(same.min()), 3), "mean": round(float(same.mean()), 3),
                              "kept_fraction": round(float((same >= args.floor).mean()), 3)},
    }
    if args.run:
        rows = [json.loads(line) for name in ("dataset.jsonl", "rejected.jsonl") for line in open(args.run / name, encoding="utf-8")]
        scores = [row.get("row", row).get("meaning_similarity") for row in rows]  # a rejected row is under "row"
        scores = np.array([s for s in scores if s is not None])
        result["run"] = {"n": int(scores.size), "min": round(float(scores.min()), 3), "median": round(float(np.median(scores)), 3),
                         "kept_fraction": round(float((scores >= args.floor).mean()), 3)}
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "results" / "meaning_floor.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
