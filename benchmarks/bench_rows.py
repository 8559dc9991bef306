"""Turn each benchmark's results JSON into rows of the results.md table (one ratio per row)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PY = ".venv/bin/python benchmarks/"


@dataclass(frozen=True)
class Row:
    """One line of the table: a ratio measured in this run, its goal and verdict, how to rerun it."""

    what: str
    result: str
    goal: str = "none set"
    verdict: str = "info"  # pass | FAIL | info | failed | skipped | not measured
    command: str = ""


def verdict(met: bool) -> str:
    return "pass" if met else "FAIL"


def openai_rows(d: dict) -> list[Row]:
    return [Row(
        f"records/s, `synthloom run` vs a raw aiohttp client: {d['n']:,} requests at concurrency {d['concurrency']}, "
        f"zero-latency loopback server, whole commands, median of {d['rounds']} interleaved rounds",
        f"**{d['ratio']:.2f}×** ({d['tool']['records_per_s']:,.0f} vs {d['baseline']['records_per_s']:,.0f} records/s)",
        f"≥ {d['goal']}×", verdict(d["goal_met"]), f"{PY}bench_openai.py")]


def latency_rows(d: dict) -> list[Row]:
    raw = (f"; raw aiohttp client, same settings: {d['ratio_raw_client']:.2f}×"
           if d.get("ratio_raw_client") is not None else "")
    return [Row(
        f"latency-bound: {d['n']:,} requests at {d['latency_s'] * 1000:.0f} ms server latency, concurrency "
        f"{d['concurrency']}: generation phase (run.json) vs the ideal {d['ideal_seconds']:.1f} s, median of "
        f"{len(d['rounds'])}",
        f"**{d['ratio']:.2f}×** ({d['median_generation_seconds']:.3f} s; as the server saw it "
        f"{d['ratio_server_span']:.2f}×; whole command {d['median_wall_seconds']:.2f} s = "
        f"{d['ratio_whole_command']:.2f}×{raw})",
        f"≤ {d['goal']}×", verdict(d["goal_met"]), f"{PY}bench_latency.py")]


def peers_rows(d: dict) -> list[Row]:
    rows = []
    s = d["synthloom"]
    for name, p in d["peers"].items():
        what = (f"records/s, `synthloom run` vs {name} {p.get('version') or ''}: {d['n']:,} records, same prompts and "
                f"loopback server, concurrency {d['concurrency']}, whole commands, median of {d['rounds']} interleaved rounds")
        if p.get("status") != "ok":
            rows.append(Row(what, f"{p.get('status')}: {p.get('reason')}", "—", "not measured", f"{PY}bench_peers.py"))
            continue
        in_tool = (f"; without startup {p['ratio_in_tool']:.1f}×: synthloom's runner phase vs the tool's main call"
                   if p.get("ratio_in_tool") else "")
        short = "" if p.get("complete", True) else f"; WARNING: records written per run {p.get('records')}, not {d['n']}"
        rows.append(Row(what, f"**{p['ratio']:.2f}×** ({s['records_per_s']:,.0f} vs {p['records_per_s']:,.0f} "
                              f"records/s{in_tool}{short})", "—", "info", f"{PY}bench_peers.py"))
    fastest = d.get("fastest_peer")
    missing = d.get("peers_not_measured") or []
    note = f" (not measured: {', '.join(missing)})" if missing else ""
    rows.append(Row(f"records/s, `synthloom run` vs the fastest peer{note}",
                    f"**{d['ratio_vs_fastest']:.2f}×** vs {fastest}" if fastest else "no peer measured",
                    f"≥ {d['goal']}×", verdict(d["goal_met"]) if fastest else "not measured", f"{PY}bench_peers.py"))
    return rows


def peers_notes(d: dict) -> list[str]:
    """Versions and settings of every tool in the peers rows."""
    lines = [f"Peers ({d['n']:,} records, prompt \"{d['prompt']}\", max_tokens {d['max_tokens']}, temperature "
             f"{d['temperature']}, concurrency {d['concurrency']}, {d['rounds']} rounds after a {d['warmup_records']}-record "
             "warm-up of each tool; each peer in its own venv under ~/.cache/synthloom/peers-venv/; environment for "
             f"all peers: {', '.join(f'{k}={v}' for k, v in (d.get('peer_env') or {}).items())}):", "",
             f"- synthloom {d['synthloom']['version']}: {d['synthloom']['settings']}"]
    for name, p in d["peers"].items():
        if p.get("status") == "ok":
            deps = ", ".join(f"{k} {v}" for k, v in (p.get("installed_versions") or {}).items() if k != name)
            lines.append(f"- {name} {p['version']} (`pip install {' '.join(p.get('requirements', []))}`; {deps}): "
                         f"{p['settings']}")
        else:
            lines.append(f"- {name}: {p.get('status')}: {p.get('reason')}")
    return lines


EMBEDDED_GOALS = {"ratio": 0.95, "batched/direct": 2.0,  # what bench_embedded*.py print as their goals
                  "generation phase: batched/one_in_engine": 2.0}
EMBEDDED_NAMES = {"ratio": "synthloom (one stream) vs llama-cpp-python direct",
                  "batched/direct": "batched/direct, end to end (prompt processing included)",
                  "generation phase: batched/one_in_engine":
                      "generation phase (steps that only generate, as vLLM and llama-batched-bench report it), "
                      "8 sequences vs 1 in the same engine"}


def embedded_rows(d: dict, script: str = "bench_embedded.py") -> list[Row]:
    """Reads whatever the embedded benches write: every number under a key with "ratio" in it is a row."""
    flat = flatten(d)
    rates = ", ".join(f"{k.removesuffix('_tok_s').removeprefix('tok_s.')} {v:.1f}" for k, v in flat.items()
                      if (k.endswith("_tok_s") or k.startswith("tok_s.")) and _num(v))
    setup = f"{d.get('n', '?')} generations × {d.get('max_tokens', '?')} tokens" + (
        f", parallel {d['parallel']}, concurrency {d['concurrency']}" if "parallel" in d else "")
    rows = []
    for key, value in flat.items():
        name = key.split(".")[-1]
        if "ratio" not in key or not _num(value) or key.startswith("rounds"):
            continue
        goal = EMBEDDED_GOALS.get(name)
        rows.append(Row(f"embedded tokens/s, {EMBEDDED_NAMES.get(name, name)}: same GGUF and prompts ({setup}; "
                        "median of per-round ratios, sides interleaved)", f"**{value:.2f}×** (tokens/s: {rates})",
                        f"≥ {goal}×" if goal else "none set", verdict(value >= goal) if goal else "info", f"{PY}{script}"))
    return rows or [Row("embedded tokens/s", f"no ratio in results: {sorted(d)}", "—", "failed", f"{PY}{script}")]


def flatten(d: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists are left out."""
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        elif not isinstance(value, list):
            out[f"{prefix}{key}"] = value
    return out


