"""Grouping requests into batch files: a stage's lines go together, within the lines and bytes limits."""

import asyncio

from synthloom.batch.collect import Collector


def collect(lines: dict[str, list[bytes]], max_lines: int, max_bytes: int) -> list[tuple[str, list[str]]]:
    sent: list[tuple[str, list[str]]] = []

    async def go():
        collector = Collector(lambda stage, items: sent.append((stage, [k for k, _ in items])), max_lines, max_bytes,
                              lambda n: n, quiet=0.05)
        for stage, items in lines.items():
            for i, line in enumerate(items):
                collector.add(stage, f"{stage}{i}", line)
        await asyncio.sleep(0.2)

    asyncio.run(go())
    return sent


def test_each_stage_is_its_own_batch_sent_once_no_request_comes():
    sent = collect({"a": [b"x" * 10] * 3, "b": [b"y" * 10] * 2}, max_lines=100, max_bytes=10_000)
    assert sorted(sent) == [("a", ["a0", "a1", "a2"]), ("b", ["b0", "b1"])]


def test_limits_split_a_stage_into_batches_that_fit():
    by_lines = collect({"a": [b"x" * 10] * 5}, max_lines=2, max_bytes=10_000)
    assert [keys for _, keys in by_lines] == [["a0", "a1"], ["a2", "a3"], ["a4"]]
    by_bytes = collect({"a": [b"x" * 10] * 5}, max_lines=100, max_bytes=33)  # 3 lines + 3 newlines = 33
    assert [keys for _, keys in by_bytes] == [["a0", "a1", "a2"], ["a3", "a4"]]
    assert not Collector(lambda *_: None, 10, 33, lambda n: n, 1).fits(b"x" * 33)
