"""Issue 8 item 7: an API key never reaches a file a run writes, the terminal, or an exception.

The key sits in the environment variable the backend's `api_key_env` names (sent as
`Authorization: Bearer`), or as `user:key@` in a base URL (sent as HTTP Basic auth), on the
command line or in the recipe. Every byte of every file under the output directory is searched
(store.sqlite and its -wal/-shm included: SQLite keeps deleted rows in free pages), with the CLI's
stdout and stderr (progress bar on) and the text of any exception, for the key itself, a piece of
it, and its URL-encoded, JSON-escaped and base64 forms. The servers here are honest, refuse the key,
are not there, or are malicious: they echo the request's headers (Authorization, decoded too) and
body back in their error bodies and even in a completion. The openai backend has no custom-header
option (backend.options takes max_connections and cooldowns only), so there is no header case.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pty
import signal
import sqlite3
import subprocess
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from synthloom.api import run as api_run
from synthloom.recipe.model import BackendSpec
from tests.conftest import SYNTHLOOM, run_cli

KEY = "sk-Zq8LEAKv3f9c2a7e/Qx+Zk=9wT"  # '/', '+' and '=' make its URL-encoded and base64 forms differ from it
USER = "svc"
ENV = "SYNTHLOOM_TEST_SECRET_KEY"

RECIPE = """\
name: secrets
seed: 11
entities:
  nouns: [cat, dog, tree, river, cake]
slots:
  noun: {from: nouns, sampler: coverage}
stages:
  - name: story
    prompt: "Write two sentences about a {{ noun }}."
    params: {max_tokens: 30}
""" + f"backend: {{kind: openai, model: m, api_key_env: {ENV}}}\n"


# --- what a leak looks like -------------------------------------------------------------------

def b64_cores(data: bytes) -> set[bytes]:
    """Base64 of `data` at each of the three alignments it can have inside a longer encoded
    text, without the edge characters the neighbours change: one of them is in any base64 text
    that encodes a string containing `data`. Standard and URL-safe alphabets."""
    cores = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data)
        core = encoded[4 if shift else 0:]
        if (shift + len(data)) % 3:
            core = core[:-4]
        cores |= {core, core.replace(b"+", b"-").replace(b"/", b"_")}
    return cores


def secret_forms(secret: str = KEY) -> list[bytes]:
    raw = secret.encode()
    forms = {raw, raw[3:15], raw[15:],  # pieces: a truncated echo still leaks
             urllib.parse.quote(secret, safe="").encode(), urllib.parse.quote_plus(secret).encode(),
             raw.replace(b"/", b"\\/")}
    for text in (raw, f"{USER}:{secret}".encode()):  # the key, and a Basic auth credential
        forms |= b64_cores(text)
    return sorted(forms)


FORMS = secret_forms()


def leaks_in(data: bytes | str) -> list[bytes]:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return [form for form in FORMS if form in data]


def leaking_files(*roots: Path) -> list[str]:
    """Every file (and name) under `roots` that holds the key in any form."""
    found = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = Path(folder) / name
                if leaks_in(name):
                    found.append(f"{path} (its name)")
                if path.is_file() and not path.is_symlink():
                    forms = leaks_in(path.read_bytes())
                    if forms:
                        found.append(f"{path}: {forms}")
    return found


def file_count(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def assert_clean(*outputs: str, dirs: tuple[Path, ...] = ()) -> None:
    for text in outputs:
        assert not leaks_in(text), f"the key is in the output: {text[-2000:]}"
        assert "Traceback" not in text, text[-3000:]
    assert leaking_files(*dirs) == []


def assert_exception_clean(exc: BaseException) -> None:
    """What a user sees of an exception: str, repr, and the traceback Python prints."""
    for text in (str(exc), repr(exc), "".join(traceback.format_exception(exc))):
        assert not leaks_in(text), text


# --- servers ------------------------------------------------------------------------------------

Answer = Callable[[dict], web.StreamResponse]


@contextmanager
def http_server(answer: Answer) -> Iterator[dict]:
    """A loopback server (any method, any path) in a thread: `answer(info)` sees the method, path,
    every header and the body; yields {'port', 'calls'}."""
    state: dict = {"calls": []}
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        info = {"method": request.method, "path": request.path, "headers": dict(request.headers),
                "body": body.decode("utf-8", "replace")}
        state["calls"].append(info)
        result = answer(info)
        return await result if asyncio.iscoroutine(result) else result

    async def serve() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["port"] = site._server.sockets[0].getsockname()[1]
        state["runner"] = runner
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop)
    assert ready.wait(10)
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def chat_body(info: dict) -> dict:
    return json.loads(info["body"] or "{}")


def story(info: dict) -> web.Response:
    body = chat_body(info)
    text = f"A {body['messages'][-1]['content'].split()[-1].rstrip('.')} story, seed {body.get('seed')}."
    return web.json_response({"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                              "usage": {"prompt_tokens": 9, "completion_tokens": len(text.split())}, "model": "m"})


def honest(info: dict) -> web.StreamResponse:
    """An OpenAI-compatible server with a vLLM-style /tokenize."""
    if info["path"].endswith("/models"):
        return web.json_response({"data": [{"id": "m"}]})
    if info["path"] == "/tokenize":
        return web.json_response({"count": len(info["body"].split())})
    if info["path"].endswith("/chat/completions"):
        return story(info)
    return web.Response(status=404)


def echo(info: dict) -> str:
    """A malicious server's error text: the credentials it was sent, decoded, then everything."""
    auth = info["headers"].get("Authorization", "")
    decoded = base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ") else ""
    return json.dumps({"error": {"message": f"denied {auth} {decoded}", "headers": info["headers"], "body": info["body"]}})


