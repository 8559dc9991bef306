"""Recipes that start from data: each/per_row, stratified few-shot, columns carried, the
fingerprint following the file, cache reuse when rows move, and bad data as one-line errors."""

from __future__ import annotations

import json

import pytest

from synthloom.cli import main

TICKETS = [{"id": f"t{i}", "text": f"ticket number {i} about {topic}", "label": topic}
           for i, topic in enumerate(["billing", "shipping", "technical", "account", "billing", "shipping"])]

RECIPE = """\
name: tix
seed: 5
entities:
  tickets: {file: tickets.jsonl}
  shots: {file: shots.csv, where: "label != ''"}
slots:
  ticket: {from: tickets, sampler: each}
  examples: {from: shots, k: 1, stratify: label}
stages:
  - name: reply
    prompt: |-
      {% for e in examples %}Ticket: {{ e.text }} -> {{ e.label }}
      {% endfor %}Ticket: {{ ticket.text }}
    params: {max_tokens: 64}
"""


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "tickets.jsonl").write_text("".join(json.dumps(t) + "\n" for t in TICKETS), encoding="utf-8")
    (tmp_path / "shots.csv").write_text("text,label\nbilled twice,billing\nlate box,shipping\nno label,\n"
                                        "app crash,technical\ndouble charge,billing\n", encoding="utf-8")
    (tmp_path / "r.yaml").write_text(RECIPE, encoding="utf-8")
    return tmp_path


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def run(workdir, out="o", *extra):
    return main(["run", str(workdir / "r.yaml"), "--out", str(workdir / out), "--dry-run", "--quiet", *extra])


def test_records_are_rows_with_columns_carried(workdir):
    assert run(workdir, "o", "-n", "6") == 0
    out = rows(workdir / "o" / "dataset.jsonl")
    assert [r["ticket"] for r in out] == TICKETS
    assert [r["source_row"] for r in out] == list(range(6)) and [r["source_id"] for r in out] == [t["id"] for t in TICKETS]
    for r in out:  # one example per label, never the unlabelled row
        assert sorted(e["label"] for e in r["examples"]) == ["billing", "shipping", "technical"]
        assert r["ticket"]["text"] in r["reply"]


def test_past_the_last_row_is_refused(workdir, capsys):
    assert run(workdir, "o", "-n", "7") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "6 rows" in err and "-n 7" in err


def test_per_row(workdir):
    text = (workdir / "r.yaml").read_text().replace("sampler: each}", "sampler: each, per_row: 2}")
    (workdir / "r.yaml").write_text(text)
    assert run(workdir, "o", "-n", "12") == 0
    out = rows(workdir / "o" / "dataset.jsonl")
    assert [r["source_id"] for r in out] == [t["id"] for t in TICKETS for _ in range(2)]
    assert out[0]["reply"] != out[1]["reply"]  # two records of one row get their own seeds


def test_changed_file_rebuilds_records_and_reuses_what_still_applies(workdir, capsys):
    assert run(workdir, "o", "-n", "6") == 0
    before = {r["source_id"]: r["reply"] for r in rows(workdir / "o" / "dataset.jsonl")}
    changed = [dict(t, text=t["text"] + " (edited)") if t["id"] == "t3" else t for t in TICKETS[1:]]  # t0 deleted, t3 edited
    (workdir / "tickets.jsonl").write_text("".join(json.dumps(t) + "\n" for t in changed), encoding="utf-8")
    assert run(workdir, "o", "-n", "5") == 0
    assert "recipe changed" in capsys.readouterr().err
    summary = json.loads((workdir / "o" / "run.json").read_text())
    assert summary["this_run"]["requests_sent"] == 1 and summary["this_run"]["cache_hits"] == 4
    after = {r["source_id"]: r["reply"] for r in rows(workdir / "o" / "dataset.jsonl")}
    assert all(after[k] == before[k] for k in after if k != "t3") and after["t3"] != before["t3"]


