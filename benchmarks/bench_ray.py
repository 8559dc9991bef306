"""`--executor ray` throughput and memory: records/s with 1, 2 and 4 workers against the zero-latency
server, as ratios to one worker and to a local run (whole commands, the same recipe and server),
and the largest dry run through Ray with the peak RSS of the driver, the writer and a worker.

    .venv/bin/python benchmarks/bench_ray.py [--n 3000] [--dry-n 200000] [--results FILE]

The cluster is started once (`ray start --head`, its own temp dir, killed by process id at the
end), so cluster start-up is not counted; each Ray run still pays for connecting and for its
workers' start. Writes benchmarks/results/ray.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from zero_latency_server import serve_subprocess

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RECIPE = ROOT / "benchmarks" / "recipes" / "bench.yaml"
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


@contextlib.contextmanager
def cluster(cpus: int):
    """A one-node cluster of `cpus` CPUs in its own temp dir; yields (address, temp dir)."""
    base = Path(tempfile.mkdtemp(prefix="rb", dir="/tmp"))
    port = free_port()
    head = subprocess.Popen([str(BIN / "ray"), "start", "--head", f"--num-cpus={cpus}", f"--temp-dir={base}",
                             "--node-ip-address=127.0.0.1", f"--port={port}", "--include-dashboard=false",
                             "--disable-usage-stats", "--block"], env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (base / "session_latest").exists():
            if head.poll() is not None or time.monotonic() > deadline:
                sys.exit("FAILED: ray start --head did not come up")
            time.sleep(0.3)
        time.sleep(2)
        yield f"127.0.0.1:{port}", base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        for pid in pids():  # this cluster's processes only: they name its temp dir, or their raylet does
            if str(base) in cmdline(pid) or str(base) in cmdline(parent(pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


class Peaks(threading.Thread):
    """Polls the peak RSS of the driver, the writer actor and the busiest worker of a cluster."""

    def __init__(self, driver: int, base: Path):
        super().__init__(daemon=True)
        self.driver, self.base, self.stop = driver, base, threading.Event()
        self.figures = {"driver": 0.0, "writer": 0.0, "worker": 0.0}

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.figures["driver"] = max(self.figures["driver"], peak_rss_mb(self.driver))
            for pid in pids():
                name = cmdline(pid)
                if name.startswith("ray::StoreWriter") or name.startswith("ray::run_shard"):
                    if str(self.base) in cmdline(parent(pid)):
                        key = "writer" if "StoreWriter" in name else "worker"
                        self.figures[key] = max(self.figures[key], peak_rss_mb(pid))


def timed_run(args: list[str], out: Path, base: Path | None = None) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "synthloom"), "run", str(RECIPE), "--out", str(out), "--quiet", *args],
                            cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks = Peaks(proc.pid, base) if base else None
    if peaks:
        peaks.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    if peaks:
        peaks.stop.set()
        peaks.join()
    if proc.returncode != 0:
        sys.exit(f"FAILED: synthloom run {' '.join(args)}: {err.strip()}")
    summary = json.loads((out / "run.json").read_text())
    return seconds, {"kept": summary["kept"], **(peaks.figures if peaks else {})}


def main() -> int:  # noqa: C901 - one straight run of measurements
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="records per throughput run")
    parser.add_argument("--dry-n", type=int, default=200_000, help="records of the largest dry run through Ray")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "ray.json")
    a = parser.parse_args()
    results: dict = {"n": a.n, "cpus": os.cpu_count(), "load_at_start": round(os.getloadavg()[0], 2), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="synthloom-bench-ray-") as tmp, serve_subprocess() as url, \
            cluster(4) as (address, base):
        backend = ["--backend", "openai", "--base-url", url, "--model", "bench", "-n", str(a.n)]
        seconds, _ = timed_run(backend, Path(tmp) / "local")
        results["runs"]["local"] = {"seconds": round(seconds, 2), "records_per_s": round(a.n / seconds, 1)}
        print(f"local: {a.n / seconds:,.0f} records/s", flush=True)
        for workers in (1, 2, 4):
            seconds, figures = timed_run([*backend, "--executor", "ray", "--ray-address", address,
                                          "--ray-workers", str(workers)], Path(tmp) / f"ray{workers}", base)
            assert figures["kept"] == a.n
            results["runs"][f"ray-{workers}"] = {"seconds": round(seconds, 2), "records_per_s": round(a.n / seconds, 1)}
            print(f"ray, {workers} workers: {a.n / seconds:,.0f} records/s", flush=True)
        one, local = results["runs"]["ray-1"]["records_per_s"], results["runs"]["local"]["records_per_s"]
        for workers in (1, 2, 4):
            run = results["runs"][f"ray-{workers}"]
            run["vs_one_worker"] = round(run["records_per_s"] / one, 2)
            run["vs_local"] = round(run["records_per_s"] / local, 2)
        seconds, figures = timed_run(["--dry-run", "-n", str(a.dry_n), "--executor", "ray", "--ray-address", address,
                                      "--ray-workers", "2"], Path(tmp) / "dry", base)
        assert figures["kept"] == a.dry_n
        results["dry_run"] = {"n": a.dry_n, "workers": 2, "seconds": round(seconds, 1),
                              "records_per_s": round(a.dry_n / seconds, 1),
                              "peak_rss_mb": {k: round(figures[k], 1) for k in ("driver", "writer", "worker")}}
        print(f"dry run of {a.dry_n:,} records through Ray: {seconds:.0f} s, peak RSS {results['dry_run']['peak_rss_mb']}")
    a.results.parent.mkdir(parents=True, exist_ok=True)
    a.results.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
