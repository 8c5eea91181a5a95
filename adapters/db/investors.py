"""InvestorStore on SQLModel (SQLite and PostgreSQL alike).

Duplicates are the database's call (primary keys and unique constraints), turned into Conflict
naming the record that exists. Credential secrets are one JSON object encrypted with the process
keyring (TokenCipher, MultiFernet): rotation re-encrypts them with `reencrypt()`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exc, func, or_, select
from sqlmodel import col

from adapters.db.engine import Database
from adapters.db.secrets import TokenCipher
from adapters.db.tables import InstitutionCredentialRow, InvestorAccountRow, InvestorRow
from orchestrator.domain.errors import Conflict, NotFound
from orchestrator.domain.investors import (
    AccountOrigin,
    Credential,
    Investor,
    InvestorAccount,
    InvestorStatus,
    Page,
)


def _investor(row: InvestorRow) -> Investor:
    return Investor(
        id=row.id,
        display_name=row.display_name,
        status="disabled" if row.status == "disabled" else "active",
        created_at=row.created_at,
        updated_at=row.updated_at,
        disabled_at=row.disabled_at,
    )


def _account(row: InvestorAccountRow) -> InvestorAccount:
    origin: AccountOrigin = "manual"
    if row.origin in ("seed", "discovered"):
        origin = "seed" if row.origin == "seed" else "discovered"
    return InvestorAccount(
        id=row.id,
        investor_id=row.investor_id,
        source=row.source,
        institution=row.institution,
        kind=row.kind,
        external_ref=row.external_ref,
        masked_number=row.masked_number,
        name=row.name,
        origin=origin,
        enabled=row.enabled,
        overrides=dict(row.overrides or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _credential(row: InstitutionCredentialRow) -> Credential:
    return Credential(
        id=row.id,
        investor_id=row.investor_id,
        institution=row.institution,
        env=row.env,
        key_suffix=row.key_suffix,
        account_id=row.account_id,
        status="revoked" if row.status == "revoked" else "active",
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class DbInvestorStore:
    def __init__(self, db: Database, cipher: TokenCipher) -> None:
        self._db = db
        self._cipher = cipher

    # --- investors --------------------------------------------------------------------------

    async def add_investor(self, investor: Investor) -> None:
        row = InvestorRow(
            id=investor.id,
            display_name=investor.display_name,
            search_name=investor.display_name.lower(),
            status=investor.status,
            created_at=investor.created_at,
            updated_at=investor.updated_at,
            disabled_at=investor.disabled_at,
        )
        try:
            async with self._db.session() as session:
                session.add(row)
        except exc.IntegrityError as e:
            raise Conflict(
                f"investor {investor.id} already exists", existing=f"investor {investor.id}"
            ) from e

    async def investor(self, investor_id: str) -> Investor | None:
        async with self._db.session() as session:
            row = await session.get(InvestorRow, investor_id)
            return None if row is None else _investor(row)

    async def investors(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        search: str | None = None,
        status: InvestorStatus | None = None,
    ) -> Page[Investor]:
        stmt = select(InvestorRow).order_by(col(InvestorRow.id)).limit(limit + 1)
        if cursor is not None:
            stmt = stmt.where(col(InvestorRow.id) > cursor)
        if status is not None:
            stmt = stmt.where(col(InvestorRow.status) == status)
        if search:
            needle = search.lower()
            escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(
                or_(
                    col(InvestorRow.id).startswith(needle, autoescape=True),
                    col(InvestorRow.search_name).like(f"%{escaped}%", escape="\\"),
                )
            )
        async with self._db.session() as session:
            rows = list((await session.execute(stmt)).scalars())
        more = len(rows) > limit
        items = tuple(_investor(r) for r in rows[:limit])
        return Page(items=items, next_cursor=items[-1].id if more and items else None)

    async def active_investor_ids(self) -> Sequence[str]:
        stmt = (
            select(col(InvestorRow.id))
            .where(col(InvestorRow.status) == "active")
            .order_by(col(InvestorRow.id))
        )
        async with self._db.session() as session:
            return [str(v) for v in (await session.execute(stmt)).scalars()]

    async def count_investors(self) -> int:
        async with self._db.session() as session:
            value = (await session.execute(select(func.count()).select_from(InvestorRow))).scalar()
            return int(value or 0)

    async def set_investor_status(
        self, investor_id: str, status: InvestorStatus, *, now: datetime
    ) -> Investor:
        async with self._db.session() as session:
            row = await session.get(InvestorRow, investor_id)
            if row is None:
                raise NotFound(f"no investor {investor_id}")
            row.status = status
            row.updated_at = now
            row.disabled_at = now if status == "disabled" else None
            return _investor(row)

    # --- accounts ---------------------------------------------------------------------------

    async def add_account(self, account: InvestorAccount) -> None:
        async with self._db.session() as session:
            existing = await session.get(InvestorAccountRow, account.id)
            if existing is not None:
                raise Conflict(
                    f"account {account.id} already exists (investor {existing.investor_id})",
                    existing=f"account {existing.id}",
                )
            if account.external_ref is not None:
                clash = await self._by_ref(session, account.source, account.external_ref)
                if clash is not None:
                    raise Conflict(
                        f"{account.source} account {account.masked_number or account.id} is "
                        f"already registered as {clash.id} (investor {clash.investor_id})",
                        existing=f"account {clash.id}",
                    )
        try:
            async with self._db.session() as session:
                session.add(self._account_row(account))
        except exc.IntegrityError as e:  # lost a race with a concurrent insert
            raise Conflict(
                f"account {account.id} already exists", existing=f"account {account.id}"
            ) from e

    @staticmethod
    async def _by_ref(session: Any, source: str, ref: str) -> InvestorAccountRow | None:
        stmt = select(InvestorAccountRow).where(
            col(InvestorAccountRow.source) == source,
            col(InvestorAccountRow.external_ref) == ref,
        )
        row: InvestorAccountRow | None = (await session.execute(stmt)).scalars().first()
        return row

    @staticmethod
    def _account_row(account: InvestorAccount) -> InvestorAccountRow:
        assert account.created_at is not None
        assert account.updated_at is not None
        return InvestorAccountRow(
            id=account.id,
            investor_id=account.investor_id,
            source=account.source,
            institution=account.institution,
            kind=account.kind,
            external_ref=account.external_ref,
            masked_number=account.masked_number,
            name=account.name,
            origin=account.origin,
            enabled=account.enabled,
            overrides=dict(account.overrides) or None,
            created_at=account.created_at,
            updated_at=account.updated_at,
        )

    async def upsert_discovered(self, account: InvestorAccount) -> InvestorAccount:
        async with self._db.session() as session:
            row = None
            if account.external_ref is not None:
                row = await self._by_ref(session, account.source, account.external_ref)
            if row is None:
                row = await session.get(InvestorAccountRow, account.id)
            if row is None:
                row = self._account_row(account)
                session.add(row)
                return account
            if row.investor_id != account.investor_id:
                raise Conflict(
                    f"{account.source} account {account.masked_number or account.id} belongs "
                    f"to another investor ({row.id})",
                    existing=f"account {row.id}",
                )
            row.institution = account.institution or row.institution
            row.kind = account.kind or row.kind
            row.external_ref = account.external_ref or row.external_ref
            row.masked_number = account.masked_number or row.masked_number
            row.name = account.name or row.name
            if account.updated_at is not None:
                row.updated_at = account.updated_at
            return _account(row)

    async def account(self, account_id: str) -> InvestorAccount | None:
        async with self._db.session() as session:
            row = await session.get(InvestorAccountRow, account_id)
            return None if row is None else _account(row)

    async def accounts(self, investor_id: str) -> Sequence[InvestorAccount]:
        stmt = (
            select(InvestorAccountRow)
            .where(col(InvestorAccountRow.investor_id) == investor_id)
            .order_by(col(InvestorAccountRow.id))
        )
        async with self._db.session() as session:
            return [_account(r) for r in (await session.execute(stmt)).scalars()]

    async def reconciled_accounts(
        self, investor_id: str | None = None
    ) -> Sequence[InvestorAccount]:
        stmt = (
            select(InvestorAccountRow)
            .join(InvestorRow, col(InvestorRow.id) == col(InvestorAccountRow.investor_id))
            .where(
                col(InvestorRow.status) == "active",
                col(InvestorAccountRow.enabled).is_(True),
            )
            .order_by(col(InvestorAccountRow.investor_id), col(InvestorAccountRow.created_at))
        )
        if investor_id is not None:
            stmt = stmt.where(col(InvestorAccountRow.investor_id) == investor_id)
        async with self._db.autocommit() as session:
            return [_account(r) for r in (await session.execute(stmt)).scalars()]

    async def update_account(
        self,
        account_id: str,
        *,
        now: datetime,
        overrides: Mapping[str, object] | None = None,
        enabled: bool | None = None,
    ) -> InvestorAccount:
        async with self._db.session() as session:
            row = await session.get(InvestorAccountRow, account_id)
            if row is None:
                raise NotFound(f"no account {account_id}")
            if overrides is not None:
                row.overrides = dict(overrides) or None
            if enabled is not None:
                row.enabled = enabled
            row.updated_at = now
            return _account(row)

    # --- credentials ------------------------------------------------------------------------

    async def put_credential(
        self, credential: Credential, secrets: Mapping[str, str], *, fingerprint: str
    ) -> None:
        ciphertext = self._cipher.encrypt(json.dumps(dict(secrets), sort_keys=True))
        async with self._db.session() as session:
            clash = (
                (
                    await session.execute(
                        select(InstitutionCredentialRow).where(
                            col(InstitutionCredentialRow.fingerprint) == fingerprint
                        )
                    )
                )
                .scalars()
                .first()
            )
            if clash is not None and clash.investor_id != credential.investor_id:
                raise Conflict(
                    f"this {credential.institution} key is already attached to investor "
                    f"{clash.investor_id}",
                    existing=f"credential {clash.id}",
                )
            row = (
                (
                    await session.execute(
                        select(InstitutionCredentialRow).where(
                            col(InstitutionCredentialRow.investor_id) == credential.investor_id,
                            col(InstitutionCredentialRow.institution) == credential.institution,
                        )
                    )
                )
                .scalars()
                .first()
            )
            if row is None:
                session.add(
                    InstitutionCredentialRow(
                        id=credential.id,
                        investor_id=credential.investor_id,
                        institution=credential.institution,
                        env=credential.env,
                        fingerprint=fingerprint,
                        key_suffix=credential.key_suffix,
                        account_id=credential.account_id,
                        ciphertext=ciphertext,
                        status=credential.status,
                        created_at=credential.created_at,
                        updated_at=credential.updated_at,
                    )
                )
                return
            row.env = credential.env
            row.fingerprint = fingerprint
            row.key_suffix = credential.key_suffix
            row.account_id = credential.account_id
            row.ciphertext = ciphertext
            row.status = credential.status
            row.updated_at = credential.updated_at

    async def _credential_row(
        self, session: Any, investor_id: str, institution: str
    ) -> InstitutionCredentialRow | None:
        stmt = select(InstitutionCredentialRow).where(
            col(InstitutionCredentialRow.investor_id) == investor_id,
            col(InstitutionCredentialRow.institution) == institution,
        )
        row: InstitutionCredentialRow | None = (await session.execute(stmt)).scalars().first()
        return row

    async def credential(self, investor_id: str, institution: str) -> Credential | None:
        async with self._db.session() as session:
            row = await self._credential_row(session, investor_id, institution)
            return None if row is None else _credential(row)

    async def credential_secrets(
        self, investor_id: str, institution: str
    ) -> tuple[Credential, dict[str, str]] | None:
        async with self._db.session() as session:
            row = await self._credential_row(session, investor_id, institution)
            if row is None:
                return None
            secrets = json.loads(self._cipher.decrypt(row.ciphertext))
            return _credential(row), {str(k): str(v) for k, v in secrets.items()}

    async def credentials(self, investor_id: str) -> Sequence[Credential]:
        stmt = (
            select(InstitutionCredentialRow)
            .where(col(InstitutionCredentialRow.investor_id) == investor_id)
            .order_by(col(InstitutionCredentialRow.institution))
        )
        async with self._db.session() as session:
            return [_credential(r) for r in (await session.execute(stmt)).scalars()]

    async def delete_credential(self, investor_id: str, institution: str) -> bool:
        async with self._db.session() as session:
            row = await self._credential_row(session, investor_id, institution)
            if row is None:
                return False
            await session.delete(row)
            return True

    async def active_credentials(self, institution: str) -> Sequence[Credential]:
        stmt = (
            select(InstitutionCredentialRow)
            .join(InvestorRow, col(InvestorRow.id) == col(InstitutionCredentialRow.investor_id))
            .where(
                col(InstitutionCredentialRow.institution) == institution,
                col(InstitutionCredentialRow.status) == "active",
                col(InvestorRow.status) == "active",
            )
            .order_by(col(InstitutionCredentialRow.investor_id))
        )
        async with self._db.session() as session:
            return [_credential(r) for r in (await session.execute(stmt)).scalars()]

    async def reencrypt(self) -> int:
        async with self._db.session() as session:
            rows = list((await session.execute(select(InstitutionCredentialRow))).scalars())
            for row in rows:
                row.ciphertext = self._cipher.rotate(row.ciphertext)
            return len(rows)
