"""The live progress bar and the final summary line."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..cost.prices import dollars
from ..runner import RunStats

__all__ = ["ProgressBar", "summary_line"]


class ProgressBar:
    """A rich progress bar fed from RunStats: records/s, tokens/s, failures, ETA."""

    def __init__(self, label: str, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} rec/s · {task.fields[tps]:,.0f} tok/s · {task.fields[bad]} failed{task.fields[cost]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            refresh_per_second=5,
        )
        self.task = self.progress.add_task(label, total=None, rate="0", tps=0.0, bad=0, cost="")
        self.started = False

    def __enter__(self) -> ProgressBar:
        return self  # the bar appears with the first update, so an early error stays one line

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()

    def update(self, stats: RunStats) -> None:
        if not self.started:
            self.progress.start()
            self.started = True
        elapsed = max(stats.elapsed, 1e-9)
        tokens = stats.prompt_tokens + stats.completion_tokens
        self.progress.update(
            self.task,
            total=stats.total,
            completed=stats.already_done + stats.processed,
            rate=format_rate(stats.processed / elapsed),
            tps=tokens / elapsed,
            bad=stats.rejected + stats.failed,
            cost=cost_text(stats) + (f" · server not answering for {stats.server_down:.0f}s: paused, probing"
                                     if stats.server_down else "") + (f" · {stats.batches.line()}" if stats.batches else ""),
        )


def cost_text(stats: RunStats) -> str:
    """' · $0.0123' (the directory's spend so far), with the budget when there is one."""
    budget = stats.budget
    if budget is None:
        return ""
    text = f" · {dollars(budget.total)}"
    if budget.limit is not None:
        text += f" of {dollars(budget.limit)}" + (" (budget reached: finishing)" if budget.reached else "")
    return text


def format_rate(value: float) -> str:
    """Three significant digits: 0.0213, 2.13, 2,130."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def summary_line(out: str, stats: RunStats, kept: int, rejected: int) -> str:
    """One line for the end of a run."""
    elapsed = max(stats.elapsed, 1e-9)
    reasons = ", ".join(f"{k} {v}" for k, v in stats.reasons.most_common(4))
    parts = [
        f"{kept} kept, {rejected} rejected" + (f" ({reasons})" if reasons else ""),
        f"{stats.processed} processed now in {stats.elapsed:.1f}s ({format_rate(stats.processed / elapsed)} rec/s)",
        f"{stats.requests} requests sent, {stats.cached} from cache" + (f", {stats.retries} retries" if stats.retries else ""),
        f"{stats.prompt_tokens:,} prompt + {stats.completion_tokens:,} completion tokens",
    ]
    concurrency = concurrency_text(stats)
    if concurrency:
        parts.append(concurrency)
    for name, outage in (getattr(stats, "outages", None) or {}).items():
        parts.append(f"{'server' if not name else name + ' server'} went away {outage['outages']}x, "
                     f"{outage['seconds_down']:.0f}s in all (run paused, {outage['failures_during_outages']} failures not counted)")
    return f"synthloom: {out}: " + " · ".join(parts)


def concurrency_text(stats: RunStats) -> str:
    """'concurrency 3.2 of 16 (limit cut 4 times, to 3.5; requests waited 2.1s in all for rpm/tpm)', when what
    was achieved differs materially from --concurrency; '' otherwise."""
    parts = []
    for name, f in stats.concurrency.items():
        starved = f.max_in_flight and f.mean_in_flight < 0.5 * f.configured and stats.elapsed >= 5  # not a blip of a run
        if not (f.decreases or f.rate_limited_waits_s >= 0.5 or starved):
            continue
        notes = [f"limit cut {f.decreases} time{'s' * (f.decreases != 1)}, to {f.final_limit:g}"] if f.decreases else []
        if f.rate_limited_waits_s >= 0.5:
            notes.append(f"requests waited {f.rate_limited_waits_s:.1f}s in all for rpm/tpm")
        label = f"concurrency ({name})" if name else "concurrency"
        parts.append(f"{label} {f.mean_in_flight:g} of {f.configured} on average" + (f" ({'; '.join(notes)})" if notes else ""))
    return ", ".join(parts)
