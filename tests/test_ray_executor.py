"""--executor ray on a local Ray cluster started by the test: the same dataset as a local run,
resume after the driver is killed, and one-line errors."""

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from synthloom.cli import main
from tests.conftest import SYNTHLOOM

ray = pytest.importorskip("ray")

SLOW = """\
name: slow
seed: 5
backend: {kind: fake, options: {latency: 0.05}}
entities:
  animals: [cat, dog, owl, fox, bee]
  moods: [happy, sleepy, brave]
slots:
  animal: {from: animals, sampler: coverage}
  mood: moods
stages:
  - name: line
    prompt: "One line about a {{ mood }} {{ animal }}."
    params: {max_tokens: 20}
  - name: title
    prompt: "A title for: {{ line }}"
    params: {max_tokens: 8}
"""


def run_json(out):
    return json.loads((out / "run.json").read_text())


def responses(path: Path) -> int:
    """Responses stored; 0 in a shard store its worker has created but not set up yet."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return 0
    finally:
        db.close()


def test_ray_run_equals_a_local_run_record_for_record(write_recipe, tmp_path):
    ray_environ = {k: v for k, v in os.environ.items() if k.startswith("RAY_")}
    recipe = write_recipe(SLOW.replace("latency: 0.05", "latency: 0.0"))
    assert main(["run", str(recipe), "-n", "60", "--out", str(tmp_path / "local"), "--quiet"]) == 0
    assert main(["run", str(recipe), "-n", "60", "--out", str(tmp_path / "ray"), "--quiet",
                 "--executor", "ray", "--ray-workers", "2"]) == 0
    local, distributed = (tmp_path / d / "dataset.jsonl" for d in ("local", "ray"))
    assert local.read_text() == distributed.read_text() and len(local.read_text().splitlines()) == 60
    # the local cluster's start set RAY_AUTH_MODE=token here; left set, the next run's driver (or a
    # subprocess) would present a token to a cluster without one, and Ray drops its actors unstarted
    assert {k: v for k, v in os.environ.items() if k.startswith("RAY_")} == ray_environ
    summary = run_json(tmp_path / "ray")
    assert summary["this_run"]["executor"] == {"kind": "ray", "address": "local", "workers": 2, "lost_attempts": 0}
    assert summary["this_run"]["requests_sent"] == 120 and summary["kept"] == 60
    assert summary["this_run"]["concurrency"]["configured"] == 16  # 8 slots in each of the 2 workers
    assert not (tmp_path / "ray" / "shards").exists()  # merged into the run's store
    # growing -n on a distributed run resumes like a local one: only the new records are sent
    assert main(["run", str(recipe), "-n", "80", "--out", str(tmp_path / "ray"), "--quiet", "--executor", "ray"]) == 0
    assert run_json(tmp_path / "ray")["this_run"]["requests_sent"] == 40


def test_killed_ray_run_resumes_without_paying_twice(write_recipe, tmp_path):
    recipe, out, n = write_recipe(SLOW), tmp_path / "o", 400
    proc = subprocess.Popen([SYNTHLOOM, "run", str(recipe), "-n", str(n), "--out", str(out), "--quiet",
                             "--executor", "ray", "--concurrency", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out / "store.sqlite").exists() or responses(out / "store.sqlite") < 100:  # mid-run: the writer stores
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(2)  # the local cluster's writer and workers go with their driver
    stored = responses(out / "store.sqlite")
    assert 100 <= stored < 2 * n and not (out / "shards").exists()  # nothing written beside the run's store

    assert main(["run", str(recipe), "-n", str(n), "--out", str(out), "--quiet", "--executor", "ray"]) == 0
    # every stored response reused (workers of the killed run may still store a few after `stored` was read)
    assert 0 < run_json(out)["this_run"]["requests_sent"] <= 2 * n - stored
    assert responses(out / "store.sqlite") == 2 * n
    assert main(["run", str(recipe), "-n", str(n), "--out", str(tmp_path / "ref"), "--quiet"]) == 0
    assert (out / "dataset.jsonl").read_text() == (tmp_path / "ref" / "dataset.jsonl").read_text()


def test_a_local_run_finishes_what_a_killed_ray_run_left(write_recipe, tmp_path):
    """The shards are merged by whichever run comes next, distributed or not."""
    from synthloom.store import ShardStore, Store

    recipe, out = write_recipe(SLOW.replace("latency: 0.05", "latency: 0.0")), tmp_path / "o"
    assert main(["run", str(recipe), "-n", "10", "--out", str(out), "--quiet"]) == 0
    shard = ShardStore(out / "shards" / "000-x" / Store.FILENAME, out / Store.FILENAME)
    shard.db.execute("INSERT INTO responses VALUES ('k', '{}', '{\"text\": \"t\"}', 0)")
    shard.close()
    assert main(["run", str(recipe), "-n", "10", "--out", str(out), "--quiet"]) == 0
    assert responses(out / "store.sqlite") == 21 and not (out / "shards").exists()


def test_ray_settings_errors_are_one_line(write_recipe, tmp_path, capsys):
    recipe = write_recipe(SLOW)
    assert main(["run", str(recipe), "--out", str(tmp_path / "o"), "--ray-workers", "2"]) == 2
    assert main(["run", str(recipe), "--out", str(tmp_path / "o"), "--executor", "ray", "--ray-workers", "0"]) == 2
    assert main(["run", str(recipe), "--out", str(tmp_path / "o"), "--executor", "ray",
                 "--ray-address", "127.0.0.1:9"]) == 2
    assert main(["run", str(recipe), "--out", str(tmp_path / "o"), "--executor", "ray",
                 "--ray-address", "ray://127.0.0.1:10001"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("synthloom: error: ") for line in lines)
    assert "--executor ray" in lines[0] and "at least 1" in lines[1] and "Ray cluster" in lines[2]
    assert "Ray Client" in lines[3] and "--ray-address auto" in lines[3]


def test_without_ray_installed_the_error_names_the_extra(write_recipe, tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'", name="ray")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    assert main(["run", str(write_recipe(SLOW)), "--out", str(tmp_path / "o"), "--executor", "ray"]) == 2
    assert "the `ray` extra" in capsys.readouterr().err


def test_budget_is_shared_by_the_workers_and_never_passed(write_recipe, tmp_path):
    recipe, out = write_recipe(SLOW.replace("latency: 0.05", "latency: 0.0")), tmp_path / "o"
    prices = ["--price-in", "100", "--price-out", "300"]
    assert main(["run", str(recipe), "-n", "200", "--out", str(out), "--quiet", "--executor", "ray",
                 "--ray-workers", "2", "--budget", "0.2", *prices]) == 0
    cost = run_json(out)["cost"]
    assert cost["budget"]["reached"] and 0 < cost["paid"]["dollars"] <= 0.2
    assert main(["run", str(recipe), "-n", "200", "--out", str(out), "--quiet", "--budget", "50", *prices]) == 0
    assert run_json(out)["kept"] == 200 and responses(out / "store.sqlite") == 400
