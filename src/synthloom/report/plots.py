"""The report's plots: matplotlib (Agg, no pyplot state) rendered to inline SVG strings.

Each function takes the metrics it draws and returns the SVG, or None when that data is absent,
so the report can say so in one line instead of drawing an empty plot.
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # matplotlib is imported only when a plot is drawn
    from matplotlib.typing import RcKeyType

__all__ = ["PLOTS", "Plot", "render_plots", "to_svg", "label_balance_plot", "length_plot", "coverage_plot",
           "score_plot", "dedup_plot", "adherence_plot", "usage_plot", "drops_plot"]

KEPT, LOST, MUTED = "#3b75af", "#d1615d", "#9aa5b1"
STYLE: dict[RcKeyType, Any] = {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                               "axes.spines.right": False, "font.family": "sans-serif"}


def plain(label: Any, width: int = 40) -> str:
    """A data value as a tick label: shortened, and `$` escaped so matplotlib does not read it as math."""
    text = str(label)
    text = textwrap.shorten(text, width, placeholder="…") if len(text) > width else text
    return text.replace("$", r"\$")


def new_figure(width: float = 6.4, height: float = 3.0):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def to_svg(fig, name: str) -> str:
    """The figure as an <svg> element, without the XML prolog, ids unique to this plot."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    # matplotlib names glyphs and patches by counters that restart in each figure; a page holds many
    return re.sub(r'id="([^"]+)"', rf'id="{name}-\1"', svg).replace('href="#', f'href="#{name}-').replace(
        "url(#", f"url(#{name}-")


def legend_above(ax) -> None:
    ax.legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1), ncols=3, borderaxespad=0.2)


def bars(ax, labels: list, values: list, color: str = KEPT, horizontal: bool = True, annotate: list | None = None) -> None:
    positions = range(len(labels))
    if horizontal:
        ax.barh(positions, values, color=color)
        ax.set_yticks(list(positions), [plain(x) for x in labels])
        ax.invert_yaxis()
    else:
        ax.bar(positions, values, color=color)
        ax.set_xticks(list(positions), [plain(x, 14) for x in labels])
    for position, value, note in zip(positions, values, annotate or [None] * len(labels)):
        text = note if note is not None else f"{value:g}"
        if horizontal:
            ax.annotate(text, (value, position), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
        else:
            ax.annotate(text, (position, value), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=8)


def label_balance_plot(metrics: dict) -> str | None:
    labels = {slot: bal for slot, bal in (metrics.get("labels") or {}).items() if bal.get("counts")}
    if not labels:
        return None
    rows = sum(len(b["counts"]) for b in labels.values())
    fig = new_figure(6.4, 0.9 + 0.24 * rows + 0.3 * len(labels))
    axes = fig.subplots(len(labels), 1, squeeze=False,
                        gridspec_kw={"height_ratios": [len(b["counts"]) + 1 for b in labels.values()]})
    for ax, (slot, bal) in zip(axes[:, 0], labels.items()):
        total = bal["total"]
        bars(ax, list(bal["counts"]), list(bal["counts"].values()),
             annotate=[f"{c} ({c / total:.0%})" for c in bal["counts"].values()])
        ax.set_title(f"{slot}: {bal['classes']} values, max/min {bal['max_min_ratio']:.2g}", loc="left", fontsize=9)
        ax.margins(x=0.15)
    return to_svg(fig, "labels")


def length_plot(metrics: dict) -> str | None:
    dist = metrics.get("lengths") or {}
    hist = dist.get("histogram")
    if not hist:
        return None
    fig = new_figure()
    ax = fig.subplots()
    edges, counts = hist["edges"], hist["counts"]
    ax.stairs(counts, edges, fill=True, color=KEPT)
    for name, style in (("p5", ":"), ("p50", "--"), ("p95", ":")):
        ax.axvline(dist[name], color="#333", linestyle=style, linewidth=1)
        ax.annotate(name, (dist[name], max(counts)), xytext=(2, 0), textcoords="offset points", fontsize=8)
    ax.set_xlabel(f"words in `{metrics.get('text_field')}` (mean {dist['mean']:.1f})")
    ax.set_ylabel("records")
    return to_svg(fig, "lengths")


def coverage_plot(metrics: dict) -> str | None:
    coverage = {slot: c for slot, c in (metrics.get("coverage") or {}).items() if c.get("records")}
    if not coverage:
        return None
    fig = new_figure(6.4, 0.9 + 0.35 * len(coverage))
    ax = fig.subplots()
    fractions, notes = [], []
    for c in coverage.values():
        fraction = c["fraction"] if c["fraction"] is not None else 0.0
        size = c["size"] if c["size"] is not None else "?"
        fractions.append(fraction)
        notes.append(f"{c['used']}/{size} used · uses {c['min_uses']}–{c['max_uses']}")
    bars(ax, [f"{slot} ({c['list']})" for slot, c in coverage.items()], fractions, annotate=notes)
    ax.set_xlim(0, 1.6)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "25%", "50%", "75%", "100%"])
    ax.set_xlabel("share of each entity list used by kept records")
    return to_svg(fig, "coverage")


