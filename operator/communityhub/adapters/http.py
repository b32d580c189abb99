"""HTTP reads (aiohttp, which Kopf already brings): OIDC discovery documents and the hubs' REST API.

Where a request goes is partly a tenant's to say (an OIDC issuer, a hub's domain), so no redirect is followed
(a 3xx is an error that names where it pointed), and a host that is not the operator's own may not resolve to a
loopback, link-local, private or otherwise reserved address (the cloud's metadata server, the cluster's own
Services) unless the provider allows it (CHUB_HTTP_ALLOW_PRIVATE: the local plane, whose services are on
127.0.0.1). The check runs in the resolver the connection itself uses, so a name cannot change its answer between
the check and the connection.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from communityhub.adapters.tls import client_context


class HttpError(RuntimeError):
    """A request that failed; the message names the URL and never carries a token."""


def refused_address(address: str) -> str | None:
    """Why a request may not go to this address (unless allowed), or None: loopback, link-local (the metadata
    server at 169.254.169.254), private, shared (100.64/10), multicast, unspecified or reserved."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address} is not an address"
    mapped = getattr(ip, "ipv4_mapped", None)
    ip = mapped or ip
    for what, hit in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local), ("private", ip.is_private),
                      ("multicast", ip.is_multicast), ("unspecified", ip.is_unspecified),
                      ("reserved", ip.is_reserved or not ip.is_global)):
        if hit:
            return f"{ip} is a {what} address"
    return None


class PublicResolver(AbstractResolver):
    """aiohttp's resolver, refusing every answer that is not a public address."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        for answer in answers:
            if why := refused_address(answer["host"]):
                # (errno, text): aiohttp's wrapper shows the strerror, which this text becomes.
                raise OSError(errno.EACCES, f"{host} resolves to {answer['host']}: {why}; not reached "
                                            f"(CHUB_HTTP_ALLOW_PRIVATE allows it)")
        return answers

    async def close(self) -> None:
        await self._inner.close()


async def get_json(url: str, *, timeout_seconds: float, token: str | None = None,
                   accept: str = "application/json", extra_ca_file: str = "", allow_private: bool = False) -> Any:
    return await _get(url, timeout_seconds, token, accept, extra_ca_file, read_json=True, allow_private=allow_private)


async def probe(url: str, *, timeout_seconds: float, extra_ca_file: str = "", allow_private: bool = False) -> None:
    """A GET that must answer 200 (a health endpoint's body, often empty, is not read); HttpError if not."""
    await _get(url, timeout_seconds, None, "*/*", extra_ca_file, read_json=False, allow_private=allow_private)


def _literal_refusal(url: str) -> str | None:
    """A URL whose host is an address literal (the resolver never sees it)."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return refused_address(host)


async def _get(url: str, timeout_seconds: float, token: str | None, accept: str, extra_ca_file: str,
               read_json: bool, allow_private: bool) -> Any:
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"token {token}"
    _, body = await _request("GET", url, timeout_seconds, headers, None, extra_ca_file, read_json, allow_private,
                             ok=(200,))
    return body


async def request_json(method: str, url: str, *, timeout_seconds: float, authorization: str, body: Any = None,
                       extra_ca_file: str = "", allow_private: bool = False) -> tuple[int, Any]:
    """A JSON API call (CILogon's client management): (status, the JSON it answered, or None). 2xx and 404 are
    answers; anything else is an HttpError that names the URL without its query, never the authorization."""
    headers = {"Accept": "application/json", "Authorization": authorization}
    return await _request(method, url, timeout_seconds, headers, body, extra_ca_file, True, allow_private,
                          ok=(200, 201, 202, 204, 404))


async def _request(method: str, url: str, timeout_seconds: float, headers: dict[str, str], body: Any,
                   extra_ca_file: str, read_json: bool, allow_private: bool, ok: tuple[int, ...]) -> tuple[int, Any]:
    shown = _where(url)
    if not allow_private and (why := _literal_refusal(url)):
        raise HttpError(f"{method} {shown}: {why}; not reached (CHUB_HTTP_ALLOW_PRIVATE allows it)")
    try:
        context = client_context(extra_ca_file)
        connector = aiohttp.TCPConnector(resolver=None if allow_private else PublicResolver())
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_seconds),
                                         connector=connector) as session, \
                session.request(method, url, headers=headers, json=body, ssl=context,
                                allow_redirects=False) as response:
            if 300 <= response.status < 400:
                raise HttpError(f"{method} {shown}: HTTP {response.status} redirects to "
                                f"{_where(response.headers.get('Location'))}, which is not followed")
            if response.status not in ok:
                raise HttpError(f"{method} {shown}: HTTP {response.status} {response.reason}")
            if not read_json:
                return response.status, None
            text = await response.text()
            return response.status, json.loads(text) if text.strip() else None
    except (aiohttp.ClientError, TimeoutError, ValueError, OSError, ssl.SSLError) as err:
        raise HttpError(f"{method} {shown}: {type(err).__name__}: {err}".rstrip(": ")) from err


def _where(location: str | None) -> str:
    """A redirect's target without its query (which may carry a token)."""
    if not location:
        return "nowhere"
    parts = urlsplit(location)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path

