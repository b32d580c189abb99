"""HTTP reads (aiohttp, which Kopf already brings): OIDC discovery documents and the hubs' REST API."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp

from communityhub.adapters.tls import client_context


class HttpError(RuntimeError):
    """A request that failed; the message names the URL and never carries a token."""


async def get_json(url: str, *, timeout_seconds: float, token: str | None = None,
                   accept: str = "application/json", extra_ca_file: str = "") -> Any:
    return await _get(url, timeout_seconds, token, accept, extra_ca_file, read_json=True)


async def probe(url: str, *, timeout_seconds: float, extra_ca_file: str = "") -> None:
    """A GET that must answer 200 (a health endpoint's body, often empty, is not read); HttpError if not."""
    await _get(url, timeout_seconds, None, "*/*", extra_ca_file, read_json=False)


async def _get(url: str, timeout_seconds: float, token: str | None, accept: str, extra_ca_file: str,
               read_json: bool) -> Any:
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"token {token}"
    try:
        context = client_context(extra_ca_file)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_seconds)) as session, \
                session.get(url, headers=headers, ssl=context) as response:
            if response.status != 200:
                raise HttpError(f"GET {url}: HTTP {response.status} {response.reason}")
            return await response.json(content_type=None) if read_json else None
    except (aiohttp.ClientError, TimeoutError, ValueError, OSError, ssl.SSLError) as err:
        raise HttpError(f"GET {url}: {type(err).__name__}: {err}".rstrip(": ")) from err
