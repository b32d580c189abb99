"""What a person's browser does on a hub that really serves (process pods): wait for their server behind the
proxy, and call its API with the server's own XSRF cookie."""

from __future__ import annotations

import asyncio
import time
import urllib.parse

import aiohttp


def user_path(user: str) -> str:
    """A user's URL prefix, as JupyterHub escapes the name (an e-mail login keeps its @)."""
    return f"/user/{urllib.parse.quote(user, safe='@~')}"


async def wait_for_lab(http: aiohttp.ClientSession, url: str, user: str, within: float = 180) -> str | None:
    """Ask for the user's JupyterLab until their server answers with it (the hub's spawn-pending page meanwhile);
    the URL it answered at, or None after ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with http.get(f"{url}{user_path(user)}/lab") as resp:
            if resp.status == 200 and "<title>JupyterLab</title>" in await resp.text():
                return str(resp.url)
        await asyncio.sleep(2)
    return None


def xsrf_headers(jar: aiohttp.CookieJar, user: str) -> dict[str, str]:
    """The header a notebook page sends with its API calls: the user server's own XSRF cookie (the hub sets one
    for /hub/ too)."""
    prefix = user_path(user)
    return {"X-XSRFToken": next((c.value for c in jar if c.key == "_xsrf" and c["path"].startswith(prefix)), "")}
