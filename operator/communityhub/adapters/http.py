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
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"token {token}"
    try:
        context = client_context(extra_ca_file)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_seconds)) as session, \
                session.get(url, headers=headers, ssl=context) as response:
            if response.status != 200:
                raise HttpError(f"GET {url}: HTTP {response.status} {response.reason}")
            return await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError, OSError, ssl.SSLError) as err:
        raise HttpError(f"GET {url}: {type(err).__name__}: {err}".rstrip(": ")) from err