def dedup_rows(d: dict) -> list[Row]:
    ours = d["tools"]["synthloom"]
    rows = []
    for other in ("datasketch", "rensa"):
        rows.append(Row(
            f"MinHash dedup docs/s, synthloom vs {other} used directly: {d['docs']:,} docs, same shingles, "
            f"num_perm {d['num_perm']}, threshold {d['threshold']}",
            f"**{ours[f'speed_ratio_vs_{other}']:.2f}×** ({ours['docs_per_s']:,} vs {d['tools'][other]['docs_per_s']:,} "
            f"docs/s; recall {ours['recall']} vs {d['tools'][other]['recall']})", "none set", "info", f"{PY}bench_dedup.py"))
    return rows


def memory_rows(d: dict) -> list[Row]:
    sizes = sorted(d["sizes"], key=int)
    small, large = d["sizes"][sizes[0]], d["sizes"][sizes[-1]]
    return [Row(f"peak RSS of `synthloom run --dry-run`, {int(sizes[-1]):,} vs {int(sizes[0]):,} records",
                f"**{d['ratio']:.2f}×** ({large['peak_rss_mb']:.0f} vs {small['peak_rss_mb']:.0f} MB)",
                "< 500 MB at the largest size (bench_memory's own)", verdict(large["peak_rss_mb"] < 500),
                f"{PY}bench_memory.py")]


def corpus_rows(d: dict) -> list[Row]:
    cmd = f"{PY}bench_corpus.py"
    return [
        Row(f"corpus ingest MB/s, `synthloom ingest` vs the libraries called directly ({d['corpus_mb']} MB, "
            f"{d['chunks']:,} chunks)", f"**{d['ingest_ratio_vs_direct_mb_per_s']:.2f}×** ({d['ingest_mb_per_s']} MB/s)",
            "none set", "info", cmd),
        Row("re-ingest of the unchanged corpus vs a full ingest (seconds)", f"**{d['reingest_ratio_vs_full']:.3f}×**",
            "none set", "info", cmd),
        Row("hybrid retrieval p50 latency vs bm25s `retrieve` alone",
            f"**{d['hybrid_latency_ratio_vs_bm25s']:.2f}×** ({d['hybrid_p50_ms']} vs {d['bm25s_direct_p50_ms']} ms)",
            "none set", "info", cmd),
    ]


