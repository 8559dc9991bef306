"""Concurrent use of run directories: two runs racing for one directory, readers (`synthloom
export`, `synthloom report`) on a directory a run is writing, runs in different directories at
once, processes creating one store at the same moment, and an export that meets two generations
of a run's files (as it can while a re-run renames its files into place)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthloom.store import MIGRATIONS, Store
from tests.conftest import SMALL_RECIPE, SYNTHLOOM, run_cli

RECIPE = SMALL_RECIPE + "backend: {kind: fake, options: {latency: 0.01}}\n"
# Slower answers for the races (the same records): the winner holds the lock for seconds, far
# longer than the two processes can drift apart on their way to it.
RACE_RECIPE = SMALL_RECIPE + "backend: {kind: fake, options: {latency: 0.02}}\n"
SMALL, LARGE = 150, 900

# Both processes wait for the same instant, then exec the same command: they import synthloom
# in step and reach the directory's lock within a few milliseconds of each other.
WAIT = """
import time
def wait_until(moment):
    time.sleep(max(0.0, moment - time.time() - 0.01))
    while time.time() < moment:
        pass
"""
AT_THE_SAME_MOMENT = WAIT + """
import os, sys
wait_until(float(sys.argv[1]))
os.execv(sys.argv[2], sys.argv[2:])
"""


def run_args(recipe: Path, n: int, out: Path) -> list[str]:
    return [SYNTHLOOM, "run", str(recipe), "-n", str(n), "--concurrency", "4", "--quiet", "--out", str(out)]


def start_together(*commands: list[str]) -> list[subprocess.Popen]:
    moment = str(time.time() + 1.0)
    return [subprocess.Popen([sys.executable, "-c", AT_THE_SAME_MOMENT, moment, *command],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for command in commands]


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    outputs = [p.communicate(timeout=120) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs)]


def intact(out: Path) -> None:
    db = sqlite3.connect(out / Store.FILENAME)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()


def files(out: Path) -> set[str]:
    return {p.name for p in out.iterdir()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    """The recipe, and uninterrupted runs of SMALL and LARGE records, one at a time."""
    root = tmp_path_factory.mktemp("concurrent")
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")
    for n in (SMALL, LARGE):
        done = subprocess.run(run_args(recipe, n, root / f"clean{n}"), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    return {"recipe": recipe, SMALL: root / f"clean{SMALL}", LARGE: root / f"clean{LARGE}"}


def test_two_runs_racing_for_one_directory_one_runs_the_other_is_refused(clean, tmp_path):
    """Three races: on a new directory (no store yet), on the same one resuming to more records,
    and on another new one. Each time exactly one run works and the other exits 2 at once."""
    recipe = tmp_path / "race.yaml"
    recipe.write_text(RACE_RECIPE, encoding="utf-8")
    races = [(tmp_path / "a", SMALL), (tmp_path / "a", LARGE), (tmp_path / "b", SMALL)]
    outcomes = []
    for out, n in races:
        results = finish(start_together(run_args(recipe, n, out), run_args(recipe, n, out)))
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 2], results
        (_, won, _), (_, lost_out, lost_err) = sorted(results)
        assert "in use by another synthloom run" in lost_err and "Traceback" not in lost_err
        assert lost_out == "", "the refused run printed a summary"
        assert f"{n} kept" in won
        intact(out)
        assert (out / "dataset.jsonl").read_bytes() == (clean[n] / "dataset.jsonl").read_bytes()
        assert files(out) == files(clean[n]), "the refused run left files of its own"
        summary = json.loads((out / "run.json").read_text())
        assert summary["kept"] == n and summary["this_run"]["cache_hits"] == 0
        outcomes.append(lost_err.strip())
    print("\nrefused: " + " | ".join(outcomes))


def test_export_and_report_while_a_run_writes_read_a_consistent_dataset(clean, tmp_path):
    """A run resumes from SMALL to LARGE records; meanwhile `synthloom export` and `synthloom
    report` read the directory again and again. Each either refuses with one line or reads one
    whole generation of the files (the SMALL run's or the LARGE run's); the store stays intact."""
    recipe, out = clean["recipe"], tmp_path / "live"
    assert subprocess.run(run_args(recipe, SMALL, out), capture_output=True).returncode == 0
    export = ["export", out, "--format", "sft", "--response-field", "story", "--to"]
    assert run_cli(*export, tmp_path / "before.jsonl").returncode == 0

    writer = subprocess.Popen(run_args(recipe, LARGE, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    report = subprocess.Popen([SYNTHLOOM, "report", str(out), "--sample", "20", "--show", "5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    exports = []
    try:
        while writer.poll() is None:
            target = tmp_path / f"during{len(exports)}.jsonl"
            exports.append((target, run_cli(*export, target)))
    finally:
        _, err = writer.communicate(timeout=120)
        report.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert run_cli(*export, tmp_path / "after.jsonl").returncode == 0

    intact(out)
    assert (out / "dataset.jsonl").read_bytes() == (clean[LARGE] / "dataset.jsonl").read_bytes()
    generations = {(tmp_path / name).read_bytes() for name in ("before.jsonl", "after.jsonl")}
    assert len(generations) == 2
    read = 0
    for target, done in exports:
        if done.returncode == 2:  # a refusal is one line, never a traceback
            assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
            continue
        assert done.returncode == 0, done.stderr
        assert target.read_bytes() in generations, "an export mixed two generations of the run's files"
        read += 1
    assert report.returncode == 0, report.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kept"] in (SMALL, LARGE)
    print(f"\nwhile the run wrote: {len(exports)} exports ({read} read a whole generation, {len(exports) - read} "
          f"refused); a report of {metrics['kept']} records")
    assert read >= 2, "the exports did not overlap the run"


def test_runs_in_different_directories_at_once_both_succeed(clean, tmp_path):
    recipe = clean["recipe"]
    results = finish(start_together(run_args(recipe, SMALL, tmp_path / "one"), run_args(recipe, SMALL, tmp_path / "two")))
    assert [code for code, _, _ in results] == [0, 0], results
    for name in ("one", "two"):
        intact(tmp_path / name)
        assert (tmp_path / name / "dataset.jsonl").read_bytes() == (clean[SMALL] / "dataset.jsonl").read_bytes()


OPENER = WAIT + """
import sys
from synthloom.store import Store
print("ready", flush=True)
for line in sys.stdin:
    path, moment = line.split()
    wait_until(float(moment))
    try:
        Store(path).close()
        print("opened", flush=True)
    except Exception as exc:
        print("failed:", exc, flush=True)
