"""Run untrusted code: a fresh temp dir, no network, a read-only system, no secrets, rlimits.

Under isolation the run's directory is a private tmpfs of TMPFS_BYTES holding copies of its
files, so all it writes lives in capped memory: RLIMIT_FSIZE bounds one file, not how many.

As root, every run gets its own unprivileged uid: RLIMIT_NPROC does not bind root, and a uid
of its own makes the process limit count this run only, and its processes unable to signal
or write anything of ours. Isolation is bubblewrap (new user, pid, net, ipc, uts and mount
namespaces), else `unshare` (new net and pid namespaces), else a refusal unless the caller
chose `isolation="none"`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal as signals
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from ...errors import ConfigError

__all__ = ["Sandbox", "SandboxLimits", "SandboxResult", "Isolation"]

Isolation = Literal["auto", "bwrap", "unshare", "none"]

PATH = "/usr/local/bin:/usr/bin:/bin"
TMPFS_BYTES = 64 * 2**20  # each private tmpfs (its dir, /tmp, /dev/shm): it is memory, so it is capped
SANDBOX_UID = 65534  # "nobody", as seen from inside the bwrap user namespace
INSTALL_HINT = ("no network isolation is available for running generated code: install bubblewrap "
                "(apt-get install bubblewrap) or allow `unshare -n`; or set `isolation: none` to run it unisolated")


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run limits; `max_processes` counts every process of the run, the sandbox's own included."""

    timeout: float = 10.0
    cpu_seconds: int = 10
    memory_mb: int = 512
    file_size_mb: int = 16
    open_files: int = 64
    max_processes: int = 32
    output_bytes: int = 64_000


@dataclass(frozen=True)
class SandboxResult:
    """What a run did; `stdout`/`stderr` are the last `output_bytes` of each stream."""

    passed: bool
    returncode: int
    timed_out: bool
    signal: str | None
    stdout: str
    stderr: str
    seconds: float
    isolation: str


