import os
import signal
import subprocess
import sys

import pytest

from synthloom.errors import ConfigError
from synthloom.store import RunLock
from synthloom.store.lock import hold_lock

HOLDER = """
import sys, time
from pathlib import Path
from synthloom.store import RunLock
with RunLock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_run_lock_is_exclusive(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(ConfigError, match="in use by another synthloom run"):
            with RunLock(tmp_path):
                pass
    with RunLock(tmp_path):
        pass
    assert (tmp_path / ".lock").exists()  # left in place: the next run locks the same file


def test_run_lock_names_the_holder_and_is_free_once_the_holder_is_killed(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError) as refused:
            with RunLock(tmp_path):
                pass
        assert str(refused.value) == f"{tmp_path} is in use by another synthloom run (pid {holder.pid})"
        assert (tmp_path / ".lock").read_text() == str(holder.pid)  # the refused run did not clear it
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with RunLock(tmp_path):  # the kernel dropped the killed holder's lock
        assert (tmp_path / ".lock").read_text() == str(os.getpid())


def test_two_holders_in_one_process_exclude_each_other(tmp_path):
    first = hold_lock(tmp_path / "x.lock")
    assert first is not None
    assert hold_lock(tmp_path / "x.lock", wait=0.3) is None
    first.release()
    second = hold_lock(tmp_path / "x.lock")
    assert second is not None
    second.release()


def test_a_directory_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=f"cannot write in {tmp_path / 'file' / 'out'}: Not a directory"):
        with RunLock(tmp_path / "file" / "out"):
            pass
