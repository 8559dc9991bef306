"""Issue 8 item 8: a full disk, a read-only output directory, an export killed halfway.

Real faults, not mocks: the run writes into a small tmpfs mounted in a user + mount namespace
(`unshare -rm`), so a write fails with ENOSPC exactly as on a full disk; `mount -o remount,bind,ro`
makes a directory read-only (root ignores chmod). The namespace only changes mounts: the
loopback server in this process is reachable from it, and it counts every request. A run's
directory is copied out of the tmpfs before the namespace ends, then checked and resumed on a
normal disk: the store must be intact, the resume must pay for nothing it stored, and the files
must equal those of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.backends.scripted_server import completion, scripted_server
from tests.conftest import SYNTHLOOM, run_cli

RECIPE = """\
name: disk
seed: 5
entities:
  nouns: [cat, dog, tree, river, cake, lamp, boat, hill, moon, bread]
  colours: [red, green, blue, yellow]
slots:
  noun: {from: nouns, sampler: coverage}
  colour: colours
stages:
  - name: story
    prompt: "Write a long story about a {{ colour }} {{ noun }}."
    params: {temperature: 0.8, max_tokens: 400}
backend: {kind: openai, model: m, api_key_env: SYNTHLOOM_DISK_TEST_KEY}
"""
N = 150
WORDS = ("the little {noun} walked along the path and looked at the sky while the wind moved the grass "
         "and the birds sang a song about the morning light that came over the hills").split()


def story(body: dict) -> str:
    """About 1 kB of text that depends only on the request: a re-run gets the same answer."""
    noun = body["messages"][-1]["content"].split()[-1].rstrip(".")
    words = [w.format(noun=noun) for w in WORDS]
    return f"Seed {body['seed']}: " + " ".join(words[(body["seed"] + i) % len(words)] for i in range(180))


def unshare_works() -> str | None:
    """Why a tmpfs cannot be mounted in a user + mount namespace here, or None if it can."""
    if shutil.which("unshare") is None:
        return "the unshare command is not installed"
    probe = Path(os.environ.get("TMPDIR", "/tmp"))
    try:
        result = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {probe}"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare -rm failed: {exc}"
    return None if result.returncode == 0 else f"unshare -rm cannot mount a tmpfs here: {result.stderr.strip()}"


UNSHARE = unshare_works()
pytestmark = pytest.mark.skipif(UNSHARE is not None, reason=f"needs user and mount namespaces ({UNSHARE})")


def in_namespace(script: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=timeout)


def tmpfs(mnt: Path, size: str) -> str:
    return f"mkdir -p {mnt} && mount -t tmpfs -o size={size} tmpfs {mnt} || exit 97"


def run_args(out: Path, url: str, recipe: Path, n: int = N) -> str:
    return f"{SYNTHLOOM} run {recipe} -n {n} --out {out} --base-url {url} --quiet --concurrency 4"


def chat_calls(server: dict) -> list[dict]:
    return [c["body"] for c in server["calls"]]


def request_ids(bodies) -> set[str]:
    return {json.dumps([b["messages"], b["seed"]], sort_keys=True) for b in bodies}


def stored(out: Path) -> dict:
    """The store as SQLite sees it: integrity, and every response and record decoded."""
    db = sqlite3.connect(out / "store.sqlite")
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchall()
        requests = [json.loads(r) for r, s in db.execute("SELECT request, response FROM responses") if json.loads(s)["text"]]
        records = [(json.loads(row), json.loads(lineage)) for row, lineage in db.execute("SELECT row, lineage FROM records")]
    finally:
        db.close()
    return {"integrity": integrity, "requests": requests, "records": records}


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    err = "\n".join(line for line in result.stderr.strip().splitlines() if "warning: generator terms:" not in line)
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    assert result.returncode == 2, (result.returncode, err)
    for word in words:
        assert word.lower() in err.lower(), (word, err)


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if ".tmp" in p.name or ".old-" in p.name)


def same_dataset(out: Path, reference: Path) -> None:
    assert (out / "dataset.jsonl").read_bytes() == (reference / "dataset.jsonl").read_bytes()
    assert pq.read_table(out / "dataset.parquet").equals(pq.read_table(reference / "dataset.parquet"))
    for name in ("rejected.jsonl", "recipe.yaml"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    summary, expected = (json.loads((d / "run.json").read_text()) for d in (out, reference))
    for key in ("n", "kept", "rejected", "recipe_fingerprint", "schema", "curation"):
        assert summary[key] == expected[key], key


@pytest.fixture(scope="module")
def server():
    release = threading.Event()
    release.set()
    state: dict = {}

    async def answer(body: dict, number: int):
        if not release.is_set() and number == state.get("hold"):
            import asyncio

            while not release.is_set():
                await asyncio.sleep(0.02)
        return completion(story(body))

    with scripted_server(answer) as running:
        running["release"], running["state"] = release, state
        yield running


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "disk.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(server, recipe, tmp_path_factory) -> Path:
    """The uninterrupted run every interrupted one must end up equal to."""
    out = tmp_path_factory.mktemp("reference") / "out"
    result = run_cli("run", str(recipe), "-n", str(N), "--out", str(out), "--base-url", server["url"], "--quiet")
    assert result.returncode == 0, result.stderr
    return out


# --- (a) the disk fills during generation ----------------------------------------------------------

@pytest.fixture(scope="module")
def full_during_generation(server, recipe, reference, tmp_path_factory) -> dict:
    """A 320 kB tmpfs: the store takes a few dozen records, then a commit meets ENOSPC."""
    base = tmp_path_factory.mktemp("full-generation")
    mnt, saved = base / "mnt", base / "saved"
    before = len(server["calls"])
    result = in_namespace(f"{tmpfs(mnt, '320k')}; {run_args(mnt / 'o', server['url'], recipe)}; rc=$?; "
                          f"cp -a {mnt / 'o'} {saved} || exit 98; exit $rc")
    return {"result": result, "mnt": mnt, "saved": saved, "sent": chat_calls(server)[before:]}


def test_a_full_disk_during_generation_is_one_line_and_exit_2(full_during_generation):
    fault = full_during_generation
    one_line_error(fault["result"], "no space left", str(fault["mnt"] / "o"))


def test_a_full_disk_during_generation_keeps_the_store_and_a_resume_pays_for_nothing_stored(
        full_during_generation, server, recipe, reference):
    fault, saved = full_during_generation, full_during_generation["saved"]
    assert fault["result"].returncode != 0, fault["result"].stderr
    assert 0 < len(fault["sent"]) < N  # the disk filled during generation, not before or after it
    store = stored(saved)
    assert store["integrity"] == [("ok",)]
    assert 0 < len(store["requests"]) < N and len(store["records"]) <= len(store["requests"])
    assert all(row["id"] and lineage for row, lineage in store["records"])
    assert not (saved / "dataset.jsonl").exists()  # no export of a run that did not finish

    before = len(server["calls"])
    resumed = run_cli("run", str(recipe), "-n", str(N), "--out", str(saved), "--base-url", server["url"], "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    again = chat_calls(server)[before:]
    assert not request_ids(again) & request_ids(store["requests"])  # nothing stored is paid for twice
    assert len(again) == N - len(store["requests"])
    same_dataset(saved, reference)
    assert leftovers(saved) == []


# --- (b) the disk fills during the final export ------------------------------------------------------

def test_a_full_disk_during_the_export_leaves_no_half_file_and_a_rerun_only_exports(server, recipe, reference, tmp_path):
    """Generation fits; when the last answer is held back, a ballast file fills the tmpfs but for
    64 kB: the last response still commits, dataset.jsonl (about 170 kB) does not fit."""
    mnt, saved, trigger, filled = tmp_path / "mnt", tmp_path / "saved", tmp_path / "trigger", tmp_path / "filled"
    before = len(server["calls"])
    server["state"]["hold"] = before + N  # the run's last request
    server["release"].clear()
    stored_count = (f"{sys.executable} -c \"import sqlite3; print(sqlite3.connect('file:{mnt / 'o' / 'store.sqlite'}?mode=ro', "
                    f"uri=True).execute('SELECT COUNT(*) FROM records').fetchone()[0])\"")
    script = (f"{tmpfs(mnt, '16m')}; {run_args(mnt / 'o', server['url'], recipe)} & pid=$!; "
              f"while [ ! -e {trigger} ] && kill -0 $pid 2>/dev/null; do sleep 0.05; done; "
              # every answer but the held one committed, then the ballast
              f"while kill -0 $pid 2>/dev/null; do c=$({stored_count} 2>/dev/null); [ \"${{c:-0}}\" -ge {N - 1} ] && break; "
              f"sleep 0.1; done; "
              f"dd if=/dev/zero of={mnt / 'ballast'} bs=64k 2>/dev/null; truncate -s -64K {mnt / 'ballast'}; touch {filled}; "
              f"wait $pid; rc=$?; rm -f {mnt / 'ballast'}; cp -a {mnt / 'o'} {saved} || exit 98; exit $rc")
    try:
        worker = subprocess.Popen(["unshare", "-rm", "sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        deadline = time.monotonic() + 120
        while len(server["calls"]) < before + N and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.02)
        trigger.touch()
        while not filled.exists() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.02)
    finally:
        server["release"].set()
        trigger.touch()
    try:
        stdout, stderr = worker.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise
    result = subprocess.CompletedProcess(worker.args, worker.returncode, stdout, stderr)
    assert filled.exists(), stderr
    one_line_error(result, "no space left", str(mnt / "o" / "dataset.jsonl"))
    assert len(chat_calls(server)) - before == N
    for name in ("dataset.jsonl", "dataset.parquet", "run.json", "lineage.jsonl"):
        assert not (saved / name).exists(), name  # nothing presented as complete
    assert leftovers(saved) == []  # and no temp file left to fill the disk
    store = stored(saved)
    assert store["integrity"] == [("ok",)] and len(store["records"]) == N

    before = len(server["calls"])
    rerun = run_cli("run", str(recipe), "-n", str(N), "--out", str(saved), "--base-url", server["url"], "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    assert len(server["calls"]) == before  # only the export was left to do
    same_dataset(saved, reference)
    assert leftovers(saved) == []


def test_export_and_report_onto_a_full_disk(reference, tmp_path):
    mnt = tmp_path / "mnt"
    script = (f"{tmpfs(mnt, '8k')}; "
              f"{SYNTHLOOM} export {reference} --format sft --response-field story --to {mnt / 'sft.jsonl'}; echo rc=$?; "
              f"{SYNTHLOOM} export {reference} --format sft --response-field story --to {mnt / 'sft.parquet'}; echo rc=$?; "
              f"{SYNTHLOOM} report {reference} --out {mnt / 'report.html'}; echo rc=$?; ls -A {mnt}")
    result = in_namespace(script)
    lines = result.stdout.strip().splitlines()
    assert [line for line in lines if line.startswith("rc=")] == ["rc=2"] * 3, result.stdout + result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3 and "Traceback" not in result.stderr, result.stderr
    for error, name in zip(errors, ("sft.jsonl", "sft.parquet", "report.html")):
        assert str(mnt / name) in error and "no space left" in error.lower(), error
    assert lines[-1].startswith("rc="), f"files left on the full disk: {lines[-1]}"


# --- (c) a read-only output directory ---------------------------------------------------------------

def read_only(folder: Path) -> str:
    return f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} || exit 97"


def test_a_fresh_run_into_a_read_only_directory_that_does_not_exist_yet(recipe, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    result = in_namespace(f"{read_only(folder)}; {SYNTHLOOM} run {recipe} -n 3 --dry-run --out {folder / 'new'}")
    one_line_error(result, "read-only file system", str(folder / "new"))


def test_a_fresh_run_into_an_existing_read_only_directory(recipe, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    result = in_namespace(f"{read_only(folder)}; {SYNTHLOOM} run {recipe} -n 3 --dry-run --out {folder}")
    one_line_error(result, "read-only file system", str(folder))


def test_rerunning_a_finished_run_in_a_read_only_directory(reference, recipe, tmp_path):
    folder = tmp_path / "ro"
    shutil.copytree(reference, folder)
    result = in_namespace(f"{read_only(folder)}; {SYNTHLOOM} run {recipe} -n {N} --out {folder} --base-url http://127.0.0.1:9/v1")
    one_line_error(result, "read-only file system", str(folder))


def test_report_and_export_of_a_finished_run_in_a_read_only_directory(reference, tmp_path):
    """The report cannot go into the run's directory: one line saying so. An export to a writable
    place works: the store is read without being written (no -shm file can be made there)."""
    folder, elsewhere = tmp_path / "ro", tmp_path / "exports"
    shutil.copytree(reference, folder)
    elsewhere.mkdir()
    script = (f"{read_only(folder)}; {SYNTHLOOM} report {folder}; echo rc=$?; "
              f"{SYNTHLOOM} report {folder} --out {elsewhere / 'report.html'} >/dev/null; echo rc=$?; "
              f"{SYNTHLOOM} export {folder} --format sft --response-field story --to {elsewhere / 'sft.jsonl'}; echo rc=$?; "
              f"{SYNTHLOOM} export {folder} --format sft --response-field story --to {folder / 'sft.jsonl'}; echo rc=$?")
    result = in_namespace(script)
    codes = [line for line in result.stdout.splitlines() if line.startswith("rc=")]
    assert codes == ["rc=2", "rc=0", "rc=0", "rc=2"], result.stdout + result.stderr
    errors = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len(errors) == 2, result.stderr
    assert str(folder / "report.html") in errors[0] and "read-only file system" in errors[0].lower()
    assert str(folder / "sft.jsonl") in errors[1] and "read-only file system" in errors[1].lower()
    assert (elsewhere / "report.html").is_file()
    rows = [json.loads(line) for line in (elsewhere / "sft.jsonl").read_text().splitlines()]
    assert len(rows) == N and rows[0]["messages"][0]["content"].startswith("Write a long story")
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in reference.iterdir())


# --- (d) the export killed halfway ---------------------------------------------------------------------

BIG = """\
name: big
seed: 9
entities:
  nouns: [cat, dog, tree, river, cake, lamp, boat, hill, moon, bread]
