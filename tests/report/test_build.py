"""Metrics collected from a run directory, with and without the optional files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from synthloom.cli import main
from synthloom.errors import ConfigError
from synthloom.report import ReportOptions, build_metrics, load_run, render_html
from synthloom.report.plots import PLOTS, render_plots

from .conftest import SCRIPT


def test_metrics_from_a_full_run_dir(run_dir: Path, embedder):
    m = build_metrics(load_run(run_dir), ReportOptions(price_in=1.0, price_out=2.0), embedder=embedder)
    assert (m["kept"], m["rejected"], m["text_field"]) == (6, 3, "story")  # the transient failure is not a drop
    assert m["drops"]["by_step_reason"] == {"length: too_short": 1, "judge: low_score": 1, "dedup: near_duplicate": 1}
    assert m["drops"]["transient"] == 1 and m["drops"]["dropped"]["dropped_low_score"] == 1
    assert m["diversity"]["n"] == 6 and 0 < m["diversity"]["distinct_1"] <= 1
    assert m["coverage"]["verb"]["used"] == 6 and m["coverage"]["verb"]["fraction"] == pytest.approx(0.15)
    assert m["coverage"]["features"]["counts"] == {"moral": 3, "dialogue": 3, "twist": 3}
    assert set(m["labels"]) == {"mood", "features"}  # lists of ≤ 12 values
    assert m["scores"]["quality"]["kept"] == {3: 2, 4: 2, 5: 2} and m["scores"]["quality"]["rejected"] == {1: 1}
    assert m["usage"]["totals"]["prompt_tokens"] == 6 * 170
    assert m["usage"]["totals"]["cost"] == pytest.approx((6 * 170 * 1.0 + (6 * 48 + 15) * 2.0) / 1e6)
    assert m["usage"]["this_run_cost"] == pytest.approx((1500 + 1000) / 1e6)
    assert m["constraints"]["uses_words"]["after"]["all"] == 1.0 and m["dedup"]["dedup"]["clusters"] == 6
    json.dumps(m)  # metrics.json must serialise


def test_every_plot_is_drawn_for_a_full_run_dir(run_dir: Path, embedder):
    m = build_metrics(load_run(run_dir), embedder=embedder)
    plots = render_plots(m)
    assert [p["key"] for p in plots] == list(PLOTS)
    assert all(p.get("svg", "").startswith("<svg") for p in plots), [p.get("note") for p in plots]
    assert all("<?xml" not in p["svg"] for p in plots)
    assert SCRIPT not in "".join(p["svg"] for p in plots)  # the mood label is in a plot, escaped
    assert "&lt;script&gt;" in next(p["svg"] for p in plots if p["key"] == "labels")
    assert "cluster size" in next(p["svg"] for p in plots if p["key"] == "dedup")


def test_a_bare_run_dir_leaves_absent_plots_out_with_a_note(tmp_path: Path, embedder):
    (tmp_path / "dataset.jsonl").write_text('{"id": "a", "text": "one two three"}\n{"id": "b", "text": "four five"}\n')
    run = load_run(tmp_path)
    m = build_metrics(run, embedder=embedder)
    assert m["text_field"] == "text" and m["rejected"] == 0 and m["usage"]["records"] == 0
    drawn = {p["key"]: p for p in render_plots(m)}
    assert set(k for k, p in drawn.items() if "svg" in p) == {"lengths"}
    page = render_html(run, m)
    assert page.count('<figure class="plot"') == 1
    assert "Judge scores: not drawn" in page and "Dedup clusters: not drawn" in page
    assert "No recipe.yaml" in page


def test_schema_and_recipe_fall_back_to_store_sqlite(tmp_path: Path, write_recipe, embedder):
    out = tmp_path / "out"
    assert main(["run", str(write_recipe()), "-n", "12", "--dry-run", "--quiet", "--out", str(out)]) == 0
    (out / "recipe.yaml").unlink(missing_ok=True)
    info = json.loads((out / "run.json").read_text())
    info.pop("schema", None)
    (out / "run.json").write_text(json.dumps(info))
    run = load_run(out)
    assert run.recipe_source.startswith("store.sqlite") and "name: small" in run.recipe_text
    m = build_metrics(run, embedder=embedder)
    assert m["coverage"]["noun"]["size"] == 5 and m["coverage"]["noun"]["used"] == 5  # coverage sampler: all 5 in 12
    assert m["coverage"]["features"]["k"] == 2
    assert m["text_field"] == "story" and set(m["text_fields"]) == {"story", "title"}
    assert m["usage"]["stages"]["story"]["calls"] == 12


def test_bad_jsonl_line_names_the_file_and_line(run_dir: Path):
    with (run_dir / "dataset.jsonl").open("a") as f:
        f.write("{not json\n")
    with pytest.raises(ConfigError, match=r"dataset\.jsonl:7: not valid JSON"):
        load_run(run_dir)


def test_missing_dataset_and_unknown_field(run_dir: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="unknown_field"):
        build_metrics(load_run(run_dir), ReportOptions(field="unknown_field"))
    shutil.rmtree(tmp_path / "empty", ignore_errors=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no dataset.jsonl"):
        load_run(tmp_path / "empty")


def test_a_non_text_field_is_refused(run_dir: Path):
    with pytest.raises(ConfigError, match="--field features: not a text field"):
        build_metrics(load_run(run_dir), ReportOptions(field="features"))


def test_malformed_curation_stats_give_a_note_not_a_crash(run_dir: Path, embedder):
    info = json.loads((run_dir / "run.json").read_text())
    info["curation"]["constraints"]["uses_words"]["before"] = {"all": "lots"}
    (run_dir / "run.json").write_text(json.dumps(info))
    plots = {p["key"]: p for p in render_plots(build_metrics(load_run(run_dir), embedder=embedder))}
    assert "could not draw it" in plots["adherence"]["note"] and "svg" in plots["scores"]
    assert main(["report", str(run_dir)]) == 0
