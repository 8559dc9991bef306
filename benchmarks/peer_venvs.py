"""One cached venv per peer tool under ~/.cache/synthloom/peers-venv/, installed from PyPI.

The peers cannot share the project venv (their pins conflict with ours) nor one venv between them
(bespokelabs-curator 0.1.31 pins pandas==2.2.2, data-designer 0.9.6 needs pandas>=2.3.3), so each
gets its own. Before installing, `pip install --dry-run --report` must show no CUDA: a peer that
wants torch gets the CPU wheel (torch==2.13.0) first, and one that still pulls nvidia-* packages is
refused with the reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

VENV_ROOT = Path.home() / ".cache" / "synthloom" / "peers-venv"
CPU_TORCH = "torch==2.13.0"
CUDA_PREFIXES = ("nvidia-", "triton", "cuda-")
STAMP = ".synthloom-peer.json"


class PeerUnavailable(Exception):
    """A peer cannot be installed here (the message says why)."""


@dataclass(frozen=True)
class PeerInstall:
    """What to pip-install for one peer, and which distribution's version to report."""

    name: str
    requirements: tuple[str, ...]
    dist: str


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(peer: PeerInstall, root: Path = VENV_ROOT, timeout: float = 1800.0) -> tuple[Path, dict[str, str]]:
    """The peer's venv python and its installed versions; creates and installs it once."""
    venv = root / peer.name
    stamp = venv / STAMP
    if stamp.is_file() and python_of(venv).exists():
        saved = json.loads(stamp.read_text())
        if saved.get("requirements") == list(peer.requirements):
            return python_of(venv), saved["versions"]
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    pip = [str(python_of(venv)), "-m", "pip"]
    run([*pip, "install", "--quiet", "--upgrade", "pip"], timeout=600)
    planned = dry_run(pip, list(peer.requirements), timeout)
    if "torch" in planned:
        run([*pip, "install", "--quiet", CPU_TORCH], timeout=timeout)
        planned = dry_run(pip, list(peer.requirements), timeout)
    cuda = sorted(name for name in planned if name.startswith(CUDA_PREFIXES) or name == "torch")
    if cuda:
        shutil.rmtree(venv, ignore_errors=True)
        raise PeerUnavailable(f"{' '.join(peer.requirements)} pulls CUDA packages even with the CPU torch "
                              f"installed first: {', '.join(cuda[:6])}")
    run([*pip, "install", "--quiet", *peer.requirements], timeout=timeout)
    versions = installed_versions(python_of(venv), [peer.dist, "torch", "openai", "litellm", "httpx", "aiohttp"])
    stamp.write_text(json.dumps({"requirements": list(peer.requirements), "versions": versions}, indent=2) + "\n")
    return python_of(venv), versions


def dry_run(pip: list[str], requirements: list[str], timeout: float) -> dict[str, str]:
    """{normalized name: version} of what pip would install for the requirements."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        run([*pip, "install", "--quiet", "--dry-run", "--report", str(report), *requirements], timeout=timeout)
        items = json.loads(report.read_text()).get("install", [])
    return {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"] for item in items}


def installed_versions(python: Path, dists: list[str]) -> dict[str, str]:
    """Versions of those distributions that are installed in the venv of `python`."""
    code = ("import json, sys\nfrom importlib import metadata\nout = {}\nfor d in sys.argv[1:]:\n"
            "    try: out[d] = metadata.version(d)\n    except metadata.PackageNotFoundError: pass\nprint(json.dumps(out))")
    done = run([str(python), "-c", code, *dists], timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run cmd; a failure becomes PeerUnavailable with the tail of its output."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise PeerUnavailable(f"timed out after {timeout:.0f}s: {' '.join(cmd[:6])}") from exc
    if done.returncode != 0:
        errors = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("ERROR")]
        tail = " | ".join((errors or (done.stdout + done.stderr).strip().splitlines())[-3:])
        raise PeerUnavailable(f"`{' '.join(cmd[2:7])} ...` failed (exit {done.returncode}): {tail[:600]}")
    return done
