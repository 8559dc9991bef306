"""kill -9 in the middle of a run, then the same command: nothing lost, nothing paid twice."""

import json
import signal
import sqlite3
import subprocess
import time

from tests.conftest import SMALL_RECIPE, SYNTHLOOM, run_cli

SLOW_RECIPE = SMALL_RECIPE + "backend: {kind: fake, options: {latency: 0.01}}\n"
N = 400


def stored(out, table):
    try:
        db = sqlite3.connect(out / "store.sqlite")
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_kill_9_then_rerun_completes_identically(write_recipe, tmp_path):
    recipe = write_recipe(SLOW_RECIPE)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    args = [SYNTHLOOM, "run", str(recipe), "-n", str(N), "--concurrency", "4", "--quiet", "--out", str(killed)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while stored(killed, "records") < N // 4 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    records_at_kill, responses_at_kill = stored(killed, "records"), stored(killed, "responses")
    assert 0 < records_at_kill < N, "the kill must land mid-run"
    assert not (killed / "dataset.jsonl").exists()

    rerun = run_cli("run", recipe, "-n", N, "--concurrency", "4", "--quiet", "--out", killed)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads((killed / "run.json").read_text())
    assert summary["kept"] == N
    assert summary["this_run"]["requests_sent"] == 2 * N - responses_at_kill, "a stored response was paid again"

    assert run_cli("run", recipe, "-n", N, "--concurrency", "4", "--quiet", "--out", clean).returncode == 0
    assert (killed / "dataset.jsonl").read_text() == (clean / "dataset.jsonl").read_text()


def test_second_run_on_same_dir_is_refused(write_recipe, tmp_path):
    recipe = write_recipe(SLOW_RECIPE)
    out = tmp_path / "o"
    first = subprocess.Popen([SYNTHLOOM, "run", str(recipe), "-n", "300", "--concurrency", "1", "--quiet", "--out", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while stored(out, "records") < 1 and time.time() < deadline:
            time.sleep(0.05)
        second = run_cli("run", recipe, "-n", "300", "--quiet", "--out", out)
        assert second.returncode == 2
        assert "in use by another synthloom run" in second.stderr
    finally:
        first.kill()
        first.wait()


def test_ctrl_c_exits_130_and_the_rerun_completes(write_recipe, tmp_path):
    recipe, out = write_recipe(SLOW_RECIPE), tmp_path / "o"
    # SIGINT as a terminal's Ctrl-C delivers it: when the tests themselves run as a background job
    # (`make test &`), the shell has set SIGINT to ignored and every child would inherit that
    proc = subprocess.Popen([SYNTHLOOM, "run", str(recipe), "-n", "300", "--concurrency", "2", "--quiet", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 30
    while stored(out, "records") < 20 and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before Ctrl-C could be sent"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "re-run the same command to resume" in err
    saved = stored(out, "records")
    assert saved >= 20
    rerun = run_cli("run", recipe, "-n", "300", "--quiet", "--out", out)
    assert rerun.returncode == 0
    summary = json.loads((out / "run.json").read_text())
    assert summary["kept"] == 300 and summary["this_run"]["records"] == 300 - saved
