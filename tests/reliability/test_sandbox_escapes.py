"""Hostile generated code through a real recipe run: each escape is contained, and the record
that tried it is rejected with a reason and detail that say what happened.

tests/curate/test_sandbox.py already proves containment at the Sandbox level under bwrap and
unshare (a route out and a loopback listener, with the unisolated control that does connect;
writes to the test's tmp dir, /etc and /var/tmp; reading OPENAI_API_KEY and /proc/*/environ;
a fork bomb and the process limit for root; sleep forever; a busy loop against the CPU limit;
a 4 GB allocation; a 5 MB file against a 1 MB file limit; 100 MB on stdout; kill -9 of its
parent, of the test process, of a sibling and of -1; children that leave the session).
tests/curate/test_code_check.py checks the step's verdicts on single records (timeout,
cpu_limit, memory_limit, the API key). What is new here: every attack goes through
`synthloom run` with a `code` curation step, as one dataset; the run must finish (exit 0) with
each attack's rejection in rejected.jsonl; and filling the disk with many files, which
RLIMIT_FSIZE (one file) does not bound, must stop at the run directory's tmpfs.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from synthloom.curate.verify.sandbox import Sandbox, SandboxLimits
from synthloom.errors import ConfigError
from tests.conftest import run_cli

SECRET = "sk-escape-test-4f1c9a7e"  # in the environment of `synthloom run`, never to be seen by the code
TIMEOUT = 3


def available(kind: str) -> bool:
    try:
        Sandbox(SandboxLimits(), kind)
    except ConfigError:
        return False
    return True


def attacks(port: int, outside: Path, token: str) -> dict[str, str]:
    """Attack name → the program a model might have written."""
    return {
        "benign": """
            def double(x):
                return 2 * x
            assert double(4) == 8
        """,
        "network": f"""
            import socket
            s = socket.create_connection(("127.0.0.1", {port}), timeout=3)
            s.sendall(b"escaped")
            raise SystemExit("connected to the host's listener")
        """,
        "write_outside": f"""
            with open({str(outside)!r}, "w") as f:
                f.write("escaped")
            raise SystemExit("wrote outside")
        """,
        "read_environment": """
            import os, sys
            for path in ["/proc/self/environ"] + [f"/proc/{p}/environ" for p in os.listdir("/proc") if p.isdigit()]:
                try:
                    text = open(path, "rb").read().decode(errors="replace")
                except OSError:
                    continue
                if "SYNTHLOOM_ESCAPE_TEST_KEY" in text or "sk-escape" in text:
                    sys.exit("found the key in " + path + ": " + text)
            key = os.environ["SYNTHLOOM_ESCAPE_TEST_KEY"]
        """,
        "fork_bomb": f"""
            import os, sys
            os.execv(sys.executable, [sys.executable, "-c", "import os\\nwhile True:\\n    os.fork()", {token!r}])
        """,
        "memory_bomb": """
            blocks = []
            while True:
                blocks.append(bytearray(64 * 2**20))
        """,
        "infinite_loop": """
            while True:
                pass
        """,
        "kill_parent": """
            import os, signal
            done = []
            targets = [os.getppid(), -1] + [int(p) for p in os.listdir("/proc") if p.isdigit()
                                            and b"synthloom" in open(f"/proc/{p}/cmdline", "rb").read()]
            for pid in targets:
                try:
                    os.kill(pid, signal.SIGKILL)
                    done.append(f"{pid} sent")
                except OSError as exc:
                    done.append(f"{pid} errno {exc.errno}")
            raise SystemExit("still alive after kill -9 of " + ", ".join(done))
        """,
        "killpg": """
            import os, signal, sys
            try:
                os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
            except OSError as exc:
                print("killpg of its parent's group:", exc, file=sys.stderr, flush=True)
            os.killpg(0, signal.SIGKILL)  # its own group, itself included
            raise SystemExit("still alive after killpg")
        """,
        "huge_file": """
            with open("huge", "wb") as f:
                while True:
                    f.write(b"x" * 2**20)
        """,
        "fill_disk": """
            written = 0
            for i in range(20):  # 200 MB in 10 MB files: each under the file size limit
                with open(f"part{i}", "wb") as f:
                    f.write(b"x" * 10_000_000)
                written += 10_000_000
            raise SystemExit(f"wrote {written:,} bytes")
        """,
    }


# attack → (reason, a pattern the detail must match): what the record must say
EXPECTED = {
    "network": ("tests_failed", r"^(ConnectionRefusedError: \[Errno 111\]|OSError: \[Errno 101\] Network is unreachable)"),
    "write_outside": ("tests_failed", r"^(OSError: \[Errno 30\] Read-only file system|PermissionError: \[Errno 13\]"
                                      r"|FileNotFoundError: \[Errno 2\]).*escaped\.txt"),
    "read_environment": ("tests_failed", r"^KeyError: 'SYNTHLOOM_ESCAPE_TEST_KEY' at line \d+"),
    "fork_bomb": (("tests_failed", "timeout"), r"^(BlockingIOError: \[Errno 11\] Resource temporarily unavailable|no exit within)"),
    "memory_bomb": ("memory_limit", r"^MemoryError at line \d+.*\(limit 256 MB\)$"),
    "infinite_loop": ("timeout", rf"^no exit within {TIMEOUT}s \(killed\)$"),
    # its parent is its namespace's init (pid 1, which ignores it); the only "synthloom" process it
    # can see is that init (bwrap's command line names the run's dir); kill -1 finds no one else
    "kill_parent": ("tests_failed", r"^still alive after kill -9 of 1 (sent|errno \d+), -1 (sent|errno 3)(, 1 (sent|errno \d+))?$"),
    "killpg": ("killed", r"^killed by SIGKILL$"),
    "huge_file": ("tests_failed", r"^OSError: \[Errno 27\] File too large"),
    "fill_disk": ("tests_failed", r"^OSError: \[Errno 28\] No space left on device at line \d+"),
}


def recipe(programs: dict[str, str], isolation: str) -> str:
    return yaml.safe_dump({
        "name": "escapes",
        "seed": 3,
        "entities": {"attack": [{"name": name, "code": textwrap.dedent(code).strip() + "\n"} for name, code in programs.items()]},
        "slots": {"attack": {"from": "attack", "sampler": "coverage"}},
        "stages": [{"name": "note", "prompt": "Attack {{ attack.name }}", "params": {"max_tokens": 4}}],
        "curate": [{"kind": "code", "name": "verified", "code": "{{ attack.code }}", "min_asserts": 0,
                    "timeout": TIMEOUT, "cpu_seconds": 30, "memory_mb": 256, "max_processes": 16,
                    "isolation": isolation}],
    }, sort_keys=False)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def live_with(token: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes() and \
                    Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX":
                found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.fixture(params=["bwrap", "unshare"])
def isolation(request) -> str:
    if not available(request.param):
        pytest.skip(f"{request.param} isolation is not available here")
    return request.param


def test_every_escape_in_a_recipe_run_is_contained_and_reported(isolation, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    outside = tmp_path / "escaped.txt"
    token = f"escape-forkbomb-{os.getpid()}-{isolation}"
    programs = attacks(listener.getsockname()[1], outside, token)
    path = tmp_path / "escapes.yaml"
    path.write_text(recipe(programs, isolation), encoding="utf-8")
    # A process of ours whose command line says synthloom, for the attack that hunts for them.
    sentinel = subprocess.Popen(["bash", "-c", "exec -a synthloom-sentinel sleep 120"])
    out = tmp_path / "out"
    try:
        started = time.monotonic()
        done = run_cli("run", path, "-n", len(programs), "--dry-run", "--quiet", "--out", out,
                       env={"SYNTHLOOM_ESCAPE_TEST_KEY": SECRET, "OPENAI_API_KEY": SECRET}, timeout=120)
        seconds = time.monotonic() - started
        assert sentinel.poll() is None, "the sandboxed code killed a process of ours"
    finally:
        sentinel.kill()
        sentinel.wait()
    try:
        listener.accept()[0].close()
        reached = True
    except BlockingIOError:
        reached = False
    finally:
        listener.close()

    assert done.returncode == 0, done.stderr  # the run itself survived every attack
    assert not reached, "the sandboxed code connected to a port listening on the host's loopback"
    assert not outside.exists()
    assert not live_with(token), "fork bomb processes outlived the run"

    kept = rows(out / "dataset.jsonl")
    assert [r["attack"]["name"] for r in kept] == ["benign"]
    assert kept[0]["verified"]["passed"] is True and kept[0]["verified"]["isolation"] == isolation
    rejected = {r["row"]["attack"]["name"]: r for r in rows(out / "rejected.jsonl")}
    assert set(rejected) == set(EXPECTED)
    for name, (reasons, pattern) in EXPECTED.items():
        record = rejected[name]
        assert record["stage"] == "verified"
        assert record["reason"] in ((reasons,) if isinstance(reasons, str) else reasons), (name, record["reason"], record["detail"])
        assert re.search(pattern, record["detail"]), (name, record["detail"])
        outcome = record["row"]["verified"]
        assert outcome["passed"] is False and outcome["isolation"] == isolation
        assert outcome["seconds"] < TIMEOUT + 3, (name, outcome)
    assert rejected["infinite_loop"]["row"]["verified"]["timed_out"] is True
    assert rejected["killpg"]["row"]["verified"]["signal"] == "SIGKILL"

    # The key is nowhere: not in any file of the run (the store included), not in what it printed.
    for file in out.rglob("*"):
        if file.is_file():
            assert SECRET.encode() not in file.read_bytes(), file
    assert SECRET not in done.stdout + done.stderr
    print(f"\n{isolation}: {len(programs)} attacks in {seconds:.1f}s: " +
          "; ".join(f"{n}: {r['reason']} ({r['detail'][:60]})" for n, r in sorted(rejected.items())))


def test_many_files_stop_at_the_run_directory_tmpfs(isolation):
    """RLIMIT_FSIZE caps each file at file_size_mb; the run's directory is a 64 MB tmpfs, so
    many files under that cap cannot fill our disk either (before the fix: 200 MB written)."""
    box = Sandbox(SandboxLimits(timeout=20), isolation)
    result = box.run_sync({"main.py": textwrap.dedent(attacks(0, Path("/"), "")["fill_disk"])},
                          ["/usr/bin/python3", "-I", "-B", "main.py"])
    assert not result.passed
    assert "No space left on device" in result.stderr, result.stderr
    assert "wrote" not in result.stderr


def test_the_run_directory_holds_its_files_and_is_writable(isolation):
    """The tmpfs over the run's directory still has the program's files, and the code can write there."""
    box = Sandbox(SandboxLimits(timeout=10), isolation)
    result = box.run_sync({"main.py": "import os\nfrom pkg import mod\nopen('out', 'w').write(mod.X)\n"
                                      "print(sorted(os.listdir('.')), open('out').read(), os.getuid())",
                           "pkg/__init__.py": "", "pkg/mod.py": "X = 'ok'\n"},
                          ["/usr/bin/python3", "-B", "main.py"])
    assert result.passed, result.stderr
    listing, text, uid = result.stdout.rsplit(" ", 2)
    assert listing == "['main.py', 'out', 'pkg']" and text == "ok"
    assert int(uid) != 0 or isolation == "unshare" and os.geteuid() != 0
