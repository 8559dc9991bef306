"""`synthloom push`: a run's dataset (Parquet) with its card to the Hugging Face Hub, through
huggingface_hub (the `hub` extra). The token comes from HF_TOKEN or the standard login and is only
ever handed to huggingface_hub: it is never written, printed or put in an error message."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, missing_extra
from .hubdir import write_hub_dir

__all__ = ["PushResult", "push_run", "REPO_ID"]

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


@dataclass
class PushResult:
    """Where the dataset went."""

    repo: str
    url: str
    commit: str
    records: int
    private: bool


def push_run(run: Path, repo: str, private: bool = False) -> PushResult:
    """Create the dataset repo if needed (private with `private`) and commit README.md, data/*.parquet and
    recipe.yaml to it. HF_ENDPOINT picks another Hub (a mirror, or a stand-in in tests)."""
    try:
        import huggingface_hub
        from huggingface_hub import HfApi
    except ImportError as exc:
        raise missing_extra("hub", exc) from None
    if not REPO_ID.match(repo) or ".." in repo or repo.endswith((".git", ".")):
        raise ConfigError(f"--repo {repo!r}: expected ORG/NAME (letters, digits, '-', '_', '.')")
    token = os.environ.get("HF_TOKEN") or huggingface_hub.get_token()
    if not token:
        raise ConfigError("no Hugging Face token: set HF_TOKEN or log in with `hf auth login` (a token with write access)")
    endpoint = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    api = HfApi(endpoint=endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="synthloom-push-") as folder:
        records = write_hub_dir(run, Path(folder), repo)
        try:
            url = api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
            commit = api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=folder,
                                       commit_message=f"synthloom: {run.name} ({records:,} records with their dataset card)")
        except Exception as exc:  # noqa: BLE001 - httpx, huggingface_hub and OS errors: all one line, token scrubbed
            raise hub_error(exc, endpoint, repo, token) from None
    return PushResult(repo, str(url), str(getattr(commit, "oid", "") or ""), records, private)


def hub_error(exc: Exception, endpoint: str, repo: str, token: str) -> ConfigError:
    """One line for what went wrong talking to the Hub; nothing was published unless the commit went through."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, OfflineModeIsEnabled):
        text = "HF_HUB_OFFLINE is set: nothing was uploaded (unset it to push)"
    elif isinstance(exc, HfHubHTTPError) and status in (401, 403):
        text = f"the Hub at {endpoint} refused the token (HTTP {status}): it needs write access to {repo.split('/')[0]}"
    elif isinstance(exc, HfHubHTTPError):
        said = " ".join(str(getattr(exc, "server_message", None) or "").split())[:300] or first_line(exc)
        text = f"the Hub at {endpoint} answered HTTP {status} for {repo}: {said}"
    elif is_connection_error(exc):
        text = f"cannot reach the Hugging Face Hub at {endpoint} (offline?): nothing was uploaded; {first_line(exc)}"
    elif isinstance(exc, ValueError):
        text = f"the Hub refused the upload of {repo}: {first_line(exc)}"
    else:
        raise exc  # a bug, ours or the library's: keep its traceback
    return ConfigError(scrubbed(text, token))


def is_connection_error(exc: BaseException) -> bool:
    """httpx's connect/timeout errors and OSErrors, also when huggingface_hub wrapped them."""
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 5:
        if isinstance(cause, OSError) or type(cause).__name__ in ("ConnectError", "ConnectTimeout", "ReadTimeout",
                                                                  "RemoteProtocolError", "ConnectionError"):
            return True
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return False


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def scrubbed(text: str, token: str) -> str:
    """The text without the token, should a server or a library have echoed it."""
    return text.replace(token, "[token]") if token else text
