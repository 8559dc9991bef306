"""Grouping one stage's requests into batch files within a provider's lines and bytes limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Collector"]

Send = Callable[[str, list[tuple[str, bytes]]], None]


@dataclass
class Pending:
    """Requests of one stage waiting to go: (key, line) pairs, their bytes, when the last came."""

    items: list[tuple[str, bytes]] = field(default_factory=list)
    size: int = 0
    last: float = 0.0
    timer: asyncio.Task | None = None


class Collector:
    """Per stage, lines wait until none came for `quiet` seconds or the next would pass a limit;
    then `send(stage, items)` gets them. `framing(lines)` is what a batch adds around its lines."""

    def __init__(self, send: Send, max_lines: int, max_bytes: int, framing: Callable[[int], int], quiet: float):
        self.send_batch, self.max_lines, self.max_bytes, self.framing, self.quiet = send, max_lines, max_bytes, framing, quiet
        self.pending: dict[str, Pending] = {}

    def fits(self, line: bytes) -> bool:
        """Whether one line can go in a batch at all."""
        return len(line) + self.framing(1) <= self.max_bytes

    def add(self, stage: str, key: str, line: bytes) -> None:
        queue = self.pending.setdefault(stage, Pending())
        lines = len(queue.items) + 1
        if queue.items and (lines > self.max_lines or queue.size + len(line) + self.framing(lines) > self.max_bytes):
            self.send(stage)
            queue = self.pending.setdefault(stage, Pending())
        queue.items.append((key, line))
        queue.size += len(line)
        queue.last = time.monotonic()
        if queue.timer is None:
            queue.timer = asyncio.get_running_loop().create_task(self.send_when_quiet(stage, queue))

    async def send_when_quiet(self, stage: str, queue: Pending) -> None:
        while True:
            quiet = time.monotonic() - queue.last
            if quiet >= self.quiet:
                if self.pending.get(stage) is queue:
                    self.send(stage)
                return
            await asyncio.sleep(self.quiet - quiet)

    def send(self, stage: str) -> None:
        queue = self.pending.pop(stage)
        if queue.timer is not None and queue.timer is not asyncio.current_task():
            queue.timer.cancel()
        self.send_batch(stage, queue.items)

    def close(self) -> None:
        for queue in self.pending.values():
            if queue.timer is not None:
                queue.timer.cancel()
        self.pending.clear()
