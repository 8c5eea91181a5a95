"""Brokers beyond KIS: the `brokers:` section, the router, and institutions by KFTC code."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator import bootstrap
from orchestrator.domain.errors import AccountUnknown, ConfigError
from orchestrator.domain.model import AccountKind, AccountRef, Institution, OrderReport
from orchestrator.services.brokers import BrokerRouter
from orchestrator.settings import load_settings

BASE = Path("config/orchestrator.yaml").read_text(encoding="utf-8")


def _config(tmp_path: Path, brokers: str) -> Path:
    path = tmp_path / "settings.yaml"
    start = BASE.index("brokers:\n")
    end = BASE.index("\n# KFTC Open Banking")
    path.write_text(BASE[:start] + brokers + BASE[end:], encoding="utf-8")
    return path


def test_unknown_broker_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    loaded = load_settings(_config(tmp_path, "brokers:\n  daishin: {env: real}\n"))
    with pytest.raises(ConfigError, match=r"settings\.yaml:\d+:\d+: brokers\.daishin: unknown"):
        bootstrap.build(loaded)


def test_bad_broker_field_names_its_line(tmp_path: Path) -> None:
    bad = "brokers:\n  kiwoom:\n    env: paper\n    app_key: literal:K\n    secret_key: literal:S\n"
    loaded = load_settings(_config(tmp_path, bad))
    with pytest.raises(ConfigError, match=r"settings\.yaml:\d+:\d+: brokers\.kiwoom\.env"):
        bootstrap.build(loaded)


def test_institutions_beyond_the_core_list_are_made_from_their_code() -> None:
    member = Institution("299")
    assert member is Institution("299")
    assert member.name == "KFTC_299"
    assert list(Institution) == [Institution.SAMSUNG_SECURITIES, Institution.KIS]
    with pytest.raises(ValueError):
        Institution("nope")


class _Executor:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[str] = []

    async def submit(self, intent: object) -> OrderReport:
        raise NotImplementedError

    async def cancel(self, order: OrderReport) -> OrderReport:
        self.sent.append(order.order_id)
        return order

    async def orders_since(self, account: AccountRef, since: datetime) -> list[OrderReport]:
        return []


def _account(account_id: str) -> AccountRef:
    return AccountRef("demo", account_id, Institution("264"), AccountKind.BROKERAGE, "x")


async def test_router_sends_to_the_accounts_broker() -> None:
    a, b = _Executor("alpha"), _Executor("beta")
    router = BrokerRouter({"alpha": a, "beta": b}, {"one": "alpha", "two": "beta"})
    assert router.names == ("alpha", "beta")
    report = OrderReport(
        order_id="7",
        account=_account("two"),
        symbol="005930",
        side="buy",  # type: ignore[arg-type]
        quantity=1,
        state="accepted",  # type: ignore[arg-type]
        placed_at=datetime(2026, 3, 12, tzinfo=UTC),
    )
    await router.cancel(report)
    assert (a.sent, b.sent) == ([], ["7"])
    with pytest.raises(AccountUnknown):
        router.broker_of(_account("three"))
    with pytest.raises(ValueError, match="gamma"):
        BrokerRouter({"alpha": a}, {"one": "gamma"})
