"""The sandbox against hostile snippets: each one contained, and reported in the result."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
import subprocess
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

from synthloom.curate.verify import sandbox as sandbox_module
from synthloom.curate.verify.sandbox import Sandbox, SandboxLimits
from synthloom.errors import ConfigError

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"


def available(kind: str) -> bool:
    try:
        Sandbox(SandboxLimits(), kind)
    except ConfigError:
        return False
    return True


@pytest.fixture(params=["bwrap", "unshare"], scope="module")
def isolation(request) -> str:
    if not available(request.param):
        pytest.skip(f"{request.param} isolation is not available here")
    return request.param


def run(isolation: str, code: str, *args: str, **limits) -> sandbox_module.SandboxResult:
    box = Sandbox(SandboxLimits(**{"timeout": 5.0, **limits}), isolation)
    return box.run_sync({"main.py": textwrap.dedent(code)}, [PYTHON, "-I", "-B", "main.py", *args])


def running_with(token: str) -> list[int]:
    """Live (not zombie) processes whose command line holds `token`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state not in ("Z", "X"):
            found.append(int(pid))
    return found


def none_left(token: str) -> bool:
    deadline = time.monotonic() + 2
    while running_with(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not running_with(token)


def test_a_passing_snippet_passes(isolation):
    result = run(isolation, "print(sum(range(5)))")
    assert result.passed and result.returncode == 0 and not result.timed_out
    assert result.stdout == "10\n"
    assert result.isolation == isolation


def test_a_failing_assertion_is_reported(isolation):
    result = run(isolation, "def add(a, b):\n    return a - b\nassert add(1, 2) == 3, 'add is wrong'\n")
    assert not result.passed and result.returncode == 1
    assert "AssertionError: add is wrong" in result.stderr
    assert "/tmp/synthloom-sandbox" not in result.stderr  # paths are relative to the run's dir


def test_no_network_interface_but_loopback_and_no_route_out(isolation):
    result = run(isolation, """
        import socket
        print(sorted(name for _, name in socket.if_nameindex()))
        try:
            socket.create_connection(("1.1.1.1", 80), timeout=3)
            print("CONNECTED")
        except OSError as exc:
            print("errno", exc.errno)
    """)
    assert result.passed, result.stderr
    interfaces, outcome = result.stdout.splitlines()
    assert interfaces == "['lo']"
    assert outcome == f"errno {errno.ENETUNREACH}"


CONNECT_TO_LISTENER = """
    import socket
    try:
        s = socket.create_connection(("127.0.0.1", {port}), timeout=3)
        s.sendall(b"escaped")
        print("CONNECTED")
    except OSError as exc:
        print("refused", exc.errno)
"""


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    yield server
    server.close()


def accepted(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def test_a_listener_on_our_loopback_is_unreachable(isolation, listener):
    result = run(isolation, CONNECT_TO_LISTENER.format(port=listener.getsockname()[1]))
    assert result.stdout.strip() in (f"refused {errno.ECONNREFUSED}", f"refused {errno.ENETUNREACH}")  # lo up or down
    assert not accepted(listener)


def test_without_isolation_the_same_snippet_reaches_the_listener(listener):
    """The control for the test above: the check does detect a connection."""
    result = run("none", CONNECT_TO_LISTENER.format(port=listener.getsockname()[1]))
    assert result.stdout.strip() == "CONNECTED"
    assert accepted(listener)


def test_writes_outside_its_dir_fail_and_leave_nothing(isolation, tmp_path):
    outside = tmp_path / "escaped.txt"
    result = run(isolation, f"""
        import os
        for path in ({str(outside)!r}, "/etc/synthloom-escaped", "/var/tmp/synthloom-escaped", "inside.txt"):
            try:
                with open(path, "w") as f:
                    f.write("x")
                print("wrote", path, os.path.getsize(path))
            except OSError as exc:
                print("denied", path, exc.errno)
    """)
    assert result.passed, result.stderr
    assert not outside.exists()
    assert not Path("/etc/synthloom-escaped").exists()
    assert not Path("/var/tmp/synthloom-escaped").exists()
    assert "wrote inside.txt 1" in result.stdout  # its own dir is writable
    assert "denied /etc/synthloom-escaped" in result.stdout


def test_its_dir_is_removed_even_when_locked(isolation):
    result = run(isolation, "import os\nos.mkdir('d'); open('d/f', 'w').write('x'); os.chmod('d', 0)\nprint(os.getcwd())")
    assert result.passed, result.stderr
    workdir = Path(result.stdout.strip())
    assert workdir.name.startswith("synthloom-sandbox-")
    assert not workdir.exists()


def test_a_fork_bomb_is_contained_and_reported(isolation):
    token = f"forkbomb-{os.getpid()}-{isolation}"
    started = time.monotonic()
    result = run(isolation, "import os\nwhile True:\n    os.fork()\n", token, timeout=5.0, max_processes=16)
    assert time.monotonic() - started < 7
    assert not result.passed
    assert result.timed_out or "Resource temporarily unavailable" in result.stderr
    assert none_left(token)


def test_the_process_limit_binds_even_for_root(isolation):
    result = run(isolation, """
        import os, time
        made = 0
        for _ in range(200):
            try:
                if os.fork() == 0:
                    time.sleep(10)
                    os._exit(0)
                made += 1
            except OSError:
                break
        print(made)
    """, max_processes=12)
    assert 0 < int(result.stdout) < 12


def test_the_api_key_of_the_parent_is_not_visible(isolation, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-for-the-sandbox")
    result = run(isolation, f"""
        import os
        print(dict(os.environ))
        for path in ("/proc/{os.getpid()}/environ", "/proc/{os.getppid()}/environ", "/proc/1/environ"):
            try:
                print(open(path, "rb").read())
            except OSError as exc:
                print("denied", path, exc.errno)
    """)
    assert result.passed, result.stderr
    assert "HOME" in result.stdout  # the snippet did print its environment
    assert "sk-test-not-for-the-sandbox" not in result.stdout
    assert "OPENAI_API_KEY" not in result.stdout


def test_sleeping_forever_is_killed_at_the_timeout(isolation):
    result = run(isolation, "import time\ntime.sleep(3600)", timeout=1.5)
    assert result.timed_out and not result.passed
    assert result.signal == "SIGKILL"
    assert 1.5 <= result.seconds < 3.5


def test_a_child_that_left_the_session_is_killed_too(isolation):
    token = f"daemon-{os.getpid()}-{isolation}"
    result = run(isolation, """
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            print("child", flush=True)
            time.sleep(3600)
        time.sleep(0.3)
        sys.exit(0)
    """, token, timeout=3.0)
    assert result.passed and result.stdout == "child\n"
    assert none_left(token)


def test_a_still_running_child_is_not_left_behind_after_a_timeout(isolation):
    token = f"orphan-{os.getpid()}-{isolation}"
    result = run(isolation, "import os, time\nos.fork()\ntime.sleep(3600)\n", token, timeout=1.0)
    assert result.timed_out
    assert none_left(token)


def test_burning_cpu_is_stopped_by_the_cpu_limit(isolation):
    result = run(isolation, "while True:\n    pass\n", timeout=20, cpu_seconds=1)
    assert not result.passed and not result.timed_out
    assert result.signal == "SIGXCPU"
    assert result.seconds < 4


def test_allocating_4_gb_fails_under_the_memory_limit(isolation):
    result = run(isolation, "block = bytearray(4 * 2**30)\nprint('ALLOCATED')", memory_mb=256)
    assert not result.passed
    assert "ALLOCATED" not in result.stdout
    assert "MemoryError" in result.stderr


def test_a_big_file_is_stopped_by_the_file_size_limit(isolation):
    result = run(isolation, "open('big', 'w').write('x' * 5_000_000)", file_size_mb=1)
    assert not result.passed
    assert "File too large" in result.stderr


def test_printing_100_mb_is_truncated_and_our_memory_stays_bounded(isolation):
    tracemalloc.start()
    try:
        result = run(isolation, "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)\nprint('END')",
                     output_bytes=10_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.passed
    assert result.stdout.startswith("[99,990,004 bytes cut]")
    assert result.stdout.endswith("xEND\n")
    assert len(result.stdout) < 10_100
    assert peak < 5_000_000


def test_killing_its_parent_or_everything_leaves_us_alive(isolation):
    sentinel = subprocess.Popen(["sleep", "60"])
    try:
        result = run(isolation, f"""
            import os, signal
            for pid in (os.getppid(), {os.getpid()}, {sentinel.pid}, -1):
                try:
                    os.kill(pid, signal.SIGKILL)
                    print("sent", pid)
                except OSError as exc:
                    print("failed", pid, exc.errno)
        """)
        assert f"failed {os.getpid()}" in result.stdout  # our pid is not even visible to it
        assert f"failed {sentinel.pid}" in result.stdout
        assert sentinel.poll() is None
    finally:
        sentinel.kill()
        sentinel.wait()


def test_runs_do_not_block_the_event_loop():
    box = Sandbox(SandboxLimits(timeout=5))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    async def main() -> list:
        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        results = await asyncio.gather(*(box.run({"main.py": "import time\ntime.sleep(1)"}, [PYTHON, "main.py"])
                                         for _ in range(2)))
        ticker.cancel()
        return [time.monotonic() - started, *results]

    elapsed, *results = asyncio.run(main())
    assert all(r.passed for r in results)
    assert elapsed < 1.9  # the two runs overlapped
    assert ticks >= 10  # and the loop kept ticking meanwhile


def test_file_names_must_stay_inside_the_dir():
    box = Sandbox(SandboxLimits())
    for name in ("../escape.py", "/etc/escape.py"):
        with pytest.raises(ValueError, match="inside the run's directory"):
            box.run_sync({name: "x"}, [PYTHON, "-c", "pass"])


def test_no_isolation_available_fails_closed(monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(sandbox_module.shutil, "which",
                        lambda name, *a, **k: None if name in ("bwrap", "unshare") else real_which(name, *a, **k))
    with pytest.raises(ConfigError, match="install bubblewrap"):
        Sandbox(SandboxLimits())
    with pytest.raises(ConfigError, match="bwrap"):
        Sandbox(SandboxLimits(), "bwrap")
    assert Sandbox(SandboxLimits(), "none").run_sync({"main.py": "print(1)"}, [PYTHON, "main.py"]).passed


def test_runs_under_uvloop():
    """The runner uses uvloop when installed; its subprocesses lack Popen's `user=`, so none is used."""
    uvloop = pytest.importorskip("uvloop")
    box = Sandbox(SandboxLimits(timeout=1))


    async def both() -> list:
        return await asyncio.gather(box.run({"main.py": "import os\nassert os.getuid() != 0"}, [PYTHON, "main.py"]),
                                    box.run({"main.py": "import time\ntime.sleep(60)"}, [PYTHON, "main.py"]))

    passed, slept = uvloop.run(both())
    assert passed.passed, passed.stderr
    assert slept.timed_out