class Sandbox:
    """Runs `argv` over `files` in a fresh directory under the limits; see the module docstring."""

    def __init__(self, limits: SandboxLimits = SandboxLimits(), isolation: Isolation = "auto"):
        self.limits = limits
        self.root = os.geteuid() == 0
        self.isolation = self._choose(isolation)

    async def run(self, files: dict[str, str], argv: list[str]) -> SandboxResult:
        """Write `files` into a fresh dir, run `argv` there, and remove the dir whatever happens."""
        uid = fresh_uid() if self.root else None
        workdir = Path(tempfile.mkdtemp(prefix="synthloom-sandbox-"))
        try:
            write_files(workdir, files, uid)
            return await self._execute(self._command(workdir, argv, uid), workdir, uid)
        finally:
            await asyncio.to_thread(remove_tree, workdir)

    def run_sync(self, files: dict[str, str], argv: list[str]) -> SandboxResult:
        """`run` for callers without an event loop."""
        return asyncio.run(self.run(files, argv))

    async def _execute(self, command: list[str], workdir: Path, uid: int | None) -> SandboxResult:
        limit = self.limits.output_bytes
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *command, cwd=workdir, env=self._environment(workdir), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        readers = [asyncio.create_task(read_tail(stream, limit)) for stream in (process.stdout, process.stderr)]
        timed_out = False
        try:
            await asyncio.wait_for(process.wait(), self.limits.timeout)
        except TimeoutError:
            timed_out = True
        finally:
            if process.returncode is None:
                kill_group(process.pid)
                await process.wait()
            if uid is not None and self.isolation == "none":
                await kill_uid(uid)  # no pid namespace: children that left the group die here
        done, pending = await asyncio.wait(readers, timeout=2)
        for task in pending:
            task.cancel()
        # Relative paths, so a record's stderr does not change with the temp dir's name.
        stdout, stderr = (task.result().replace(f"{workdir}/", "") if task in done else "" for task in readers)
        code, signal = self._exit_status(await process.wait())  # returns at once: the child was reaped above
        return SandboxResult(passed=code == 0 and not timed_out, returncode=code, timed_out=timed_out,
                             signal=signal, stdout=stdout, stderr=stderr,
                             seconds=round(time.monotonic() - started, 3), isolation=self.isolation)

    def _exit_status(self, returncode: int) -> tuple[int, str | None]:
        """The child's exit code and killing signal; bwrap reports a signal as 128 + its number."""
        if returncode < 0:
            return returncode, signal_name(-returncode)
        if self.isolation in ("bwrap", "unshare") and 128 < returncode < 128 + 65:
            return returncode, signal_name(returncode - 128)
        return returncode, None

    def _environment(self, workdir: Path) -> dict[str, str]:
        return {"PATH": PATH, "HOME": str(workdir), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}

    def _command(self, workdir: Path, argv: list[str], uid: int | None) -> list[str]:
        """The uid switch (bwrap and none; unshare switches inside), limits, isolation, argv.

        Switching with `setpriv` rather than Popen's `user=`: uvloop does not support that."""
        switch = drop_to(uid) if uid is not None and self.isolation != "unshare" else []
        return switch + self._rlimits() + self._isolate(workdir, uid) + list(argv)

    def _rlimits(self) -> list[str]:
        """`prlimit` sets the limits and execs the rest (no preexec_fn: it is unsafe with the
        threads of a running backend, and uvloop lacks it)."""
        lim = self.limits
        return [shutil.which("prlimit") or "prlimit", f"--cpu={lim.cpu_seconds}:{lim.cpu_seconds + 1}",
                f"--as={lim.memory_mb * 2**20}", f"--fsize={lim.file_size_mb * 2**20}",
                f"--nofile={lim.open_files}", f"--nproc={lim.max_processes}", "--core=0", "--"]

    def _isolate(self, workdir: Path, uid: int | None) -> list[str]:
        if self.isolation == "bwrap":
            return bwrap_prefix(workdir, sorted(p.relative_to(workdir) for p in workdir.rglob("*") if p.is_file()))
        if self.isolation == "unshare":
            return unshare_prefix(workdir, uid)
        return []

    def _choose(self, isolation: Isolation) -> str:
        """The isolation to use, probed once; fail closed when none works and none was asked for."""
        for tool in ("prlimit", "setpriv") if self.root else ("prlimit",):
            if shutil.which(tool) is None:
                raise ConfigError(f"running generated code needs `{tool}` (util-linux: apt-get install util-linux)")
        if isolation == "none":
            return "none"
        for kind in ("bwrap", "unshare") if isolation == "auto" else (isolation,):
            if self._works(kind):
                return kind
        if isolation == "auto":
            raise ConfigError(INSTALL_HINT)
        raise ConfigError(f"isolation {isolation!r} does not work here (missing or not permitted); "
                          f"use `isolation: auto` or install bubblewrap (apt-get install bubblewrap)")

    def _works(self, kind: str) -> bool:
        """Whether `kind` can start a process here, tried as the uid the runs will use."""
        tool = "bwrap" if kind == "bwrap" else "unshare"
        if shutil.which(tool) is None:
            return False
        uid = fresh_uid() if self.root else None
        probe = Path(tempfile.mkdtemp(prefix="synthloom-probe-"))
        try:
            if uid is not None:
                os.chown(probe, uid, uid)
            prefix = bwrap_prefix(probe) if kind == "bwrap" else unshare_prefix(probe, uid)
            switch = drop_to(uid) if uid is not None and kind == "bwrap" else []
            done = subprocess.run(switch + prefix + ["/bin/sh", "-c", "exit 0"], cwd=probe, env=self._environment(probe),
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
            return done.returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False
        finally:
            remove_tree(probe)


def bwrap_prefix(workdir: Path, files: Sequence[Path] = ()) -> list[str]:
    """bubblewrap: every namespace new, / read-only; writable only private tmpfs mounts: /tmp
    and `workdir` itself, where the run's `files` (relative paths) are bound back read-only."""
    hide = [arg for path in ("/run", "/dev/shm") if os.path.isdir(path) for arg in ("--size", str(TMPFS_BYTES), "--tmpfs", path)]
    inputs = [arg for name in files for arg in ("--ro-bind", str(workdir / name), str(workdir / name))]
    return [shutil.which("bwrap") or "bwrap", "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID),
            "--gid", str(SANDBOX_UID), "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp", *hide,
            "--size", str(TMPFS_BYTES), "--tmpfs", str(workdir), *inputs, "--chdir", str(workdir), "--clearenv",
            "--setenv", "PATH", PATH, "--setenv", "HOME", str(workdir), "--setenv", "LANG", "C.UTF-8",
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--"]


def unshare_prefix(workdir: Path, uid: int | None) -> list[str]:
    """util-linux: new net, pid and mount namespaces; private tmpfs over the world-writable
    dirs and over the run's dir (its files copied in); as root, the command then drops to `uid`."""
    unshare = shutil.which("unshare") or "unshare"
    spaces = ["--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    hide = " ".join(path for path in ("/tmp", "/var/tmp", "/dev/shm", "/run") if os.path.isdir(path))
    # The dir is held open across the tmpfs mounts that hide it, then copied from its fd into its own.
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    mounts = (f'exec 3<"$0"; for d in {hide}; do mount -t tmpfs -o size={TMPFS_BYTES},mode=1777 tmpfs "$d" || exit 125; done; '
              f'mkdir -p "$0" && mount -t tmpfs -o size={TMPFS_BYTES},mode=0700{owner} tmpfs "$0" && '
              'cp -a /proc/self/fd/3/. "$0"/ && exec 3<&- && cd "$0" && exec "$@" || exit 125')
    # A shell as the namespace's init: the command must not be pid 1, which ignores SIGXCPU
    # and its own kill; the shell reports a signal as 128 + its number, as bwrap does.
    init = ["/bin/sh", "-c", '"$@"; exit $?', "sh"]
    setup = ["/bin/sh", "-c", mounts, str(workdir)]
    if uid is None:
        return [unshare, "--map-root-user", *spaces, "--", *setup, *init]
    setpriv = shutil.which("setpriv") or "setpriv"
    return [unshare, *spaces, "--", *setup, setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--", *init]


def drop_to(uid: int) -> list[str]:
    """A prefix that runs the rest as `uid`, with no supplementary groups."""
    return [shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


def write_files(workdir: Path, files: dict[str, str], uid: int | None) -> None:
    """Write the run's files; names must stay inside `workdir`."""
    for name, text in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"sandbox file name {name!r} must be a relative path inside the run's directory")
        path = workdir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if uid is not None:
        for path in [workdir, *workdir.rglob("*")]:
            os.chown(path, uid, uid)


async def read_tail(stream: asyncio.StreamReader | None, limit: int) -> str:
    """Read a stream to its end keeping only its last `limit` bytes, so memory stays bounded."""
    tail = bytearray()
    total = 0
    while stream is not None and (chunk := await stream.read(65536)):
        total += len(chunk)
        tail += chunk
        if len(tail) > limit:
            del tail[: len(tail) - limit]
    text = tail.decode("utf-8", errors="replace")
    return f"[{total - len(tail):,} bytes cut]\n{text}" if total > len(tail) else text


def kill_group(pid: int) -> None:
    """SIGKILL the run's process group; the namespaces take the rest down with it."""
    try:
        os.killpg(pid, signals.SIGKILL)
    except ProcessLookupError:
        pass


async def kill_uid(uid: int) -> None:
    """SIGKILL every process of `uid` (`kill -1` as that uid reaches exactly those)."""
    kill = shutil.which("kill")
    if kill is None:
        return
    reaper = await asyncio.create_subprocess_exec(*drop_to(uid), kill, "-KILL", "-1",
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await reaper.wait()


def remove_tree(path: Path) -> None:
    """Remove a run's directory even if the code made parts of it unwritable."""
    def unlock(function, failed, _exc) -> None:
        os.chmod(os.path.dirname(failed), stat.S_IRWXU)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, stat.S_IRWXU)
        function(failed)

    if sys.version_info < (3, 12):
        shutil.rmtree(path, onerror=unlock)
    else:
        shutil.rmtree(path, onexc=unlock)


def fresh_uid() -> int:
    """A uid no account uses, one per run (below 2**31: bwrap reads uids as signed ints)."""
    return 2_000_000_000 + secrets.randbelow(100_000_000)


def signal_name(number: int) -> str:
    try:
        return signals.Signals(number).name
    except ValueError:
        return f"signal {number}"
