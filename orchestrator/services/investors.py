"""Investor onboarding and the account mapping reconciliation reads.

Investors, their accounts and which source reads each account are records (InvestorStore). The
YAML `users` (and `reconciliation.accounts`) sections are a seed: `import_seed` inserts what is
missing and never overwrites what an operator changed since, so importing the same file twice
changes nothing. Every write is audited with who did it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.domain.errors import (
    AuthError,
    ConfigError,
    Conflict,
    InvalidRequest,
    NotFound,
    RequestRefused,
    StateConflict,
)
from orchestrator.domain.investors import (
    ACCOUNT_ID,
    INVESTOR_ID,
    OVERRIDABLE,
    SOURCE_DEFAULTS,
    SOURCE_NAME,
    AccountOrigin,
    Credential,
    Investor,
    InvestorAccount,
    InvestorStatus,
    Page,
    mask_suffix,
)
from orchestrator.domain.model import AuditEvent
from orchestrator.ports.investors import InvestorStore
from orchestrator.ports.upstream import AuditLog, Clock
from orchestrator.services.reconcile import ReconciledAccountSettings
from orchestrator.yamlpos import LocatedYaml, format_loc

log = structlog.get_logger(__name__)
KIS_ACCOUNT = re.compile(r"^\d{8}-\d{2}$")

KeyProver = Callable[[str, str, str, str], Awaitable[None]]
"""(env, app_key, app_secret, account): issues a token with the key (it is then stored as that
key's token); raises AuthError carrying the institution's code and message when refused."""

Offboarder = Callable[[str, str], Awaitable[Mapping[str, str]]]
"""Called with (investor_id, actor) when an investor is disabled; returns what it did (audited)."""

Discoverer = Callable[[str], Awaitable[Sequence[InvestorAccount]]]
"""The accounts a source finds for an investor (e.g. open banking's account/list after consent)."""


# --- Seed file ----------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeedAccount(_Strict):
    id: str = Field(pattern=ACCOUNT_ID.pattern)
    source: str = Field(pattern=SOURCE_NAME.pattern)
    institution: str = Field(default="", max_length=10)
    kind: str = Field(default="", max_length=20)
    external_ref: str | None = Field(default=None, min_length=1, max_length=64)
    masked_number: str = Field(default="", max_length=40)
    name: str = Field(default="", max_length=200)
    enabled: bool = True
    overrides: dict[str, Any] = Field(default_factory=dict)


class SeedInvestor(_Strict):
    id: str = Field(pattern=INVESTOR_ID.pattern)
    display_name: str = Field(default="", max_length=200)
    accounts: tuple[SeedAccount, ...] = ()


class SeedFile(_Strict):
    investors: tuple[SeedInvestor, ...] = ()


def _strip_defaults(source: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    defaults = SOURCE_DEFAULTS.get(source, {})
    full = ReconciledAccountSettings(user="x", account="x", source=source).model_dump()
    baseline = {**full, **defaults}
    return {k: v for k, v in fields.items() if k in OVERRIDABLE and baseline.get(k) != v}


def seed_from_settings(users: Sequence[Any], accounts: Sequence[Any]) -> SeedFile:
    """The settings' `users` and `reconciliation.accounts` as a seed (the embedded default)."""
    by_user: dict[str, list[SeedAccount]] = {}
    for a in accounts:
        data = a.model_dump(mode="json") if isinstance(a, BaseModel) else dict(a)
        by_user.setdefault(str(data["user"]), []).append(
            SeedAccount(
                id=str(data["account"]),
                source=str(data["source"]),
                overrides=_strip_defaults(
                    str(data["source"]),
                    {k: v for k, v in data.items() if k not in ("user", "account", "source")},
                ),
            )
        )
    return SeedFile(
        investors=tuple(
            SeedInvestor(
                id=u.id if hasattr(u, "id") else str(u["id"]),
                display_name=(
                    u.display_name if hasattr(u, "display_name") else str(u.get("display_name", ""))
                ),
                accounts=tuple(by_user.get(u.id if hasattr(u, "id") else str(u["id"]), ())),
            )
            for u in users
        )
    )


def parse_seed(source: LocatedYaml) -> SeedFile:
    """A seed file: either `investors:` (with their accounts) or a settings-shaped file whose
    `users` and `reconciliation.accounts` sections are taken. Errors name file, line, field."""
    data = source.data
    if not isinstance(data, dict):
        raise ConfigError(f"{source.where(())}: a seed file is a mapping (investors: [...])")
    try:
        if "investors" in data:
            return SeedFile.model_validate(data)
        users = data.get("users")
        if users is None:
            raise ConfigError(
                f"{source.where(())}: no `investors` (or settings-style `users`) section"
            )
        user_models = [_SeedUser.model_validate(u) for u in users]
        recon = data.get("reconciliation") or {}
        accounts = [
            ReconciledAccountSettings.model_validate(a) for a in recon.get("accounts") or ()
        ]
    except ValidationError as e:
        raise ConfigError(_describe(e, source, data)) from e
    known = {u.id for u in user_models}
    for i, a in enumerate(accounts):
        if a.user not in known:
            loc = ("reconciliation", "accounts", i, "user")
            raise ConfigError(f"{source.where(loc)}: {format_loc(loc)}: unknown user {a.user!r}")
    return seed_from_settings(user_models, accounts)


class _SeedUser(_Strict):
    id: str = Field(pattern=INVESTOR_ID.pattern)
    display_name: str = Field(default="", max_length=200)


def _describe(error: ValidationError, source: LocatedYaml, data: Mapping[str, Any]) -> str:
    # A settings-shaped file validates users/accounts item by item; the loc then lacks the
    # section prefix, so the first item's title tells which section it came from.
    prefix: tuple[int | str, ...] = ()
    if "investors" not in data:
        title = error.title
        prefix = ("users",) if title == "_SeedUser" else ("reconciliation", "accounts")
    lines = []
    for item in error.errors():
        loc = (*prefix, *item["loc"])
        lines.append(f"{source.where(loc)}: {format_loc(loc)}: {item['msg']}")
    return "\n".join(lines)


@dataclass
class ImportReport:
    investors_created: list[str] = field(default_factory=list)
    accounts_created: list[str] = field(default_factory=list)
    unchanged: int = 0

    def text(self) -> str:
        return (
            f"{len(self.investors_created)} investor(s) and {len(self.accounts_created)} "
            f"account(s) created, {self.unchanged} already present"
        )


# --- Service -----------------------------------------------------------------------------------


def validate_overrides(source: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Check overrides as reconciliation would read them; ValueError names the bad field."""
    unknown = sorted(set(overrides) - OVERRIDABLE)
    if unknown:
        allowed = ", ".join(sorted(OVERRIDABLE))
        raise InvalidRequest(f"cannot override {', '.join(unknown)} (allowed: {allowed})")
    data = {**SOURCE_DEFAULTS.get(source, {}), **overrides}
    data.setdefault("source", source)
    try:
        ReconciledAccountSettings.model_validate({"user": "x", "account": "x", **data})
    except ValidationError as e:
        first = e.errors()[0]
        raise InvalidRequest(f"{format_loc(first['loc'])}: {first['msg']}") from e
    return dict(overrides)


class InvestorService:
    """Onboarding, listing, disabling investors; their accounts and the reconciliation mapping."""

    def __init__(self, store: InvestorStore, audit: AuditLog, clock: Clock) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._offboarders: list[Offboarder] = []
        self._provers: dict[str, KeyProver] = {}
        self._discoverers: dict[str, Discoverer] = {}
        self._seed: SeedFile | None = None
        self._seeded = False
        self._seed_lock = asyncio.Lock()

    @property
    def store(self) -> InvestorStore:
        return self._store

    def set_key_prover(self, institution: str, prover: KeyProver) -> None:
        self._provers[institution] = prover

    def set_discoverer(self, source: str, discoverer: Discoverer) -> None:
        """How `source` lists an investor's accounts after consent (open banking: account/list)."""
        self._discoverers[source] = discoverer

    async def discover(self, investor_id: str, *, actor: str) -> Sequence[InvestorAccount]:
        """Register every account the sources find for the investor (idempotent: known ones are
        refreshed, an operator's overrides and enabled flag kept); audited with the counts."""
        investor = await self.get(investor_id)
        if not investor.active:
            raise StateConflict(f"investor {investor_id} is disabled")
        known = {a.id for a in await self._store.accounts(investor_id)}
        found = 0
        for _, discoverer in sorted(self._discoverers.items()):
            for account in await discoverer(investor_id):
                await self._store.upsert_discovered(account)
                found += 1
        accounts = await self._store.accounts(investor_id)
        added = [a.id for a in accounts if a.id not in known]
        await self._record(
            actor,
            "accounts.discovered",
            f"investor:{investor_id}",
            found=str(found),
            added=str(len(added)),
            sources=",".join(sorted(self._discoverers)) or "none",
        )
        return accounts

    def add_offboarder(self, offboarder: Offboarder) -> None:
        self._offboarders.append(offboarder)

    def set_default_seed(self, seed: SeedFile) -> None:
        """The settings' users: imported once, on first use, in every process (idempotent)."""
        self._seed = seed
        self._seeded = False

    async def ensure_seeded(self) -> None:
        if self._seeded or self._seed is None:
            return
        async with self._seed_lock:
            if not self._seeded:
                await self.import_seed(self._seed, actor="system:seed", audit_unchanged=False)
                self._seeded = True

    async def _record(self, actor: str, action: str, subject: str, **detail: str) -> None:
        await self._audit.append(
            AuditEvent(
                at=self._clock.now(), actor=actor, action=action, subject=subject, detail=detail
            )
        )

    # --- investors --------------------------------------------------------------------------

    async def create(self, investor_id: str, display_name: str, *, actor: str) -> Investor:
        if not INVESTOR_ID.fullmatch(investor_id):
            raise InvalidRequest(
                "id: lower-case letters, digits, '-' or '_', starting with a letter or digit, "
                "at most 64 characters"
            )
        now = self._clock.now()
        investor = Investor(
            id=investor_id,
            display_name=display_name,
            status="active",
            created_at=now,
            updated_at=now,
        )
        await self._store.add_investor(investor)
        await self._record(actor, "investor.created", f"investor:{investor_id}")
        log.info("investors.created", investor_id=investor_id, actor=actor)
        return investor

    async def get(self, investor_id: str) -> Investor:
        await self.ensure_seeded()
        return await self._require(investor_id)

    async def _require(self, investor_id: str) -> Investor:
        # No seeding here: the seed import itself calls this (the seed lock is not reentrant).
        investor = await self._store.investor(investor_id)
        if investor is None:
            raise NotFound(f"no investor {investor_id}")
        return investor

    async def list(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        search: str | None = None,
        status: InvestorStatus | None = None,
    ) -> Page[Investor]:
        await self.ensure_seeded()
        return await self._store.investors(limit=limit, cursor=cursor, search=search, status=status)

    async def active_ids(self) -> Sequence[str]:
        await self.ensure_seeded()
        return await self._store.active_investor_ids()

    async def disable(self, investor_id: str, *, actor: str, reason: str = "") -> Investor:
        """Offboard: no more scheduled work (only active investors are reconciled), consent
        revoked and credentials/tokens deleted by the offboarders; audit and history kept."""
        current = await self.get(investor_id)
        if not current.active:
            return current
        investor = await self._store.set_investor_status(
            investor_id, "disabled", now=self._clock.now()
        )
        done: dict[str, str] = {"reason": reason}
        for offboard in self._offboarders:
            try:
                done.update(await offboard(investor_id, actor))
            except Exception as e:  # one failing step must not leave the rest undone
                log.exception("investors.offboard_step_failed", investor_id=investor_id)
                done[f"failed:{type(e).__name__}"] = str(e)[:200]
        await self._record(actor, "investor.disabled", f"investor:{investor_id}", **done)
        log.info("investors.disabled", investor_id=investor_id, actor=actor)
        return investor

    async def enable(self, investor_id: str, *, actor: str) -> Investor:
        await self.get(investor_id)
        investor = await self._store.set_investor_status(
            investor_id, "active", now=self._clock.now()
        )
        await self._record(actor, "investor.enabled", f"investor:{investor_id}")
        return investor

    # --- accounts ---------------------------------------------------------------------------

    async def accounts(self, investor_id: str) -> Sequence[InvestorAccount]:
        await self.get(investor_id)
        return await self._store.accounts(investor_id)

    async def add_account(
        self,
        investor_id: str,
        *,
        account_id: str,
        source: str,
        actor: str,
        origin: AccountOrigin = "manual",
        institution: str = "",
        kind: str = "",
        external_ref: str | None = None,
        masked_number: str = "",
        name: str = "",
        overrides: Mapping[str, Any] | None = None,
    ) -> InvestorAccount:
        await self._require(investor_id)
        if not ACCOUNT_ID.fullmatch(account_id):
            raise InvalidRequest("account id: letters, digits, '.', '-' or '_', at most 64")
        if not SOURCE_NAME.fullmatch(source):
            raise InvalidRequest("source: a lower-case source name such as kis or openbanking")
        now = self._clock.now()
        account = InvestorAccount(
            id=account_id,
            investor_id=investor_id,
            source=source,
            institution=institution,
            kind=kind,
            external_ref=external_ref,
            masked_number=masked_number,
            name=name,
            origin=origin,
            overrides=validate_overrides(source, overrides or {}),
            created_at=now,
            updated_at=now,
        )
        await self._store.add_account(account)
        await self._record(
            actor,
            "account.added",
            f"investor:{investor_id}",
            account_id=account_id,
            source=source,
            origin=origin,
        )
        return account

    async def update_account(
        self,
        account_id: str,
        *,
        actor: str,
        overrides: Mapping[str, Any] | None = None,
        enabled: bool | None = None,
    ) -> InvestorAccount:
        current = await self._store.account(account_id)
        if current is None:
            raise NotFound(f"no account {account_id}")
        checked = None
        if overrides is not None:
            checked = validate_overrides(current.source, overrides)
        account = await self._store.update_account(
            account_id, now=self._clock.now(), overrides=checked, enabled=enabled
        )
        detail = {"account_id": account_id}
        if checked is not None:
            detail["overrides"] = ",".join(f"{k}={v}" for k, v in sorted(checked.items()))
        if enabled is not None:
            detail["enabled"] = str(enabled).lower()
        await self._record(actor, "account.updated", f"investor:{current.investor_id}", **detail)
        return account

    # --- credentials ------------------------------------------------------------------------

    async def attach_kis(
        self,
        investor_id: str,
        *,
        app_key: str,
        app_secret: str,
        account: str,
        env: str,
        actor: str,
    ) -> Credential:
        """Attach (or rotate) the investor's KIS app key. The key is proven first by issuing a
        token; a refusal raises InvalidRequest with KIS's code and message and stores nothing."""
        investor = await self.get(investor_id)
        if not investor.active:
            raise StateConflict(f"investor {investor_id} is disabled")
        if env not in ("real", "paper"):
            raise InvalidRequest("env: real or paper")
        if not KIS_ACCOUNT.fullmatch(account):
            raise InvalidRequest("account: CANO-ACNT_PRDT_CD (8 digits, dash, 2 digits)")
        if not app_key or not app_secret:
            raise InvalidRequest("app_key and app_secret are required")
        prover = self._provers.get("kis")
        if prover is None:
            raise InvalidRequest("KIS is not configured in this service")
        try:
            await prover(env, app_key, app_secret, account)
        except AuthError as e:
            code = f"{e.code} " if e.code else ""
            raise InvalidRequest(f"KIS refused the key: {code}{e.detail}") from e
        except RequestRefused as e:
            code = f"{e.code} " if e.code else ""
            raise InvalidRequest(f"KIS refused the key: {code}{e.detail}") from e
        previous = await self._store.credential(investor_id, "kis")
        now = self._clock.now()
        credential = Credential(
            id=previous.id if previous is not None else uuid.uuid4().hex,
            investor_id=investor_id,
            institution="kis",
            env=env,
            key_suffix=mask_suffix(app_key),
            account_id=None,
            status="active",
            created_at=previous.created_at if previous is not None else now,
            updated_at=now,
        )
        await self._store.put_credential(
            credential,
            {"app_key": app_key, "app_secret": app_secret, "account": account},
            fingerprint=hashlib.sha256(app_key.encode()).hexdigest(),
        )
        await self._record(
            actor,
            "credential.rotated" if previous is not None else "credential.attached",
            f"investor:{investor_id}",
            institution="kis",
            env=env,
            key=credential.key_suffix,
        )
        if not any(a.source == "kis" for a in await self._store.accounts(investor_id)):
            # The key opens exactly one account: it is discovered with the key, so the
            # investor's reconciliation reads it without anyone registering it by hand.
            await self.add_account(
                investor_id,
                account_id=f"kis-{investor_id}",
                source="kis",
                actor=actor,
                origin="discovered",
                institution="243",
                kind="brokerage",
                masked_number=_mask_number(account),
                name="한국투자증권",
            )
        return credential

    async def detach(self, investor_id: str, institution: str, *, actor: str) -> bool:
        await self.get(investor_id)
        removed = await self._store.delete_credential(investor_id, institution)
        if removed:
            await self._record(
                actor, "credential.detached", f"investor:{investor_id}", institution=institution
            )
        return removed

    # --- mapping ----------------------------------------------------------------------------

    async def reconciled_accounts(
        self, user_id: str | None = None
    ) -> tuple[ReconciledAccountSettings, ...]:
        """What reconciliation reads: every enabled account of every active investor (or of
        `user_id` only: one investor's task), with its settings derived from its source and
        overridden per account."""
        await self.ensure_seeded()
        out = []
        for account in await self._store.reconciled_accounts(user_id):
            try:
                out.append(ReconciledAccountSettings.model_validate(account.reconcile_fields()))
            except ValidationError as e:  # overrides are checked on write; never crash a run
                log.error("investors.bad_mapping", account_id=account.id, error=str(e))
        return tuple(out)

    # --- seed -------------------------------------------------------------------------------

    async def import_seed(
        self, seed: SeedFile, *, actor: str, audit_unchanged: bool = True
    ) -> ImportReport:
        """Insert the seed's missing investors and accounts; keep what exists as it is."""
        report = ImportReport()
        for item in seed.investors:
            if await self._store.investor(item.id) is None:
                try:
                    await self.create(item.id, item.display_name, actor=actor)
                    report.investors_created.append(item.id)
                except Conflict:  # created concurrently by another process: same outcome
                    report.unchanged += 1
            else:
                report.unchanged += 1
            for a in item.accounts:
                if await self._store.account(a.id) is not None:
                    report.unchanged += 1
                    continue
                try:
                    await self.add_account(
                        item.id,
                        account_id=a.id,
                        source=a.source,
                        actor=actor,
                        origin="seed",
                        institution=a.institution,
                        kind=a.kind,
                        external_ref=a.external_ref,
                        masked_number=a.masked_number,
                        name=a.name,
                        overrides=a.overrides,
                    )
                except ValueError as e:
                    raise ConfigError(f"investors[{item.id}].accounts[{a.id}]: {e}") from e
                except Conflict:
                    report.unchanged += 1
                    continue
                if not a.enabled:
                    await self._store.update_account(a.id, now=self._clock.now(), enabled=False)
                report.accounts_created.append(a.id)
        if audit_unchanged or report.investors_created or report.accounts_created:
            await self._record(
                actor,
                "investors.imported",
                "investors",
                investors=str(len(report.investors_created)),
                accounts=str(len(report.accounts_created)),
                unchanged=str(report.unchanged),
            )
        return report


__all__ = [
    "ImportReport",
    "InvestorService",
    "Offboarder",
    "SeedFile",
    "parse_seed",
    "seed_from_settings",
    "validate_overrides",
]


def _mask_number(account: str) -> str:
    """Every digit but the last four hidden, like the adapters show numbers: ******45-01."""
    total = sum(ch.isdigit() for ch in account)
    out, seen = [], 0
    for ch in account:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - 4 else "*")
        else:
            out.append(ch)
    return "".join(out)
