"""`synthloom report` through its entry point: files written, headline printed, bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthloom.cli import main

from ..conftest import run_cli


def test_report_writes_both_files_and_prints_the_headline(run_dir: Path, capsys):
    assert main(["report", str(run_dir), "--price-in", "0.15", "--price-out", "0.6", "--sample", "5"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["diversity"]["sample"] == 5 and metrics["usage"]["price_in"] == 0.15
    page = (run_dir / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count('<figure class="plot"') == 8
    assert f"{metrics['diversity']['distinct_1']:.3f}" in out
    for expected in ("6 kept, 3 rejected", "distinct-1/2/3", "self-BLEU", "verb 6/40 (15%)", "all 25% → 100%",
                     "minhash ≥ 0.8: 1 of 7 dropped", "cost", "wrote "):
        assert expected in out, expected
    assert len(out.splitlines()) < 25


def test_out_and_field_options(run_dir: Path, tmp_path: Path, capsys):
    target = tmp_path / "elsewhere.html"
    assert main(["report", str(run_dir), "--out", str(target), "--field", "verb", "--show", "2"]) == 0
    metrics = json.loads((tmp_path / "elsewhere.json").read_text())
    assert metrics["text_field"] == "verb" and metrics["diversity"]["n"] == 6
    page = target.read_text()
    assert page.count('<details class="kept"') == 2 and page.count('<details class="rejected"') == 2
    assert not (run_dir / "report.html").exists()


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "not a run directory"),
    (["{empty}"], "no dataset.jsonl"),
    (["{run}", "--field", "nope"], "--field nope"),
    (["{run}", "--price-in", "1"], "--price-in and --price-out go together"),
    (["{run}", "--sample", "1"], "--sample 1"),
    (["{run}", "--out", "{missing}/r.html"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(run_dir: Path, tmp_path: Path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "run": run_dir}
    assert main(["report", *(a.format(**paths) for a in args)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_jsonl_through_the_installed_command(run_dir: Path):
    (run_dir / "rejected.jsonl").write_text('{"id": "x"}\n[1, 2]\n')
    result = run_cli("report", run_dir, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == f"synthloom: error: {run_dir / 'rejected.jsonl'}:2: expected a JSON object, got list"


def test_missing_report_extra_is_one_line(run_dir: Path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib":
            raise ImportError("No module named 'matplotlib'", name="matplotlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "synthloom[curate]" in err and "matplotlib" in err and len(err.strip().splitlines()) == 1
    assert not (run_dir / "report.html").exists()
