"""The review server's guard: the token on every request, no change without the header token and
JSON from its own origin, its own Host only, a CSP without inline script, loopback only."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request

import pytest

from synthloom.review.queries import scrubbed


def fetch(url: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def decide_body() -> bytes:
    return json.dumps({"action": "reject", "reason": "x", "ids": [0]}).encode()


def decisions(run_dir) -> int:
    import sqlite3

    db = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    finally:
        db.close()


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/schema", "/api/records", "/api/records/0", "/nothing"])
def test_every_path_needs_the_token(server, path):
    status, headers, _ = fetch(server.base + path)
    assert status == 401
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    status, _, _ = fetch(server.base + path + "?token=" + "x" * len(server.token))
    assert status == 403
    wrong = server.token[:-1] + ("A" if server.token[-1] != "A" else "B")  # one character off
    status, _, _ = fetch(server.base + path, headers={"X-Review-Token": wrong})
    assert status == 403


def test_the_token_opens_the_page_with_a_strict_policy(server):
    status, headers, body = fetch(server.url)
    assert status == 200
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert headers["Referrer-Policy"] == "no-referrer" and headers["X-Frame-Options"] == "DENY"
    page = body.decode()
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and all("src=" in tag for tag in scripts)  # no inline script: the policy would block it anyway
    assert not re.search(r"\son[a-z]+\s*=", page)  # no inline event handlers
    status, headers, _ = fetch(f"{server.base}/static/app.js?token={server.token}")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    status, _, body = fetch(f"{server.base}/api/records?limit=1", headers={"X-Review-Token": server.token})
    assert status == 200 and json.loads(body)["total"] == 60


def test_no_change_without_header_token_json_and_own_origin(server, run_dir):
    url = f"{server.base}/api/decide"
    json_type = {"Content-Type": "application/json"}
    token = {"X-Review-Token": server.token}
    refused = [
        ({**json_type}, None),  # no token
        ({**json_type, "X-Review-Token": "wrong"}, None),
        (json_type, f"?token={server.token}"),  # the URL's token is for reading only: a form or link cannot write
        ({**token, "Content-Type": "text/plain"}, None),  # what a cross-site form could send
        ({**token, **json_type, "Origin": "http://evil.example"}, None),
        ({**token, **json_type, "Sec-Fetch-Site": "cross-site"}, None),
        ({**token, **json_type, "Host": "evil.example:80"}, None),  # DNS rebinding
    ]
    for headers, query in refused:
        status, _, _ = fetch(url + (query or ""), "POST", headers, decide_body())
        assert status in (401, 403, 415, 421), headers
    assert decisions(run_dir) == 0
    origin = server.base
    status, _, body = fetch(url, "POST", {**token, **json_type, "Origin": origin, "Sec-Fetch-Site": "same-origin"}, decide_body())
    assert status == 200, body
    assert decisions(run_dir) == 1


def test_bad_requests_are_refused_with_a_message(server):
    headers = {"X-Review-Token": server.token, "Content-Type": "application/json"}
    for body in (b"not json", b"[1]", json.dumps({"action": "explode", "ids": [0]}).encode(),
                 json.dumps({"action": "reject", "ids": [0]}).encode(),  # no reason
                 json.dumps({"action": "edit", "field": "nope", "value": "x", "ids": [0]}).encode(),
                 json.dumps({"action": "accept", "filter": {"slot.nope": "x"}}).encode()):
        status, _, answer = fetch(f"{server.base}/api/decide", "POST", headers, body)
        assert status == 400 and json.loads(answer)["error"], body
    status, _, answer = fetch(f"{server.base}/api/records?score.quality=high", headers=headers)
    assert status == 400 and "quality" in json.loads(answer)["error"]


def other_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses."""
    found = set()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
            found.add(probe.getsockname()[0])
    except OSError:
        pass
    try:
        found |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except OSError:
        pass
    return sorted(a for a in found if not a.startswith("127."))


def test_listens_on_loopback_only(server):
    port = int(server.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    addresses = other_addresses()
    if not addresses:
        pytest.skip("this machine has no other interface to try")
    for address in addresses:
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=3).close()


def test_requests_and_calls_never_show_credentials():
    call = {"model": "m", "api_key": "sk-secret", "headers": {"Authorization": "Bearer sk-secret"},
            "params": {"max_tokens": 5, "Authorization": "x"}, "base_url": "http://user:sk-secret@host/v1?key=sk-secret"}
    assert "sk-secret" not in json.dumps(scrubbed(call))
    assert scrubbed(call)["params"] == {"max_tokens": 5}


def test_the_hosts_a_server_answers_to():
    from types import SimpleNamespace

    from synthloom.review.server import ReviewApp

    state = SimpleNamespace()
    ReviewApp.allow(state, "127.0.0.1", 8765)
    assert state.hosts == {"127.0.0.1:8765", "localhost:8765"}
    ReviewApp.allow(state, "::1", 8765)
    assert state.hosts == {"[::1]:8765"}
    ReviewApp.allow(state, "0.0.0.0", 8765)  # every interface: the request's own Host (the token still guards)
    assert state.hosts == set()
