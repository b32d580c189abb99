"""Reads of an S3-compatible object store: the bytes a bucket holds (ListObjectsV2, page by page).

Used for the buckets the operator can measure itself: those of the ``local`` bucket module, on an
S3-compatible server that does not check signatures (its requests carry an Authorization header of the
right shape, as the module's own do). Cloud buckets are measured by the cloud's cost allocation (their
labels and tags carry the hub), not here: the operator holds no cloud credential of its own for them.
"""

from __future__ import annotations

import re
import urllib.parse

import aiohttp

from communityhub.adapters.http import HttpError

AUTHORIZATION = ("AWS4-HMAC-SHA256 Credential=communityhub-operator/20260101/us-east-1/s3/aws4_request, "
                 "SignedHeaders=host, Signature=0")
_SIZE = re.compile(r"<Size>([0-9]+)</Size>")
_NEXT = re.compile(r"<NextContinuationToken>([^<]+)</NextContinuationToken>")


def page_bytes(listing: str) -> tuple[int, str | None]:
    """The bytes of one ListObjectsV2 page, and the token of the next page (None: the last)."""
    found = _NEXT.search(listing)
    return sum(int(size) for size in _SIZE.findall(listing)), found.group(1) if found else None


async def bucket_bytes(endpoint: str, bucket: str, timeout_seconds: float) -> int:
    total, token = 0, None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_seconds)) as session:
        while True:
            query = {"list-type": "2", **({"continuation-token": token} if token else {})}
            url = f"{endpoint.rstrip('/')}/{bucket}?{urllib.parse.urlencode(query)}"
            try:
                async with session.get(url, headers={"Authorization": AUTHORIZATION}) as response:
                    if response.status != 200:
                        raise HttpError(f"GET {url}: HTTP {response.status} {response.reason}")
                    size, token = page_bytes(await response.text())
            except (aiohttp.ClientError, TimeoutError, OSError) as err:
                raise HttpError(f"GET {url}: {type(err).__name__}: {err}".rstrip(": ")) from err
            total += size
            if token is None:
                return total