def score_plot(metrics: dict) -> str | None:
    scores = metrics.get("scores") or {}
    if not scores:
        return None
    fig = new_figure(6.4, 2.6)
    axes = fig.subplots(1, len(scores), squeeze=False)[0]
    for ax, (name, s) in zip(axes, scores.items()):
        low, high = s["scale"] or (min(s["kept"] or s["rejected"]), max(s["kept"] or s["rejected"]))
        values = sorted(set(range(int(low), int(high) + 1)) | set(s["kept"]) | set(s["rejected"]))
        kept = [s["kept"].get(v, 0) for v in values]
        lost = [s["rejected"].get(v, 0) for v in values]
        ax.bar(values, kept, color=KEPT, label="kept")
        if any(lost):
            ax.bar(values, lost, bottom=kept, color=LOST, label="rejected")
            legend_above(ax)
        ax.set_xticks(values)
        mean = f", kept mean {s['mean_kept']:.2f}" if s["mean_kept"] is not None else ""
        ax.set_title(f"{name}{mean}", loc="left", fontsize=9)
        ax.set_xlabel("score")
    axes[0].set_ylabel("records")
    return to_svg(fig, "scores")


def dedup_plot(metrics: dict) -> str | None:
    dedup = {name: d for name, d in (metrics.get("dedup") or {}).items() if isinstance(d, dict) and d.get("checked")}
    if not dedup:
        return None
    sized = {name: d["cluster_sizes"] for name, d in dedup.items() if d.get("cluster_sizes")}
    fig = new_figure(6.4, 1.0 + 0.6 * len(dedup) + (1.8 if sized else 0))
    axes = fig.subplots(2 if sized else 1, 1, squeeze=False)[:, 0]
    ax = axes[0]
    names = []
    for name, d in dedup.items():
        clusters = f", {d['clusters']:,} clusters" if d.get("clusters") is not None else ""
        names.append(f"{plain(name)} ({d.get('method', '?')} ≥ {d.get('threshold', '?')})\n"
                     f"{d['checked']:,} checked, {d.get('dropped', 0):,} dropped{clusters}")
    kept = [d["checked"] - d.get("dropped", 0) for d in dedup.values()]
    dropped = [d.get("dropped", 0) for d in dedup.values()]
    positions = list(range(len(names)))
    ax.barh(positions, kept, color=KEPT, label="kept")
    ax.barh(positions, dropped, left=kept, color=LOST, label="dropped as duplicates")
    ax.set_yticks(positions, names)
    ax.invert_yaxis()
    legend_above(ax)
    ax.set_xlabel("records")
    if sized:
        ax = axes[1]
        for name, sizes in sized.items():
            pairs = sorted((int(k), int(v)) for k, v in sizes.items())
            ax.plot([k for k, _ in pairs], [v for _, v in pairs], marker="o", label=plain(name))
        ax.set_yscale("log")
        ax.set_xlabel("cluster size (records)")
        ax.set_ylabel("clusters")
        legend_above(ax)
    return to_svg(fig, "dedup")


