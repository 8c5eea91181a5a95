"""Throughput of one full reconciliation over N users against both sandboxes on loopback.

Each user has a Samsung Securities CMA at the open-banking sandbox and an account at the KIS
sandbox (real environment, 18/s per app key). Both sandboxes run under uvicorn in subprocesses on
127.0.0.1, so their CPU is apart from the client's. The client is the production stack: the
resilient layer with the rate limits composed as bootstrap composes them (defaults, then each
KisSettings.rate_limits() per app key and OpenBankingSettings.rate_limits(): KIS 18/s + 1000/min
per app key, open banking 30/min per user), breakers, retries, the encrypted token vault and
consent store, ReconcileService over a migrated SQLite file in a temporary directory.

KIS app keys: one per account by default (what an operator holds at KIS: an app key is issued
for an account); `--shared-app-key` puts every account under one key instead.

Untimed setup: sandbox consent for every user (the relay's scripted auto-consent) and one KIS
token per app key (tokens live 24 h, so a real run finds them in the vault). Timed: one
`run_once()` with fresh reads (Samsung cash + transactions; KIS cash + positions + daily orders).

Prints users, wall time, users/s, upstream calls/s and per upstream and endpoint (the layer's
metrics registry), time spent waiting in the limiter, CPU per process, the shortest time the
limits in force allow for the calls made (exact admission times from empty buckets, per limiter
key, all users in parallel; also with users one after another),
which limit binds, then a final ratio line: achieved throughput / the limits' maximum.

    python -m bench.reconcile_throughput [--users 200] [--seconds-limit 300] [--shared-app-key]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import math
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil
import structlog
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from pyrate_limiter import Rate

from adapters.db import migrate
from adapters.db.engine import Database
from adapters.db.locks import LockedSecrets, NamedLocks
from adapters.db.openbanking import build_openbanking_stores
from adapters.db.reconciliation import DbJournalReader, DbReconciliationStore
from adapters.db.secrets import SecretStore, TokenCipher
from adapters.http import KeyedRateLimiter, RateSpec, ResilienceSettings, build_resilience
from adapters.http.settings import DEFAULT_RATE_LIMITS, pyrate_rates
from adapters.kis import Kis, KisSettings, build_kis, kis_http_client
from adapters.notify import DedupNotifier, LogNotifier
from adapters.openbanking import OpenBankingSettings, build_openbanking, openbanking_http_client
from adapters.openbanking.mapping import account_id_of
from bench import _recon_world as world
from orchestrator.clock import SystemClock
from orchestrator.ports.reconciliation import OrderListSource
from orchestrator.ports.upstream import AccountSource
from orchestrator.services.reconcile import (
    ReconciledAccountSettings,
    ReconcileService,
    ReconciliationSettings,
)

SETUP_ALLOWANCE_SECONDS = 600.0  # the sandboxes' lifetime is this plus --seconds-limit


class CountingLimiter(KeyedRateLimiter):
    """The layer's limiter, also counting admissions and the time spent waiting, per key."""

    def __init__(self, settings: ResilienceSettings) -> None:
        super().__init__(
            settings.rate_limits,
            max_wait_seconds=settings.max_wait_seconds,
            guard_seconds=settings.rate_guard_seconds,
        )
        self.calls: Counter[str] = Counter()
        self.waited: defaultdict[str, float] = defaultdict(float)

    async def acquire(self, key: str, *, source: str = "rate-limiter") -> None:
        started = time.perf_counter()
        try:
            await super().acquire(key, source=source)
        finally:
            self.waited[key] += time.perf_counter() - started
        self.calls[key] += 1

    def reset(self) -> None:
        self.calls.clear()
        self.waited.clear()


def _rates_of(settings: ResilienceSettings, key: str) -> list[Rate]:
    specs = settings.rate_limits.get(key) or settings.rate_limits[key.partition(":")[0]]
    return pyrate_rates(specs, guard_seconds=settings.rate_guard_seconds)


def _span(calls: float, rates: Sequence[Rate]) -> float:
    """Shortest time from the first to the last admission of `calls` calls on one key, from an
    empty bucket: call j (from 0) cannot pass a rate (limit L per W) before floor(j / L) * W."""
    if calls <= 1:
        return 0.0
    last = math.ceil(calls) - 1
    return max((last // rate.limit) * rate.interval for rate in rates) / 1000


def _describe_rates(rates: Sequence[Rate]) -> str:
    return " + ".join(f"{r.limit}/{r.interval / 1000:g} s" for r in rates)


def _attempts(registry: CollectorRegistry, metric: str) -> Counter[tuple[str, ...]]:
    """Counter samples of `metric` by their label values (upstream, endpoint[, outcome])."""
    out: Counter[tuple[str, ...]] = Counter()
    for family in registry.collect():
        if family.name != metric:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                out[tuple(sample.labels.values())] += int(sample.value)
    return out


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _production_logging(sink: object) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sink),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )


def _reconciliation_settings(users: int, kis_ids: Mapping[str, str]) -> ReconciliationSettings:
    accounts: list[ReconciledAccountSettings] = []
    for i in range(users):
        uid = world.user_id(i)
        accounts += [
            ReconciledAccountSettings(
                user=uid,
                account=account_id_of(world.fintech_use_num(i)),
                source="openbanking",
                positions=False,  # the relay reports no holdings
                transactions=True,
            ),
            ReconciledAccountSettings(
                user=uid, account=kis_ids[uid], source=f"kis:{uid}", orders=f"kis:{uid}"
            ),
        ]
    return ReconciliationSettings(accounts=tuple(accounts))


async def run(users: int, seconds_limit: float, shared_key: bool) -> int:
    lifetime = seconds_limit + SETUP_ALLOWANCE_SECONDS
    kis_server = world.SandboxProcess(
        "kis", world.kis_seed(users, shared_key=shared_key), lifetime_seconds=lifetime
    )
    try:
        ob_server = world.SandboxProcess(
            "openbanking", world.openbanking_seed(users), lifetime_seconds=lifetime
        )
    except BaseException:
        kis_server.stop()
        raise
    try:
        with tempfile.TemporaryDirectory(prefix="bench-recon-") as tmp:
            return await _bench(users, seconds_limit, shared_key, kis_server, ob_server, tmp)
    finally:
        ob_server.stop()
        kis_server.stop()


