"""Writing files atomically: beside the target under a temp name, synced, renamed into place only
when complete, the temp removed on any error. A disk that fills up or a read-only directory is one
line naming the file (WriteError, exit 2), never a traceback or a half-written file.

`move_into_place` is the one rename every writer goes through; `atomic_write` is one file,
`Staging` a set of files renamed together (a run directory's files, run.json last).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import RunStopped

__all__ = ["WriteError", "describe_os_error", "write_error", "atomic_write", "write_text_atomic", "move_into_place",
           "Staging", "remove_quietly", "remove_stale_temps"]


class WriteError(RunStopped):
    """An output file could not be written (disk full, read-only, permissions); nothing half-written is left."""

    def __init__(self, path: Path, reason: str, hint: str = ""):
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot write {path}: {reason}" + (f"; {hint}" if hint else ""))


ERRNO_IN_TEXT = re.compile(r"errno[ =]*(\d+)", re.IGNORECASE)


def describe_os_error(exc: OSError) -> str:
    """The reason in words ('No space left on device'), also for pyarrow's OSErrors, which carry
    the errno only in their text."""
    number = exc.errno
    if not number:
        found = ERRNO_IN_TEXT.search(str(exc))
        number = int(found.group(1)) if found else None
    if number:
        return os.strerror(number)
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


HINTS = {
    errno.ENOSPC: "free some space and run the same command again",
    errno.EDQUOT: "free some space and run the same command again",
}


def write_error(path: Path, exc: OSError, hint: str | None = None) -> WriteError:
    """The one-line error for an OSError met while writing `path`."""
    reason = describe_os_error(exc)
    if hint is None:
        number = exc.errno or next((n for n in HINTS if os.strerror(n) == reason), None)
        hint = HINTS.get(number, "") if number is not None else ""
    return WriteError(path, reason, hint)


def temp_name(path: Path, unique: bool = False) -> Path:
    """`.NAME.tmp` beside `path`; `.NAME.tmp-PID` when writers that hold no lock may race
    (`remove_stale_temps` clears those a killed writer left)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}" if unique else f".{path.name}.tmp")


def move_into_place(tmp: Path, path: Path) -> None:
    """Rename a finished temp over `path`, its data synced first: a crash never leaves a renamed
    file whose blocks were not written yet."""
    sync(tmp)
    rename_over(tmp, path)


def sync(tmp: Path) -> None:
    """fsync a written file (a directory's files are left to the writer that made them)."""
    if not tmp.is_dir():
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())


def rename_over(tmp: Path, path: Path) -> None:
    """os.replace, also for a directory over an earlier one (moved aside, then removed)."""
    if not tmp.is_dir() or not path.exists():
        os.replace(tmp, path)
        return
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def remove_quietly(path: Path) -> None:
    """Remove a file or directory if it is there; a failure (a read-only directory) is not an error."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except OSError:
        pass


@contextmanager
def atomic_write(path: str | Path, hint: str | None = None, unique: bool = False) -> Iterator[Path]:
    """A temp path beside `path` to write (a file or a directory); moved into place when the block
    ends without an error, removed when it raises. An OSError becomes a WriteError naming `path`."""
    path = Path(path)
    tmp = temp_name(path, unique)
    try:
        yield tmp
        move_into_place(tmp, path)
    except OSError as exc:
        remove_quietly(tmp)
        raise write_error(path, exc, hint) from None
    except BaseException:
        remove_quietly(tmp)
        raise


def write_text_atomic(path: str | Path, text: str, hint: str | None = None) -> None:
    """Write `text` (UTF-8) to `path` atomically; a full disk or a read-only folder is a WriteError."""
    with atomic_write(path, hint) as tmp:
        tmp.write_text(text, encoding="utf-8")


class Staging:
    """Several files written under temp names, renamed into place together by `commit`: a reader
    sees either every old file or every new one (run.json, renamed last, says the set is complete)."""

    def __init__(self, hint: str | None = None):
        self.hint = hint
        self.files: list[tuple[Path, Path]] = []

    def __call__(self, path: str | Path) -> Path:
        """The temp path to write for `path`."""
        path = Path(path)
        tmp = temp_name(path)
        self.files.append((tmp, path))
        return tmp

    def commit(self) -> None:
        """Sync every file, then rename them one right after the other (the set is mixed for as
        short a time as possible)."""
        failed = Path("?")
        try:
            for tmp, target in self.files:
                failed = target
                sync(tmp)
            for tmp, target in self.files:
                failed = target
                rename_over(tmp, target)
        except OSError as exc:
            raise write_error(failed, exc, self.hint) from None
        self.files.clear()

    def discard(self) -> None:
        for tmp, _ in self.files:
            remove_quietly(tmp)
        self.files.clear()

    def failed_path(self, exc: OSError) -> Path:
        """The file an OSError is about: the one it names, else the one being written (the last
        staged: files are written one after another, and a failed write() names no file)."""
        for tmp, path in self.files:
            if exc.filename in (str(tmp), str(path)):
                return path
        if self.files:
            return self.files[-1][1]
        return Path(exc.filename or "?")

    @contextmanager
    def writing(self) -> Iterator[Staging]:
        """Commit when the block ends, discard on any error (an OSError becomes a WriteError)."""
        try:
            yield self
            self.commit()
        except OSError as exc:
            failed = self.failed_path(exc)
            self.discard()
            raise write_error(failed, exc, self.hint) from None
        except BaseException:
            self.discard()
            raise


def remove_stale_temps(path: Path) -> None:
    """What a killed writer of `path` left beside it: `.NAME.tmp-PID` (and its `.arrow` stream), and
    `.NAME.old-PID` once `path` is back, for every PID that no longer runs."""
    pattern = glob_escape(path.name)
    try:
        siblings = [*path.parent.glob(f".{pattern}.tmp-*"), *(path.parent.glob(f".{pattern}.old-*") if path.exists() else [])]
    except OSError:
        return
    for sibling in siblings:
        pid = sibling.name.rsplit("-", 1)[-1].removesuffix(".arrow")
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            remove_quietly(sibling)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
