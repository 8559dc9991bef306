"""Running `synthloom run --batch` against a provider stand-in, killing it mid-phase, and reading its store."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import SMALL_RECIPE, SYNTHLOOM, run_cli
from tests.providers.anthropic_standin import anthropic_standin
from tests.providers.openai_standin import openai_standin
from tests.providers.serve import KEY

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
PRICES = {"gpt-4o-mini": {"input": 0.15, "output": 0.6, "cached_input": 0.075},
          "claude-haiku-4-5": {"input": 1.0, "output": 5.0, "cached_input": 0.1, "cache_write": 1.25}}
FAST = "{collect_seconds: 0.2, poll_interval: 0.05, poll_max: 0.2, grace_seconds: 0}"


def batch_recipe(tmp_path: Path, provider: str, settings: str = FAST, extra: str = "") -> Path:
    model = MODELS[provider]
    path = tmp_path / f"{provider}.yaml"
    path.write_text(SMALL_RECIPE + f"backend: {{kind: {provider}, model: {model}, batch: true, batch_settings: {settings}}}\n"
                    f"prices: {{{model}: {PRICES[model]}}}\n".replace("'", "") + extra)
    return path


@contextmanager
def standin(provider: str, **settings: Any) -> Iterator[Any]:
    with (openai_standin if provider == "openai" else anthropic_standin)(**settings) as server:
        yield server


def env_for(provider: str, key: str = KEY) -> dict[str, str]:
    return {"OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY": key}


def args(recipe: Path, n: int, out: Path, server: Any) -> list[str]:
    return ["run", str(recipe), "-n", str(n), "--base-url", server.base_url, "--quiet", "--out", str(out)]


def run_batch(provider: str, recipe: Path, n: int, out: Path, server: Any, *more: str, key: str = KEY):
    return run_cli(*args(recipe, n, out, server), *more, env=env_for(provider, key), timeout=300)


def start_batch(provider: str, recipe: Path, n: int, out: Path, server: Any) -> subprocess.Popen:
    import os

    return subprocess.Popen([SYNTHLOOM, *args(recipe, n, out, server)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **env_for(provider)})


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def batches_in_store(out: Path) -> list[tuple]:
    try:
        db = sqlite3.connect(out / "store.sqlite")
        return db.execute("SELECT tag, batch_id, state FROM batches").fetchall()
    except sqlite3.Error:
        return []


def wait_until(condition: Any, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            raise AssertionError("timed out waiting for the run to reach the phase")
        time.sleep(0.02)


def hold(server: Any, phase: str) -> threading.Event:
    gate = threading.Event()
    server.faults.held.pop(phase, None)
    server.faults.hold[phase] = gate
    return gate


def release(server: Any, phase: str) -> None:
    gate = server.faults.hold.pop(phase, None)
    if gate is not None:
        gate.set()
