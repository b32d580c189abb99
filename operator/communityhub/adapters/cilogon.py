"""CILogon's client management (OA4MP's dynamic client registration: RFC 7591 create, RFC 7592 read, update and
delete at ``<registration_url>?client_id=...``), with the provider's administrative client as the credential.
Errors name the endpoint, never a secret."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from communityhub.adapters import http


class RegistrationError(RuntimeError):
    """CILogon did not do what was asked; the message says what, without a secret."""


def _at(url: str, client_id: str) -> str:
    return f"{url}?{urlencode({'client_id': client_id})}"


async def register(url: str, authorization: str, details: dict[str, Any], **options: Any) -> dict[str, str]:
    """A new client: its client_id and client_secret."""
    status, body = await http.request_json("POST", url, authorization=authorization, body=details, **options)
    if status == 404 or not isinstance(body, dict) or not body.get("client_id") or not body.get("client_secret"):
        raise RegistrationError(f"POST {url}: HTTP {status}, and no client_id and client_secret in the answer")
    return {"client_id": str(body["client_id"]), "client_secret": str(body["client_secret"])}


async def update(url: str, authorization: str, client_id: str, details: dict[str, Any], **options: Any) -> None:
    """The client's registration replaced by ``details`` (its secret stays CILogon's)."""
    status, _ = await http.request_json("PUT", _at(url, client_id), authorization=authorization, body=details,
                                        **options)
    if status == 404:
        raise RegistrationError(f"PUT {url}: CILogon has no client {client_id}")


async def delete(url: str, authorization: str, client_id: str, **options: Any) -> bool:
    """Delete the client; False when CILogon had none of that id (already gone)."""
    status, _ = await http.request_json("DELETE", _at(url, client_id), authorization=authorization, **options)
    return status != 404
