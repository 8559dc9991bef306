"""The seeds' diversity experiment: one fixed story prompt vs the TinyStories recipe's sampled
words and features, same model, same temperature and sampling params, same number of stories.

    python benchmarks/experiment_diversity.py [-n 40] [--backend embedded|openai ...]

Both arms are built from recipes/tinystories.yaml, without its curation (this measures what
prompt randomness alone does): (a) replaces the prompt by the fixed one and drops the slots,
(b) is the recipe as written. Writes benchmarks/results/diversity.json and prints a Markdown
table for the README. Runs go to runs/experiment-diversity/ and resume like any run.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from synthloom import api  # noqa: E402
from synthloom.api import resolve_backend_spec  # noqa: E402
from synthloom.metrics.diversity import diversity_metrics  # noqa: E402
from synthloom.recipe import load_recipe  # noqa: E402

FIXED_PROMPT = ("Write a short story (3-5 paragraphs) which only uses very simple words that a 3 year old child "
                "would likely understand. Remember to only use simple words!")
METRICS = [("distinct_1", "distinct-1", "higher"), ("distinct_2", "distinct-2", "higher"), ("distinct_3", "distinct-3", "higher"),
           ("self_bleu", "self-BLEU", "lower"), ("compression_ratio", "compression ratio", "higher"),
           ("embedding_similarity", "mean pairwise embedding cosine", "lower"), ("semantic_clusters", "semantic clusters (cos ≥ 0.9)", "higher"),
           ("mean_words", "mean words per story", "")]


def arms(recipe):
    sampled = recipe.model_copy(update={"curate": [], "name": "diversity_sampled"})
    story = recipe.stages[0].model_copy(update={"prompt": FIXED_PROMPT})
    story.__pydantic_extra__ = {**(story.__pydantic_extra__ or {}), "prompt": FIXED_PROMPT}
    fixed = recipe.model_copy(update={"curate": [], "slots": {}, "entities": {}, "stages": [story], "name": "diversity_fixed"})
    return {"fixed": fixed, "sampled": sampled}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=40)
    parser.add_argument("--backend", dest="kind")
    parser.add_argument("--model")
    parser.add_argument("--base-url")
    parser.add_argument("--match-words", type=int, default=120,
                        help="also measure on each story's first N words: distinct-n falls with text length, so "
                             "arms whose stories differ in length are compared on equal lengths too")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "experiment-diversity")
    args = parser.parse_args()
    recipe = load_recipe(ROOT / "recipes" / "tinystories.yaml")
    spec = resolve_backend_spec(recipe, kind=args.kind, model=args.model, base_url=args.base_url)
    results = {}
    for name, arm in arms(recipe).items():
        result = api.run(arm, args.n, args.out / name, backend=spec)
        rows = [json.loads(line) for line in result.dataset.read_text(encoding="utf-8").splitlines()]
        texts = [row["story"] for row in rows]
        results[name] = diversity_metrics(texts, sample=len(texts))
        cut = [" ".join(text.split()[:args.match_words]) for text in texts]
        results[f"{name}_first_{args.match_words}_words"] = diversity_metrics(cut, sample=len(cut))
        print(f"{name}: {len(texts)} stories", file=sys.stderr)
    model = spec.model or "SmolLM2-135M-Instruct Q4_1 (embedded)"
    report = {"n": args.n, "model": model, "backend": spec.kind, "params": recipe.params.model_dump(exclude_defaults=True),
              "python": platform.python_version(), "fixed_prompt": FIXED_PROMPT, "results": results}
    out = ROOT / "benchmarks" / "results" / "diversity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(results, args.n, model))
    print(f"\nOn each story's first {args.match_words} words:\n")
    suffix = f"_first_{args.match_words}_words"
    print(table({"fixed": results["fixed" + suffix], "sampled": results["sampled" + suffix]}, args.n, model))
    return 0


def table(results: dict, n: int, model: str) -> str:
    lines = [f"{n} stories per arm, {model}, same params (temperature 1.0, top_p 0.95, frequency_penalty 0.3)", "",
             "| metric | better | (a) one fixed prompt | (b) sampled words + features | (b)/(a) |", "|---|---|---|---|---|"]
    for key, label, better in METRICS:
        a, b = results["fixed"].get(key), results["sampled"].get(key)
        ratio = f"{b / a:.2f}x" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a else "-"
        lines.append(f"| {label} | {better} | {fmt(a)} | {fmt(b)} | {ratio} |")
    return "\n".join(lines)


def fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    raise SystemExit(main())
