"""Several servers behind one backend: which endpoint takes the next request, and which are down.

Each request goes to the live endpoint with the fewest requests outstanding (ties in turn), so
a slower server gets fewer. One that fails to connect, drops a connection, times out or answers
5xx is down for a cooldown (1 s, doubling to 30 s while it keeps failing); after it, one request
at a time probes it, and an answer brings it back. Only a request sent since the endpoint's last
change of state can change it again: the requests that were in flight when a server died mark it
down once, not once each.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field

from .options import BackendOptions

__all__ = ["Endpoint", "Fleet", "FleetOptions", "split_urls", "display_url", "split_credentials"]

Clock = Callable[[], float]


class FleetOptions(BackendOptions):
    """backend.options of the openai backend: its connection pool and how long a dead endpoint rests."""

    max_connections: int = Field(256, ge=1, le=100_000, description="open connections, over all endpoints")
    cooldown: float = Field(1.0, gt=0, le=3600, description="seconds a failing endpoint is left alone at first")
    max_cooldown: float = Field(30.0, gt=0, le=86_400, description="the cooldown doubles up to this")


class Endpoint:
    """One server of the fleet: its URLs, its load, and its health."""

    __slots__ = ("url", "chat_url", "root", "outstanding", "requests", "failures", "down", "down_until",
                 "cooldown", "epoch")

    def __init__(self, url: str, cooldown: float):
        self.url = url.rstrip("/")
        self.chat_url = self.url + "/chat/completions"
        self.root = self.url.removesuffix("/v1")  # where vLLM, SGLang and llama.cpp serve /tokenize
        self.outstanding = 0  # requests sent and not answered yet
        self.requests = 0
        self.failures = 0
        self.down = False
        self.down_until = 0.0
        self.cooldown = cooldown
        self.epoch = 0  # bumped on every change of state

    def stats(self) -> dict[str, Any]:
        return {"url": display_url(self.url), "requests": self.requests, "failures": self.failures, "down": self.down}


class Fleet:
    """The endpoints of one backend and the choice among them."""

    def __init__(self, urls: Sequence[str], cooldown: float = 1.0, max_cooldown: float = 30.0,
                 clock: Clock = time.monotonic):
        if not urls:
            raise ValueError("a fleet needs at least one URL")
        self.endpoints = [Endpoint(url, cooldown) for url in urls]
        self.only = self.endpoints[0] if len(self.endpoints) == 1 else None  # one server: nothing to choose
        self.base_cooldown = cooldown
        self.max_cooldown = max(cooldown, max_cooldown)
        self.clock = clock
        self.turn = 0

    def pick(self, tried: Sequence[Endpoint] = ()) -> Endpoint | None:
        """The endpoint for the next attempt, or None when no live one is left untried.

        With every endpoint down, a first attempt still goes out, to the one back soonest: the
        runner's backoff then paces the probes, as it would with a single server.
        """
        if self.only is not None:
            return None if tried else self.only
        endpoints = self.endpoints
        count = len(endpoints)
        now = self.clock()
        self.turn = start = (self.turn + 1) % count
        best: Endpoint | None = None
        for offset in range(count):
            endpoint = endpoints[(start + offset) % count]
            if endpoint.down_until > now or endpoint in tried:
                continue
            if best is None or endpoint.outstanding < best.outstanding:
                best = endpoint
        if best is not None:
            if best.down:  # its cooldown is over: this request probes it, the next probe waits another cooldown
                best.down_until = now + best.cooldown
            return best
        if tried:
            return None
        return min(endpoints, key=lambda e: e.down_until)

    def failed(self, endpoint: Endpoint, epoch: int) -> None:
        """An attempt sent at `epoch` found the endpoint dead: down, or down for twice as long."""
        endpoint.failures += 1
        if epoch != endpoint.epoch:
            return  # sent before the endpoint last went down (or came back): that change already counted
        if endpoint.down:
            endpoint.cooldown = min(endpoint.cooldown * 2, self.max_cooldown)
        else:
            endpoint.down = True
            endpoint.cooldown = self.base_cooldown
        endpoint.down_until = self.clock() + endpoint.cooldown
        endpoint.epoch += 1

    def answered(self, endpoint: Endpoint, epoch: int) -> None:
        """An attempt sent at `epoch` was answered: a down endpoint probed this way is back."""
        if endpoint.down and epoch == endpoint.epoch:
            endpoint.down = False
            endpoint.down_until = 0.0
            endpoint.cooldown = self.base_cooldown
            endpoint.epoch += 1

    def first_live(self) -> Endpoint:
        """The first endpoint in the given order that is not down (the first one if all are)."""
        return next((e for e in self.endpoints if not e.down), self.endpoints[0])

    def stats(self) -> list[dict[str, Any]]:
        """Per endpoint: requests sent (failovers included), failures, and whether it is down now."""
        return [endpoint.stats() for endpoint in self.endpoints]


def split_urls(value: str) -> list[str]:
    """`URL1,URL2` → ['URL1', 'URL2'] (blanks around commas and empty entries dropped)."""
    return [part.strip() for part in value.split(",") if part.strip()]


def display_url(url: str) -> str:
    """A URL as safe to print: user:password@ and the query string (?key=...) removed, also when
    the password holds an unencoded '/' (then urllib cannot find the host)."""
    scheme, sep, rest = url.partition("://")
    head, slash, path = rest.partition("/")
    if "@" in head:
        head = head.rpartition("@")[2]
    elif "@" in rest:  # user:pa/ss@host: everything up to the last '@' is credentials
        head, slash, path = rest.rpartition("@")[2].partition("/")
    return f"{scheme}{sep}{head}{slash}{path}".split("?", 1)[0].split("#", 1)[0]


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(the URL without user:password@, user, password), both decoded; (url, None, None) without them."""
    scheme, sep, rest = url.partition("://")
    head = rest.partition("/")[0]
    if "@" not in rest:
        return url, None, None
    userinfo = rest.rpartition("@")[0] if "@" not in head else head.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    query = "?" + url.split("?", 1)[1] if "?" in url else ""  # sent as given (?api-version=), never displayed
    return display_url(url) + query, urllib.parse.unquote(user), urllib.parse.unquote(password)