def echo_response(status: int, info: dict) -> web.Response:
    return web.Response(status=status, text=echo(info), content_type="application/json")


def refusing_everything(info: dict) -> web.Response:
    return echo_response(401, info)


def refusing_completions(info: dict) -> web.StreamResponse:
    """/models answers (no check there); every completion is a 401 that echoes the request."""
    return echo_response(401, info) if info["path"].endswith("/chat/completions") else honest(info)


def echoing_errors(info: dict) -> web.StreamResponse:
    """Per record (its noun): a 500, a 400, a 429 and a 200 that is not JSON, each echoing the request."""
    if not info["path"].endswith("/chat/completions"):
        return honest(info)
    prompt = chat_body(info)["messages"][-1]["content"]
    for noun, status in (("cat", 500), ("dog", 400), ("tree", 429), ("river", 200)):
        if noun in prompt:
            if status == 200:
                return web.Response(status=200, text="<html>" + echo(info), content_type="text/html")
            return echo_response(status, info)
    return story(info)


def echoing_in_content(info: dict) -> web.StreamResponse:
    """A 200 chat completion whose text is the request's credentials and headers."""
    if not info["path"].endswith("/chat/completions"):
        return honest(info)
    return web.json_response({"choices": [{"message": {"role": "assistant", "content": echo(info)}, "finish_reason": "stop"}],
                              "usage": {"prompt_tokens": 9, "completion_tokens": 9}, "model": "m"})


# --- credentials: Bearer from the environment, or user:key@ in the URL ---------------------------

def url_for(port: int, credentials: str) -> str:
    userinfo = f"{USER}:{urllib.parse.quote(KEY, safe='')}@" if credentials == "url" else ""
    return f"http://{userinfo}127.0.0.1:{port}/v1"


def env_for(credentials: str) -> dict:
    return {ENV: KEY} if credentials == "env" else {ENV: ""}


def sent_credentials(server: dict) -> set[str]:
    return {c["headers"].get("Authorization", "") for c in server["calls"]}


def expected_auth(credentials: str) -> str:
    if credentials == "env":
        return f"Bearer {KEY}"
    return "Basic " + base64.b64encode(f"{USER}:{KEY}".encode()).decode()


