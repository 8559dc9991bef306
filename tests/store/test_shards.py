import subprocess
import sys

import pytest

from synthloom.backends import Response
from synthloom.errors import ConfigError
from synthloom.record import Record
from synthloom.store import SHARDS, ShardStore, Store, merge_shards, shard_counts


def test_merge_shard_keeps_a_shard_record_over_a_failure_and_is_idempotent(tmp_path):
    store = Store.open_dir(tmp_path)
    store.put_failure(Record(0, "r-0", {}), "s", "timeout", "", transient=True)
    store.put_failure(Record(1, "r-1", {}), "s", "empty_output", "", transient=False)
    shard = Store(tmp_path / "shard.sqlite")
    shard.put_response("k", "{}", Response("x"))
    shard.put_record(Record(0, "r-0", {}, {"t": "y"}))
    shard.put_failure(Record(2, "r-2", {}), "s", "timeout", "", transient=True)
    shard.close()
    for _ in range(2):
        store.merge_shard(tmp_path / "shard.sqlite")
        assert store.counts(10) == {"kept": 1, "rejected": 2} and store.count_responses() == 1
        assert store.finished_indices(10) == {0, 1}
    store.put_record(Record(2, "r-2", {}, {"t": "z"}))  # the merged transient failure is cleared by its record
    assert [f["index"] for f in store.iter_failures(10)] == [1]
    store.close()


def test_a_shard_store_reads_the_run_store_and_is_held_by_one_worker(tmp_path):
    run = Store.open_dir(tmp_path)
    run.put_response("paid", "{}", Response("from the run"))
    shard = ShardStore.for_worker(tmp_path, 0)
    assert shard.get_response("paid") == Response("from the run")  # a resumed run pays for nothing twice
    with pytest.raises(ConfigError, match="is in use by another worker"):
        ShardStore(shard.path, tmp_path / Store.FILENAME)
    shard.put_record(Record(0, "r-0", {}))
    shard.put_failure(Record(1, "r-1", {}), "s", "empty_output", "", transient=False)
    assert shard_counts(tmp_path) == {"kept": 1, "failed": 1}
    shard.close()
    assert merge_shards(run, tmp_path) == 1
    assert run.counts(10) == {"kept": 1, "rejected": 1} and not (tmp_path / SHARDS).exists()
    assert shard_counts(tmp_path) == {"kept": 0, "failed": 0}
    run.close()


WORKER = """
import sys, time
from pathlib import Path
from synthloom.record import Record
from synthloom.store import ShardStore
shard = ShardStore.for_worker(Path(sys.argv[1]), 0)
shard.put_record(Record(0, "r-0", {}))
print("written", flush=True)
time.sleep(float(sys.argv[2]))
shard.close()
"""


def test_merging_waits_for_a_worker_still_writing_its_shard(tmp_path):
    run = Store.open_dir(tmp_path)
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), "1.5"], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "written"
        with pytest.raises(ConfigError, match="still written by a worker of an earlier run; stop it"):
            merge_shards(run, tmp_path, wait=0.2)
        assert run.counts(10)["kept"] == 0 and (tmp_path / SHARDS).exists()  # nothing merged under a live writer
        assert merge_shards(run, tmp_path, wait=30) == 1  # the worker finishes while the merge waits
        assert worker.wait(timeout=30) == 0 and run.counts(10)["kept"] == 1
    finally:
        worker.kill()
        worker.wait()
    run.close()
