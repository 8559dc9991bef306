"""Crash safety: kill -9 of `synthloom run` at seeded random moments, re-running the same command
after each, and torn writes of the store's WAL.

The kills land mid-request, inside a store write transaction (the process is frozen with SIGSTOP
and killed only while it holds SQLite's WAL write lock) and during the final export (frozen
while an export temp file exists and run.json does not). Every re-run must exit 0; the files
must equal an uninterrupted run's byte for byte; and a loopback OpenAI-compatible server that
counts completions by request identity shows how many requests were paid twice: at most the
requests in flight (sent, not yet committed) at each kill.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from synthloom.store import Store
from tests.backends.scripted_server import completion, scripted_server
from tests.conftest import ROOT, SMALL_RECIPE, SYNTHLOOM

SEED = 20240917
N = 400
CONCURRENCY = 4
LATENCY = 0.02

RECIPE = """\
name: crash
seed: 19
entities:
  nouns: [cat, dog, tree, river, cake, lamp, boat]
  verbs: [jump, sing, hide, swim]
slots:
  noun: {from: nouns, sampler: coverage}
  verb: verbs
stages:
  - name: story
    prompt: "Write about a {{ noun }} that can {{ verb }}."
    params: {temperature: 0.9, max_tokens: 40}
  - name: title
    prompt: "A title for: {{ story }}"
    params: {max_tokens: 12}
curate:
  - {kind: length, field: story, min_words: 6}
"""
WORDS = "the a cat dog ran sang hid under over happy small big tree river cake lamp".split()
EXPORTED = ("dataset.jsonl", "dataset.parquet", "rejected.jsonl", "lineage.jsonl")  # in the order they are written
TEMP = re.compile(r"^\.(.+?)\.tmp")  # .NAME.tmp, .NAME.tmp-PID: an output file being written
BYTE_EQUAL = ("dataset.jsonl", "dataset.parquet", "rejected.jsonl", "recipe.yaml")


# --- the loopback server -------------------------------------------------------------------

def reply(tag: str) -> str:
    """A deterministic answer naming its request; 3 to 14 words, so the length filter rejects some."""
    value = int(tag, 16)
    return f"[{tag}] " + " ".join(WORDS[(value >> (4 * i)) % len(WORDS)] for i in range(3 + value % 12))


class CountingServer:
    """Answers every completion deterministically and counts them by request identity."""

    def __init__(self) -> None:
        self.latency = LATENCY
        self.phase = "series"
        self.received: dict[str, list[str]] = {"series": [], "clean": []}
        self.open = 0
        self.lock = threading.Lock()

    async def answer(self, body: dict, _number: int):
        tag = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
        with self.lock:
            self.received[self.phase].append(tag)
            self.open += 1
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            return completion(reply(tag))
        finally:
            with self.lock:
                self.open -= 1


# --- looking at a process and its store ------------------------------------------------------

def holds_wal_write_lock(pid: int, out: Path) -> bool:
    """SQLite's WAL write lock is a POSIX lock on byte 120 of the -shm file, held from BEGIN
    IMMEDIATE to the end of COMMIT: holding it means being inside a store write transaction."""
    try:
        inode = os.stat(out / f"{Store.FILENAME}-shm").st_ino
        locks = Path("/proc/locks").read_text()
    except OSError:
        return False
    for line in locks.splitlines():
        fields = line.split()
        if (len(fields) >= 8 and fields[1] == "POSIX" and fields[3] == "WRITE" and fields[4] == str(pid)
                and fields[5].endswith(f":{inode}") and fields[6] == "120"):
            return True
    return False


def kill_if(proc: subprocess.Popen, confirm: Callable[[], bool]) -> bool:
    """Freeze the process; SIGKILL it if `confirm()` holds of the frozen state, else let it go on."""
    try:
        proc.send_signal(signal.SIGSTOP)
    except ProcessLookupError:
        return False
    if confirm():
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
    proc.send_signal(signal.SIGCONT)
    return False


@dataclass
class Frame:
    offset: int
    page: int
    commit: int  # the database size after a commit frame; 0 for the other frames of a transaction


def wal_checksum(data: bytes, s0: int, s1: int, big_endian: bool) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def wal_frames(data: bytes) -> tuple[int, list[Frame]]:
    """The page size and the valid frames of a WAL file's bytes: salts of the current header and
    an unbroken checksum chain, as SQLite's recovery reads them (sqlite.org/fileformat.html#walformat)."""
    if len(data) < 32:
        return 0, []
    magic, _, page_size, _, salt1, salt2, c1, c2 = struct.unpack(">8I", data[:32])
    big = bool(magic & 1)
    s0, s1 = wal_checksum(data[:24], 0, 0, big)
    if (s0, s1) != (c1, c2):
        return page_size, []
    frames, offset = [], 32
    while offset + 24 + page_size <= len(data):
        page, commit, f1, f2, k1, k2 = struct.unpack(">6I", data[offset:offset + 24])
        if (f1, f2) != (salt1, salt2):
            break
        s0, s1 = wal_checksum(data[offset:offset + 8], s0, s1, big)
        s0, s1 = wal_checksum(data[offset + 24:offset + 24 + page_size], s0, s1, big)
        if (s0, s1) != (k1, k2):
            break
        frames.append(Frame(offset, page, commit))
        offset += 24 + page_size
    return page_size, frames