def adherence_plot(metrics: dict) -> str | None:
    checks = {name: c for name, c in (metrics.get("constraints") or {}).items()
              if isinstance(c, dict) and (c.get("before") or c.get("after"))}
    if not checks:
        return None
    groups = [(name, part) for name, c in checks.items() for part in sorted(set(c.get("before") or {}) | set(c.get("after") or {}))]
    fig = new_figure(6.4, 0.9 + 0.45 * len(groups))
    ax = fig.subplots()
    positions = list(range(len(groups)))
    before = [(checks[n].get("before") or {}).get(p, 0) or 0 for n, p in groups]
    after = [(checks[n].get("after") or {}).get(p, 0) or 0 for n, p in groups]
    ax.barh([y - 0.2 for y in positions], before, height=0.38, color=MUTED, label="before regeneration")
    ax.barh([y + 0.2 for y in positions], after, height=0.38, color=KEPT, label="after (kept records)")
    for y, b, a in zip(positions, before, after):
        ax.annotate(f"{b:.0%}", (b, y - 0.2), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
        ax.annotate(f"{a:.0%}", (a, y + 0.2), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(positions, [plain(f"{n}: {p}") for n, p in groups])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("share of records meeting the constraint")
    legend_above(ax)
    return to_svg(fig, "adherence")


def usage_plot(metrics: dict) -> str | None:
    usage = metrics.get("usage") or {}
    stages = {name: s for name, s in (usage.get("stages") or {}).items() if s["prompt_tokens"] or s["completion_tokens"]}
    if not stages:
        return None
    fig = new_figure(6.4, 0.9 + 0.4 * len(stages))
    ax = fig.subplots()
    positions = list(range(len(stages)))
    prompt = [s["prompt_tokens"] for s in stages.values()]
    completion = [s["completion_tokens"] for s in stages.values()]
    ax.barh(positions, prompt, color=MUTED, label="prompt tokens")
    ax.barh(positions, completion, left=prompt, color=KEPT, label="completion tokens")
    for y, s in zip(positions, stages.values()):
        cost = f" · ${s['cost']:.4g}" if s.get("cost") is not None else ""
        ax.annotate(f"{s['calls']} calls{cost}", (s["prompt_tokens"] + s["completion_tokens"], y), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(positions, [plain(n) for n in stages])
    ax.invert_yaxis()
    ax.margins(x=0.3)
    ax.set_xlabel("tokens spent on the kept records")
    legend_above(ax)
    return to_svg(fig, "usage")


def drops_plot(metrics: dict) -> str | None:
    pairs = (metrics.get("drops") or {}).get("by_step_reason") or {}
    if not pairs:
        return None
    shown = dict(list(pairs.items())[:15])
    fig = new_figure(6.4, 0.9 + 0.3 * len(shown))
    ax = fig.subplots()
    bars(ax, list(shown), list(shown.values()), color=LOST)
    ax.margins(x=0.15)
    ax.set_xlabel("rejected records (step: reason)")
    return to_svg(fig, "drops")


Plot = tuple[str, Callable[[dict], str | None], str]  # title, draw(metrics) → svg or None, note when absent
PLOTS: dict[str, Plot] = {
    "labels": ("Label balance", label_balance_plot, "no slot with a small list (≤ 12 values)"),
    "lengths": ("Length histogram", length_plot, "no text field to measure"),
    "coverage": ("Entity coverage", coverage_plot, "no slots in the recipe"),
    "scores": ("Judge scores", score_plot, "no judge scores in the kept records"),
    "dedup": ("Dedup clusters", dedup_plot, "no dedup step in this run"),
    "adherence": ("Constraint adherence before → after", adherence_plot, "no constraint checks in this run"),
    "usage": ("Tokens and cost per stage", usage_plot, "no lineage.jsonl with token usage"),
    "drops": ("Drop reasons", drops_plot, "nothing was rejected"),
}


def render_plots(metrics: dict, plots: Mapping[str, Plot] | None = None) -> list[dict]:
    """Every plot (of `plots`, the run report's by default) as {"key", "title", "svg"}, or {"key", "title", "note"}
    when its data is absent."""
    import matplotlib

    rendered = []
    for key, (title, draw, absent) in (PLOTS if plots is None else plots).items():
        with matplotlib.rc_context(STYLE):
            try:
                svg = draw(metrics)
            except (TypeError, ValueError, KeyError, AttributeError) as exc:  # run.json from another version
                rendered.append({"key": key, "title": title, "note": f"could not draw it ({type(exc).__name__}: {exc})"})
                continue
        rendered.append({"key": key, "title": title, "svg": svg} if svg else {"key": key, "title": title, "note": absent})
    return rendered
