"""Constraint verification on TinyStories: adherence before/after regeneration, and its cost.

    python benchmarks/experiment_constraints.py [-n 30] [--tries 4] [--feedback note follow_up none]

Runs recipes/tinystories.yaml (its `uses_words` check: the sampled verb, noun and adjective in
any inflected form, quoted speech when a dialogue was asked for) with `tries` generations
allowed, once per feedback mode, without the other curation steps. Because a record's k-th
generation does not depend on how many are allowed, one run with `tries: 4` also tells what
`tries: 1..3` would give: for each k, the share of records kept and the generation requests per
record (1.0 = an unchecked run). Writes benchmarks/results/constraints.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from synthloom import api  # noqa: E402
from synthloom.api import resolve_backend_spec  # noqa: E402
from synthloom.curate.verify.constraints import uses_word  # noqa: E402
from synthloom.recipe import load_recipe  # noqa: E402


def variant(recipe, tries: int, feedback: str):
    check = next(step for step in recipe.curate if step.kind == "constraints")
    extra = {**check.__pydantic_extra__, "tries": tries, "feedback": feedback}
    step = check.model_copy(update=extra)
    step.__pydantic_extra__ = extra
    return recipe.model_copy(update={"curate": [step], "name": f"constraints_{feedback}"})


def infos(out: Path, name: str) -> list[dict]:
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    rows += [json.loads(line)["row"] for line in (out / "rejected.jsonl").read_text().splitlines()]
    return [row | {"_info": row[name]} for row in rows if isinstance(row.get(name), dict)]


def by_tries(rows: list[dict], tries: int) -> list[dict]:
    """For k = 1..tries: share kept, requests per record, and the words-only figure."""
    n = len(rows)
    table = []
    for k in range(1, tries + 1):
        kept = [r for r in rows if not r["_info"]["missing"] and r["_info"]["tries"] <= k]
        requests = sum(min(r["_info"]["tries"], k) for r in rows)
        table.append({"tries": k, "kept": round(len(kept) / n, 4), "requests_per_record": round(requests / n, 4)})
    return table


def words_used(rows: list[dict]) -> dict:
    """On the first generations (kept rows keep only the last): the share of the three words used."""
    first = [r for r in rows if r["_info"]["tries"] == 1]
    hits = sum(uses_word(r["story"], r[slot]) for r in first for slot in ("verb", "noun", "adjective"))
    return {"first_try_rows": len(first), "word_share": round(hits / (3 * len(first)), 4) if first else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--tries", type=int, default=4)
    parser.add_argument("--feedback", nargs="+", default=["note", "follow_up", "none"])
    parser.add_argument("--backend", dest="kind")
    parser.add_argument("--model")
    parser.add_argument("--base-url")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "experiment-constraints")
    args = parser.parse_args()
    recipe = load_recipe(ROOT / "recipes" / "tinystories.yaml")
    spec = resolve_backend_spec(recipe, kind=args.kind, model=args.model, base_url=args.base_url)
    results = {}
    for mode in args.feedback:
        out = args.out / mode
        result = api.run(variant(recipe, args.tries, mode), args.n, out, backend=spec)
        rows = infos(out, "uses_words")
        results[mode] = {"adherence": result.curation["constraints"]["uses_words"], "by_tries": by_tries(rows, args.tries)}
        print(f"{mode}: {json.dumps(results[mode]['adherence'])}", file=sys.stderr)
    report = {"n": args.n, "tries": args.tries, "model": spec.model or "SmolLM2-135M-Instruct Q4_1 (embedded)", "results": results}
    path = ROOT / "benchmarks" / "results" / "constraints.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print("| feedback | first try: all asked-for items | items | " + " | ".join(
        f"kept @ tries={k} (requests/record)" for k in range(1, args.tries + 1)) + " |")
    print("|---" * (3 + args.tries) + "|")
    for mode, r in results.items():
        a = r["adherence"]
        cells = " | ".join(f"{t['kept']:.0%} ({t['requests_per_record']:.2f}x)" for t in r["by_tries"])
        print(f"| {mode} | {a['before']['all']:.0%} | {a['before']['items']:.0%} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