def uncommitted_frames(wal: Path) -> int:
    """Frames written after the last commit frame: a transaction the kill cut in the middle."""
    _, frames = wal_frames(wal.read_bytes() if wal.exists() else b"")
    commits = [i for i, f in enumerate(frames) if f.commit]
    return len(frames) - (commits[-1] + 1 if commits else 0)


def frames_after_last_commit(wal: Path) -> int:
    """A quick look (headers and salts, no checksums) for frames written after the last commit:
    the process is writing a transaction's pages right now."""
    try:
        with open(wal, "rb") as f:
            header = f.read(32)
            if len(header) < 32:
                return 0
            page_size, salts = struct.unpack(">I", header[8:12])[0], header[16:24]
            offset, tail = 32, 0
            while True:
                f.seek(offset)
                frame = f.read(24)
                if len(frame) < 24 or frame[8:16] != salts:
                    return tail
                tail = 0 if struct.unpack(">I", frame[4:8])[0] else tail + 1
                offset += 24 + page_size
    except OSError:
        return 0


def kill_in_transaction(proc: subprocess.Popen, out: Path, mid_frames_for: float = 0.0,
                        frozen: Callable[[], None] = lambda: None) -> int:
    """SIGKILL while the process holds the WAL write lock (for the first `mid_frames_for` seconds
    only while it has also written some of the transaction's frames: a half-written commit);
    `frozen` runs while it is stopped. Returns how many times it was stopped to look."""
    aim_until, tries = time.monotonic() + mid_frames_for, 0
    wal = out / f"{Store.FILENAME}-wal"

    def inside() -> bool:
        frozen()
        mid_frames = time.monotonic() < aim_until
        return holds_wal_write_lock(proc.pid, out) and (not mid_frames or frames_after_last_commit(wal) > 0)

    while True:
        wait_for(lambda: holds_wal_write_lock(proc.pid, out), proc, "a store write", limit=30, pause=0)
        tries += 1
        if kill_if(proc, inside):
            return tries


def copy_store(out: Path, to: Path, wal: bytes | None = None) -> Path:
    """The store file and its WAL (or `wal` instead) in `to`, without the -shm: opening the copy
    rebuilds the WAL index from the WAL itself, as after a crash."""
    to.mkdir(parents=True, exist_ok=True)
    for name in (Store.FILENAME, f"{Store.FILENAME}-wal", f"{Store.FILENAME}-shm"):
        (to / name).unlink(missing_ok=True)
    shutil.copyfile(out / Store.FILENAME, to / Store.FILENAME)
    if wal is not None:
        (to / f"{Store.FILENAME}-wal").write_bytes(wal)
    elif (out / f"{Store.FILENAME}-wal").exists():
        shutil.copyfile(out / f"{Store.FILENAME}-wal", to / f"{Store.FILENAME}-wal")
    return to / Store.FILENAME


