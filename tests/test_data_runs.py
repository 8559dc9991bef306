"""Runs that start from data, end to end on the fake backend: no -n (one record per row), resume
after kill -9 equal to an uninterrupted run, Ray shards equal to a local run, and the Python
API's data= with every accepted type."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import synthloom
from synthloom.cli import main
from tests.conftest import SYNTHLOOM, run_cli

N = 400
RECIPE = """\
name: docs
seed: 9
backend: {kind: fake, options: {latency: LATENCY}}
entities:
  docs: {file: docs.parquet, where: "keep == true", columns: [id, title, text]}
  styles: [formal, casual, terse]
slots:
  doc: {from: docs, sampler: each}
  style: styles
stages:
  - name: question
    prompt: "A {{ style }} question answered by {{ doc.title }}: {{ doc.text }}"
    params: {max_tokens: 16}
  - name: answer
    prompt: "Answer: {{ question }}"
    params: {max_tokens: 8}
"""


def write_docs(tmp_path, n=N + 20, latency=0.0):
    rows = [{"id": f"d{i}", "title": f"Doc {i}", "text": f"Paragraph one of {i}.\n\nParagraph two of {i}.",
             "keep": i % 21 != 20} for i in range(n)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "docs.parquet", row_group_size=100)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("LATENCY", str(latency)), encoding="utf-8")
    return recipe, [r for r in rows if r["keep"]]


def stored(out, table):
    try:
        return sqlite3.connect(out / "store.sqlite").execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_no_n_makes_one_record_per_selected_row(tmp_path):
    recipe, kept = write_docs(tmp_path, 63)
    assert main(["run", str(recipe), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "o" / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == len(kept) == 60
    assert [r["doc"] for r in rows] == [{k: d[k] for k in ("id", "title", "text")} for d in kept]
    assert [r["source_row"] for r in rows] == [int(d["id"][1:]) for d in kept]  # the row in the file, before where
    assert (tmp_path / "o" / "data").is_dir()  # the converted table is kept with the run


def test_kill_9_then_rerun_equals_an_uninterrupted_run(tmp_path):
    recipe, kept = write_docs(tmp_path, latency=0.01)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen([SYNTHLOOM, "run", str(recipe), "--concurrency", "4", "--quiet", "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while stored(killed, "records") < N // 4 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    at_kill = stored(killed, "responses")
    assert 0 < stored(killed, "records") < len(kept)
    assert run_cli("run", recipe, "--concurrency", "4", "--quiet", "--out", killed).returncode == 0
    summary = json.loads((killed / "run.json").read_text())
    assert summary["kept"] == len(kept) == N
    assert summary["this_run"]["requests_sent"] == 2 * N - at_kill
    assert run_cli("run", recipe, "--concurrency", "3", "--quiet", "--out", clean).returncode == 0
    assert (killed / "dataset.jsonl").read_text() == (clean / "dataset.jsonl").read_text()


def test_ray_shards_equal_a_local_run(tmp_path):
    pytest.importorskip("ray")
    recipe, kept = write_docs(tmp_path, 84)
    assert main(["run", str(recipe), "--out", str(tmp_path / "local"), "--quiet"]) == 0
    assert main(["run", str(recipe), "--out", str(tmp_path / "ray"), "--quiet", "--executor", "ray", "--ray-workers", "2"]) == 0
    local, distributed = ((tmp_path / d / "dataset.jsonl").read_text() for d in ("local", "ray"))
    assert local == distributed and len(local.splitlines()) == len(kept) == 80


ROWS = [{"id": i, "text": f"ticket {i}", "label": ["billing", "shipping"][i % 2]} for i in range(7)]
API_RECIPE = """\
name: api
backend: {kind: fake}
entities:
  tickets: {file: not_used.jsonl, where: "label == 'billing'"}
slots:
  ticket: {from: tickets, sampler: each}
stages:
  - name: reply
    prompt: "Reply to: {{ ticket.text }}"
    params: {max_tokens: 12}
