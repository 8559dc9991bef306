"""--executor ray on a two-node cluster where the worker node cannot see the output directory:
the workers write through the one writer on the driver's node (executors/ray_store.py)."""

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from synthloom.cli import main
from tests.conftest import SYNTHLOOM

pytest.importorskip("ray")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from zero_latency_server import serve_subprocess  # noqa: E402

from tests.ray_cluster import two_node_cluster  # noqa: E402

pytestmark = pytest.mark.slow

RECIPE = """\
name: two-stages
seed: 3
entities:
  topics: [cats, dogs, rain, trains, bread]
  tones: [happy, calm, curious]
slots:
  topic: {from: topics, sampler: coverage}
  tone: tones
stages:
  - name: line
    prompt: "Write one {{ tone }} sentence about {{ topic }}."
    params: {max_tokens: 32}
  - name: title
    prompt: "A title for: {{ line }}"
    params: {max_tokens: 8}
"""


def completions(url: str) -> int:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/_stats") as answer:
        return json.loads(answer.read())["completions"]


def responses(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    finally:
        db.close()


def sees(address: str, path: Path) -> bool:
    """Whether a task on the cluster's worker nodes (the head has no CPU) finds `path`."""
    import os

    import ray

    ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        return ray.get(ray.remote(num_cpus=1)(os.path.exists).remote(str(path)))
    finally:
        ray.shutdown()


def wait_for_completions(url: str, count: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    """Until the server has answered `count` requests in all (the run is mid-way)."""
    deadline = time.monotonic() + timeout
    while completions(url) < count:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.2)


def driver(args: list[str]) -> int:
    """A Ray run's driver in its own process, as a user runs it. Not in the test process: a process
    that has started a local Ray cluster (test_ray_executor.py does) keeps that cluster's token
    authentication, and Ray then drops its actors on this test cluster, which has none."""
    proc = subprocess.run([SYNTHLOOM, *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.returncode


def run_args(recipe, out, n, url, *extra):
    return ["run", str(recipe), "-n", str(n), "--out", str(out), "--quiet", "--backend", "openai",
            "--base-url", url, "--model", "bench", *extra]


@pytest.fixture
def hidden(tmp_path):
    """The directory the worker node sees empty: every run directory of the test is in it."""
    path = tmp_path / "runs"
    path.mkdir()
    return path


def test_workers_that_cannot_see_the_run_directory_make_the_local_dataset(write_recipe, hidden, tmp_path):
    recipe = write_recipe(RECIPE)
    with serve_subprocess() as url, two_node_cluster(hidden) as cluster:
        assert main(run_args(recipe, hidden / "local", 120, url)) == 0
        sent_locally = completions(url)
        assert driver(run_args(recipe, hidden / "ray", 120, url, "--executor", "ray",
                               "--ray-address", cluster.address)) == 0
        assert completions(url) - sent_locally == 240  # every request once
        assert not sees(cluster.address, hidden / "local" / "store.sqlite")  # the worker node really cannot
    local, distributed = ((hidden / d / "dataset.jsonl").read_text() for d in ("local", "ray"))
    assert distributed == local and len(local.splitlines()) == 120
    summary = json.loads((hidden / "ray" / "run.json").read_text())
    assert summary["kept"] == 120 and summary["this_run"]["requests_sent"] == 240
    assert summary["this_run"]["executor"]["workers"] == 2
    assert summary["this_run"]["concurrency"]["configured"] == 16  # both workers' gates, merged
    assert responses(hidden / "ray" / "store.sqlite") == 240
    assert not list(hidden.glob("*/shards"))


def test_a_killed_driver_re_sends_at_most_what_was_in_flight(write_recipe, hidden):
    recipe, out, n = write_recipe(RECIPE), hidden / "o", 300
    with serve_subprocess(latency_ms=20) as url, two_node_cluster(hidden) as cluster:
        args = run_args(recipe, out, n, url, "--executor", "ray", "--ray-address", cluster.address,
                        "--concurrency", "4")
        proc = subprocess.Popen([SYNTHLOOM, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 180
        while completions(url) < 150:  # mid-run
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(3)  # Ray notices the driver is gone and stops its workers and writer
        first = completions(url)
        stored = responses(out / "store.sqlite")
        in_flight = 2 * 4  # two workers, four requests each
        assert first - in_flight <= stored <= first
        assert driver(run_args(recipe, out, n, url, "--executor", "ray", "--ray-address", cluster.address)) == 0
        total = completions(url)
    assert total - 2 * n <= in_flight  # re-sent: at most what was in flight when the driver died
    assert responses(out / "store.sqlite") == 2 * n
    assert len((out / "dataset.jsonl").read_text().splitlines()) == n


def test_a_killed_worker_node_leaves_its_shard_to_the_others_and_with_none_left_the_run_stops_with_one_line(
        write_recipe, hidden):
    recipe, out, n = write_recipe(RECIPE), hidden / "o", 300
    with serve_subprocess(latency_ms=20) as url, two_node_cluster(hidden, cpus=1, nodes=2) as cluster:
        args = ["--executor", "ray", "--ray-address", cluster.address, "--concurrency", "4", "--ray-wait", "10"]
        proc = subprocess.Popen([SYNTHLOOM, *run_args(recipe, out, n, url, *args)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        wait_for_completions(url, 150, proc)
        cluster.kill_node(cluster.nodes[0])
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err  # the other node ran the dead node's shard, minus what it had stored
        first = completions(url)
        assert 2 * n <= first <= 2 * n + 4  # re-sent: at most the dead worker's 4 requests in flight
        this_run = json.loads((out / "run.json").read_text())["this_run"]
        assert this_run["executor"]["lost_attempts"] == 1
        # the dead attempt's requests count too: all but its answers still in flight at the kill
        assert first - 4 <= this_run["requests_sent"] <= first
        assert len((out / "dataset.jsonl").read_text().splitlines()) == n

        proc = subprocess.Popen([SYNTHLOOM, *run_args(recipe, out, 2 * n, url, *args)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        wait_for_completions(url, first + 150, proc)
        cluster.kill_node(cluster.nodes[1])  # no CPU left in the cluster
        _, err = proc.communicate(timeout=300)
        errors = [line for line in err.splitlines() if not line.startswith("synthloom: warning:")]
        assert proc.returncode == 2 and len(errors) == 1, err  # one line (warnings about the model aside)
        assert "no Ray node with a CPU" in errors[0] and "re-run" in errors[0]
        cluster.add_worker_node()
        assert driver(run_args(recipe, out, 2 * n, url, "--executor", "ray", "--ray-address", cluster.address)) == 0
        total = completions(url)
        assert main(run_args(recipe, hidden / "local", 2 * n, url)) == 0
    assert total - 4 * n <= 4 + 2 * 4  # re-sent: at most what was in flight at each kill
    assert (out / "dataset.jsonl").read_text() == (hidden / "local" / "dataset.jsonl").read_text()


def test_a_process_that_started_a_local_cluster_is_told_to_drive_another_from_a_new_process(
        write_recipe, hidden, capsys):
    recipe = write_recipe(RECIPE)
    with serve_subprocess() as url, two_node_cluster(hidden) as cluster:
        assert main(run_args(recipe, hidden / "local", 20, url, "--executor", "ray", "--ray-workers", "1")) == 0
        capsys.readouterr()
        assert main(run_args(recipe, hidden / "ray", 20, url, "--executor", "ray", "--ray-address", cluster.address)) == 2
        err = capsys.readouterr().err
        assert "started a local Ray cluster earlier" in err and "new process" in err and "Traceback" not in err
        assert driver(run_args(recipe, hidden / "ray", 20, url, "--executor", "ray", "--ray-address", cluster.address)) == 0
    assert (hidden / "ray" / "dataset.jsonl").read_text() == (hidden / "local" / "dataset.jsonl").read_text()


def test_a_corpus_recipe_runs_on_workers_that_cannot_see_the_corpus(hidden):
    """The corpus index travels to the workers inside the prepared run: neither the documents nor
    OUT/corpus is at any path the worker node can see."""
    root = Path(__file__).resolve().parents[1]
    shutil.copytree(root / "data" / "corpus" / "earth_science", hidden / "docs")
    recipe = hidden / "qa.yaml"
    recipe.write_text((root / "recipes" / "grounded_qa.yaml").read_text().replace("../data/corpus/earth_science", "docs"))
    with serve_subprocess() as url, two_node_cluster(hidden) as cluster:
        assert main(run_args(recipe, hidden / "local", 12, url)) == 0
        assert driver(run_args(recipe, hidden / "ray", 12, url, "--executor", "ray", "--ray-address", cluster.address)) == 0
    for name in ("dataset.jsonl", "rejected.jsonl"):
        assert (hidden / "ray" / name).read_text() == (hidden / "local" / name).read_text()
    # the same requests, so the same retrieved context in every answer prompt (a key hashes the prompt)
    assert request_keys(hidden / "ray" / "store.sqlite") == request_keys(hidden / "local" / "store.sqlite")
    summary = json.loads((hidden / "ray" / "run.json").read_text())
    assert summary["kept"] + summary["rejected"] == 12 and summary["this_run"]["executor"]["kind"] == "ray"
    assert summary["this_run"]["requests_sent"] == 24  # question and answer: every answer stage ran


def request_keys(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [key for (key,) in db.execute("SELECT key FROM responses ORDER BY key")]
    finally:
        db.close()