"""


def test_processes_creating_one_store_at_once_all_open_it(tmp_path):
    """Store() on a new file from three processes at the same moment, 20 times: the schema is
    created once (it used to be created twice: 'table meta already exists', and the second
    process was told the store was unusable)."""
    procs = [subprocess.Popen([sys.executable, "-c", OPENER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for _ in range(3)]
    failures = []
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 3
        for attempt in range(20):
            path, moment = tmp_path / f"store{attempt}.sqlite", time.time() + 0.05
            for p in procs:
                p.stdin.write(f"{path} {moment}\n")
                p.stdin.flush()
            failures += [answer for answer in (p.stdout.readline().strip() for p in procs) if answer != "opened"]
            db = sqlite3.connect(path)
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
            db.close()
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(timeout=30)
    assert not failures, failures


@pytest.mark.parametrize("mix", ["new_dataset_old_lineage", "old_dataset_new_lineage"])
def test_an_export_that_sees_two_generations_of_the_files_refuses_or_pairs_them_right(tmp_path, write_recipe, mix):
    """An export reading while a re-run with a changed recipe renames its files into place can open
    dataset.jsonl of one generation and lineage.jsonl of the other (the records keep their ids).
    It must refuse, or pair every row with the prompt that produced it; not mix them silently."""
    first = write_recipe(SMALL_RECIPE, "first.yaml")
    second = write_recipe(SMALL_RECIPE.replace("Write about {{ noun }}", "Tell a tale of {{ noun }}"), "second.yaml")
    out, saved = tmp_path / "out", {}
    export = ["export", out, "--format", "sft", "--response-field", "story", "--to"]
    for name, recipe in (("old", first), ("new", second)):
        assert run_cli("run", recipe, "-n", 5, "--dry-run", "--quiet", "--out", out).returncode == 0
        assert run_cli(*export, tmp_path / f"{name}.jsonl").returncode == 0
        saved[name] = {f: (out / f).read_bytes() for f in ("dataset.jsonl", "lineage.jsonl")}
    dataset, lineage = ("new", "old") if mix == "new_dataset_old_lineage" else ("old", "new")
    (out / "dataset.jsonl").write_bytes(saved[dataset]["dataset.jsonl"])
    (out / "lineage.jsonl").write_bytes(saved[lineage]["lineage.jsonl"])
    done = run_cli(*export, tmp_path / "mixed.jsonl")
    if done.returncode == 2:
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert not (tmp_path / "mixed.jsonl").exists()
    else:
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "mixed.jsonl").read_bytes() == (tmp_path / f"{dataset}.jsonl").read_bytes(), \
            "rows paired with the prompts of another generation"
