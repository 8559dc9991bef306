"""Review fixtures: a small labelled, judged dry run, and the review server in a thread of its own."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path

import pytest

from synthloom.cli import main

RECIPE = Path(__file__).with_name("recipe.yaml")
CHROMIUM = Path("/usr/bin/chromium")


def make_run(out: Path, n: int = 60, recipe: Path = RECIPE) -> Path:
    assert main(["run", str(recipe), "-n", str(n), "--dry-run", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def base_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("review") / "base")


@pytest.fixture
def run_dir(base_run: Path, tmp_path: Path) -> Path:
    """A fresh copy of the 60-record run for each test (decisions are written into it)."""
    copy = tmp_path / "run"
    shutil.copytree(base_run, copy)
    return copy


class ServerThread:
    """`synthloom review` in a background event loop, as the CLI runs it."""

    def __init__(self, run: Path, **options):
        from synthloom.review.serve import start

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.started = asyncio.run_coroutine_threadsafe(start(run, **options), self.loop).result(120)
        self.url = self.started.url
        self.token = self.started.state.token
        self.base = self.url.split("/?")[0]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.started.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def server(run_dir: Path):
    running = ServerThread(run_dir, reviewer="tester")
    yield running
    running.stop()


def wait_for_chromium(seconds: float = 600) -> None:
    """The lead installs Debian's chromium while tests may already run: wait for it, then skip."""
    deadline = time.monotonic() + seconds
    while not CHROMIUM.exists() and time.monotonic() < deadline:
        time.sleep(5)
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (CI installs Debian's chromium)")


@pytest.fixture
def browser():
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    wait_for_chromium()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A page that records script errors and dialogs (confirm() is accepted)."""
    context = browser.new_context(viewport={"width": 1500, "height": 900})
    opened = context.new_page()
    opened.errors = []
    opened.on("pageerror", lambda exc: opened.errors.append(str(exc)))
    opened.on("dialog", lambda dialog: dialog.accept())
    yield opened
    context.close()