def store_contents(path: Path) -> dict[str, list[tuple]]:
    """Open a store the way a run does; check its integrity; every table's rows."""
    store = Store(path)
    try:
        assert store.db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return {table: store.db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in ("meta", "responses", "records", "failures")}
    finally:
        store.close()


def stored_tags(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {m for (text,) in db.execute("SELECT response FROM responses") for m in re.findall(r"\[([0-9a-f]{12})\]", text)}
    finally:
        db.close()


# --- the kills ------------------------------------------------------------------------------

def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, what: str, limit: float = 60.0,
             pause: float = 0.002) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {limit}s"
        if pause:
            time.sleep(pause)


def kill_mid_requests(proc, server, out, rng, received_before, left) -> dict:
    """After a random number of requests and a random delay: frozen, the server's open requests counted, killed."""
    threshold, delay = min(rng.randint(15, 60), max(2, left // 4)), rng.uniform(0.0, 0.1)
    wait_for(lambda: len(server.received["series"]) - received_before >= threshold, proc, f"{threshold} requests")
    time.sleep(delay)
    snapshot = {}
    assert kill_if(proc, lambda: snapshot.setdefault("open", server.open) is not None)
    return {"moment": f"{threshold} requests + {delay * 1000:.0f} ms", "in_flight_at_server": snapshot["open"]}


def kill_in_store_write(proc, server, out, rng, received_before, left) -> dict:
    """At full speed (an instant server), frozen and killed only while holding the WAL write lock."""
    server.latency = 0.0
    threshold = min(rng.randint(10, 40), max(2, left // 8))
    snapshot: dict[str, int] = {}
    try:
        wait_for(lambda: len(server.received["series"]) - received_before >= threshold, proc, f"{threshold} requests")
        tries = kill_in_transaction(proc, out, frozen=lambda: snapshot.update(open=server.open))
    finally:
        server.latency = LATENCY
    return {"moment": f"{threshold} requests, then inside a write transaction (try {tries})",
            "in_flight_at_server": snapshot["open"],
            "uncommitted_wal_frames": uncommitted_frames(out / f"{Store.FILENAME}-wal")}


def kill_in_export(proc, server, out, rng, received_before, left) -> dict:
    """Once the export writes its files: frozen while an export temp file exists and run.json does not."""
    watched = set(EXPORTED[rng.randrange(len(EXPORTED)):])
    seen: dict[str, str] = {}

    def exporting() -> bool:
        return not (out / "run.json").exists() and any(TEMP.match(name) and TEMP.match(name)[1] in watched
                                                       for name in os.listdir(out))

    def confirm() -> bool:
        temps = sorted(name for name in os.listdir(out) if TEMP.match(name))
        seen["temps"] = ", ".join(temps)
        return not (out / "run.json").exists() and bool(temps)

    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before the kill in its export"
        assert time.monotonic() < deadline, "the export never started"
        if exporting() and kill_if(proc, confirm):
            break
    return {"moment": f"during the export, at {seen['temps']}", "in_flight_at_server": server.open}


KILLS = {"request": kill_mid_requests, "store_write": kill_in_store_write, "export": kill_in_export}


def command(recipe: Path, out: Path, url: str) -> list[str]:
    return [SYNTHLOOM, "run", str(recipe), "-n", str(N), "--concurrency", str(CONCURRENCY), "--backend", "openai",
            "--base-url", url, "--model", "scripted", "--timeout", "30", "--quiet", "--out", str(out)]


def without_cached(lineage: str) -> list[dict]:
    """lineage.jsonl minus each call's `cached` flag, which says truly that a resumed run found it."""
    rows = [json.loads(line) for line in lineage.splitlines()]
    for row in rows:
        for call in row["calls"]:
            call.pop("cached")
    return rows


def test_kill_9_at_random_moments_then_rerun_equals_an_uninterrupted_run(tmp_path):
    """Six kills of one command (four mid-request, one inside a store write, one in the final
    export), the same command after each; then the files against an uninterrupted run's, and the
    requests the server received twice against the ones in flight at the kills."""
    rng = random.Random(SEED)
    plan = ["request"] * 4
    plan.insert(rng.randrange(3), "store_write")  # early: the hunt for a transaction at full speed uses up requests
    plan.append("export")  # the export comes once every record is done: the last kill
    recipe = tmp_path / "crash.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    server = CountingServer()
    kills: list[dict] = []
    with scripted_server(server.answer) as state:
        args = command(recipe, killed, state["url"])
        for attempt, kind in enumerate(plan + ["none"]):
            before = len(server.received["series"])
            started = time.monotonic()
            with open(tmp_path / f"attempt{attempt}.err", "w") as err:
                proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
            try:
                if kind == "none":
                    assert proc.wait(timeout=120) == 0, (tmp_path / f"attempt{attempt}.err").read_text()
                    break
                left = 2 * N - len(set(server.received["series"]))  # requests this recipe still needs
                figures = KILLS[kind](proc, server, killed, rng, before, left)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            assert proc.returncode == -signal.SIGKILL
            seen = set(server.received["series"])
            copy = copy_store(killed, tmp_path / "after-kill")
            contents = store_contents(copy)  # opens, integrity_check ok
            lost = seen - stored_tags(copy)
            kills.append({"kind": kind, "at_s": round(time.monotonic() - started, 2), **figures,
                          "requests_this_attempt": len(server.received["series"]) - before,
                          "records_stored": len(contents["records"]) + len(contents["failures"]),
                          "sent_not_stored": len(lost)})
        server.phase = "clean"
        assert subprocess.run(command(recipe, clean, state["url"]), capture_output=True).returncode == 0

    series, uninterrupted = server.received["series"], server.received["clean"]
    assert len(uninterrupted) == len(set(uninterrupted)), "an uninterrupted run sent a request twice"
    assert set(series) == set(uninterrupted), "the killed runs asked for other requests than a clean run"
    resent = len(series) - len(set(series))
    report = "\n".join(f"  kill {i + 1}: {k}" for i, k in enumerate(kills))
    print(f"\n{len(kills)} kills (concurrency {CONCURRENCY}):\n{report}\n"
          f"requests received {len(series)}, distinct {len(set(series))}: {resent} re-sent; "
          f"sent-but-not-stored at the kills: {sum(k['sent_not_stored'] for k in kills)}")
    assert len(kills) >= 6 and {k["kind"] for k in kills} == set(KILLS)
    assert all(k["records_stored"] == N for k in kills if k["kind"] == "export")
    assert resent <= sum(k["sent_not_stored"] for k in kills), "a request that was stored was sent again"
    assert resent <= CONCURRENCY * len(kills), report
    assert all(k["sent_not_stored"] <= CONCURRENCY for k in kills), report  # per kill: at most what was in flight

    for name in BYTE_EQUAL:
        assert (killed / name).read_bytes() == (clean / name).read_bytes(), name
    assert without_cached((killed / "lineage.jsonl").read_text()) == without_cached((clean / "lineage.jsonl").read_text())
    summary, reference = (json.loads((d / "run.json").read_text()) for d in (killed, clean))
    for key in ("n", "kept", "rejected", "recipe_fingerprint", "curation", "schema"):
        assert summary[key] == reference[key], key
    assert summary["kept"] + summary["rejected"] == N and summary["rejected"] > 0
    assert not [name for name in os.listdir(killed) if TEMP.match(name)], "an export temp file was left behind"


def test_an_answer_is_committed_before_a_request_built_from_it_is_sent(tmp_path):
    """Why a kill costs at most the requests in flight: the title request quotes the story's
    answer, and when it reaches the server that answer must already be committed (the server
    looks for it through a connection of its own). An instant server, 8 in flight."""
    recipe, out = tmp_path / "crash.yaml", tmp_path / "out"
    recipe.write_text(RECIPE, encoding="utf-8")
    server, early, quoting = CountingServer(), [], []
    server.latency = 0.0

    async def answer(body: dict, number: int):
        quoted = re.search(r"\[([0-9a-f]{12})\]", body["messages"][-1]["content"])
        if quoted:
            quoting.append(quoted[1])
            db = sqlite3.connect(f"file:{out / Store.FILENAME}?mode=ro", uri=True)
            try:
                if not db.execute("SELECT 1 FROM responses WHERE instr(response, ?)", (quoted[1],)).fetchone():
                    early.append(quoted[1])
            finally:
                db.close()
        return await server.answer(body, number)

    with scripted_server(answer) as state:
        args = command(recipe, out, state["url"])
        args[args.index("--concurrency") + 1] = "8"
        done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(quoting) == N
    assert not early, f"{len(early)} requests were sent before the answer they quote was committed"


# --- torn writes ----------------------------------------------------------------------------

TORN_N = 3000


def dry_run(recipe: Path, out: Path) -> list[str]:
    return [SYNTHLOOM, "run", str(recipe), "-n", str(TORN_N), "--dry-run", "--concurrency", "8", "--quiet", "--out", str(out)]


@pytest.fixture(scope="module")
def killed_mid_commit(tmp_path_factory) -> dict:
    """A run killed -9 inside a write transaction, with at least three commits in its WAL; and an
    uninterrupted run of the same command."""
    root = tmp_path_factory.mktemp("torn")
    recipe = root / "small.yaml"
    recipe.write_text(SMALL_RECIPE, encoding="utf-8")
    out, clean = root / "killed", root / "clean"
    rng = random.Random(SEED + 1)
    for _ in range(5):
        proc = subprocess.Popen(dry_run(recipe, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            threshold = rng.randint(300, 1500)
            wait_for(lambda threshold=threshold: stored_records(out) >= threshold, proc, f"{threshold} records", pause=0.01)
            kill_in_transaction(proc, out)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        _, frames = wal_frames((out / f"{Store.FILENAME}-wal").read_bytes())
        if sum(1 for f in frames if f.commit) >= 3:
            break
    else:
        pytest.fail("five kills never left three commits in the WAL")
    assert subprocess.run(dry_run(recipe, clean), capture_output=True).returncode == 0
    return {"recipe": recipe, "out": out, "clean": clean, "wal": (out / f"{Store.FILENAME}-wal").read_bytes(),
            "uncommitted": uncommitted_frames(out / f"{Store.FILENAME}-wal")}


def stored_records(out: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{out / Store.FILENAME}?mode=ro", uri=True)
        try:
            return db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def tear(wal: bytes, how: str) -> tuple[bytes, bytes]:
    """(the WAL with its last committed transaction torn `how`, the WAL cut cleanly after the commit before it)."""
    page_size, frames = wal_frames(wal)
    commits = [i for i, f in enumerate(frames) if f.commit]
    last, previous = frames[commits[-1]], frames[commits[-2]]
    first = frames[commits[-2] + 1]  # the first frame of the last transaction
    cut = wal[:previous.offset + 24 + page_size]
    data = bytearray(wal)
    if how == "truncated_in_its_commit_frame":
        return bytes(data[:last.offset + 24 + page_size // 2]), cut
    frame = last if how == "commit_frame_corrupted" else first
    data[frame.offset + 24 + page_size // 3] ^= 0xFF
    return bytes(data), cut


@pytest.mark.parametrize("how", ["truncated_in_its_commit_frame", "commit_frame_corrupted", "first_frame_corrupted"])
def test_a_torn_wal_write_reopens_at_the_last_whole_commit_and_the_rerun_completes(killed_mid_commit, tmp_path, how):
    """The last committed transaction of a killed run's WAL torn as a power cut or a bad sector
    would: the store opens, passes integrity_check, holds exactly the commit before (no part of
    the torn batch), and the same command then completes with the uninterrupted run's dataset."""
    run = killed_mid_commit
    torn, cut = tear(run["wal"], how)
    whole = store_contents(copy_store(run["out"], tmp_path / "whole"))
    previous = store_contents(copy_store(run["out"], tmp_path / "previous", wal=cut))
    reopened = store_contents(copy_store(run["out"], tmp_path / "torn", wal=torn))  # opens; integrity_check ok
    assert reopened == previous, "the torn store is not the state of the commit before the torn one"
    assert reopened != whole, "the torn transaction had nothing in it: the test tore nothing"
    for table in ("responses", "records", "failures"):
        assert set(reopened[table]) <= set(whole[table])  # a prefix: nothing the whole store lacks
    print(f"\n{how}: whole store {len(whole['records'])} records, {len(whole['responses'])} responses; after the tear "
          f"{len(reopened['records'])} records, {len(reopened['responses'])} responses (the previous commit exactly); "
          f"the kill itself left {run['uncommitted']} uncommitted frames")

    rerun = tmp_path / "rerun"
    shutil.copytree(run["out"], rerun)
    (rerun / f"{Store.FILENAME}-wal").write_bytes(torn)  # the stale -shm stays, as after a crash
    done = subprocess.run(dry_run(run["recipe"], rerun), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (rerun / "dataset.jsonl").read_bytes() == (run["clean"] / "dataset.jsonl").read_bytes()
    db = sqlite3.connect(rerun / Store.FILENAME)
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()


WRITER = """
import sys
from synthloom.backends.base import Response
from synthloom.record import Record
from synthloom.store import Store

store, size, log = Store(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "a")
batch = store.counts(10**9)["kept"] // size
pad = "x" * 3000
with store.group_commit():  # writes queue up; flush() commits them in one transaction: one batch
    while True:
        for i in range(batch * size, (batch + 1) * size):
            store.put_response(f"k{i}", "{}", Response(f"{i} {pad}"))
            store.put_record(Record(i, f"r-{i}", {"i": i}, {"text": f"{i} {pad}"}))
        store.flush()
        log.write(f"{batch}\\n")
        log.flush()
        batch += 1
"""


def test_kill_9_inside_store_commits_leaves_only_whole_batches(tmp_path):
    """A writer committing batches of 100 records and 100 responses, killed -9 inside its write
    transaction 8 times (half of them aimed at the moment its frames are being written): every
    reopen holds whole batches, at least all it reported committed, and the next writer goes on."""
    batch, rng = 100, random.Random(SEED + 2)
    path, log = tmp_path / Store.FILENAME, tmp_path / "committed.log"
    torn_kills, figures, kept = 0, [], 0
    for kill in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(batch), str(log)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda kept=kept: log.exists() and len(log.read_text().split()) > kept, proc, "a first commit")
            time.sleep(rng.uniform(0.0, 0.2))
            kill_in_transaction(proc, tmp_path, mid_frames_for=3.0 if kill % 2 == 0 else 0.0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        uncommitted = uncommitted_frames(tmp_path / f"{Store.FILENAME}-wal")
        torn_kills += uncommitted > 0
        reported = len(log.read_text().split())
        contents = store_contents(copy_store(tmp_path, tmp_path / "copy"))
        indices = [row[0] for row in contents["records"]]
        assert len(indices) % batch == 0 and indices == list(range(len(indices))), "a half batch survived"
        assert sorted(key for key, *_ in contents["responses"]) == sorted(f"k{i}" for i in indices)
        assert len(indices) // batch >= reported, "a batch reported committed is missing"
        kept = len(indices) // batch
        figures.append((kept, uncommitted))
        log.write_text("".join(f"{b}\n" for b in range(kept)))
    print(f"\n8 kills inside a write transaction: (batches kept, uncommitted WAL frames the kill left) = {figures}; "
          f"{torn_kills} left a half-written transaction in the WAL")
    assert torn_kills >= 2, "the kills did not land while a transaction's frames were being written"
    assert figures[-1][0] > figures[0][0], "the writers made no progress between kills"
