"""Kiwoom REST calls: `POST` + `api-id` on the TR's path, bearer token, header paging.

Every request goes through the shared resilient layer (`ResilientClient.call`): the app key's
query or order budget, the breaker, retries for reads (and for orders only after a refusal before
acceptance: 1700 or 429), and `errors.translator` reading the envelope. When Kiwoom refuses the
token (8005/8031/401, ...), it is re-issued once and the request sent once more: a refused token
means the request was not acted on, so this is safe even for an order. Paged TRs follow
`cont-yn`/`next-key` to the last page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from adapters.http import ResilientClient
from adapters.kiwoom import mapping
from adapters.kiwoom.auth import KiwoomTokens
from adapters.kiwoom.endpoints import Tr
from adapters.kiwoom.errors import RENEW_TOKEN_CODES, boundary, translator
from adapters.kiwoom.schemas import JsonObject, parse_json
from adapters.kiwoom.settings import Env, KiwoomSettings
from orchestrator.domain.errors import AuthError, OrderOutcomeUnknown, SourceUnavailable

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    data: JsonObject
    cont_yn: str = "N"
    next_key: str = ""


class KiwoomClient:
    """Sends Kiwoom REST requests for one app key on the real or the mock host."""

    def __init__(
        self,
        settings: KiwoomSettings,
        http: ResilientClient,
        tokens: KiwoomTokens,
        *,
        source: str = "kiwoom",
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
        tr: Tr,
        body: Mapping[str, str],
        *,
        cont_yn: str = "",
        next_key: str = "",
        sending_order: bool = False,
    ) -> Reply:
        """One request; the reply when `return_code` is 0, else the domain error for its code."""
        content = json.dumps(dict(body), ensure_ascii=False).encode()
        token = await self._tokens.current()
        try:
            return await self._send_once(tr, token, content, cont_yn, next_key, sending_order)
        except AuthError as e:
            if e.code not in RENEW_TOKEN_CODES:
                raise
            log.info("kiwoom.token_refused", tr=tr.api_id, code=e.code)
            token = await self._tokens.renew(token)
            return await self._send_once(tr, token, content, cont_yn, next_key, sending_order)

    async def pages(self, tr: Tr, body: Mapping[str, str]) -> list[JsonObject]:
        """Every page of a paged TR, first to last (`cont-yn: Y` + `next-key`)."""
        pages: list[JsonObject] = []
        cont_yn, next_key = "", ""
        seen: set[str] = set()
        for _ in range(self.settings.max_pages):
            reply = await self.send(tr, body, cont_yn=cont_yn, next_key=next_key)
            pages.append(reply.data)
            if reply.cont_yn.strip().upper() != "Y":
                return pages
            key = reply.next_key.strip()
            if not key or key in seen:
                # More announced but no way to ask for it: a partial answer would silently
                # drop holdings or orders.
                raise SourceUnavailable(self.source, f"{tr.api_id}: paging did not advance")
            seen.add(key)
            cont_yn, next_key = "Y", key
        raise SourceUnavailable(
            self.source, f"{tr.api_id}: more than {self.settings.max_pages} pages"
        )

    async def _send_once(
        self,
        tr: Tr,
        token: str,
        content: bytes,
        cont_yn: str,
        next_key: str,
        sending_order: bool,
    ) -> Reply:
        settings = self.settings
        limit = settings.order_limit_key if tr.budget == "order" else settings.query_limit_key
        response = await self._http.call(
            "POST",
            settings.host + tr.path,
            endpoint=f"kiwoom.{tr.name}",
            translate=translator(self.source, sending_order=sending_order),
            limit_keys=(limit,) if tr.budget != "none" else (),
            write=sending_order,
            unknown_error=OrderOutcomeUnknown,
            content=content,
            headers=mapping.headers(tr.api_id, token, cont_yn, next_key),
            timeout=self._timeout,
        )
        with boundary(self.source, sending_order=sending_order):
            data = parse_json(response.content)
        return Reply(
            data,
            response.headers.get("cont-yn", "N"),
            response.headers.get("next-key", ""),
        )
