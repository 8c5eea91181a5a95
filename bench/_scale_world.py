"""The scale-out world: N investors served by procrastinate workers in separate processes.

Each investor has a Samsung CMA at the open-banking sandbox and a KIS account (their own app key,
or `key_group` investors per app key so that several workers share one budget). The sandboxes
run in their own processes (`bench._recon_world.SandboxProcess`); each worker process
(`python -m bench._scale_worker`) builds the production stack over them with `build_world`.

The per-investor task is the service's reconcile task; with `orders=True` it first places one
market order per investor and fire under an idempotency key derived from the fire, the way a
workflow step does, so a task retried after its worker died can be checked for duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from adapters.db import migrate
from adapters.db.engine import Database
from adapters.db.locks import LockedSecrets, NamedLocks
from adapters.db.openbanking import build_openbanking_stores
from adapters.db.orders import DbOrderJournal
from adapters.db.reconciliation import DbJournalReader, DbReconciliationStore
from adapters.db.secrets import SecretStore, TokenCipher
from adapters.http import RateSpec, ResilienceSettings, build_resilience
from adapters.http.factory import Resilience
from adapters.http.settings import DEFAULT_RATE_LIMITS
from adapters.kis import Kis, KisSettings, build_kis, kis_http_client
from adapters.notify import DedupNotifier, LogNotifier
from adapters.openbanking import OpenBankingSettings, build_openbanking, openbanking_http_client
from adapters.openbanking.factory import OpenBanking
from adapters.openbanking.mapping import account_id_of
from bench import _recon_world as world
from orchestrator.clock import SystemClock
from orchestrator.domain.model import OrderType, Side
from orchestrator.ports.orders import OrderRecord
from orchestrator.ports.reconciliation import OrderListSource
from orchestrator.ports.tasks import InvestorTask
from orchestrator.ports.upstream import AccountSource
from orchestrator.services.orders import OrderRequest, OrderService
from orchestrator.services.reconcile import (
    ReconciledAccountSettings,
    ReconcileService,
    ReconciliationSettings,
)

# A fixed key (tests and benchmarks only): every worker process must read the tokens the others
# stored, so they share the vault's key.
WORLD_KEY = SecretStr("0" * 43 + "=")


def key_index(i: int, key_group: int) -> int:
    return i // key_group


@dataclass
class World:
    reconcile: ReconcileService
    kis: dict[str, Kis]
    ob: OpenBanking
    orders: dict[str, OrderService]
    resilience: Resilience
    registry: CollectorRegistry
    closers: list[Any] = field(default_factory=list)

    async def close(self) -> None:
        for c in self.closers:
            await c.aclose()
        await self.resilience.aclose()


def _reconciliation(users: int, kis: dict[str, KisSettings]) -> ReconciliationSettings:
    accounts: list[ReconciledAccountSettings] = []
    for i in range(users):
        uid = world.user_id(i)
        accounts += [
            ReconciledAccountSettings(
                user=uid,
                account=account_id_of(world.fintech_use_num(i)),
                source="openbanking",
                positions=False,
                transactions=True,
            ),
            ReconciledAccountSettings(
                user=uid,
                account=kis[uid].resolved_account_id,
                source=f"kis:{uid}",
                orders=f"kis:{uid}",
            ),
        ]
    return ReconciliationSettings(accounts=tuple(accounts), user_concurrency=8)


def build_world(
    db: Database,
    *,
    kis_url: str,
    ob_url: str,
    users: int,
    key_group: int = 1,
    redis_url: str | None = None,
    redis_prefix: str = "orchestrator",
) -> World:
    clock = SystemClock()
    cipher = TokenCipher([WORLD_KEY])
    vault = LockedSecrets(SecretStore(db, cipher), NamedLocks(db))
    ob_settings = OpenBankingSettings(
        base_url=ob_url,
        client_id=SecretStr(world.CLIENT_ID),
        client_secret=SecretStr(world.CLIENT_SECRET),
        client_use_code=world.CLIENT_USE_CODE,
        redirect_uri=world.REDIRECT_URI,
        scope="login inquiry",
    )
    kis_settings = {
        world.user_id(i): KisSettings(
            env="real",
            base_url=kis_url,
            app_key=SecretStr(world.kis_app_key(key_index(i, key_group))),
            app_secret=SecretStr(world.kis_app_secret(key_index(i, key_group))),
            account=SecretStr(world.kis_account(i)),
            user_id=world.user_id(i),
            account_id=f"kis-{world.user_id(i)}",
        )
        for i in range(users)
    }
    rate_limits: dict[str, tuple[RateSpec, ...]] = dict(DEFAULT_RATE_LIMITS)
    for ks in kis_settings.values():
        rate_limits.update(ks.rate_limits())
    rate_limits.update(ob_settings.rate_limits())
    registry = CollectorRegistry()
    resilience = build_resilience(
        ResilienceSettings(
            rate_limits=rate_limits,
            redis_url=None if redis_url is None else SecretStr(redis_url),
        ),
        notifier=DedupNotifier(LogNotifier()),
        registry=registry,
        clock=clock,
        key_prefix=redis_prefix,
    )
    first = next(iter(kis_settings.values()))
    kis_http = kis_http_client(first)
    ob_http = openbanking_http_client(ob_settings)
    ob = build_openbanking(
        ob_settings, resilience, build_openbanking_stores(db, cipher), ob_http, clock=clock
    )
    kis = {
        uid: build_kis(ks, resilience, vault, kis_http, clock=clock)
        for uid, ks in kis_settings.items()
    }
    sources: dict[str, AccountSource] = {"openbanking": ob.source}
    order_sources: dict[str, OrderListSource] = {}
    orders: dict[str, OrderService] = {}
    for uid, k in kis.items():
        sources[f"kis:{uid}"] = k.accounts
        order_sources[f"kis:{uid}"] = k.executor
        orders[uid] = OrderService(InvestorJournal(db, cipher, uid), k.executor, clock)
    service = ReconcileService(
        settings=_reconciliation(users, kis_settings),
        sources=sources,
        store=DbReconciliationStore(db),
        journal=DbJournalReader(db),
        notifier=DedupNotifier(LogNotifier()),
        clock=clock,
        order_sources=order_sources,
    )
    return World(
        reconcile=service,
        kis=kis,
        ob=ob,
        orders=orders,
        resilience=resilience,
        registry=registry,
        closers=[kis_http, ob_http],
    )


class InvestorJournal(DbOrderJournal):
    """The order journal as one investor's OrderService sees it: each investor's orders go
    through their own app key, so each service settles only its investor's open outcomes."""

    def __init__(self, db: Database, cipher: TokenCipher, user_id: str) -> None:
        super().__init__(db, cipher)
        self._user_id = user_id

    async def unresolved(self, broker: str) -> Sequence[OrderRecord]:
        return [
            r for r in await super().unresolved(broker) if r.intent.account.user_id == self._user_id
        ]