def cli(*args: object, credentials: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_cli(*map(str, args), env=env_for(credentials), timeout=timeout)


CREDENTIALS = ["env", "url"]


# --- honest servers: a run, its resume, and every command on the directory ----------------------

@pytest.mark.parametrize("credentials", CREDENTIALS)
def test_a_run_and_every_command_on_its_directory_keep_the_key_out(write_recipe, tmp_path, credentials):
    recipe = write_recipe(RECIPE)
    out, pilot = tmp_path / "out", tmp_path / "pilot"
    with http_server(honest) as server:
        url = url_for(server["port"], credentials)
        first = cli("run", recipe, "-n", 5, "--out", out, "--base-url", url, "--concurrency", 2, credentials=credentials)
        assert first.returncode == 0, first.stderr
        again = cli("run", recipe, "-n", 5, "--out", out, "--base-url", url, credentials=credentials)
        assert again.returncode == 0 and "5 kept" in again.stdout, again.stderr
        assert "0 requests sent" in again.stdout, again.stdout
        commands = [
            cli("report", out, credentials=credentials),
            cli("export", out, "--format", "sft", "--response-field", "story", "--to", out / "sft.jsonl",
                credentials=credentials),
            cli("export", out, "--format", "alpaca", "--response-field", "story", "--to", out / "alpaca.parquet",
                credentials=credentials),
            cli("estimate", recipe, "-n", 50, "--base-url", url, "--price-in", 1, "--price-out", 2, credentials=credentials),
            cli("estimate", recipe, "-n", 50, "--base-url", url, "--pilot", 2, "--out", pilot, "--json", credentials=credentials),
        ]
    assert expected_auth(credentials) in sent_credentials(server)  # the key really was used
    for result in commands:
        assert result.returncode == 0, result.stderr
    assert (out / "report.html").is_file() and (out / "sft.jsonl").is_file() and (pilot / "dataset.jsonl").is_file()
    assert file_count(out) >= 10
    assert_clean(*(p.stdout + p.stderr for p in [first, again, *commands]), dirs=(out, pilot))


def run_in_terminal(args: list[str], env: dict, timeout: float = 120) -> tuple[int, str]:
    """Run a command on a pseudo-terminal (the live progress bar draws) and return all it printed."""
    master, slave = pty.openpty()
    process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the command ended and closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return process.wait(30), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("credentials", CREDENTIALS)
def test_the_live_progress_bar_on_a_terminal_keeps_the_key_out(write_recipe, tmp_path, credentials):
    async def slow(info: dict) -> web.StreamResponse:
        if info["path"].endswith("/chat/completions"):
            await asyncio.sleep(0.1)
        return honest(info)

    out = tmp_path / "out"
    with http_server(slow) as server:
        args = [SYNTHLOOM, "run", str(write_recipe(RECIPE)), "-n", "20", "--out", str(out), "--concurrency", "2",
                "--base-url", url_for(server["port"], credentials), "--price-in", "1", "--price-out", "2"]
        code, printed = run_in_terminal(args, {**os.environ, **env_for(credentials), "COLUMNS": "200", "TERM": "xterm"})
    assert code == 0, printed
    assert "tok/s" in printed  # the bar was drawn
    assert_clean(printed, dirs=(out,))


def test_the_python_api_keeps_the_key_out_of_its_result(write_recipe, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, KEY)
    with http_server(honest) as server:
        result = api_run(write_recipe(RECIPE), 5, tmp_path / "out",
                         backend=BackendSpec(kind="openai", model="m", base_url=url_for(server["port"], "env"), api_key_env=ENV))
    assert result.kept == 5 and f"Bearer {KEY}" in sent_credentials(server)
    assert not leaks_in(repr(result))
    assert_clean(dirs=(tmp_path / "out",))


def test_a_killed_run_and_its_resume_keep_the_key_out(write_recipe, tmp_path):
    """kill -9 in the middle of a run (the progress bar on), then the same command again."""
    recipe, out = write_recipe(RECIPE), tmp_path / "out"

    async def slow(info: dict) -> web.StreamResponse:
        if info["path"].endswith("/chat/completions"):
            await asyncio.sleep(0.3)
        return honest(info)

    with http_server(slow) as server:
        args = [SYNTHLOOM, "run", str(recipe), "-n", "40", "--out", str(out), "--base-url", url_for(server["port"], "env"),
                "--concurrency", "2"]
        env = {**os.environ, **env_for("env")}
        killed = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 60
        while sum(c["path"].endswith("/chat/completions") for c in server["calls"]) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        stdout, stderr = killed.communicate(timeout=30)
        assert killed.returncode == -signal.SIGKILL
        resumed = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "40 kept" in resumed.stdout
    assert_clean(stdout.decode(), stderr.decode(), resumed.stdout, resumed.stderr, dirs=(out,))


# --- credentials in the recipe --------------------------------------------------------------------

def recipe_with_credentials(port: int) -> str:
    """The default backend's URL and a named backend's (a second stage on it) carry user:key@."""
    url = url_for(port, "url")
    return ("# written by hand\n" + RECIPE.replace(f"api_key_env: {ENV}}}", f"api_key_env: {ENV}, base_url: '{url}'}}")
            + f"backends:\n  judge: {{kind: openai, model: j, base_url: '{url}?api_key={urllib.parse.quote(KEY, safe='')}'}}\n"
            + "  # the judge's key: " + KEY + "\n")


def test_credentials_in_the_recipe_are_not_copied_into_recipe_yaml_or_the_report(write_recipe, tmp_path):
    out = tmp_path / "out"
    with http_server(honest) as server:
        recipe = write_recipe(recipe_with_credentials(server["port"]).replace("  # the judge's key: " + KEY + "\n", ""))
        result = cli("run", recipe, "-n", 3, "--out", out, "--quiet", credentials="url")
        report = cli("report", out, credentials="url")
    assert result.returncode == 0 and report.returncode == 0, result.stderr + report.stderr
    assert expected_auth("url") in sent_credentials(server)
    written = (out / "recipe.yaml").read_text()
    assert written.startswith("# written by hand") and "judge:" in written  # the file's own text, only without the key
    assert f"base_url: 'http://127.0.0.1:{server['port']}/v1'" in written
    for name in ("recipe.yaml", "report.html", "run.json", "metrics.json", "dataset.jsonl", "lineage.jsonl"):
        assert not leaks_in((out / name).read_bytes()), name
    assert_clean(result.stdout + result.stderr, report.stdout + report.stderr)


def test_a_recipe_that_quotes_its_key_in_a_comment_is_not_copied_verbatim(write_recipe, tmp_path):
    """recipe.yaml is the recipe file's own text only when that text is safe to keep."""
    out = tmp_path / "out"
    with http_server(honest) as server:
        recipe = write_recipe(recipe_with_credentials(server["port"]))
        result = cli("run", recipe, "-n", 3, "--out", out, "--quiet", credentials="url")
    assert result.returncode == 0, result.stderr
    assert not leaks_in((out / "recipe.yaml").read_bytes())
    written = (out / "recipe.yaml").read_text()
    assert "judge" in written and "written by hand" not in written  # the normalised recipe: a dump has no comments


def test_the_report_of_an_older_run_with_credentials_in_its_recipe_keeps_them_out(write_recipe, tmp_path):
    """A directory written before credentials were scrubbed: recipe.yaml and the recipe in
    store.sqlite still hold user:key@ and ?api_key=. The report shows the recipe without them."""
    out = tmp_path / "out"
    result = cli("run", write_recipe(RECIPE), "-n", 3, "--out", out, "--dry-run", "--quiet", credentials="env")
    assert result.returncode == 0, result.stderr
    old_recipe = recipe_with_credentials(8000).replace("  # the judge's key: " + KEY + "\n", "")
    (out / "recipe.yaml").write_text(old_recipe, encoding="utf-8")
    db = sqlite3.connect(out / "store.sqlite")
    stored = json.loads(db.execute("SELECT value FROM meta WHERE key = 'recipe'").fetchone()[0])
    stored["backends"] = {"judge": {"kind": "openai", "model": "j", "base_url": url_for(8000, "url") + "?api_key=" + KEY}}
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'recipe'", (json.dumps(stored),))
    db.close()
    for source in ("recipe.yaml", "store.sqlite"):
        if source == "store.sqlite":
            (out / "recipe.yaml").unlink()
        report = cli("report", out, "--out", tmp_path / f"{source}.html", credentials="env")
        assert report.returncode == 0, report.stderr
        page = (tmp_path / f"{source}.html").read_text()
        assert "judge" in page and "127.0.0.1:8000/v1" in page  # the recipe is shown, its URLs without credentials
        assert_clean(report.stdout + report.stderr)
        assert not leaks_in(page) and not leaks_in((tmp_path / f"{source}.json").read_bytes()), source


def test_credentials_in_the_recipe_stay_out_of_the_store(write_recipe, tmp_path):
    out = tmp_path / "out"
    with http_server(honest) as server:
        recipe = write_recipe(recipe_with_credentials(server["port"]).replace("  # the judge's key: " + KEY + "\n", ""))
        result = cli("run", recipe, "-n", 3, "--out", out, "--quiet", credentials="url")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stdout + result.stderr, dirs=(out,))