"""


def frames():
    import datasets
    import pandas as pd
    import polars as pl

    return {"list": ROWS, "pandas": pd.DataFrame(ROWS), "polars": pl.DataFrame(ROWS),
            "arrow": pa.Table.from_pylist(ROWS), "datasets": datasets.Dataset.from_list(ROWS)}


@pytest.mark.parametrize("kind", ["list", "pandas", "polars", "arrow", "datasets"])
def test_python_api_data_of_every_type(tmp_path, kind):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(API_RECIPE, encoding="utf-8")
    result = synthloom.run(str(recipe), out=tmp_path / "o", data={"tickets": frames()[kind]})
    billing = [r for r in ROWS if r["label"] == "billing"]
    assert result.kept == len(billing) == 4  # no n: one record per selected row
    df = result.to_pandas()
    assert list(df["source_id"]) == [r["id"] for r in billing]
    assert [t["text"] for t in df["ticket"]] == [r["text"] for r in billing]
    ds = result.to_datasets()
    assert ds.num_rows == 4 and ds[0]["ticket"]["label"] == "billing" and ds[0]["reply"].startswith("[fake")


def test_python_api_data_changes_rebuild_and_bad_data_is_one_error(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(API_RECIPE, encoding="utf-8")
    first = synthloom.run(str(recipe), out=tmp_path / "o", data={"tickets": ROWS})
    again = synthloom.run(str(recipe), out=tmp_path / "o", data={"tickets": list(ROWS)})
    assert not again.recipe_changed and again.stats.requests == 0
    changed = synthloom.run(str(recipe), out=tmp_path / "o", data={"tickets": ROWS + [{"id": 8, "text": "new", "label": "billing"}]})
    assert changed.recipe_changed and changed.kept == 5 and changed.stats.requests == 1 and first.kept == 4
    with pytest.raises(synthloom.errors.RecipeError, match="data='tikets', which is not an entity list|'tikets'"):
        synthloom.run(str(recipe), out=tmp_path / "p", data={"tikets": ROWS})
    with pytest.raises(synthloom.errors.RecipeError, match="row 2 is a list whose item 1|item 1 is a str"):
        synthloom.run(str(recipe), out=tmp_path / "p", data={"tickets": [ROWS[0], "oops"]})
    with pytest.raises(synthloom.errors.ConfigError, match="-n 9 is more than the 4 records"):
        synthloom.run(str(recipe), 9, tmp_path / "p", data={"tickets": ROWS})


KEYWORDS = {"billing": ("charg", "refund", "invoice", "pay", "price", "bill", "fee", "discount", "coupon"),
            "shipping": ("deliver", "parcel", "package", "courier", "tracking", "ship", "box", "arriv", "order"),
            "technical": ("app", "crash", "error", "website", "firmware", "sync", "load", "bluetooth", "wifi"),
            "account": ("account", "email", "profile", "password", "data", "login", "name", "user")}


def keyword_label(text: str) -> str:
    """A stand-in annotator: the first label whose keyword the text has (account when none)."""
    lowered = text.lower()
    return next((label for label, words in KEYWORDS.items() if any(w in lowered for w in words)), "account")


def test_annotate_then_train_and_evaluate_on_the_human_labelled_subset(tmp_path, capsys):
    """The shipped annotate recipe, answered by a keyword annotator, then the CLI's train and evaluate."""
    from synthloom.backends.fake import FakeBackend
    from synthloom.runner import RunOptions

    tickets = [json.loads(line) for line in open("data/tickets/tickets.jsonl", encoding="utf-8")]
    answers = [json.dumps({"label": keyword_label(t["text"])}) for t in tickets]
    result = synthloom.run("recipes/annotate.yaml", out=tmp_path / "run", backend=FakeBackend(replies=answers),
                           options=RunOptions(sequential=True))
    assert result.kept == len(tickets) == 77
    df = result.to_pandas()
    assert list(df["source_id"]) == [t["id"] for t in tickets]
    assert [a["label"] for a in df["annotation"]] == [json.loads(a)["label"] for a in answers]
    model = tmp_path / "model"
    assert main(["train", str(tmp_path / "run"), "--text-field", "ticket.text", "--label-field", "annotation.label",
                 "--out", str(model)]) == 0
    assert main(["evaluate", str(model), "--data", "data/tickets/gold.csv", "--text-field", "text", "--label-field", "label"]) == 0
    scores = json.loads((model / "eval.json").read_text())
    assert scores["n"] == 60 and scores["accuracy"] > 0.4  # four classes: chance is about 0.25


def test_conversions_live_in_the_run_directory_and_a_recipe_error_leaves_nothing(tmp_path):
    recipe, _ = write_docs(tmp_path, 42)
    broken = tmp_path / "broken.yaml"
    broken.write_text(recipe.read_text().replace("{{ question }}", "{{ questoin }}"), encoding="utf-8")
    assert main(["run", str(broken), "--out", str(tmp_path / "never"), "--quiet"]) == 2
    assert not (tmp_path / "never").exists()  # the file was converted, but not into the run directory
    assert main(["run", str(recipe), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    [arrow] = (tmp_path / "o" / "data").glob("*.arrow")
    made = arrow.stat().st_mtime_ns
    assert main(["run", str(recipe), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert arrow.stat().st_mtime_ns == made  # reused, not converted again
