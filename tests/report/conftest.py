"""A hand-written run directory with every kind of report data, and hostile text planted in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# LLM output is untrusted: each of these would set a marker on <body> if the page let it run.
SCRIPT = "<script>document.body.dataset.pwned = 'script'</script>"
IMG = "<img src=x onerror=\"document.body.dataset.pwned = 'img'\">"
STORIES = [
    "Tom saw a red ball in the park. He kicked it high and laughed.",
    "A little fish swam to the bottom of the sea and found a shiny shell.",
    f"The cat said {SCRIPT} and ran away from the dog.",
    "Mia and her mom baked a big cake for grandpa's birthday.",
    f"The bird sang {IMG} on the old tree every morning.",
    "Ben built a tall tower of blocks, and then it fell down with a crash.",
]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def call(stage: str, prompt: int, completion: int) -> dict:
    return {"stage": stage, "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
            "finish_reason": "stop", "cached": False}


def make_run_dir(root: Path) -> Path:
    """A run of 10 records: 6 kept (with a verb, a mood label, features and a judge score), 4 rejected."""
    out = root / "run"
    out.mkdir()
    verbs, moods = ["kick", "swim", "run", "bake", f"sing{SCRIPT}", "build"], ["happy", "sad", "happy", "happy", "sad", SCRIPT]
    rows = [{"id": f"t-{i:06d}", "verb": verbs[i], "mood": moods[i], "features": ["dialogue", "twist"] if i % 2 else ["moral"],
             "story": story, "quality": 3 + i % 3} for i, story in enumerate(STORIES)]
    write_jsonl(out / "dataset.jsonl", rows)
    rejected = [
        {"id": "t-000006", "index": 6, "stage": "length", "reason": "too_short", "detail": "3 words < 10", "transient": False,
         "row": {"id": "t-000006", "verb": "hop", "story": "Hop hop hop."}},
        {"id": "t-000007", "index": 7, "stage": "judge", "reason": "low_score", "detail": f"quality = 1 {SCRIPT}",
         "transient": False, "row": {"id": "t-000007", "verb": "eat", "story": f"Bad story {IMG}", "quality": 1}},
        {"id": "t-000008", "index": 8, "stage": "dedup", "reason": "near_duplicate", "detail": "of t-000000",
         "transient": False, "row": {"id": "t-000008", "verb": "kick", "story": STORIES[0]}},
        {"id": "t-000009", "index": 9, "stage": "story", "reason": "timeout", "detail": "120 s", "transient": True,
         "row": {"id": "t-000009", "verb": "nap"}},
    ]
    write_jsonl(out / "rejected.jsonl", rejected)
    write_jsonl(out / "lineage.jsonl", [{"id": r["id"], "row": r, "calls": [call("story", 50, 40 + i), call("judge", 120, 8)]}
                                        for i, r in enumerate(rows)])
    run = {
        "recipe": "fixture", "n": 10, "kept": 6, "rejected": 4, "backend": {"kind": "fake", "model": None},
        "this_run": {"records": 10, "requests_sent": 24, "prompt_tokens": 1500, "completion_tokens": 500,
                     "failure_reasons": {"too_short": 1}},
        "schema": {"slots": {"verb": {"list": "verbs", "size": 40, "k": 1}, "mood": {"list": "moods", "size": 3, "k": 1},
                             "features": {"list": "features", "size": 4, "k": 2}},
                   "stages": [{"name": "story", "kind": "generate", "outputs": ["story"], "section": "stages"}],
                   "text_fields": ["story"], "score_fields": {"quality": [1, 5]}},
        "curation": {"dropped": {"dropped_too_short": 1, "dropped_low_score": 1},
                     "constraints": {"uses_words": {"records": 8, "kept": 6, "before": {"all": 0.25, "items": 0.58},
                                                    "after": {"all": 1.0, "items": 1.0}, "generation_requests": 14,
                                                    "requests_per_record": 1.75}},
                     "dedup": {"dedup": {"method": "minhash", "threshold": 0.8, "checked": 7, "dropped": 1, "clusters": 6,
                                         "cluster_sizes": {"1": 5, "2": 1}}}},
    }
    (out / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    (out / "recipe.yaml").write_text(f"name: fixture\n# {SCRIPT}\nstages: []\n", encoding="utf-8")
    return out


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run_dir(tmp_path)
