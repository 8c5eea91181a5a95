"""Relay calls over the resilient layer: bearer tokens, fresh bank_tran_ids, one token retry.

Every attempt the layer makes (retries included) goes through `_PerAttempt`, an httpx auth flow
that sets the bearer token and, for inquiries, a fresh `bank_tran_id` + `tran_dtime`: spec §3.4
says inquiries are retried with a new id (reusing one risks A0326), and a timestamp frozen at the
first attempt would drift from the relay's clock. Transfers carry their id in the JSON body,
fixed before sending, and are never retried with another.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncGenerator, Collection, Generator, Mapping, Sequence
from typing import Any, Protocol

import httpx
import structlog

from adapters.http import ResilientClient
from adapters.openbanking.endpoints import Endpoint
from adapters.openbanking.errors import (
    RENEW_CODES,
    Operation,
    boundary,
    redirect_translator,
    translator,
)
from adapters.openbanking.mapping import kst_day, tran_dtime
from adapters.openbanking.schemas import JsonObject, parse_json
from adapters.openbanking.stores import TranIdAllocator
from orchestrator.domain.errors import AuthError
from orchestrator.ports import Clock

log = structlog.get_logger(__name__)

JSON_TYPE = "application/json; charset=UTF-8"  # spec §2: POST bodies are UTF-8 JSON


class Bearer(Protocol):
    """Where a call gets its access token, and a new one after the relay rejected it."""

    async def current(self) -> str: ...

    async def renew(self, rejected: str) -> str: ...


class TranIds:
    """`bank_tran_id`s from the database: blocks for inquiries, single ids for transfers.

    A block is reserved in one round trip (unused ids are simply never sent); a new KST day
    starts a new block. Ids are `client_use_code + "U" + 9 chars` (spec §4, §8.1-§8.4).
    """

    def __init__(
        self, allocator: TranIdAllocator, prefix: str, clock: Clock, *, block: int = 25
    ) -> None:
        self._allocator = allocator
        self._prefix = prefix
        self._clock = clock
        self._block = block
        self._day = ""
        self._pool: deque[str] = deque()
        self._lock = asyncio.Lock()

    async def for_inquiry(self) -> tuple[str, str]:
        """A fresh id and the KST `tran_dtime` to send with it."""
        async with self._lock:
            now = self._clock.now()
            day = kst_day(now)
            if day != self._day:
                self._pool.clear()
                self._day = day
            if not self._pool:
                self._pool.extend(
                    await self._allocator.allocate(
                        self._prefix, day=day, at=now, count=self._block, purpose="inquiry"
                    )
                )
            return self._pool.popleft(), tran_dtime(now)

    async def for_transfer(self, purpose: str) -> str:
        """One id, allocated on its own (it is recorded with the transfer before sending)."""
        now = self._clock.now()
        (allocated,) = await self._allocator.allocate(
            self._prefix, day=kst_day(now), at=now, count=1, purpose=purpose[:100]
        )
        return allocated


class _PerAttempt(httpx.Auth):
    """Runs for every send of one call: bearer header, and fresh inquiry stamps if asked."""

    def __init__(self, token: str, ids: TranIds | None) -> None:
        self._token = token
        self._ids = ids

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("the open-banking client is async only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        if self._ids is not None:
            bank_tran_id, stamp = await self._ids.for_inquiry()
            request.url = request.url.copy_set_param("bank_tran_id", bank_tran_id).copy_set_param(
                "tran_dtime", stamp
            )
        yield request


class OpenBankingClient:
    """Sends relay requests and returns the accepted answer as a dict.

    On O0002/O0003 (token rejected or expired, spec §3.2) the token is renewed once and the call
    sent once more; every other error is the domain error from errors.py.
    """

    def __init__(
        self, host: str, http: ResilientClient, ids: TranIds, *, source: str = "openbanking"
    ) -> None:
        self._host = host
        self._http = http
        self._ids = ids
        self.source = source

    @property
    def tran_ids(self) -> TranIds:
        return self._ids

    def url(self, endpoint: Endpoint) -> str:
        return self._host + endpoint.path

    async def call(
        self,
        endpoint: Endpoint,
        *,
        bearer: Bearer | None = None,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        limit_keys: Sequence[str] = (),
        operation: Operation | None = None,
        accept: Collection[str] = (),
    ) -> JsonObject:
        """The answer to one call; raises the domain error the relay's codes mean."""
        op: Operation = operation or ("transfer" if endpoint.write else "read")
        token = await bearer.current() if bearer is not None else None
        try:
            return await self._send(endpoint, token, params, body, form, limit_keys, op, accept)
        except AuthError as error:
            if bearer is None or token is None or error.code not in RENEW_CODES:
                raise
            log.info("openbanking.token_rejected", endpoint=endpoint.name, code=error.code)
            token = await bearer.renew(token)
            return await self._send(endpoint, token, params, body, form, limit_keys, op, accept)

    async def redirect(self, url: str) -> str:
        """GET `url` (the authorize URL) and return where the relay redirects to."""
        with boundary(self.source):
            response = await self._http.call(
                "GET", url, endpoint="authorize", translate=redirect_translator(self.source)
            )
        location: str = response.headers.get("location", "")
        return location

    async def _send(
        self,
        endpoint: Endpoint,
        token: str | None,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        form: Mapping[str, str] | None,
        limit_keys: Sequence[str],
        operation: Operation,
        accept: Collection[str],
    ) -> JsonObject:
        kwargs: dict[str, Any] = {}
        if token is not None:
            kwargs["auth"] = _PerAttempt(token, self._ids if endpoint.stamped else None)
        if params is not None:
            kwargs["params"] = dict(params)
        if body is not None:
            kwargs["content"] = json.dumps(body, ensure_ascii=False).encode()
            kwargs["headers"] = {"Content-Type": JSON_TYPE}
        if form is not None:
            kwargs["data"] = dict(form)
        with boundary(self.source, write=endpoint.write):
            response = await self._http.call(
                endpoint.method,
                self.url(endpoint),
                endpoint=endpoint.name,
                translate=translator(self.source, operation=operation, accept=accept),
                limit_keys=limit_keys,
                write=endpoint.write,
                circuit=endpoint.circuit,
                **kwargs,
            )
            return parse_json(response.content)