def test_a_key_in_the_environment_and_credentials_in_the_url_together(write_recipe, tmp_path):
    out = tmp_path / "out"
    with http_server(honest) as server:
        result = run_cli("run", str(write_recipe(RECIPE)), "-n", "3", "--out", str(out), "--base-url",
                         url_for(server["port"], "url"), env={ENV: KEY})
    assert result.returncode in (0, 2)
    assert_clean(result.stdout + result.stderr, dirs=(out,))


# --- servers that refuse the key or are not there -------------------------------------------------

@pytest.mark.parametrize("credentials", CREDENTIALS)
def test_a_refused_key_at_startup(write_recipe, tmp_path, monkeypatch, credentials):
    """401 on GET /models, the body echoing the credentials: exit 2, one line, no key."""
    recipe, out = write_recipe(RECIPE), tmp_path / "out"
    with http_server(refusing_everything) as server:
        url = url_for(server["port"], credentials)
        result = cli("run", recipe, "-n", 3, "--out", out, "--base-url", url, credentials=credentials)
        estimate = cli("estimate", recipe, "-n", 10, "--base-url", url, credentials=credentials)
        monkeypatch.setenv(ENV, env_for(credentials)[ENV])
        with pytest.raises(Exception) as raised:
            api_run(recipe, 3, tmp_path / "api", backend=BackendSpec(kind="openai", model="m", base_url=url, api_key_env=ENV))
    assert expected_auth(credentials) in sent_credentials(server)
    assert result.returncode == 2 and "refused the API key" in result.stderr, result.stderr
    assert len([line for line in result.stderr.strip().splitlines() if "warning: generator terms:" not in line]) == 1
    assert estimate.returncode == 0  # counted approximately, saying why
    assert_exception_clean(raised.value)
    assert_clean(result.stdout + result.stderr, estimate.stdout + estimate.stderr, dirs=(out, tmp_path / "api"))


