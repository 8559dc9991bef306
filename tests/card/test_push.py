"""`synthloom push` through huggingface_hub, unchanged, against a local stand-in for the Hub API
(tests/card/hub_standin.py) at HF_ENDPOINT; the token reaches the Hub and nothing else."""

import base64
import io
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from synthloom.cli import main

from .hub_standin import HubStandIn

SYNTHLOOM = str(Path(os.sys.executable).with_name("synthloom"))
TOKEN = "hf_SyntHLooMtestTOKEN0123456789abcdef"


@pytest.fixture
def run_dir(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "recipes/amazon_reviews.yaml", "-n", "10", "--dry-run", "--quiet", "--out", str(out)]) == 0
    return out


def push(run: Path, home: Path, *args: str, env: dict | None = None, **extra_env: str) -> subprocess.CompletedProcess:
    """The CLI in a clean environment: its own HOME and HF_HOME (no stored login), Xet off (see hub_standin.py)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    base.update(HOME=str(home), HF_HOME=str(home / "hf"), HF_HUB_DISABLE_XET="1", **extra_env)
    return subprocess.run([SYNTHLOOM, "push", str(run), *args], env=env or base, capture_output=True, text=True, timeout=120)


def every_byte_under(*roots: Path) -> bytes:
    return b"".join(p.read_bytes() + str(p).encode() for root in roots for p in root.rglob("*") if p.is_file())


def test_push_creates_the_repo_and_commits_the_parquet_and_the_card(run_dir, tmp_path):
    with HubStandIn(TOKEN) as hub:
        result = push(run_dir, tmp_path / "home", "--repo", "synth-org/reviews", "--private",
                      HF_TOKEN=TOKEN, HF_ENDPOINT=hub.url)
        assert result.returncode == 0, result.stderr
        assert f"pushed 10 records with their dataset card to {hub.url}/datasets/synth-org/reviews" in result.stdout
        repo = hub.state.repos["synth-org/reviews"]
        calls = [path for _, path in hub.state.requests]
    assert repo["visibility"] == "private"
    assert sorted(repo["files"]) == ["README.md", "data/train-00000-of-00001.parquet", "recipe.yaml"]
    assert repo["files"]["data/train-00000-of-00001.parquet"] == (run_dir / "dataset.parquet").read_bytes()
    table = pq.read_table(io.BytesIO(repo["files"]["data/train-00000-of-00001.parquet"]))
    assert table.num_rows == 10 and "review" in table.column_names
    card = repo["files"]["README.md"].decode()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["configs"][0]["data_files"][0]["path"] == "data/train-00000-of-00001.parquet" and "synthetic" in meta["tags"]
    assert 'load_dataset("synth-org/reviews", split="train")' in card
    assert repo["files"]["recipe.yaml"] == (run_dir / "recipe.yaml").read_bytes()
    # the calls huggingface_hub made, in order: repo, card check, upload modes, LFS for the Parquet file, commit
    assert calls[0] == "/api/repos/create" and "/api/validate-yaml" in calls
    assert calls.index("/api/datasets/synth-org/reviews/preupload/main") < calls.index(
        "/datasets/synth-org/reviews.git/info/lfs/objects/batch") < calls.index("/api/datasets/synth-org/reviews/commit/main")
    assert any(path.startswith("/lfs-upload/") for path in calls)
    assert hub.state.authorizations and set(hub.state.authorizations) == {f"Bearer {TOKEN}"}


def test_the_token_is_never_written_or_printed(run_dir, tmp_path):
    """Not in the run directory, HOME, the temp folder, the uploaded files or the output; also when a server echoes it."""
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    scratch.mkdir()
    with HubStandIn(TOKEN) as hub:
        ok = push(run_dir, home, "--repo", "me/data", HF_TOKEN=TOKEN, HF_ENDPOINT=hub.url, TMPDIR=str(scratch))
        again = push(run_dir, home, "--repo", "me/data", HF_TOKEN=TOKEN, HF_ENDPOINT=hub.url, TMPDIR=str(scratch))
        hub.state.echo_auth_at = "/commit/"
        echoed = push(run_dir, home, "--repo", "me/data", HF_TOKEN=TOKEN, HF_ENDPOINT=hub.url, TMPDIR=str(scratch))
        uploaded = b"".join(b"".join(repo["files"].values()) for repo in hub.state.repos.values())
    assert ok.returncode == again.returncode == 0, ok.stderr + again.stderr
    (line,) = [line for line in echoed.stderr.splitlines() if line.startswith("synthloom:")]  # after huggingface_hub's bars
    assert echoed.returncode == 2 and "Traceback" not in echoed.stderr
    assert line.startswith("synthloom: error: the Hub at") and "HTTP 500" in line and "internal error for Bearer [token]" in line
    forms = [TOKEN.encode(), base64.b64encode(TOKEN.encode()), TOKEN[8:24].encode()]
    output = "".join(r.stdout + r.stderr for r in (ok, again, echoed)).encode()
    for where, data in {"files": every_byte_under(run_dir, home, scratch), "uploaded": uploaded, "output": output}.items():
        for form in forms:
            assert form not in data, where
    assert list(scratch.iterdir()) == []  # the folder built for the upload is gone
    assert not (home / "hf" / "token").exists()


def test_a_refused_token_is_one_line_without_the_token(run_dir, tmp_path):
    with HubStandIn("hf_the_right_one") as hub:
        result = push(run_dir, tmp_path / "home", "--repo", "me/data", HF_TOKEN=TOKEN, HF_ENDPOINT=hub.url)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line == f"synthloom: error: the Hub at {hub.url} refused the token (HTTP 401): it needs write access to me"
    assert TOKEN not in result.stdout + result.stderr and not hub.state.repos


def test_offline_is_one_line_and_exit_2(run_dir, tmp_path):
    result = push(run_dir, tmp_path / "home", "--repo", "me/data", HF_TOKEN=TOKEN, HF_ENDPOINT="http://127.0.0.1:9")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("synthloom: error: cannot reach the Hugging Face Hub at http://127.0.0.1:9 (offline?): nothing was uploaded")
    offline = push(run_dir, tmp_path / "home", "--repo", "me/data", HF_TOKEN=TOKEN, HF_HUB_OFFLINE="1")
    assert offline.returncode == 2 and len(offline.stderr.strip().splitlines()) == 1
    assert "HF_HUB_OFFLINE is set: nothing was uploaded" in offline.stderr


def test_no_token_and_a_bad_repo_name_are_one_line(run_dir, tmp_path):
    result = push(run_dir, tmp_path / "home", "--repo", "me/data", HF_ENDPOINT="http://127.0.0.1:9")
    assert result.returncode == 2
    assert result.stderr.strip() == ("synthloom: error: no Hugging Face token: set HF_TOKEN or log in with `hf auth login` "
                                     "(a token with write access)")
    bad = push(run_dir, tmp_path / "home", "--repo", "no-slash", HF_TOKEN=TOKEN)
    assert bad.returncode == 2 and "expected ORG/NAME" in bad.stderr


def test_the_stored_login_is_used_when_there_is_no_hf_token(run_dir, tmp_path):
    """`hf auth login` stores the token in HF_HOME/token; push reads it through huggingface_hub and leaves it as it was."""
    home = tmp_path / "home"
    (home / "hf").mkdir(parents=True)
    (home / "hf" / "token").write_text(TOKEN)
    with HubStandIn(TOKEN) as hub:
        result = push(run_dir, home, "--repo", "me/data", HF_ENDPOINT=hub.url)
    assert result.returncode == 0, result.stderr
    assert set(hub.state.authorizations) == {f"Bearer {TOKEN}"} and (home / "hf" / "token").read_text() == TOKEN


def test_push_of_a_missing_run_is_one_line(tmp_path):
    result = push(tmp_path / "nope", tmp_path / "home", "--repo", "me/data", HF_TOKEN=TOKEN, HF_ENDPOINT="http://127.0.0.1:9")
    assert result.returncode == 2 and result.stderr.strip() == f"synthloom: error: {tmp_path / 'nope'}: no such run directory"
