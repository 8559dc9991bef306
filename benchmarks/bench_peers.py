"""Whole-command records/s of `synthloom run` vs the peer tools, same loopback server, same prompts, same run.

Peers: bespokelabs-curator, distilabel and NeMo Data Designer, each installed once from PyPI
into its own venv under ~/.cache/synthloom/peers-venv/ (peer_venvs.py) and driven by a short
script in peers/ that does what the tool's docs show. Every tool gets the same N inputs (the
slots synthloom samples for records 0..N-1 of recipes/reviews.yaml), renders
"Write a {sentiment} review of {product}." with max_tokens 64 and temperature 1.0, and runs
as a subprocess timed from process start to exit. Rounds are interleaved (the order rotates
each round); every round gets fresh output directories and the tools' caches are off. The
figure is the median over rounds of synthloom's records/s over each peer's. Goal: >= 3x the
fastest peer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from fake_openai_server import serve_subprocess, server_stats
from peer_venvs import VENV_ROOT, PeerInstall, PeerUnavailable, ensure_venv

BENCH_DIR = Path(__file__).resolve().parent
RECIPE = BENCH_DIR / "recipes" / "reviews.yaml"
PROMPT = "Write a {sentiment} review of {product}."
TIKTOKEN_FILE = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"  # tiktoken's cache name for cl100k_base
# No network here but the registries: telemetry off, Hugging Face offline. Caches off or fresh.
PEER_ENV = {"TELEMETRY_ENABLED": "false", "NEMO_TELEMETRY_ENABLED": "false", "DO_NOT_TRACK": "1",
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OPENAI_API_KEY": "sk-bench"}


@dataclass(frozen=True)
class Peer:
    """A peer tool: what to install, its runner script, and the settings it runs with."""

    name: str
    install: PeerInstall
    script: str
    settings: str
    env: dict[str, str] = field(default_factory=dict)


PEERS = (
    Peer("bespokelabs-curator", PeerInstall("curator", ("bespokelabs-curator==0.1.31",), "bespokelabs-curator"),
         "curator_run.py",
         "curator.LLM(backend='openai', backend_params={base_url, max_concurrent_requests: {K}, "
         "max_requests_per_minute: 1e9, max_tokens_per_minute: 1e12, max_retries: 1}) (without rpm/tpm it "
         "assumes 200 requests/min); CURATOR_DISABLE_CACHE=1 and a fresh working_dir per round",
         {"CURATOR_DISABLE_CACHE": "1"}),
    # distilabel 1.5.3 imports requests without declaring it
    Peer("distilabel", PeerInstall("distilabel", ("distilabel[openai]==1.5.3", "requests"), "distilabel"),
         "distilabel_run.py",
         "Pipeline: LoadDataFromDicts(batch_size={K}) >> TextGeneration(OpenAILLM, input_batch_size={K}, max_retries=1) "
         "(an async LLM sends a whole input batch at once); pipeline.run(use_cache=False) with a fresh cache_dir; "
         "DISTILABEL_LOG_LEVEL=WARNING (its default INFO logs every HTTP request)",
         {"DISTILABEL_LOG_LEVEL": "WARNING"}),
    # 0.9.7 (the latest) requires certifi>=2026.10.19, which PyPI does not have: 0.9.6 is the newest that installs
    Peer("data-designer", PeerInstall("data-designer", ("data-designer==0.9.6",), "data-designer"),
         "data_designer_run.py",
         "DataDesigner.create: DataFrame seed + LLMTextColumnConfig, ChatCompletionInferenceParams("
         "max_parallel_requests={K}); RunConfig(otel_metrics_port=None); fresh artifact_path (resume=never, the default); "
         "its model health check and default column profiling included"),
)


@dataclass
class Tool:
    """One command under test and what each round measured."""

    name: str
    cmd: list[str]  # {out} is replaced by a fresh directory every run
    env: dict[str, str]
    version: str | None
    settings: str
    inputs: dict[int, Path] = field(default_factory=dict)  # record count -> its inputs file (peers only)
    walls: list[float] = field(default_factory=list)
    in_tool: list[float | None] = field(default_factory=list)
    records: list[int | None] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    failure: str | None = None


def write_inputs(path: Path, n: int) -> None:
    """The slots synthloom samples for records 0..n-1: the same inputs for every tool."""
    from synthloom import default_registry, load_recipe
    from synthloom.pipeline import build_pipeline

    pipeline = build_pipeline(load_recipe(RECIPE), default_registry())
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            slots = pipeline.new_record(i).slots
            f.write(json.dumps({"sentiment": slots["sentiment"], "product": slots["product"]}) + "\n")


def synthloom_tool(args: argparse.Namespace, url: str) -> Tool:
    exe = str(Path(sys.executable).with_name("synthloom"))
    cmd = [exe, "run", str(RECIPE), "-n", "{n}", "--backend", "openai", "--base-url", url, "--model", "bench",
           "--concurrency", str(args.concurrency), "--out", "{out}", "--quiet"]
    return Tool("synthloom", cmd, {}, version_of("synthloom"),
                f"synthloom run --backend openai --concurrency {args.concurrency} --quiet, a fresh --out per round")


def peer_tool(peer: Peer, python: Path, versions: dict[str, str], args: argparse.Namespace, url: str,
              inputs: dict[int, Path], tiktoken_dir: Path | None) -> Tool:
    cmd = [str(python), str(BENCH_DIR / "peers" / peer.script), "--base-url", url, "--inputs", "{inputs}",
           "--out", "{out}", "--concurrency", str(args.concurrency), "--max-tokens", str(args.max_tokens)]
    env = {**PEER_ENV, **peer.env, **({"TIKTOKEN_CACHE_DIR": str(tiktoken_dir)} if tiktoken_dir else {})}
    return Tool(peer.name, cmd, env, versions.get(peer.install.dist), peer.settings.replace("{K}", str(args.concurrency)),
                inputs)


def shared_tiktoken_dir() -> Path | None:
    """A directory with cl100k_base for tiktoken (curator and data-designer count tokens with it; it cannot
    be downloaded here), copied from the copy litellm ships in the curator venv."""
    target = VENV_ROOT / "tiktoken-cache"
    if (target / TIKTOKEN_FILE).is_file():
        return target
    for found in VENV_ROOT.glob(f"*/lib/python*/site-packages/litellm/litellm_core_utils/tokenizers/{TIKTOKEN_FILE}"):
        target.mkdir(parents=True, exist_ok=True)
        (target / TIKTOKEN_FILE).write_bytes(found.read_bytes())
        return target
    return None


def run_once(tool: Tool, n: int, url: str, work: Path, timeout: float) -> None:
    """Run the tool once on n records in a fresh directory and append what it measured (or set failure)."""
    out = Path(tempfile.mkdtemp(dir=work, prefix=f"{tool.name}-"))
    cmd = [part.format(n=n, out=out / "out", inputs=tool.inputs.get(n, "")) for part in tool.cmd]
    before = server_stats(url)["completions"]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=out, env={**os.environ, **tool.env}, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        tool.failure = f"timed out after {timeout:.0f}s"
        return
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        tool.failure = f"exit code {done.returncode}: {tail[-500:]}"
        return
    tool.walls.append(wall)
    tool.requests.append(server_stats(url)["completions"] - before)
    if tool.name == "synthloom":
        summary_file = json.loads((out / "out" / "run.json").read_text())
        tool.in_tool.append(summary_file["this_run"]["seconds"])
        tool.records.append(summary_file["kept"])
    else:
        last = json.loads(done.stdout.strip().splitlines()[-1])
        tool.in_tool.append(last["generate_seconds"])
        tool.records.append(last["records"])


def version_of(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def summary(tool: Tool, base: Tool, n: int) -> dict:
    """Medians, and the per-round ratios synthloom/tool (records/s over records/s, i.e. its wall over ours)."""
    rounds = min(len(tool.walls), len(base.walls))
    ratios = [tool.walls[i] / base.walls[i] for i in range(rounds)]
    in_tool = [(tool.in_tool[i] or 0) / base.in_tool[i] for i in range(rounds) if base.in_tool[i]]
    median_wall = statistics.median(tool.walls) if tool.walls else None
    return {
        "status": "failed" if tool.failure else "ok", "reason": tool.failure, "version": tool.version,
        "settings": tool.settings, "command": shlex.join(tool.cmd),
        "wall_seconds": [round(t, 3) for t in tool.walls], "median_wall_seconds": round(median_wall, 3) if median_wall else None,
        "records_per_s": round(n / median_wall, 1) if median_wall else None,
        "in_tool_seconds": tool.in_tool, "records": tool.records, "requests_sent": tool.requests,
        "ratios": [round(r, 3) for r in ratios], "ratio": round(statistics.median(ratios), 3) if ratios else None,
        "ratio_in_tool": round(statistics.median(in_tool), 3) if in_tool else None,
        "complete": all(r == n for r in tool.records),  # every run wrote all n records
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="records per command")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight, for every tool")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=200, help="records of the untimed first run of each tool (0: none)")
    parser.add_argument("--peers", default=",".join(p.name for p in PEERS), help="comma-separated subset")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per command")
    parser.add_argument("--goal", type=float, default=3.0, help="minimum ratio synthloom / fastest peer")
    parser.add_argument("--setup-only", action="store_true", help="install the peers' venvs and stop")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results" / "peers.json")
    args = parser.parse_args(argv)
    unknown = set(args.peers.split(",")) - {p.name for p in PEERS}
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_start = os.getloadavg()
    installed, unavailable = {}, {}
    for peer in (p for p in PEERS if p.name in args.peers.split(",")):
        try:
            installed[peer.name] = (peer, *ensure_venv(peer.install))
            print(f"{peer.name}: {installed[peer.name][2]}", flush=True)
        except PeerUnavailable as exc:
            unavailable[peer.name] = str(exc)
            print(f"{peer.name}: NOT MEASURABLE: {exc}", flush=True)
    if args.setup_only:
        return 0
    budget = args.timeout * (len(installed) + 1) * (args.rounds + 1) + 60
    with tempfile.TemporaryDirectory(prefix="synthloom-bench-peers-") as tmp, \
            serve_subprocess(latency=0.0, max_seconds=budget) as url:
        work = Path(tmp)
        inputs = {size: work / f"inputs-{size}.jsonl" for size in {args.n, args.warmup} if size}
        for size, path in inputs.items():
            write_inputs(path, size)
        tiktoken_dir = shared_tiktoken_dir()
        tools = [synthloom_tool(args, url)] + [peer_tool(peer, python, versions, args, url, inputs, tiktoken_dir)
                                               for peer, python, versions in installed.values()]
        print(f"server {url}; n={args.n}, concurrency {args.concurrency}, {args.rounds} rounds", flush=True)
        if args.warmup:
            for tool in tools:
                run_once(tool, args.warmup, url, work, args.timeout)
                tool.walls.clear(), tool.in_tool.clear(), tool.records.clear(), tool.requests.clear()
        for r in range(args.rounds):
            for tool in tools[r % len(tools):] + tools[:r % len(tools)]:
                if tool.failure is None:
                    run_once(tool, args.n, url, work, args.timeout)
            print(f"round {r + 1}: " + ", ".join(f"{t.name} {t.walls[-1]:.2f}s" if t.failure is None and len(t.walls) == r + 1
                                                 else f"{t.name} FAILED" for t in tools), flush=True)
    base, peers = tools[0], tools[1:]
    if base.failure:
        sys.exit(f"FAILED: synthloom itself: {base.failure}")
    rows = {t.name: summary(t, base, args.n) for t in peers}
    for name, reason in unavailable.items():
        rows[name] = {"status": "unavailable", "reason": reason}
    for name, row in rows.items():
        if name in installed:
            row["requirements"] = list(installed[name][0].install.requirements)
            row["installed_versions"] = installed[name][2]
    measured = {name: row for name, row in rows.items() if row.get("status") == "ok" and row["ratio"] is not None}
    fastest = min(measured, key=lambda name: measured[name]["median_wall_seconds"]) if measured else None
    ratio = measured[fastest]["ratio"] if fastest else None
    result = {
        "benchmark": "peers", "n": args.n, "rounds": args.rounds, "concurrency": args.concurrency,
        "max_tokens": args.max_tokens, "temperature": 1.0, "prompt": PROMPT, "warmup_records": args.warmup,
        "synthloom": summary(base, base, args.n) | {"in_tool_meaning": "run.json this_run.seconds (the runner)"},
        "peers": rows, "peer_env": PEER_ENV | {"TIKTOKEN_CACHE_DIR": str(tiktoken_dir) if tiktoken_dir else None},
        "in_tool_meaning": "peers: seconds of the tool's main call (curator LLM(...), distilabel "
                                           "pipeline.run, data-designer create), as the runner scripts time it",
        "fastest_peer": fastest, "ratio_vs_fastest": ratio, "goal": args.goal,
        "goal_met": ratio is not None and ratio >= args.goal,
        "peers_measured": sorted(measured), "peers_not_measured": sorted(set(rows) - set(measured)),
        "env": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg_start": load_start,
                "load_avg_end": os.getloadavg()},
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"results: {args.results}")
    return 0


def print_table(result: dict) -> None:
    print("\n| tool | version | median s (whole command) | records/s | synthloom / tool (median of rounds) |")
    print("| --- | --- | ---: | ---: | ---: |")
    s = result["synthloom"]
    print(f"| synthloom | {s['version']} | {s['median_wall_seconds']:.2f} | {s['records_per_s']:.0f} | 1.00 |")
    for name, row in result["peers"].items():
        if row.get("status") == "ok":
            print(f"| {name} | {row['version']} | {row['median_wall_seconds']:.2f} | {row['records_per_s']:.0f} "
                  f"| {row['ratio']:.2f} |")
        else:
            print(f"| {name} | {row.get('version') or '-'} | - | - | {row['status']}: {row['reason']} |")
    if result["fastest_peer"]:
        verdict = "goal met" if result["goal_met"] else "GOAL MISSED"
        if result["peers_not_measured"]:
            verdict += f" (not measured: {', '.join(result['peers_not_measured'])})"
        print(f"\nfastest peer: {result['fastest_peer']}; synthloom/fastest = {result['ratio_vs_fastest']:.2f} "
              f"(goal >= {result['goal']}): {verdict}")


if __name__ == "__main__":
    sys.exit(main())
