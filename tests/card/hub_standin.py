"""A local stand-in for the Hugging Face Hub API, for `synthloom push` tests: the endpoints that
`HfApi.create_repo` and `HfApi.upload_folder` / `create_commit` call, with the shapes huggingface_hub
reads (checked against its source: hf_api.py, _commit_api.py, lfs.py). Point HF_ENDPOINT at it.

    POST /api/repos/create                                {name, organization, type, visibility} → {url}; 409 if it exists
    POST /api/validate-yaml                               {content, repoType} → {errors, warnings}; 400 on bad metadata
    POST /api/datasets/{org}/{name}/preupload/{rev}       {files: [{path, sample, size}]} → {files: [{path, uploadMode, shouldIgnore, oid}]}
    POST /datasets/{org}/{name}.git/info/lfs/objects/batch   git-lfs batch API (basic transfer) → upload + verify actions
    PUT  /lfs-upload/{oid}                                the object's bytes (sha256 checked)
    POST /lfs-verify                                      {oid, size}
    POST /api/datasets/{org}/{name}/commit/{rev}          NDJSON: header, file (base64), lfsFile → {commitUrl, commitOid}

Every /api call and the LFS batch call must carry `Authorization: Bearer <token>`, as the Hub requires.
Parquet and binary files are LFS files, text files regular ones, as the Hub decides by default.
What is not here: Xet storage (huggingface_hub uses it when hf_xet is installed; tests set
HF_HUB_DISABLE_XET=1), multipart LFS uploads, pull requests, auth scopes and rate limits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".safetensors", ".zip", ".gz")


class HubState:
    """What the stand-in holds: repos, their committed files, LFS objects, every request seen."""

    def __init__(self, token: str):
        self.token = token
        self.repos: dict[str, dict[str, Any]] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[str | None] = []
        self.bodies: list[bytes] = []
        self.echo_auth_at: str | None = None  # a path part where the server fails, echoing the Authorization header
        self.lock = threading.Lock()


def make_handler(state: HubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            with state.lock:
                state.bodies.append(data)
            return data

        def reply(self, status: int, payload: Any = None) -> None:
            data = json.dumps(payload if payload is not None else {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorized(self) -> bool:
            auth = self.headers.get("Authorization")
            with state.lock:
                state.authorizations.append(auth)
            if auth != f"Bearer {state.token}":
                self.reply(401, {"error": "Invalid credentials in Authorization header"})
                return False
            return True

        def base(self) -> str:
            return f"http://{self.headers['Host']}"

        def do_PUT(self) -> None:
            with state.lock:
                state.requests.append(("PUT", self.path))
            oid = self.path.rsplit("/", 1)[-1]
            data = self.body()
            if not self.path.startswith("/lfs-upload/") or hashlib.sha256(data).hexdigest() != oid:
                return self.reply(400, {"error": "content does not match its oid"})
            state.lfs[oid] = data
            self.reply(200)

        def do_POST(self) -> None:
            with state.lock:
                state.requests.append(("POST", self.path.split("?")[0]))
            path = self.path.split("?")[0]
            data = self.body()
            if path == "/lfs-verify":
                item = json.loads(data)
                ok = item.get("oid") in state.lfs and len(state.lfs[item["oid"]]) == item.get("size")
                return self.reply(200 if ok else 404, {} if ok else {"error": "object not found"})
            if not self.authorized():
                return None
            if state.echo_auth_at and state.echo_auth_at in path:  # a misbehaving server: the secret in its error body
                return self.reply(500, {"error": f"internal error for {self.headers.get('Authorization')}"})
            if path == "/api/repos/create":
                return self.create_repo(json.loads(data))
            if path == "/api/validate-yaml":
                return self.validate_yaml(json.loads(data))
            parts = path.strip("/").split("/")
            if path.endswith(".git/info/lfs/objects/batch"):
                return self.lfs_batch(json.loads(data))
            if len(parts) >= 6 and parts[:2] == ["api", "datasets"]:
                repo = f"{parts[2]}/{parts[3]}"
                if repo not in state.repos:
                    return self.reply(404, {"error": "Repository not found"})
                if parts[4] == "preupload":
                    return self.preupload(json.loads(data))
                if parts[4] == "commit":
                    return self.commit(repo, data)
            self.reply(404, {"error": f"not in the stand-in: POST {path}"})

        def create_repo(self, payload: dict[str, Any]) -> None:
            repo = f"{payload.get('organization')}/{payload.get('name')}"
            url = f"{self.base()}/datasets/{repo}"
            if payload.get("type") != "dataset":
                return self.reply(400, {"error": "the stand-in only holds dataset repos"})
            if repo in state.repos:
                return self.reply(409, {"error": "You already created this dataset repo", "url": url})
            state.repos[repo] = {"visibility": payload.get("visibility", "public"), "files": {}, "commits": []}
            self.reply(200, {"url": url, "name": repo, "id": repo})

        def validate_yaml(self, payload: dict[str, Any]) -> None:
            content = payload.get("content", "")
            errors = []
            if not content.startswith("---\n") or "\n---\n" not in content[4:]:
                return self.reply(200, {"errors": [], "warnings": [{"message": "empty or missing yaml metadata in repo card"}]})
            try:
                meta = yaml.safe_load(content[4:content.index("\n---\n", 4)])
            except yaml.YAMLError as exc:
                return self.reply(400, {"errors": [{"message": f"invalid YAML: {exc}"}]})
            for key in ("license", "size_categories", "task_categories", "configs"):
                if key not in meta:
                    errors.append({"message": f'"{key}" is missing'})
            for config in meta.get("configs") or []:
                if not isinstance(config.get("data_files"), (list, str)):
                    errors.append({"message": f'"configs.{config.get("config_name")}.data_files" must be a list or a string'})
            self.reply(400 if errors else 200, {"errors": errors, "warnings": []})

        def preupload(self, payload: dict[str, Any]) -> None:
            files = []
            for item in payload.get("files", []):
                sample = base64.b64decode(item.get("sample", ""))
                binary = b"\x00" in sample or item["path"].endswith(LFS_SUFFIXES)
                files.append({"path": item["path"], "uploadMode": "lfs" if binary else "regular",
                              "shouldIgnore": False, "oid": None})
            self.reply(200, {"files": files, "commitOid": "0" * 40})

        def lfs_batch(self, payload: dict[str, Any]) -> None:
            objects = []
            for obj in payload.get("objects", []):
                actions = None if obj["oid"] in state.lfs else {
                    "upload": {"href": f"{self.base()}/lfs-upload/{obj['oid']}", "header": {}},
                    "verify": {"href": f"{self.base()}/lfs-verify", "header": {}}}
                objects.append({"oid": obj["oid"], "size": obj["size"], "authenticated": True,
                                **({"actions": actions} if actions else {})})
            self.reply(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

        def commit(self, repo: str, data: bytes) -> None:
            lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
            if not lines or lines[0].get("key") != "header":
                return self.reply(400, {"error": "the first line must be the header"})
            files: dict[str, bytes] = {}
            for line in lines[1:]:
                value = line["value"]
                if line["key"] == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif line["key"] == "lfsFile":
                    if value["oid"] not in state.lfs:
                        return self.reply(422, {"error": f"LFS object {value['oid']} was not uploaded"})
                    files[value["path"]] = state.lfs[value["oid"]]
                else:
                    return self.reply(400, {"error": f"unexpected operation {line['key']}"})
            oid = hashlib.sha1(data).hexdigest()
            state.repos[repo]["files"].update(files)
            state.repos[repo]["commits"].append({"oid": oid, "summary": lines[0]["value"].get("summary")})
            self.reply(200, {"success": True, "commitOid": oid, "commitUrl": f"{self.base()}/datasets/{repo}/commit/{oid}"})

    return Handler


class HubStandIn:
    """Serve the stand-in on 127.0.0.1 in a thread: `with HubStandIn(token) as hub: hub.url ...`."""

    def __init__(self, token: str):
        self.state = HubState(token)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
