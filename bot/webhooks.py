"""The webhook request itself: what is checked before, and while, its body is read.

Anyone can post to the webhook URL, so a request costs as little as possible until it has
proven it comes from GitHub. Its headers are checked before a byte of the body is read (event,
delivery id, an `X-Hub-Signature-256` of the form `sha256=<hex>`; the legacy SHA-1 signature
is refused), the declared size against GitHub's 25 MB cap; the body is then read in chunks
against that cap and HMAC-ed as it arrives. All bodies being read share one byte budget
(`ReadBudget`), so forty 24 MB posts with bad signatures hold two bodies' worth of memory, not
forty. Whatever the body holds (broken UTF-8, JSON nested too deep for the parser, a list),
the answer is a 4xx that names why, never a 500.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from gidgethub import sansio

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
MAX_PAYLOAD_BYTES = 25 * 2**20
"""GitHub caps webhook payloads at 25 MB; a bigger body is refused (413) unread."""
READ_BUDGET_BYTES = 2 * MAX_PAYLOAD_BYTES
"""Bytes of bodies held at once across all requests; a read waits for its share."""
READ_SECONDS = 30.0
"""A body that takes longer to arrive is refused (408): a slow sender must not hold the budget."""
DELIVERY_HEADERS = (EVENT_HEADER, DELIVERY_HEADER)
FORM = "application/x-www-form-urlencoded"
CONTENT_TYPES = ("application/json", FORM)
_CHUNK = 2**16


class Refused(Exception):
    """A delivery answered with a 4xx: `reason` goes in the answer and the log line."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class ReadBudget:
    """At most `capacity` bytes of request bodies in memory at once.

    A request reserves its declared length (the whole cap when it declares none) before
    reading, and waits while others hold the budget; aiohttp stops reading from a socket
    whose body nobody reads, so a waiting request costs a connection, not its body.
    """

    def __init__(self, capacity: int = READ_BUDGET_BYTES) -> None:
        self.capacity = capacity
        self._free = capacity
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        size = min(size, self.capacity)
        async with self._changed:
            await self._changed.wait_for(lambda: self._free >= size)
            self._free -= size
        try:
            yield
        finally:
            async with self._changed:
                self._free += size
                self._changed.notify_all()


async def read_delivery(request: web.Request, secret: str, budget: ReadBudget) -> sansio.Event:
    """The delivery in `request`, or `Refused`: headers first, then the body within budget."""
    signature = _signature(request)
    event, delivery_id = (request.headers.get(h, "").strip() for h in DELIVERY_HEADERS)
    missing = [h for h in DELIVERY_HEADERS if not request.headers.get(h, "").strip()]
    if missing:
        raise Refused(400, f"missing {', '.join(missing)}")
    content_type = request.content_type
    if content_type not in CONTENT_TYPES:
        raise Refused(
            415, f"expected Content-Type application/json or {FORM}, got {content_type or 'none'}"
        )
    declared = request.content_length
    if declared is not None and declared > MAX_PAYLOAD_BYTES:
        raise Refused(413, f"body over GitHub's cap of {MAX_PAYLOAD_BYTES} bytes")
    async with budget.reserve(MAX_PAYLOAD_BYTES if declared is None else declared):
        body = await _signed_body(request, secret.encode(), signature)
        return sansio.Event(parse_body(content_type, body), event=event, delivery_id=delivery_id)


def _signature(request: web.Request) -> bytes:
    """The hex digest GitHub signed the body with; only `sha256=` is accepted."""
    header = request.headers.get(SIGNATURE_HEADER)
    if header is None:
        raise Refused(401, f"missing {SIGNATURE_HEADER}")
    algorithm, _, digest = header.strip().partition("=")
    if algorithm != "sha256" or not digest:
        raise Refused(401, f"{SIGNATURE_HEADER} must be sha256=<hex digest>")
    return digest.encode("ascii", "replace")


async def _signed_body(request: web.Request, secret: bytes, signature: bytes) -> bytearray:
    """The body, read in chunks up to the cap, refused unless its HMAC matches `signature`."""
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    body = bytearray()
    try:
        async with asyncio.timeout(READ_SECONDS):
            async for chunk in request.content.iter_chunked(_CHUNK):
                if len(body) + len(chunk) > MAX_PAYLOAD_BYTES:
                    raise Refused(413, f"body over GitHub's cap of {MAX_PAYLOAD_BYTES} bytes")
                body += chunk
                mac.update(chunk)
    except TimeoutError:
        raise Refused(408, f"body not received within {READ_SECONDS:g} s") from None
    if not hmac.compare_digest(mac.hexdigest().encode(), signature):
        raise Refused(401, "bad signature")
    return body


def parse_body(content_type: str, body: bytes | bytearray) -> dict[str, Any]:
    """The payload of a delivery: JSON, or the `payload` field of a form-encoded one.

    GitHub sends UTF-8 JSON, or `payload=<JSON>` when a webhook is set to
    `application/x-www-form-urlencoded`; both are accepted, anything else is refused.
    """
    try:
        text = body.decode("utf-8")
        # Percent-escapes are decoded strictly too: `payload=%ff` is no more UTF-8 than 0xff.
        fields = parse_qs(text, errors="strict") if content_type == FORM else {"payload": [text]}
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    if "payload" not in fields:
        raise Refused(400, "form-encoded body has no `payload` field")
    try:
        data = json.loads(fields["payload"][0])
    except ValueError:
        raise Refused(400, "body is not JSON") from None
    except RecursionError:
        raise Refused(400, "body is JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise Refused(400, "body is not a JSON object")
    return data
