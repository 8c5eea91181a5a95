"""KIS REST calls: host and TR id per environment, app-key headers, token, hashkey, paging.

Every request goes through the shared resilient layer (`ResilientClient.call`): the app key's
rate-limit key, the breaker, retries for reads, and `errors.translator` reading the KIS envelope.
On EGW00121/EGW00123 the token is renewed once and the request sent once more (the gateway
refused it before acceptance, so this is safe even for an order). Paged inquiries follow
`tr_cont` + `CTX_AREA_FK100/NK100` to the last page and start over on SYDB0050 (spec §4.9).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from adapters.http import ResilientClient
from adapters.kis import mapping
from adapters.kis.auth import KisTokens
from adapters.kis.endpoints import APPROVAL, HASHKEY, Endpoint
from adapters.kis.errors import (
    PAGE_CHANGED_CODE,
    RENEW_TOKEN_CODES,
    PageDataChanged,
    boundary,
    translator,
)
from adapters.kis.schemas import HashkeyReply, JsonObject, PayloadError, parse_json
from adapters.kis.settings import Env, KisSettings
from orchestrator.domain.errors import AuthError, OrderOutcomeUnknown, SourceUnavailable

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful reply: the JSON object and the `tr_cont` response header."""

    data: JsonObject
    tr_cont: str = ""


class KisClient:
    """Sends KIS REST requests for one app key on the real or the paper host."""

    def __init__(
        self,
        settings: KisSettings,
        http: ResilientClient,
        tokens: KisTokens,
        *,
        source: str = "kis",
    ) -> None:
        self.settings = settings
        self.source = source
        self._http = http
        self._tokens = tokens
        self._timeout = settings.http_timeout()

    @property
    def env(self) -> Env:
        return self.settings.env

    async def send(
        self,
        endpoint: Endpoint,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, str] | None = None,
        tr_cont: str = "",
        sending_order: bool = False,
    ) -> Reply:
        """One request; the reply when `rt_cd == "0"`, else the domain error for its code.

        With `sending_order` the request is a write: sent once (again only after a refusal
        before acceptance: EGW00201, or a token refused and renewed), refusals raise
        OrderRejected, a lost or unreadable reply OrderOutcomeUnknown.
        """
        tr_id = endpoint.tr_id(self.env)
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        hashkey = None
        if content is not None and endpoint.hashkey and self.settings.use_hashkey:
            hashkey = await self._hashkey(content)
        token = await self._tokens.current()
        try:
            return await self._send_once(
                endpoint, tr_id, token, params, content, tr_cont, hashkey, sending_order
            )
        except AuthError as e:
            if e.code not in RENEW_TOKEN_CODES:
                raise
            log.info("kis.token_refused", endpoint=endpoint.name, code=e.code)
            token = await self._tokens.renew(token)
            return await self._send_once(
                endpoint, tr_id, token, params, content, tr_cont, hashkey, sending_order
            )

    async def pages(self, endpoint: Endpoint, query: Mapping[str, str]) -> list[JsonObject]:
        """Every page of a paged inquiry, first to last; restarts from page one on SYDB0050."""
        restarts = 0
        while True:
            try:
                return await self._walk(endpoint, query)
            except PageDataChanged as e:
                restarts += 1
                if restarts > self.settings.max_paging_restarts:
                    raise SourceUnavailable(
                        self.source,
                        f"{endpoint.name}: data kept changing while paging",
                        code=PAGE_CHANGED_CODE,
                    ) from e
                log.info("kis.paging_restarted", endpoint=endpoint.name, restart=restarts)

    async def _walk(self, endpoint: Endpoint, query: Mapping[str, str]) -> list[JsonObject]:
        pages: list[JsonObject] = []
        params = dict(query)
        tr_cont = ""
        seen: set[tuple[str, str]] = set()
        for _ in range(self.settings.max_pages):
            reply = await self.send(endpoint, params=params, tr_cont=tr_cont)
            pages.append(reply.data)
            if not mapping.has_more(reply.tr_cont):
                return pages
            fk, nk = mapping.context_of(reply.data)
            if not nk.strip() or (fk, nk) in seen:
                # More pages announced but no way to ask for them (or the same page again):
                # a partial answer would silently drop holdings or orders.
                raise SourceUnavailable(self.source, f"{endpoint.name}: paging did not advance")
            seen.add((fk, nk))
            params = mapping.next_page_query(query, fk, nk)
            tr_cont = "N"
        raise SourceUnavailable(
            self.source, f"{endpoint.name}: more than {self.settings.max_pages} pages"
        )

    async def _send_once(
        self,
        endpoint: Endpoint,
        tr_id: str,
        token: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        tr_cont: str,
        hashkey: str | None,
        sending_order: bool,
    ) -> Reply:
        settings = self.settings
        headers = mapping.headers(
            app_key=settings.app_key.get_secret_value(),
            app_secret=settings.app_secret.get_secret_value(),
            token=token,
            tr_id=tr_id,
            tr_cont=tr_cont,
            custtype=settings.custtype,
            hashkey=hashkey,
        )
        response = await self._http.call(
            endpoint.method,
            settings.host + endpoint.path,
            endpoint=f"kis.{endpoint.name}",
            translate=translator(self.source, sending_order=sending_order),
            limit_keys=(settings.limit_key,),
            write=sending_order,
            unknown_error=OrderOutcomeUnknown,
            params=dict(params) if params is not None else None,
            content=content,
            headers=headers,
            timeout=self._timeout,
        )
        with boundary(self.source, sending_order=sending_order):
            data = parse_json(response.content)
        return Reply(data, response.headers.get("tr_cont", ""))

    async def approval_key(self) -> str:
        """A websocket approval key (spec §2.4: the secret travels as `secretkey`)."""
        settings = self.settings
        key, secret = settings.app_key.get_secret_value(), settings.app_secret.get_secret_value()
        response = await self._http.call(
            "POST",
            settings.host + APPROVAL.path,
            endpoint=f"kis.{APPROVAL.name}",
            translate=translator(self.source),
            json={"grant_type": "client_credentials", "appkey": key, "secretkey": secret},
            headers=mapping.headers(app_key=key, app_secret=secret),
            timeout=self._timeout,
        )
        with boundary(self.source):
            data = parse_json(response.content)
            value = data.get("approval_key") if isinstance(data, dict) else None
            if not isinstance(value, str) or not value.strip():
                raise PayloadError("Approval reply without approval_key")
        return value.strip()

    async def _hashkey(self, content: bytes) -> str:
        """The HASH of an exact POST body (spec §2.3), for the `hashkey` header."""
        settings = self.settings
        response = await self._http.call(
            "POST",
            settings.host + HASHKEY.path,
            endpoint=f"kis.{HASHKEY.name}",
            translate=translator(self.source),
            limit_keys=(settings.limit_key,),
            content=content,
            headers=mapping.headers(
                app_key=settings.app_key.get_secret_value(),
                app_secret=settings.app_secret.get_secret_value(),
            ),
            timeout=self._timeout,
        )
        with boundary(self.source):
            value = HashkeyReply.parse(parse_json(response.content)).hash.strip()
            if not value:
                raise PayloadError("hashkey reply without HASH")
        return value
