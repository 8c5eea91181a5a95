"""Wiring of the open-banking adapters over the shared resilient layer (called by bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from adapters.http import DisplayCache, Resilience
from adapters.openbanking.account import OpenBankingAccountSource
from adapters.openbanking.accountinfo import AccountInfo
from adapters.openbanking.auth import OpenBankingOAuth, OpenBankingTokens
from adapters.openbanking.client import OpenBankingClient, TranIds
from adapters.openbanking.consent import OpenBankingConsent
from adapters.openbanking.settings import OpenBankingSettings
from adapters.openbanking.stores import Stores
from adapters.openbanking.transfers import OpenBankingTransfers
from orchestrator.clock import SystemClock
from orchestrator.domain.model import CashBalance
from orchestrator.ports import AuditLog, Clock

UPSTREAM = "openbanking"


@dataclass(frozen=True, slots=True)
class OpenBanking:
    """The open-banking adapters of one registered client, sharing one client and token holder.

    `source` stands behind AccountSource; `consent` backs `orchestrator consent ...` (and
    `provision_sandbox_consent` in sandbox mode); `transfers` makes guarded deposits.
    """

    settings: OpenBankingSettings
    client: OpenBankingClient
    oauth: OpenBankingOAuth
    tokens: OpenBankingTokens
    source: OpenBankingAccountSource
    consent: OpenBankingConsent
    transfers: OpenBankingTransfers
    accountinfo: AccountInfo


def openbanking_http_client(
    settings: OpenBankingSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An httpx client for the relay: the settings' timeouts, no redirects followed.

    Pass `transport=adapters.http.InProcessTransport(app=...)` for the in-process sandbox.
    """
    return httpx.AsyncClient(
        transport=transport,
        timeout=settings.http_timeout(),
        follow_redirects=False,
        headers={"user-agent": "hybrid-broker-orchestrator/0.1 (httpx)"},
    )


def build_openbanking(
    settings: OpenBankingSettings,
    resilience: Resilience,
    stores: Stores,
    http: httpx.AsyncClient,
    *,
    clock: Clock | None = None,
    audit: AuditLog | None = None,
) -> OpenBanking:
    """Wire the adapters. URLs are absolute (`settings.host`), so `http` needs no base_url.

    The layer's limiter must know the kind `openbanking_user` (it does by default, 30/min); merge
    `settings.rate_limits()` into `ResilienceSettings.rate_limits` to apply
    `user_budget_per_minute`. `clock` (default: system UTC) stamps reads, tran_dtime and expiry;
    `audit` records consent starts and refused callbacks (grants and revocations are written
    with their change by the consent store).
    """
    clock = clock or SystemClock()
    resilient = resilience.client(UPSTREAM, http)
    ids = TranIds(stores.tran_ids, settings.client_use_code, clock, block=settings.tran_id_block)
    client = OpenBankingClient(settings.host, resilient, ids, source=settings.source_name)
    oauth = OpenBankingOAuth(settings, client, clock)
    tokens = OpenBankingTokens(
        settings, oauth, stores.vault, stores.consents, clock, source=settings.source_name
    )
    source = OpenBankingAccountSource(
        settings,
        client,
        tokens,
        clock=clock,
        cash_cache=DisplayCache[CashBalance](
            ttl_seconds=resilience.settings.cache_ttl_seconds, clock=clock, name="openbanking.cash"
        ),
    )
    consent = OpenBankingConsent(
        settings,
        oauth,
        tokens,
        stores.consents,
        stores.vault,
        client,
        clock,
        pkce=settings.pkce,
        audit=audit,
    )
    transfers = OpenBankingTransfers(
        settings, client, tokens, ids, stores.transfers, clock, on_change=source.invalidate
    )
    return OpenBanking(
        settings=settings,
        client=client,
        oauth=oauth,
        tokens=tokens,
        source=source,
        consent=consent,
        transfers=transfers,
        accountinfo=AccountInfo(client, oauth),
    )
