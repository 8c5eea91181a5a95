"""Onboarding as records: seed import (idempotent), derived mapping with overrides, offboarding."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from adapters.brokers import PLUGINS
from adapters.db.audit import DbAuditLog
from adapters.db.engine import Database
from adapters.db.investors import DbInvestorStore
from adapters.db.secrets import TokenCipher
from adapters.fake import FakeClock
from orchestrator.domain.errors import ConfigError, Conflict, NotFound
from orchestrator.domain.investors import add_source_defaults
from orchestrator.services.investors import InvestorService, parse_seed, seed_from_settings
from orchestrator.services.reconcile import ReconciliationSettings
from orchestrator.settings import load_settings
from orchestrator.yamlpos import load_yaml

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def service(db: Database) -> InvestorService:
    # The composition root registers each wired broker's defaults; do the same here, so the
    # derived mapping does not depend on whether another test built a container first.
    for name, plugin in PLUGINS.items():
        add_source_defaults(name, plugin.reconcile_defaults)
    cipher = TokenCipher([SecretStr(Fernet.generate_key().decode())])
    return InvestorService(DbInvestorStore(db, cipher), DbAuditLog(db), FakeClock(NOW))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "seed.yaml"
    path.write_text(text, encoding="utf-8")
    return path


SEED = """
investors:
  - id: kim
    display_name: 김철수
    accounts:
      - {id: kim-kis, source: kis, external_ref: "50000001-01"}
      - {id: kim-ob, source: openbanking, overrides: {transactions: false}}
  - id: lee
    accounts:
      - {id: lee-kiwoom, source: kiwoom}
"""


async def test_import_is_idempotent_and_keeps_operator_changes(
    service: InvestorService, tmp_path: Path, db: Database
) -> None:
    seed = parse_seed(load_yaml(_write(tmp_path, SEED)))
    first = await service.import_seed(seed, actor="cli")
    assert first.investors_created == ["kim", "lee"]
    assert first.accounts_created == ["kim-kis", "kim-ob", "lee-kiwoom"]
    await service.update_account("kim-kis", actor="op", overrides={"cash_field": "deposit"})
    second = await service.import_seed(seed, actor="cli")
    assert second.investors_created == []
    assert second.accounts_created == []
    assert second.unchanged == 5
    account = await service.store.account("kim-kis")
    assert account is not None
    assert account.overrides == {"cash_field": "deposit"}
    assert (await DbAuditLog(db).verify()).ok


async def test_mapping_is_derived_from_the_source_and_overridable(
    service: InvestorService, tmp_path: Path
) -> None:
    await service.import_seed(parse_seed(load_yaml(_write(tmp_path, SEED))), actor="cli")
    mapping = {a.account: a for a in await service.reconciled_accounts()}
    assert mapping["kim-kis"].orders == "kis"
    assert mapping["kim-kis"].cash_field.value == "withdrawable"
    assert mapping["lee-kiwoom"].orders == "kiwoom"
    assert not mapping["kim-ob"].positions
    assert not mapping["kim-ob"].transactions  # the override wins over the derived default
    await service.update_account("kim-ob", actor="op", overrides={})
    mapping = {a.account: a for a in await service.reconciled_accounts()}
    assert mapping["kim-ob"].transactions
    with pytest.raises(ValueError, match="cash_field"):
        await service.update_account("kim-kis", actor="op", overrides={"cash_field": "nope"})
    with pytest.raises(ValueError, match="cannot override"):
        await service.update_account("kim-kis", actor="op", overrides={"user": "lee"})


async def test_one_investors_mapping_is_that_investors_part_of_the_whole(
    service: InvestorService, tmp_path: Path
) -> None:
    """What one investor's task reads: their accounts only, with the same settings."""
    await service.import_seed(parse_seed(load_yaml(_write(tmp_path, SEED))), actor="cli")
    whole = await service.reconciled_accounts()
    for user in ("kim", "lee"):
        assert await service.reconciled_accounts(user) == tuple(a for a in whole if a.user == user)
    assert {a.account for a in await service.reconciled_accounts("kim")} == {"kim-kis", "kim-ob"}
    assert await service.reconciled_accounts("nobody") == ()


async def test_embedded_default_seeds_the_demo_investor(service: InvestorService) -> None:
    loaded = load_settings(Path("config/orchestrator.yaml"))
    recon = loaded.section("reconciliation", ReconciliationSettings)
    service.set_default_seed(seed_from_settings(loaded.settings.users, recon.accounts))
    page = await service.list(limit=10)
    assert [i.id for i in page.items] == ["demo"]
    mapped = await service.reconciled_accounts()
    # The same reading plan as the settings' own list: nothing lost in the move to records.
    assert {a.account: a for a in mapped} == {a.account: a for a in recon.accounts}


async def test_duplicate_investor_and_account_name_the_existing(service: InvestorService) -> None:
    await service.create("kim", "김", actor="op")
    with pytest.raises(Conflict, match="kim"):
        await service.create("kim", "other", actor="op")
    await service.add_account("kim", account_id="k1", source="kis", actor="op", external_ref="1")
    with pytest.raises(Conflict) as e:
        await service.add_account(
            "kim", account_id="k2", source="kis", actor="op", external_ref="1"
        )
    assert e.value.existing == "account k1"
    with pytest.raises(NotFound):
        await service.add_account("nobody", account_id="k3", source="kis", actor="op")
    with pytest.raises(ValueError, match="id"):
        await service.create("Bad Id!", "", actor="op")


async def test_disable_offboards_and_audits(service: InvestorService, db: Database) -> None:
    await service.create("kim", "", actor="op")
    await service.add_account("kim", account_id="k1", source="kis", actor="op")
    calls: list[tuple[str, str]] = []

    async def revoke(investor_id: str, actor: str) -> dict[str, str]:
        calls.append((investor_id, actor))
        return {"consent": "revoked"}

    async def broken(investor_id: str, actor: str) -> dict[str, str]:
        raise RuntimeError("relay down")

    service.add_offboarder(broken)
    service.add_offboarder(revoke)
    investor = await service.disable("kim", actor="op", reason="left")
    assert investor.status == "disabled"
    assert calls == [("kim", "op")]  # a failing step does not stop the others
    assert await service.reconciled_accounts() == ()
    events = [e for e in await DbAuditLog(db).recent(10) if e.action == "investor.disabled"]
    assert len(events) == 1
    assert events[0].detail is not None
    assert events[0].detail["consent"] == "revoked"
    assert events[0].detail["failed:RuntimeError"] == "relay down"
    assert (await DbAuditLog(db).verify()).ok


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("investors:\n  - id: kim\n    accounts:\n      - {id: a, source: KIS!}\n", ":4:"),
        ("investors:\n  - id: kim\n    colour: red\n", ":3:"),
        (
            "users:\n  - {id: demo}\nreconciliation:\n  accounts:\n    - {user: x, account: a, "
            "source: kis}\n",
            ":5:",
        ),
    ],
)
def test_bad_seed_names_file_line_and_field(tmp_path: Path, text: str, where: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        parse_seed(load_yaml(path))
    assert str(path) in str(e.value)
    assert where in str(e.value)
