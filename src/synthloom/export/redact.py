"""Keeping credentials out of what a run writes down: URLs without user:password@ or a query
string, and recipe text that quotes none of the keys the run's backends use."""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

__all__ = ["without_credentials", "scrub_urls", "scrub_base_urls", "recipe_base_urls", "backend_secrets", "holds_secret"]

URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"<>]+@")


def without_credentials(url: str | None) -> str | None:
    """A URL (or a comma-separated fleet of them) as safe to write down: user:password@ and query
    strings (?key=...) removed."""
    if not url:
        return url
    if "," in url:
        return ",".join(without_credentials(part.strip()) or "" for part in url.split(","))
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:  # not a URL urllib can read (a key with a raw '/' in user:key@): everything to the last '@' goes
        scheme, sep, rest = url.partition("://")
        rest = rest.rpartition("@")[2].split("?", 1)[0].split("#", 1)[0]
        return f"{scheme}{sep}{rest}"
    host = parts.hostname or ""
    netloc = f"{host}:{port}" if port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def scrub_urls(text: str) -> str:
    """Every URL in `text` without its user:password@."""
    return URL_CREDENTIALS.sub(r"\g<scheme>", text)


def scrub_base_urls(text: str, base_urls: Iterable[str | None]) -> str:
    """`text` with each of these base URLs (or fleets) as `without_credentials` writes it, and no
    other URL touched: a query string in a prompt is part of the prompt."""
    urls = {url.strip() for value in base_urls for url in (value or "").split(",") if url.strip()}
    for url in sorted(urls, key=len, reverse=True):  # longest first: one URL may begin with another
        clean = without_credentials(url)
        if clean != url:
            text = text.replace(url, clean or "")
    return scrub_urls(text)


def recipe_base_urls(recipe: Any) -> list[str]:
    """The base URLs of a recipe given as a dict (parsed YAML or stored JSON): its backend's and
    its named backends'."""
    if not isinstance(recipe, dict):
        return []
    named = recipe.get("backends")
    specs = [recipe.get("backend"), *(named.values() if isinstance(named, dict) else [])]
    urls: list[str] = []
    for spec in specs:
        value = spec.get("base_url") if isinstance(spec, dict) else None
        urls += value if isinstance(value, list) else [value] if isinstance(value, str) else []
    return urls


MIN_SECRET = 8  # shorter values ("EMPTY", a vLLM habit) are no secret, and would match ordinary text


def backend_secrets(specs: Iterable[Any]) -> set[str]:
    """What must not be written down for these backend specs: the value of each one's api_key_env
    and every password, user:password and query string in its base URLs, raw and URL-decoded."""
    secrets: set[str] = set()
    for spec in specs:
        if spec is None:
            continue
        key = os.environ.get(getattr(spec, "api_key_env", "") or "")
        if key:
            secrets.add(key)
        for url in (getattr(spec, "base_url", None) or "").split(","):
            secrets |= url_secrets(url.strip())
    return {s for s in secrets if len(s) >= MIN_SECRET}


def url_secrets(url: str) -> set[str]:
    found: set[str] = set()
    head = url.split("://", 1)[-1]
    userinfo = head.split("/", 1)[0].rpartition("@")[0] if "@" in head.split("/", 1)[0] else ""
    if not userinfo and "@" in head:  # an unencoded '/' in the password: everything before the last '@'
        userinfo = head.rpartition("@")[0]
    if userinfo:
        found |= {userinfo, userinfo.partition(":")[2]}
    query = url.partition("?")[2].partition("#")[0]
    for _, value in urllib.parse.parse_qsl(query, keep_blank_values=False):
        found.add(value)
    if query:
        found.add(query)
    return {variant for s in found if s for variant in (s, urllib.parse.unquote(s))}


def holds_secret(text: str, secrets: Iterable[str]) -> bool:
    return any(secret in text for secret in secrets)