slots:
  noun: {from: nouns, sampler: coverage}
stages:
  - name: story
    prompt: "Write about a {{ noun }}. {% for i in range(30) %}Keep it simple, sentence {{ i }}. {% endfor %}"
    params: {max_tokens: 300}
"""
BIG_N = 20000


def kill_when(process: subprocess.Popen, ready, timeout: float = 300) -> bool:
    """SIGKILL `process` as soon as `ready()`; False if it ended first."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            process.send_signal(signal.SIGKILL)
            process.wait(30)
            return True
        time.sleep(0.002)
    return False


def export_under_way(out: Path) -> bool:
    """A temp file of the export holds data: the export is half done."""
    try:
        return any(name.startswith(".") and name.endswith(".tmp") and os.path.getsize(out / name) > 0
                   for name in os.listdir(out))
    except OSError:  # the directory is not there yet, or a temp file was renamed while looking
        return False


@pytest.fixture(scope="module")
def big_run(tmp_path_factory) -> tuple[Path, Path]:
    """A 20,000-record dry run (about 45 MB of files besides the store): its export takes a second or two."""
    base = tmp_path_factory.mktemp("big")
    recipe, out = base / "big.yaml", base / "reference"
    recipe.write_text(BIG, encoding="utf-8")
    result = subprocess.run([SYNTHLOOM, "run", str(recipe), "-n", str(BIG_N), "--dry-run", "--quiet", "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return recipe, out


def test_a_run_killed_during_its_export_finishes_it_on_the_rerun(big_run, tmp_path):
    recipe, reference = big_run
    out = tmp_path / "killed"
    args = [SYNTHLOOM, "run", str(recipe), "-n", str(BIG_N), "--dry-run", "--quiet"]
    killed = subprocess.Popen([*args, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert kill_when(killed, lambda: export_under_way(out)), "the export ended before it could be killed: raise BIG_N"
    assert not (out / "run.json").exists()  # nothing of the killed export is presented as complete
    rerun = subprocess.run([*args, "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((out / "run.json").read_text())["this_run"]["requests_sent"] == 0
    for name in ("dataset.jsonl", "dataset.parquet", "lineage.jsonl", "rejected.jsonl", "recipe.yaml"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert leftovers(out) == []
    files = lambda d: sorted(p.name for p in d.iterdir() if not p.name.startswith("store.sqlite-"))  # noqa: E731
    assert files(out) == files(reference)


@pytest.mark.parametrize("target", ["sft.parquet", "sft.jsonl"])
def test_an_export_command_killed_halfway_is_redone_whole(big_run, tmp_path, target):
    run = big_run[1]
    exports = tmp_path / "exports"
    exports.mkdir()
    args = [SYNTHLOOM, "export", str(run), "--format", "sft", "--response-field", "story"]
    assert subprocess.run([*args, "--to", str(tmp_path / target)], capture_output=True, timeout=600).returncode == 0
    killed = subprocess.Popen([*args, "--to", str(exports / target)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def half_written() -> bool:
        temps = [p for p in exports.iterdir() if ".tmp-" in p.name]
        return any(p.stat().st_size > 0 for p in temps)

    assert kill_when(killed, half_written), "the export ended before it could be killed: raise BIG_N"
    assert not (exports / target).exists()
    again = subprocess.run([*args, "--to", str(exports / target)], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert (exports / target).read_bytes() == (tmp_path / target).read_bytes()
    assert [p.name for p in exports.iterdir()] == [target]  # the killed export's temp file is gone too