async def _bench(
    users: int,
    seconds_limit: float,
    shared_key: bool,
    kis_server: world.SandboxProcess,
    ob_server: world.SandboxProcess,
    tmp: str,
) -> int:
    clock = SystemClock()
    db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'recon.db'}")
    await migrate.upgrade(db)
    cipher = TokenCipher([SecretStr(Fernet.generate_key().decode())])
    vault = LockedSecrets(SecretStore(db, cipher), NamedLocks(db))

    ob_settings = OpenBankingSettings(
        base_url=ob_server.base_url,
        client_id=SecretStr(world.CLIENT_ID),
        client_secret=SecretStr(world.CLIENT_SECRET),
        client_use_code=world.CLIENT_USE_CODE,
        redirect_uri=world.REDIRECT_URI,
        scope="login inquiry",
    )
    kis_settings = {
        world.user_id(i): KisSettings(
            env="real",
            base_url=kis_server.base_url,
            app_key=SecretStr(world.kis_app_key(0 if shared_key else i)),
            app_secret=SecretStr(world.kis_app_secret(0 if shared_key else i)),
            account=SecretStr(world.kis_account(i)),
            user_id=world.user_id(i),
            account_id=f"kis-{world.user_id(i)}",
        )
        for i in range(users)
    }
    # As bootstrap composes them: defaults, then each app key's budget, then the per-user one.
    rate_limits: dict[str, tuple[RateSpec, ...]] = dict(DEFAULT_RATE_LIMITS)
    for ks in kis_settings.values():
        rate_limits.update(ks.rate_limits())
    rate_limits.update(ob_settings.rate_limits())
    resilience_settings = ResilienceSettings(rate_limits=rate_limits)
    registry = CollectorRegistry()
    limiter = CountingLimiter(resilience_settings)
    resilience = dataclasses.replace(
        build_resilience(
            resilience_settings,
            notifier=DedupNotifier(LogNotifier()),
            registry=registry,
            clock=clock,
        ),
        limiter=limiter,
    )
    first = next(iter(kis_settings.values()))
    try:
        async with (
            kis_http_client(first) as kis_http,
            openbanking_http_client(ob_settings) as ob_http,
        ):
            ob = build_openbanking(
                ob_settings, resilience, build_openbanking_stores(db, cipher), ob_http, clock=clock
            )
            kis: dict[str, Kis] = {
                uid: build_kis(ks, resilience, vault, kis_http, clock=clock)
                for uid, ks in kis_settings.items()
            }

            started = time.perf_counter()
            for uid in kis_settings:
                await ob.consent.provision_sandbox_consent(uid)
            consent_seconds = time.perf_counter() - started
            started = time.perf_counter()
            for k in kis.values():
                await k.tokens.current()
            token_seconds = time.perf_counter() - started
            issued = sum(k.tokens.issued for k in kis.values())

            sources: dict[str, AccountSource] = {"openbanking": ob.source}
            order_sources: dict[str, OrderListSource] = {}
            for uid, k in kis.items():
                sources[f"kis:{uid}"] = k.accounts
                order_sources[f"kis:{uid}"] = k.executor
            service = ReconcileService(
                settings=_reconciliation_settings(
                    users, {uid: ks.resolved_account_id for uid, ks in kis_settings.items()}
                ),
                sources=sources,
                store=DbReconciliationStore(db),
                journal=DbJournalReader(db),
                notifier=DedupNotifier(LogNotifier()),
                clock=clock,
                order_sources=order_sources,
            )

            me = psutil.Process()
            before = _attempts(registry, "orchestrator_upstream_requests")
            retries_before = _attempts(registry, "orchestrator_upstream_retries")
            limiter.reset()
            cpu_before = (_cpu(me), kis_server.cpu_seconds(), ob_server.cpu_seconds())
            started = time.perf_counter()
            try:
                async with asyncio.timeout(seconds_limit):
                    report = await service.run_once(trigger="bench")
            except TimeoutError:
                print(f"reconciliation did not finish within --seconds-limit {seconds_limit:g} s")
                return 1
            wall = time.perf_counter() - started
            cpu_after = (_cpu(me), kis_server.cpu_seconds(), ob_server.cpu_seconds())
            attempts = _attempts(registry, "orchestrator_upstream_requests") - before
            retries = _attempts(registry, "orchestrator_upstream_retries") - retries_before
    finally:
        await resilience.aclose()
        await db.dispose()

    # --- figures ---------------------------------------------------------------------------
    per_upstream: Counter[str] = Counter()
    per_endpoint: defaultdict[str, Counter[str]] = defaultdict(Counter)
    not_ok = 0
    for (upstream, endpoint, outcome), n in attempts.items():
        per_upstream[upstream] += n
        per_endpoint[upstream][endpoint.removeprefix("kis.")] += n
        if outcome != "ok":
            not_ok += n
    calls = sum(per_upstream.values())
    failed_reads = sum(1 for s in report.sources if not s.ok)
    cpu = [after - b for after, b in zip(cpu_after, cpu_before, strict=True)]
    waited = sum(limiter.waited.values())
    longest_wait = max(limiter.waited.values(), default=0.0)

    # --- the bound the limits in force allow -------------------------------------------------
    users_of_key: defaultdict[str, list[str]] = defaultdict(list)
    for uid, ks in kis_settings.items():
        users_of_key[ks.limit_key].append(uid)
    for uid in kis_settings:
        users_of_key[ob_settings.limit_key(uid)].append(uid)
    spans = {key: _span(n, _rates_of(resilience_settings, key)) for key, n in limiter.calls.items()}
    parallel_bound = max(spans.values(), default=0.0)
    per_user: defaultdict[str, float] = defaultdict(float)
    for key, n in limiter.calls.items():
        owners = users_of_key.get(key, ["?"])
        share = _span(n / len(owners), _rates_of(resilience_settings, key))
        for uid in owners:
            per_user[uid] = max(per_user[uid], share)
    sequential_bound = max(sum(per_user.values()), parallel_bound)
    kis_keys = {k for k in limiter.calls if k.startswith("kis_account:")}
    ob_keys = {k for k in limiter.calls if k.startswith("openbanking_user:")}
    busiest_kis = max((limiter.calls[k] for k in kis_keys), default=0)
    busiest_ob = max((limiter.calls[k] for k in ob_keys), default=0)
    kis_rates = _rates_of(resilience_settings, first.limit_key)
    ob_rates = _rates_of(resilience_settings, ob_settings.limit_key(world.user_id(0)))

    print(f"users:                    {users} (Samsung CMA via open banking + KIS account each)")
    print(
        f"KIS app keys:             {len(kis_keys)} "
        + ("(one for every account)" if shared_key else "(one per account, as KIS issues them)")
    )
    print(
        f"setup (untimed):          consent for {users} users {consent_seconds:.1f} s, "
        f"{_plural(issued, 'KIS token')} {token_seconds:.1f} s"
    )
    print(
        f"run:                      {report.status}; {len(report.accepted_users)} users accepted, "
        f"{len(report.breaks)} breaks, {failed_reads} failed reads, {len(report.errors)} errors"
    )
    print(f"wall time:                {wall:.2f} s")
    print(f"users per second:         {users / wall:.2f}")
    print(f"upstream calls:           {calls} ({calls / wall:.1f}/s, {calls / users:.1f} per user)")
    for upstream in sorted(per_upstream):
        detail = ", ".join(f"{e} {n}" for e, n in sorted(per_endpoint[upstream].items()))
        n = per_upstream[upstream]
        print(f"  {upstream + ':':<23} {n} ({n / wall:.1f}/s, {n / users:.1f} per user): {detail}")
    print(f"not ok / retried:         {not_ok} / {sum(retries.values())}")
    print(
        f"waiting in the limiter:   {waited:.2f} s in all, {longest_wait:.2f} s on the busiest key"
    )
    print(
        f"CPU during the run:       client {cpu[0]:.1f} s ({100 * cpu[0] / wall:.0f} % of wall), "
        f"KIS sandbox {cpu[1]:.1f} s ({100 * cpu[1] / wall:.0f} %), "
        f"open-banking sandbox {cpu[2]:.1f} s ({100 * cpu[2] / wall:.0f} %)"
    )
    print(
        f"limits in force:          KIS {_describe_rates(kis_rates)} per app key "
        f"({_plural(len(kis_keys), 'key')}); open banking {_describe_rates(ob_rates)} per user "
        f"({_plural(len(ob_keys), 'user')})"
    )
    # Run after run, each key's budget must pay for its calls: calls x window / limit, tightest
    # rate; a single run from empty buckets can beat this, back-to-back runs cannot.
    budgets = {
        key: max(n * r.interval / 1000 / r.limit for r in _rates_of(resilience_settings, key))
        for key, n in limiter.calls.items()
    }
    kis_budget = max((budgets[k] for k in kis_keys), default=0.0)
    ob_budget = max((budgets[k] for k in ob_keys), default=0.0)
    sustained = max(kis_budget, ob_budget)
    print(
        f"bound from the limits:    {parallel_bound:.2f} s for this run from empty buckets, all "
        f"users in parallel (busiest KIS key {busiest_kis} calls, busiest user "
        f"{busiest_ob} open-banking calls); {sequential_bound:.2f} s with users one after "
        f"another"
    )
    print(
        f"budget view:              a run uses {kis_budget:.2f} s of a KIS key's budget and "
        f"{ob_budget:.2f} s of a user's open-banking budget: back to back, runs could start "
        f"every {sustained:.2f} s at best ({users / sustained:.1f} users/s; this run went at "
        f"{sustained / wall:.2f}x that pace)"
    )
    ratio = parallel_bound / wall
    client_share = cpu[0] / wall
    busiest_wait = max(limiter.waited.values(), default=0.0)
    if client_share >= 0.7:
        why = "no rate limit binds one run; the client's CPU does"
        print(
            f"binding:                  the client's CPU ({100 * client_share:.0f} % of wall; "
            f"sandboxes {100 * (cpu[1] + cpu[2]) / wall:.0f} %). The limiter held calls "
            f"{waited:.1f} s summed over concurrent users, {busiest_wait:.2f} s on the busiest key"
        )
    elif busiest_wait >= 0.5 * wall:
        binding = max(limiter.waited, key=lambda k: limiter.waited[k]).partition(":")[0]
        why = f"the {binding} rate limit binds"
        print(
            f"binding:                  the {binding} rate limit: calls on its busiest key "
            f"waited {busiest_wait:.1f} s in all (summed over concurrent callers) in a "
            f"{wall:.1f} s run"
        )
    else:
        why = "no rate limit binds one run; round-trip latency does"
        print(
            f"binding:                  round trips: client CPU {100 * client_share:.0f} % of "
            f"wall, limiter waits {busiest_wait:.2f} s on the busiest key"
        )
    print(
        f"achieved / limits' max:   {ratio:.4f} (users in parallel), "
        f"{sequential_bound / wall:.4f} (users one after another)"
    )
    print(f"ratio: {ratio:.2f} of the bound ({why})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds-limit", type=float, default=300.0)
    parser.add_argument(
        "--shared-app-key", action="store_true", help="one KIS app key for every account"
    )
    arguments = parser.parse_args(argv)
    if not 1 <= arguments.users <= 10_000:
        parser.error("--users must be between 1 and 10000")
    if arguments.seconds_limit <= 0:
        parser.error("--seconds-limit must be positive")
    with open(os.devnull, "w") as devnull:
        _production_logging(devnull)
        return asyncio.run(run(arguments.users, arguments.seconds_limit, arguments.shared_app_key))


if __name__ == "__main__":
    sys.exit(main())
