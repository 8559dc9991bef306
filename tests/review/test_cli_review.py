"""`synthloom review` through its entry point: the URL with its token, --port, Ctrl-C, bad input."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.request

from synthloom.cli import main

from ..conftest import SYNTHLOOM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serves_on_the_given_port_until_interrupted(run_dir):
    port = free_port()
    child = subprocess.Popen([SYNTHLOOM, "review", str(run_dir), "--no-browser", "--port", str(port)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert f"http://127.0.0.1:{port}/?token=" in line, line + child.stderr.read()
        url = line.split(" at ", 1)[1].strip()
        token = url.split("token=", 1)[1]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/schema", headers={"X-Review-Token": token})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["name"] == "reviews"
        child.send_signal(signal.SIGINT)
        assert child.wait(30) == 0
        assert "Traceback" not in child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["review", str(tmp_path / "nope"), "--no-browser"]) == 2
    assert main(["review", str(tmp_path), "--no-browser"]) == 2
    assert main(["review", str(tmp_path), "--no-browser", "--port", "70000"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("synthloom: error: ") for line in lines)