@pytest.mark.parametrize("credentials", CREDENTIALS)
def test_a_refused_key_mid_run_with_the_key_echoed_back(write_recipe, tmp_path, monkeypatch, credentials):
    recipe, out = write_recipe(RECIPE), tmp_path / "out"
    with http_server(refusing_completions) as server:
        url = url_for(server["port"], credentials)
        result = cli("run", recipe, "-n", 3, "--out", out, "--base-url", url, credentials=credentials)
        monkeypatch.setenv(ENV, env_for(credentials)[ENV])
        with pytest.raises(Exception) as raised:
            api_run(recipe, 3, tmp_path / "api", backend=BackendSpec(kind="openai", model="m", base_url=url, api_key_env=ENV))
    assert result.returncode == 2 and "HTTP 401" in result.stderr
    assert_exception_clean(raised.value)
    assert_clean(result.stdout + result.stderr, dirs=(out, tmp_path / "api"))


@pytest.mark.parametrize("credentials", CREDENTIALS)
def test_an_unreachable_server(write_recipe, tmp_path, monkeypatch, credentials):
    with http_server(honest) as server:
        port = server["port"]  # free now: nothing listens there after the server stops
    recipe, out, url = write_recipe(RECIPE), tmp_path / "out", url_for(port, credentials)
    result = cli("run", recipe, "-n", 3, "--out", out, "--base-url", url, credentials=credentials)
    estimate = cli("estimate", recipe, "-n", 10, "--base-url", url, credentials=credentials)
    monkeypatch.setenv(ENV, env_for(credentials)[ENV])
    with pytest.raises(Exception) as raised:
        api_run(recipe, 3, tmp_path / "api", backend=BackendSpec(kind="openai", model="m", base_url=url, api_key_env=ENV))
    assert result.returncode == 2 and "cannot reach" in result.stderr, result.stderr
    assert estimate.returncode == 0 and "did not start" in estimate.stdout
    assert f"127.0.0.1:{port}" in str(raised.value)  # the server is named, its credentials are not
    assert_exception_clean(raised.value)
    assert_clean(result.stdout + result.stderr, estimate.stdout + estimate.stderr, dirs=(out, tmp_path / "api"))


