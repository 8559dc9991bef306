"""The headline figures of a report as (name, value) pairs: the HTML table and the printed lines."""

from __future__ import annotations

__all__ = ["headline", "headline_lines"]


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def pct(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.0%}"
    return "—" if value is None else str(value)


def money(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:.3g}"


def headline(m: dict) -> list[tuple[str, str]]:
    """The figures a reader looks at first, each already formatted."""
    rows = []
    of = f" of {m['n']:,} records" if isinstance(m.get("n"), int) else ""
    rows.append(("records", f"{m['kept']:,} kept, {m['rejected']:,} rejected{of}"))
    drops = m["drops"]["by_step_reason"]
    if drops:
        rows.append(("top drop reasons", ", ".join(f"{name} {count:,}" for name, count in list(drops.items())[:4])))
    d = m["diversity"]
    if m.get("text_field"):
        rows.append(("diversity of", f"`{m['text_field']}`: {d['n']:,} texts, mean {fmt(d['mean_words'], 1)} words"))
        rows.append(("distinct-1/2/3", " / ".join(fmt(d[f"distinct_{n}"]) for n in (1, 2, 3))))
        rows.append(("self-BLEU", f"{fmt(d['self_bleu'])} (sample of {d['sample']:,})"))
        rows.append(("compression ratio", fmt(d["compression_ratio"])))
        if d["embedding_similarity"] is not None:
            rows.append(("embedding similarity", f"{fmt(d['embedding_similarity'])} (mean pairwise cosine, {d['embedder']})"))
            rows.append(("semantic clusters", f"{d['semantic_clusters']:,} at cosine ≥ 0.9 in the sample of {d['sample']:,}"))
        elif d["sample"] < 2:
            rows.append(("embedding similarity", "— (needs two texts or more)"))
        else:
            rows.append(("embedding similarity", "— (needs the `corpus` extra)"))
    lengths = m["lengths"]
    if lengths.get("n"):
        rows.append(("length (words)", f"mean {fmt(lengths['mean'], 1)}, p5 {lengths['p5']:g}, p50 {lengths['p50']:g}, "
                                        f"p95 {lengths['p95']:g}"))
    coverage = [f"{slot} {c['used']:,}/{fmt(c['size'])}" + (f" ({pct(c['fraction'])})" if c["fraction"] is not None else "")
                for slot, c in m["coverage"].items() if c["records"]]
    if coverage:
        rows.append(("entity coverage", ", ".join(coverage)))
    for name, s in m["scores"].items():
        rows.append((f"judge `{name}`", f"kept mean {fmt(s['mean_kept'], 2)}"))
    for name, c in m["constraints"].items():
        before, after = c.get("before") or {}, c.get("after") or {}
        parts = [f"{part} {pct(before.get(part))} → {pct(after.get(part))}" for part in sorted(set(before) | set(after))]
        per = c.get("requests_per_record")
        rows.append((f"adherence `{name}`", ", ".join(parts) + (f"; {fmt(per, 2)} generation requests/record" if per else "")))
    for name, x in m["dedup"].items():
        if isinstance(x, dict):
            clusters = f", {fmt(x['clusters'])} clusters" if x.get("clusters") is not None else ""
            rows.append((f"dedup `{name}`", f"{x.get('method', '?')} ≥ {x.get('threshold', '?')}: "
                                            f"{fmt(x.get('dropped', 0))} of {fmt(x.get('checked', 0))} dropped{clusters}"))
    usage = m["usage"]
    totals = usage["totals"]
    if totals["calls"]:
        rows.append(("tokens (kept records)", f"{totals['prompt_tokens']:,} prompt + {totals['completion_tokens']:,} completion "
                                               f"in {totals['calls']:,} calls ({totals['cached']:,} cached)"))
    this_run = m.get("this_run") or {}
    if this_run.get("requests_sent") is not None:
        rows.append(("this run", f"{fmt(this_run['requests_sent'])} requests sent, {fmt(this_run.get('cache_hits', 0))} from cache; "
                                 f"{fmt(this_run.get('prompt_tokens', 0))} prompt + {fmt(this_run.get('completion_tokens', 0))} "
                                 "completion tokens, rejected records included"))
    if totals.get("cost") is not None:
        cost = f"{money(totals['cost'])} for the kept records ({money(usage['per_record']['cost'])} each)"
        if usage.get("this_run_cost") is not None:
            cost += f"; {money(usage['this_run_cost'])} for every call of this run (rejected records and cache hits included)"
        rows.append(("cost", cost))
    return rows


def headline_lines(m: dict) -> list[str]:
    """The headline as lines for the terminal."""
    width = max((len(name) for name, _ in headline(m)), default=0)
    return [f"{name.ljust(width)}  {value}" for name, value in headline(m)]
