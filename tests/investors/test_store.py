"""The investor store on SQLite and the real PostgreSQL: duplicates, paging, search, secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select

from adapters.db.engine import Database
from adapters.db.investors import DbInvestorStore
from adapters.db.secrets import TokenCipher
from adapters.db.tables import InstitutionCredentialRow
from orchestrator.domain.errors import Conflict, NotFound
from orchestrator.domain.investors import Credential, Investor, InvestorAccount

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def _investor(i: str, name: str = "") -> Investor:
    return Investor(id=i, display_name=name, status="active", created_at=NOW, updated_at=NOW)


def _account(a: str, inv: str, source: str = "kis", ref: str | None = None) -> InvestorAccount:
    return InvestorAccount(
        id=a, investor_id=inv, source=source, external_ref=ref, created_at=NOW, updated_at=NOW
    )


def _cred(inv: str, suffix: str = "****ABCD") -> Credential:
    return Credential(
        id=f"c-{inv}",
        investor_id=inv,
        institution="kis",
        env="paper",
        key_suffix=suffix,
        account_id=None,
        status="active",
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.fixture
def store(db: Database) -> DbInvestorStore:
    return DbInvestorStore(db, TokenCipher([SecretStr(Fernet.generate_key().decode())]))


async def test_duplicate_investor_is_a_conflict_naming_it(store: DbInvestorStore) -> None:
    await store.add_investor(_investor("kim", "김철수"))
    with pytest.raises(Conflict) as e:
        await store.add_investor(_investor("kim", "someone else"))
    assert e.value.existing == "investor kim"
    assert (await store.investor("kim")) is not None
    assert (await store.investor("kim")).display_name == "김철수"  # type: ignore[union-attr]


async def test_paging_by_cursor_visits_every_investor_once(store: DbInvestorStore) -> None:
    ids = [f"inv-{i:03d}" for i in range(23)]
    for i in reversed(ids):
        await store.add_investor(_investor(i))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await store.investors(limit=10, cursor=cursor)
        seen.extend(i.id for i in page.items)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3


async def test_search_matches_id_prefix_or_name_part(store: DbInvestorStore) -> None:
    await store.add_investor(_investor("kim-1", "김철수"))
    await store.add_investor(_investor("lee-1", "Lee Younghee"))
    await store.add_investor(_investor("park_1", "100% Park"))
    assert [i.id for i in (await store.investors(limit=10, search="kim")).items] == ["kim-1"]
    assert [i.id for i in (await store.investors(limit=10, search="YOUNG")).items] == ["lee-1"]
    assert [i.id for i in (await store.investors(limit=10, search="철")).items] == ["kim-1"]
    # LIKE wildcards in the needle are literal characters.
    assert [i.id for i in (await store.investors(limit=10, search="%")).items] == ["park_1"]
    assert [i.id for i in (await store.investors(limit=10, search="k_")).items] == []


async def test_disabled_investors_leave_the_reconciled_accounts(store: DbInvestorStore) -> None:
    await store.add_investor(_investor("a"))
    await store.add_investor(_investor("b"))
    await store.add_account(_account("a-kis", "a"))
    await store.add_account(_account("b-kis", "b"))
    await store.add_account(_account("b-ob", "b", source="openbanking"))
    await store.update_account("b-ob", now=NOW, enabled=False)
    assert [a.id for a in await store.reconciled_accounts()] == ["a-kis", "b-kis"]
    await store.set_investor_status("a", "disabled", now=NOW + timedelta(hours=1))
    assert [a.id for a in await store.reconciled_accounts()] == ["b-kis"]
    assert await store.active_investor_ids() == ["b"]
    # One investor's task reads only that investor's accounts.
    assert [a.id for a in await store.reconciled_accounts("b")] == ["b-kis"]
    assert list(await store.reconciled_accounts("a")) == []
    with pytest.raises(NotFound):
        await store.set_investor_status("nobody", "disabled", now=NOW)


async def test_duplicate_account_names_the_existing_one(store: DbInvestorStore) -> None:
    await store.add_investor(_investor("a"))
    await store.add_investor(_investor("b"))
    await store.add_account(_account("a-ob", "a", source="openbanking", ref="1200"))
    with pytest.raises(Conflict) as by_id:
        await store.add_account(_account("a-ob", "b", source="openbanking", ref="9999"))
    assert by_id.value.existing == "account a-ob"
    with pytest.raises(Conflict) as by_ref:
        await store.add_account(_account("b-ob", "b", source="openbanking", ref="1200"))
    assert by_ref.value.existing == "account a-ob"
    # Unknown refs (seeded accounts) never collide with each other.
    await store.add_account(_account("a-kis", "a"))
    await store.add_account(_account("b-kis", "b"))


async def test_discovery_refreshes_but_keeps_operator_choices(store: DbInvestorStore) -> None:
    await store.add_investor(_investor("a"))
    found = InvestorAccount(
        id="ob-1",
        investor_id="a",
        source="openbanking",
        external_ref="1200",
        masked_number="710***",
        origin="discovered",
        created_at=NOW,
        updated_at=NOW,
    )
    await store.upsert_discovered(found)
    await store.update_account("ob-1", now=NOW, overrides={"transactions": False}, enabled=False)
    again = await store.upsert_discovered(
        InvestorAccount(
            id="ob-other-id",
            investor_id="a",
            source="openbanking",
            external_ref="1200",
            masked_number="710-12***",
            created_at=NOW,
            updated_at=NOW,
        )
    )
    assert again.id == "ob-1"
    assert again.masked_number == "710-12***"
    assert again.overrides == {"transactions": False}
    assert not again.enabled
    await store.add_investor(_investor("b"))
    with pytest.raises(Conflict):
        await store.upsert_discovered(
            InvestorAccount(
                id="x",
                investor_id="b",
                source="openbanking",
                external_ref="1200",
                created_at=NOW,
                updated_at=NOW,
            )
        )


async def test_credential_secrets_are_encrypted_and_keys_unique(
    store: DbInvestorStore, db: Database
) -> None:
    await store.add_investor(_investor("a"))
    await store.add_investor(_investor("b"))
    secret = {"app_key": "PSkeyA-very-secret", "app_secret": "S3cr3t"}
    await store.put_credential(_cred("a"), secret, fingerprint="f" * 64)
    async with db.session() as s:
        row = (await s.execute(select(InstitutionCredentialRow))).scalars().one()
    assert "PSkeyA" not in row.ciphertext
    assert "S3cr3t" not in row.ciphertext
    got = await store.credential_secrets("a", "kis")
    assert got is not None
    assert got[1] == secret
    with pytest.raises(Conflict) as e:
        await store.put_credential(_cred("b"), secret, fingerprint="f" * 64)
    assert "investor a" in str(e.value)
    # Rotation for the same investor replaces the row.
    await store.put_credential(_cred("a", "****WXYZ"), {"app_key": "new"}, fingerprint="e" * 64)
    assert [c.key_suffix for c in await store.credentials("a")] == ["****WXYZ"]
    assert await store.reencrypt() == 1
    assert (await store.credential_secrets("a", "kis")) is not None
    assert await store.delete_credential("a", "kis")
    assert not await store.delete_credential("a", "kis")
    assert await store.credentials("a") == []