def test_unchanged_file_touched_keeps_records(workdir, capsys):
    import os

    assert run(workdir, "o", "-n", "6") == 0
    st = (workdir / "tickets.jsonl").stat()
    os.utime(workdir / "tickets.jsonl", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert run(workdir, "o", "-n", "6") == 0
    assert "recipe changed" not in capsys.readouterr().err


BAD_RECIPES = {
    "unknown_column": (("{{ ticket.text }}", "{{ ticket.txt }}"),
                       "stages[0].prompt: no column txt in tickets.jsonl; columns: id, text, label (did you mean 'text'?)"),
    "unknown_column_in_loop": (("{{ e.text }}", "{{ e.body }}"), "no column body in shots.csv; columns: text, label"),
    "missing_file": (("tickets.jsonl}", "nowhere.jsonl}"), "entities.tickets.file: file not found"),
    "unknown_where_column": (("label != ''", "lable != ''"), "no column lable in shots.csv; columns: text, label (where)"),
    "bad_where": (("label != ''", "label !="), "shots.csv: where: expected a value"),
    "stratify_unknown": (("stratify: label", "stratify: kind"), "slots.examples: stratify: no column kind"),
    "stratify_too_few": (("k: 1, stratify", "k: 2, stratify"), "label 'shipping' has 1 row(s), fewer than k=2"),
    "each_with_k": (("sampler: each}", "sampler: each, k: 2}"), "sampler each gives one row per record"),
    "two_each": (("k: 1, stratify: label}", "sampler: each}"), "only one slot can walk rows"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECIPES))
def test_bad_data_recipe_is_one_line_exit_2(workdir, capsys, case):
    (old, new), expected = BAD_RECIPES[case]
    text = RECIPE.replace(old, new)
    assert text != RECIPE
    (workdir / "r.yaml").write_text(text)
    assert main(["validate", str(workdir / "r.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("synthloom: error: ") and expected in err, err
    assert run(workdir, "o", "-n", "2") == 2
    assert not (workdir / "o" / "dataset.jsonl").exists()


def test_bad_data_file_through_the_entry_point(workdir):
    from tests.conftest import run_cli

    (workdir / "tickets.jsonl").write_text('{"id": 1, "text": "a", "label": "b"}\n"just text"\n', encoding="utf-8")
    result = run_cli("validate", workdir / "r.yaml")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("synthloom: error: " + str(workdir / "r.yaml") + ":4: entities.tickets.file: "
                                     "tickets.jsonl, line 2 is a JSON str, not an object (each line of a .jsonl file is "
                                     'one row: {"column": value, ...})')


def test_column_as_a_plain_list(workdir):
    text = RECIPE.replace("  shots: {file: shots.csv, where: \"label != ''\"}",
                          "  shots: {file: shots.csv, where: \"label != ''\"}\n  texts: {file: shots.csv, column: text}")
    text = text.replace("  examples: {from: shots, k: 1, stratify: label}", "  phrase: {from: texts, sampler: coverage}")
    text = text.replace("{% for e in examples %}Ticket: {{ e.text }} -> {{ e.label }}\n      {% endfor %}", "{{ phrase }} / ")
    (workdir / "r.yaml").write_text(text)
    assert run(workdir, "o", "-n", "5") == 0
    phrases = [r["phrase"] for r in rows(workdir / "o" / "dataset.jsonl")]
    assert sorted(phrases) == sorted(["billed twice", "late box", "no label", "app crash", "double charge"])


def test_hub_dataset_offline_is_one_line_naming_it(workdir):
    pytest.importorskip("datasets")
    from tests.conftest import run_cli

    (workdir / "r.yaml").write_text(RECIPE.replace("{file: tickets.jsonl}", "{hub: someone/no-such-tickets, split: train}"))
    result = run_cli("validate", workdir / "r.yaml", env={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                                                          "HF_HOME": str(workdir / "hf")})
    err = result.stderr.strip()
    assert result.returncode == 2 and len(err.splitlines()) == 1 and "entities.tickets.hub" in err, err
    assert "cannot load the Hugging Face dataset 'someone/no-such-tickets'" in err


def test_estimate_of_a_data_recipe(workdir, capsys):
    assert main(["estimate", str(workdir / "r.yaml"), "-n", "6", "--backend", "fake"]) == 0
    assert main(["estimate", str(workdir / "r.yaml"), "-n", "60", "--backend", "fake"]) == 2
    assert "-n 60 is more than the 6 records" in capsys.readouterr().err
