"""Anthropic's Messages API, natively: x-api-key and anthropic-version headers, a system prompt
apart from the turns, JSON or SSE streaming answers, prompt caching and extended thinking.

aiohttp directly, as the openai backend does: the SDK is only used to test the stand-in.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import orjson
from pydantic import Field

from ..errors import ConfigError
from ..recipe.model import BackendSpec
from .anthropic_wire import error_for, parse_message
from .base import (
    BackendBase,
    BadResponse,
    Request,
    Response,
    ServerError,
    Timeout,
    Unreachable,
)
from .openai_wire import body_text, describe, secret_forms, token_count
from .options import BackendOptions, parse_options

__all__ = ["AnthropicBackend", "AnthropicOptions"]

DEFAULT_URL = "https://api.anthropic.com"
DEFAULT_MAX_TOKENS = 4096  # the API requires max_tokens; a stage without one gets this
# stop_reason → the finish_reason names the rest of synthloom (and OpenAI) use


class AnthropicOptions(BackendOptions):
    """backend.options of the anthropic backend."""

    stream: bool = Field(False, description="ask for server-sent events (long answers never hit an idle timeout)")
    cache_prefix: bool = Field(False, description="cache_control on the shared prefix: the system prompt and the turns "
                                                  "before the last one (few-shot examples)")
    version: str = Field("2023-06-01", description="the anthropic-version header")
    max_connections: int = Field(256, ge=1)


class AnthropicBackend(BackendBase):
    """POSTs to `{base_url}/v1/messages`; the key comes from an environment variable."""

    name = "anthropic"

    def __init__(self, model: str, base_url: str = DEFAULT_URL, api_key: str | None = None, timeout: float = 600.0,
                 stream: bool = False, cache_prefix: bool = False, version: str = "2023-06-01",
                 max_connections: int = 256):
        self.model_id = model
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.timeout = timeout
        self.stream = stream
        self.cache_prefix = cache_prefix
        self.max_connections = max_connections
        self.secrets = secret_forms(api_key, [])
        self.headers = {"content-type": "application/json", "anthropic-version": version}
        if api_key:
            self.headers["x-api-key"] = api_key
        self.session: aiohttp.ClientSession | None = None

    @classmethod
    def from_spec(cls, spec: BackendSpec) -> AnthropicBackend:
        if not spec.model:
            raise ConfigError("the anthropic backend needs a model name: --model NAME or backend.model in the recipe")
        url = spec.base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_URL
        if not url.startswith(("http://", "https://")) or "," in url:
            raise ConfigError(f"backend.base_url must be one URL starting with http:// or https://, got {url!r}")
        env = key_env(spec)
        options = parse_options(AnthropicOptions, spec.options)
        return cls(model=spec.model, base_url=url, api_key=os.environ.get(env) or None,
                   timeout=spec.timeout, **options.model_dump())

    def __repr__(self) -> str:  # never show the key
        return f"AnthropicBackend(model={self.model_id!r}, base_url={self.base_url!r})"

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    async def start(self) -> None:
        """Open the connection pool; check the server answers and takes the key (GET /v1/models)."""
        connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300)
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self.session.get(f"{self.base_url}/v1/models", headers=self.headers,
                                        timeout=aiohttp.ClientTimeout(total=10)) as resp:
                if resp.status in (401, 403):
                    raise ConfigError(f"{self.base_url} refused the API key (HTTP {resp.status}); check backend.api_key_env "
                                      "(default ANTHROPIC_API_KEY)")
        except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
            await self.close()
            raise ConfigError(f"cannot reach the server at {self.base_url} (backend.base_url): {self.redact(describe(exc))}") from None
        except ConfigError:
            await self.close()
            raise

    def open_session(self) -> aiohttp.ClientSession:
        if self.session is None:
            raise RuntimeError("AnthropicBackend.start() was not awaited")
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    def batch_api(self, spec: BackendSpec) -> Any:
        """The Message Batches endpoints, for `--batch`."""
        from .anthropic_batches import AnthropicBatches

        return AnthropicBatches(self, spec.batch_settings.max_lines, spec.batch_settings.max_bytes)

    def params(self, request: Request) -> dict[str, Any]:
        """The Messages API body for a request (the params of a batch line too)."""
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
        turns: list[dict[str, Any]] = [{"role": m["role"], "content": m["content"]}
                                       for m in request.messages if m["role"] != "system"]
        body: dict[str, Any] = {"model": request.model or self.model_id,
                                "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS, "messages": turns}
        if system:
            body["system"] = system
        if self.cache_prefix:
            if system:
                body["system"] = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
            if len(turns) > 1:
                shared = turns[-2]
                turns[-2] = {**shared, "content": [{"type": "text", "text": shared["content"],
                                                    "cache_control": {"type": "ephemeral"}}]}
        for name in ("temperature", "top_p"):
            value = getattr(request, name)
            if value is not None:
                body[name] = min(value, 1.0) if name == "temperature" else value  # Anthropic's range is 0-1
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        body.update(request.extra)
        return body

    async def complete(self, request: Request) -> Response:
        if self.session is None:
            raise RuntimeError("AnthropicBackend.start() was not awaited")
        body = self.params(request)
        if self.stream:
            body["stream"] = True
        try:
            async with self.session.post(f"{self.base_url}/v1/messages", data=orjson.dumps(body), headers=self.headers) as resp:
                if resp.status != 200:
                    raise error_for(resp.status, self.redact(body_text(await resp.read(), 300)), await json_or_none(resp),
                                    resp.headers.get("retry-after"))
                if self.stream:
                    return await read_stream(resp)
                raw = await resp.read()
        except TimeoutError:
            raise Timeout(f"no answer within {self.timeout}s") from None
        except aiohttp.ClientConnectorError as exc:
            raise Unreachable(self.redact(describe(exc))) from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise ServerError(self.redact(describe(exc))) from None
        try:
            return parse_message(orjson.loads(raw))
        except ValueError:
            raise BadResponse(f"not a message: {body_text(raw, 200)}") from None

    async def count_prompt_tokens(self, request: Request) -> int | None:
        """The prompt's tokens by POST /v1/messages/count_tokens; None if the server has no such endpoint."""
        if self.session is None:
            return None
        body = {k: v for k, v in self.params(request).items() if k in ("model", "messages", "system", "thinking")}
        try:
            async with self.session.post(f"{self.base_url}/v1/messages/count_tokens", data=orjson.dumps(body),
                                         headers=self.headers, timeout=aiohttp.ClientTimeout(total=30)) as resp:
                data = await json_or_none(resp)
        except (TimeoutError, aiohttp.ClientError, OSError):
            return None
        return token_count(data.get("input_tokens")) if isinstance(data, dict) and "input_tokens" in data else None

    async def count_text_tokens(self, text: str) -> int | None:
        return None

    def token_counting(self) -> str:
        return "the server's /v1/messages/count_tokens for prompts (approximate where it does not answer)"


