import os

import pytest

from synthloom.files import Staging, WriteError, atomic_write, write_text_atomic


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_atomic_write_replaces_the_file_only_when_the_block_completes(tmp_path):
    target = tmp_path / "out.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("the writer failed")
    assert target.read_text() == "old" and leftovers(tmp_path) == []
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and leftovers(tmp_path) == []


def test_a_file_is_synced_before_it_is_renamed(tmp_path, monkeypatch):
    events, fsync, replace = [], os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("rename"), replace(a, b))[1])
    write_text_atomic(tmp_path / "a.txt", "x")
    assert events == ["fsync", "rename"]
    events.clear()
    with Staging().writing() as stage:
        for name in ("a.txt", "run.json"):
            stage(tmp_path / name).write_text(name)
    assert events == ["fsync", "fsync", "rename", "rename"]  # every file synced, then the renames back to back


def test_a_directory_replaces_an_earlier_one(tmp_path):
    for text in ("first", "second"):
        with atomic_write(tmp_path / "ds", unique=True) as tmp:
            tmp.mkdir()
            (tmp / "part").write_text(text)
    assert (tmp_path / "ds" / "part").read_text() == "second" and leftovers(tmp_path) == []


def test_an_os_error_is_a_write_error_naming_the_target(tmp_path):
    target = tmp_path / "missing" / "out.txt"
    with pytest.raises(WriteError, match=f"cannot write {target}: No such file or directory"):
        write_text_atomic(target, "x")