@dataclass
class ScaleWork:
    """The per-investor task of the scale-out runs (InvestorWork)."""

    world: World
    place_orders: bool = False

    async def run(self, task: InvestorTask) -> str | None:
        if self.place_orders:
            service = self.world.orders[task.investor]
            (account,) = await self.world.kis[task.investor].accounts.accounts(task.investor)
            await service.place(
                OrderRequest(
                    idempotency_key=f"scale:{task.fire_key}:{task.investor}",
                    account=account,
                    symbol="005930",
                    side=Side.BUY,
                    quantity=1,
                    order_type=OrderType.MARKET,
                    limit_price=None,
                    origin="scale-test",
                )
            )
        return await self.world.reconcile.reconcile_investor(
            task.investor, key=task.fire_key, attempt=task.attempt, trigger=f"job:{task.job_id}"
        )


async def prepare(world_: World, users: int) -> None:
    """Consent for every investor and a KIS token per app key (untimed setup, done once)."""
    for i in range(users):
        await world_.ob.consent.provision_sandbox_consent(world.user_id(i))
    for k in world_.kis.values():
        await k.tokens.current()


async def open_orders(world_: World) -> None:
    """Order recovery for every investor (each worker process, before its first task)."""
    for service in world_.orders.values():
        await service.recover()


@asynccontextmanager
async def scale_setup(
    pg_url: str, investors: int, *, lifetime_seconds: float
) -> AsyncIterator[tuple[Database, world.SandboxProcess, world.SandboxProcess]]:
    """Both sandboxes in their own processes (one KIS app key per investor) and a migrated
    PostgreSQL schema of its own; all torn down on the way out, whatever happened."""
    kis = world.SandboxProcess(
        "kis", world.kis_seed(investors, shared_key=False), lifetime_seconds=lifetime_seconds
    )
    ob = world.SandboxProcess(
        "openbanking", world.openbanking_seed(investors), lifetime_seconds=lifetime_seconds
    )
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = Database(pg_url)
    db = Database(pg_url, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with admin.engine.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        await migrate.upgrade(db)
        yield db, kis, ob
    finally:
        await db.dispose()
        async with admin.engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.dispose()
        kis.stop()
        ob.stop()