def key_env(spec: BackendSpec) -> str:
    """The key's variable: the spec's, with OPENAI_API_KEY (the recipe default) read as ANTHROPIC_API_KEY."""
    return "ANTHROPIC_API_KEY" if spec.api_key_env == "OPENAI_API_KEY" else spec.api_key_env


async def json_or_none(resp: aiohttp.ClientResponse) -> Any:
    try:
        return orjson.loads(await resp.read())
    except ValueError:
        return None


async def read_stream(resp: aiohttp.ClientResponse) -> Response:
    """Assemble a streamed message from its events; an error event or a cut stream is typed."""
    message: dict[str, Any] = {}
    blocks: dict[int, dict[str, Any]] = {}
    event = ""
    async for raw in resp.content:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith("event:"):
            event = line[6:].strip()
            continue
        if not line.startswith("data:"):
            continue
        try:
            data = orjson.loads(line[5:])
        except ValueError:
            raise BadResponse(f"a stream event that is not JSON: {line[:120]}") from None
        kind = data.get("type", event)
        if kind == "message_start":
            message = dict(data.get("message") or {})
        elif kind == "content_block_start":
            blocks[data["index"]] = dict(data.get("content_block") or {})
        elif kind == "content_block_delta":
            block, delta = blocks.setdefault(data["index"], {"type": "text"}), data.get("delta") or {}
            for field in ("text", "thinking"):
                if field in delta:
                    block[field] = block.get(field, "") + delta[field]
        elif kind == "message_delta":
            message.update({k: v for k, v in (data.get("delta") or {}).items() if v is not None})
            message["usage"] = {**(message.get("usage") or {}), **(data.get("usage") or {})}
        elif kind == "error":
            raise error_for(0, str((data.get("error") or {}).get("message", "")), data)
        elif kind == "message_stop":
            message["content"] = [blocks[i] for i in sorted(blocks)]
            return parse_message(message)
    raise ServerError("the stream ended before message_stop")
