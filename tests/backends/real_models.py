"""Helpers for tests that run the real SmolLM2 model, in-process or behind llama_cpp.server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from synthloom.backends.embedded import default_model_path

TINY_RECIPE = """\
name: tiny
seed: 3
entities:
  animals: [cat, dog, owl, fox]
  moods: [happy, sleepy]
slots:
  animal: {from: animals, sampler: coverage}
  mood: moods
stages:
  - name: line
    prompt: "Write one short sentence about a {{ mood }} {{ animal }}."
    params: {temperature: 0.8, max_tokens: 24}
  - name: title
    prompt: "Give a two-word title for this sentence: {{ line }}"
    params: {temperature: 0.2, max_tokens: 8}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def llama_server(timeout: float = 180) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on loopback, serving the embedded GGUF."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2", "--verbose", "False"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {proc.stderr.read()[-2000:]}")
            try:
                urllib.request.urlopen(base + "/models", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("llama_cpp.server did not start in time") from None
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