def startup_rows(d: dict) -> list[Row]:
    """One row per command: its median wall time as a ratio to `python -c pass`; the goal is --help's."""
    base = d["commands"][d["baseline"]]
    rows = []
    for name, c in d["commands"].items():
        if name == d["baseline"]:
            continue
        is_help = name == "synthloom --help"
        rows.append(Row(f"start-up: `{name}` vs `{d['baseline']}`, wall time, median of {d['rounds']} interleaved rounds",
                        f"**{c['ratio']:.2f}×** ({c['median_s']:.3f} vs {base['median_s']:.3f} s)",
                        f"≤ {d['goal_help_s']} s" if is_help else "none set",
                        verdict(c["median_s"] <= d["goal_help_s"]) if is_help else "info", f"{PY}bench_startup.py"))
    return rows


def review_rows(d: dict) -> list[Row]:
    cmd = f"{PY}bench_review.py"
    rows = []
    for name, s in d["scenarios"].items():
        rows.append(Row(f"`synthloom review`: a page of {d['page']} of {d['n']:,} records over HTTP ({name}; "
                        f"{s['matching']:,} match) vs the same-size page read straight from SQLite",
                        f"**{s['ratio_vs_sqlite']:.1f}×** (median {s['median_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms vs "
                        f"{d['baseline_median_ms']:.2f} ms)", f"p95 < {d['goal_ms']:.0f} ms",
                        verdict(s["p95_ms"] < d["goal_ms"]), cmd))
    if d.get("decision"):
        rows.append(Row("`synthloom review`: a decision, then the counts and the page again (what a reviewer waits for "
                        "after a key press)", f"median {d['decision']['median_ms']:.1f} ms, p95 {d['decision']['p95_ms']:.1f} ms",
                        "none set", "info", cmd))
    rows.append(Row(f"`synthloom review` start-up: index of {d['n']:,} records (facets + FTS5, in memory)",
                    f"{d['index_seconds']:.1f} s", "none set", "info", cmd))
    return rows


def data_rows(d: dict) -> list[Row]:
    cmd = f"{PY}bench_data.py"
    sizes = sorted(d["memory"], key=int)
    small, large = d["memory"][sizes[0]], d["memory"][sizes[-1]]
    speed = d["speed"]
    return [
        Row(f"peak RSS of a dry run from a Parquet file (`sampler: each`, one record per row), "
            f"{int(sizes[-1]):,} vs {int(sizes[0]):,} rows",
            f"**{d['memory_ratio']:.2f}×** ({large['peak_rss_mb']:.0f} vs {small['peak_rss_mb']:.0f} MB)",
            "< 500 MB at the largest size", verdict(large["peak_rss_mb"] < 500), cmd),
        Row(f"records/s of a dry run, {speed['n']:,} records: rows of a {int(sizes[-1]):,}-row Parquet file vs an inline list",
            f"**{speed['ratio']:.2f}×** ({speed['parquet']['records_per_s']:,} vs {speed['inline_list']['records_per_s']:,} records/s)",
            "≥ 0.8×", verdict(speed["ratio"] >= 0.8), cmd),
    ]


def ray_rows(d: dict) -> list[Row]:
    """Records/s of `--executor ray` with 1, 2, 4 workers vs one worker and vs a local run; the dry run's memory."""
    cmd, local = f"{PY}bench_ray.py", d["runs"]["local"]
    rows = [Row(f"records/s, `--executor ray` with {w} worker{'s' if w > 1 else ''} vs 1 worker and vs a local run: "
                f"{d['n']:,} records, zero-latency server, whole commands on {d['cpus']} CPUs",
                f"**{r['vs_one_worker']:.2f}×** / **{r['vs_local']:.2f}×** ({r['records_per_s']:,.0f} vs "
                f"{d['runs']['ray-1']['records_per_s']:,.0f} / {local['records_per_s']:,.0f} records/s)", "none set", "info", cmd)
            for w in (1, 2, 4) for r in [d["runs"][f"ray-{w}"]]]
    dry = d["dry_run"]
    rss = dry["peak_rss_mb"]
    rows.append(Row(f"peak RSS of a {dry['n']:,}-record dry run through Ray ({dry['workers']} workers): driver, "
                    "store writer, a worker", f"{rss['driver']:.0f} / {rss['writer']:.0f} / {rss['worker']:.0f} MB "
                    f"({dry['records_per_s']:,.0f} records/s)", "none set", "info", cmd))
    return rows


def _num(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


NOTE_BUILDERS: dict[str, Callable[[dict], list[str]]] = {"peers": peers_notes}
ROW_BUILDERS: dict[str, Callable[[dict], list[Row]]] = {
    "openai": openai_rows, "latency": latency_rows, "peers": peers_rows, "embedded": embedded_rows,
    "embedded-batch": lambda d: embedded_rows(d, "bench_embedded_batch.py"),
    "dedup": dedup_rows, "memory": memory_rows, "corpus": corpus_rows,
    "startup": startup_rows,
    "review": review_rows,
    "data": data_rows,
    "ray": ray_rows,
}