def test_a_key_pasted_into_the_url_without_encoding(write_recipe, tmp_path, monkeypatch):
    recipe, out = write_recipe(RECIPE), tmp_path / "out"
    with http_server(honest) as server:
        url = f"http://{USER}:{KEY}@127.0.0.1:{server['port']}/v1"  # the key's '/' is not %2F
        result = cli("run", recipe, "-n", 3, "--out", out, "--base-url", url, credentials="url")
        estimate = cli("estimate", recipe, "-n", 10, "--base-url", url, credentials="url")
        monkeypatch.setenv(ENV, "")
        try:
            api_run(recipe, 3, tmp_path / "api", backend=BackendSpec(kind="openai", model="m", base_url=url, api_key_env=ENV))
        except Exception as exc:  # noqa: BLE001 - refusing the URL is as good as reading it right
            assert_exception_clean(exc)
    for command in (result, estimate):  # it works, or it is one line saying why
        assert command.returncode == 0 or (command.returncode == 2 and len(command.stderr.strip().splitlines()) == 1), \
            command.stderr
    assert_clean(result.stdout + result.stderr, estimate.stdout + estimate.stderr, dirs=(out, tmp_path / "api"))


# --- malicious servers: the request's credentials echoed back ------------------------------------

@pytest.mark.parametrize("credentials", CREDENTIALS)
def test_error_bodies_that_echo_the_request(write_recipe, tmp_path, credentials):
    out = tmp_path / "out"
    with http_server(echoing_errors) as server:
        result = cli("run", write_recipe(RECIPE), "-n", 5, "--out", out, "--base-url", url_for(server["port"], credentials),
                     "--max-attempts", 2, credentials=credentials)
        report = cli("report", out, credentials=credentials)
    assert result.returncode == 0, result.stderr
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert {r["reason"] for r in rejected} == {"server_error", "bad_request", "rate_limited", "bad_response"}
    assert all("denied" in r["detail"] for r in rejected)  # the server's words are kept, its echo of the key is not
    assert_clean(result.stdout + result.stderr, report.stdout + report.stderr, dirs=(out,))


def test_a_completion_that_echoes_the_key(write_recipe, tmp_path):
    out = tmp_path / "out"
    with http_server(echoing_in_content) as server:
        result = cli("run", write_recipe(RECIPE), "-n", 3, "--out", out, "--base-url", url_for(server["port"], "env"),
                     "--quiet", credentials="env")
    assert result.returncode == 0, result.stderr
    assert_clean(result.stdout + result.stderr, dirs=(out,))


def test_the_leak_detector_finds_every_form():
    """The search above is only as good as its forms: each encoding of the key is caught."""
    basic = base64.b64encode(f"{USER}:{KEY}".encode())
    for text in [KEY, urllib.parse.quote(KEY, safe=""), f"xx{KEY[:16]}", "Basic " + basic.decode(),
                 base64.b64encode(b"a" + KEY.encode()).decode(), base64.b64encode(b"ab" + KEY.encode()).decode(),
                 base64.urlsafe_b64encode(b"{" + KEY.encode() + b"}").decode(), json.dumps({"k": KEY.replace("/", "\\/")})]:
        assert leaks_in(text), text
    assert not leaks_in("sk-other-key Bearer abc " + base64.b64encode(b"svc:other").decode())
