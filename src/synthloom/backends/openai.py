"""Any OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama, OpenRouter, ...).

aiohttp rather than the openai SDK: on two cores the SDK tops out near 740 requests/s against
a zero-latency server, raw aiohttp near 9,000, and the tool must not be the bottleneck.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import urllib.parse
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

from ..errors import ConfigError
from ..recipe.model import BackendSpec
from .base import (
    BackendBase,
    BadRequest,
    Request,
    Response,
    ServerError,
    Timeout,
    Unreachable,
    Usage,
)
from .fleet import Endpoint, Fleet, FleetOptions, display_url, split_credentials, split_urls
from .openai_wire import cut_off_detail, describe, parse_completion, secret_forms, status_error
from .options import parse_options
from .schema import grammar_friendly
from .tokenize import ServerTokenizer, loads_or_none

__all__ = ["OpenAIBackend"]

SIMPLER = {"json_schema": "json_object", "json_object": "none"}


class OpenAIBackend(BackendBase):
    """POSTs to `{base_url}/chat/completions`; the key comes from an environment variable.

    Several base URLs (a list, or one string with commas) are one fleet behind one connection
    pool: fleet.py picks the endpoint of each attempt, and a dead one is retried past here.
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | Sequence[str] = "https://api.openai.com/v1",
        api_key: str | None = None,
        timeout: float = 120.0,
        max_connections: int = 256,
        cooldown: float = 1.0,
        max_cooldown: float = 30.0,
    ):
        self.model_id = model
        given = split_urls(base_url) if isinstance(base_url, str) else list(base_url)
        parts = [split_credentials(url) for url in given]
        urls = [clean for clean, _, _ in parts]
        self.secrets = secret_forms(api_key, [(user, password) for _, user, password in parts if user or password])
        self.fleet = Fleet(urls, cooldown, max_cooldown)
        self.base_url = self.fleet.endpoints[0].url
        self.timeout = timeout
        self.max_connections = max_connections
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        else:
            basic = next(((u, p) for _, u, p in parts if u or p), None)
            if basic:
                pair = f"{basic[0] or ''}:{basic[1] or ''}".encode()
                self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()  # one header: never both
        self._session: aiohttp.ClientSession | None = None
        self.schema_mode = "json_schema"
        self.tokenizer = ServerTokenizer(self.tokenizer_root, model, self.post_json, self.billed_prompt_tokens)

    @classmethod
    def from_spec(cls, spec: BackendSpec) -> OpenAIBackend:
        if not spec.model:
            raise ConfigError("the openai backend needs a model name: --model NAME or backend.model in the recipe")
        urls = split_urls(spec.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1")
        if not urls:
            raise ConfigError("backend.base_url has no URL in it")
        for url in urls:
            try:
                _ = urllib.parse.urlsplit(split_credentials(url)[0]).port  # reading .port checks it (ValueError)
            except ValueError:
                raise ConfigError(f"backend.base_url is not a valid URL: {display_url(url)!r} (characters such as / : @ "
                                  "in a user:password@ must be URL-encoded)") from None
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"backend.base_url must start with http:// or https://, got {display_url(url)!r}")
        return cls(
            model=spec.model,
            base_url=urls,
            api_key=os.environ.get(spec.api_key_env) or None,
            timeout=spec.timeout,
            **parse_options(FleetOptions, spec.options).model_dump(),
        )

    def __repr__(self) -> str:  # never show the key
        urls = ",".join(display_url(e.url) for e in self.fleet.endpoints)
        return f"OpenAIBackend(model={self.model_id!r}, base_url={urls!r})"

    def redact(self, text: str) -> str:
        """`text` without this backend's credentials (a server may echo the request back)."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def redact_bytes(self, raw: bytes) -> bytes:
        if not self.secrets:
            return raw
        text = raw.decode("utf-8", "surrogateescape")
        clean = self.redact(text)
        return raw if clean == text else clean.encode("utf-8", "surrogateescape")

    async def start(self) -> None:
        """Open the connection pool and check each server answers; fail only if none does."""
        connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout))
        endpoints = self.fleet.endpoints
        results = await asyncio.gather(*(self.check(e) for e in endpoints), return_exceptions=True)
        refused = next((r for r in results if isinstance(r, BaseException)), None)
        silent = [(e, r) for e, r in zip(endpoints, results) if isinstance(r, str)]
        if refused is not None or len(silent) == len(endpoints):
            await self.close()
            if refused is not None:
                raise refused
            if len(endpoints) == 1:
                raise ConfigError(f"cannot reach the server at {display_url(self.base_url)} (backend.base_url): "
                                  f"{silent[0][1]}")
            raise ConfigError(f"cannot reach any of the {len(endpoints)} servers in backend.base_url: "
                              + ", ".join(f"{display_url(e.url)} ({why})" for e, why in silent))
        for endpoint, _ in silent:
            self.fleet.failed(endpoint, endpoint.epoch)
        if silent:
            print(f"synthloom: warning: {len(silent)} of {len(endpoints)} servers in backend.base_url did not answer, "
                  "skipped until they do: " + ", ".join(f"{display_url(e.url)} ({why})" for e, why in silent),
                  file=sys.stderr)

    async def check(self, endpoint: Endpoint) -> str | None:
        """GET /models: None if the server answers, what went wrong if not; a refused key is fatal."""
        assert self._session is not None
        try:
            async with self._session.get(endpoint.url + "/models", headers=self._headers,
                                         timeout=aiohttp.ClientTimeout(total=10)) as resp:
                if resp.status in (401, 403):
                    raise ConfigError(f"{display_url(endpoint.url)} refused the API key (HTTP {resp.status}); "
                                      "check backend.api_key_env")
        except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
            return self.redact(describe(exc))
        return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def session(self) -> aiohttp.ClientSession:
        """The open connection pool (for the batch endpoints, backends/openai_batches.py)."""
        if self._session is None:
            raise RuntimeError("OpenAIBackend.start() was not awaited")
        return self._session

    def headers(self) -> dict[str, str]:
        return self._headers

    def batch_api(self, spec: BackendSpec) -> Any:
        """The Files + Batches endpoints of the (first) server, for `--batch`."""
        from .openai_batches import OpenAIBatches

        settings = spec.batch_settings
        return OpenAIBatches(self, spec.completion_window, settings.max_lines, settings.max_bytes)

    def endpoint_stats(self) -> list[dict[str, Any]]:
        """Per base URL (credentials removed): requests sent, failures, and whether it is down now."""
        return self.fleet.stats()

    def tokenizer_root(self) -> str:
        """Where tokenize requests go: the first endpoint that is not down."""
        return self.fleet.first_live().root

    @property
    def exact_token_counts(self) -> bool:
        """Whether prompt counts come from the server's tokenizer with its chat template."""
        return self.tokenizer.exact

    async def count_prompt_tokens(self, request: Request) -> int | None:
        """The prompt's tokens by the server's tokenizer; None if it has no tokenize endpoint."""
        return await self.tokenizer.prompt_tokens(request)

    async def count_text_tokens(self, text: str) -> int | None:
        return await self.tokenizer.text_tokens(text)

    def token_counting(self) -> str:
        if self.tokenizer.exact:
            return "exact (the server's /tokenize with its chat template)"
        if self.tokenizer.method in ("content", "input"):
            return ("the server's tokenizer on each message, plus the chat template's tokens "
                    "(measured by one 1-token completion per conversation shape)")
        return "approximate, 4 characters per token (the server has no tokenize endpoint)"

    async def billed_prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        """Prompt tokens the server reports for these messages (a one-token completion)."""
        response, _ = await self.post_completion(Request(tuple(messages), model=self.model_id, max_tokens=1, temperature=0.0))
        return response.usage.prompt_tokens  # 0 from a server that reports no usage: the rule of thumb stays

    async def post_json(self, url: str, body: dict[str, Any]) -> Any:
        """POST JSON, the answer's JSON (None for a non-200 or non-JSON answer)."""
        if self._session is None:
            raise RuntimeError("OpenAIBackend.start() was not awaited")
        async with self._session.post(url, data=orjson.dumps(body), headers=self._headers,
                                      timeout=aiohttp.ClientTimeout(total=min(self.timeout, 30))) as resp:
            raw = await resp.read()
            return loads_or_none(raw) if resp.status == 200 else None

    def body(self, request: Request) -> bytes:
        data: dict[str, Any] = {"model": request.model or self.model_id, "messages": list(request.messages)}
        data.update(request.sampling_params())
        response_format = self.response_format_for(request.response_format, self.schema_mode)
        if response_format is not None:
            data["response_format"] = response_format
        data.update(request.extra)
        return orjson.dumps(data)

    @staticmethod
    def response_format_for(response_format: dict[str, Any] | None, mode: str) -> dict[str, Any] | None:
        """The request's JSON Schema in the form this server takes (OpenAI, llama.cpp, or none)."""
        if response_format is None or mode == "none":
            return None
        schema = response_format.get("json_schema", {}).get("schema", {})
        # json_object + schema is llama.cpp's server form: give it the schema its grammar can keep
        return response_format if mode == "json_schema" else {"type": "json_object", "schema": grammar_friendly(schema)}

    async def complete(self, request: Request) -> Response:
        """One completion; a server that refuses response_format is asked in a simpler form."""
        while True:
            mode = self.schema_mode
            try:
                return await self.send(request)
            except BadRequest:
                if request.response_format is None or mode == "none":
                    raise
                if self.schema_mode == mode:  # concurrent refusals step down once, not twice
                    self.schema_mode = SIMPLER[mode]

    async def send(self, request: Request) -> Response:
        response, raw = await self.post_completion(request)
        if response.usage.total_tokens == 0 and b'"usage"' not in raw:
            response = await self.with_counted_usage(request, response)
        return response

    async def post_completion(self, request: Request) -> tuple[Response, bytes]:
        """POST to the endpoint the fleet picks; one that proves dead is marked down and the
        request goes at once to another live one, so only when none is left does the runner see it."""
        session = self._session
        if session is None:
            raise RuntimeError("OpenAIBackend.start() was not awaited")
        body = self.body(request)
        fleet = self.fleet
        endpoint = fleet.pick()
        tried: list[Endpoint] = []
        while endpoint is not None:
            epoch = endpoint.epoch
            endpoint.outstanding += 1
            endpoint.requests += 1
            try:
                async with session.post(endpoint.chat_url, data=body, headers=self._headers) as resp:
                    raw = await resp.read()
                    if resp.status != 200:
                        raise status_error(resp.status, self.redact_bytes(raw), resp.headers.get("Retry-After"))
            except TimeoutError:
                error: Exception = Timeout(f"no answer within {self.timeout}s")
            except aiohttp.ClientConnectorError as exc:
                error = Unreachable(self.redact(describe(exc)))
            except aiohttp.ClientPayloadError as exc:  # the connection closed before the announced body arrived
                error = ServerError(f"answer cut off before its end: {cut_off_detail(exc)}")
            except (aiohttp.ClientError, ConnectionError) as exc:
                error = ServerError(self.redact(describe(exc)))
            except ServerError as exc:  # a 5xx answer
                error = exc
            else:
                if endpoint.down:
                    fleet.answered(endpoint, epoch)
                return parse_completion(self.redact_bytes(raw)), raw
            finally:
                endpoint.outstanding -= 1
            fleet.failed(endpoint, epoch)
            tried.append(endpoint)
            endpoint = fleet.pick(tried)
        if fleet.only is None:  # name the server, keeping the message's start (is_overload reads "HTTP 503")
            error = type(error)(f"{error} ({display_url(tried[-1].url)}; {len(tried)} of "
                                f"{len(fleet.endpoints)} servers tried)")
        raise error

    async def with_counted_usage(self, request: Request, response: Response) -> Response:
        """A server that reports no usage: count with its tokenizer (or approximately)."""
        from .tokens import prompt_tokens, text_tokens

        try:
            prompt, _ = await prompt_tokens(self, request)
            completion = await text_tokens(self, response.text)
        except (TimeoutError, aiohttp.ClientError, OSError):
            return response
        return Response(response.text, response.finish_reason, Usage(prompt, completion), response.model, response.reasoning)


