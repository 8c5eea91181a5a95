"""Formats at the edge: KST stamps, ids, row mapping and settings validation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import yaml
from pydantic import ValidationError

from adapters.openbanking.mapping import (
    account_kind,
    amount_text,
    kst_day,
    kst_day_start,
    tran_dtime,
    transaction_of,
    transfer_days,
)
from adapters.openbanking.schemas import BalanceReply, TransactionItem
from adapters.openbanking.settings import OpenBankingSettings
from orchestrator.domain.model import AccountKind, Direction
from orchestrator.domain.timeutil import KST

from .conftest import CMA, account_ref, make_settings

SANDBOX_YAML = """
base_url: https://testapi.openbanking.or.kr
client_id: literal:sandbox-demo-client-id
client_secret: literal:sandbox-demo-client-secret-NOT-REAL
client_use_code: T990000001
redirect_uri: http://127.0.0.1:8000/openbanking/callback
scope: login inquiry transfer
user_budget_per_minute: 30
transfers:
  enabled: false
  per_transfer_limit: 1000000
  daily_limit: 3000000
  target_fintech_use_num: "120260101000000000240001"
  target_user_id: demo
  cntr_account_num: "1002990000001"
  wd_pass_phrase: literal:NONE
  req_client_name: 김데모
  req_client_num: DEMO
"""


def test_tran_dtime_is_kst_whatever_the_clock_zone() -> None:
    """A UTC instant is stamped in KST (spec §4; a UTC stamp is a known tutorial bug)."""
    moment = datetime(2026, 3, 9, 16, 30, 5, tzinfo=UTC)

    assert tran_dtime(moment) == "20260310013005"
    assert kst_day(moment) == "20260310"
    assert kst_day_start(moment) == datetime(2026, 3, 10, tzinfo=KST)


def test_transfer_days_cover_a_midnight_booking() -> None:
    """A transfer sent just before KST midnight is looked up on both days."""
    from datetime import timedelta

    late = datetime(2026, 3, 10, 23, 58, tzinfo=KST)

    assert transfer_days(late, slack=timedelta(minutes=10)) == ["20260310", "20260311"]
    assert transfer_days(late.replace(hour=12), slack=timedelta(minutes=10)) == ["20260310"]


def test_rows_map_korean_inout_types_and_signed_balances() -> None:
    """입금 is in, 출금/지급 out, 기타 carries no amount; negative after-balances stay signed."""
    account = account_ref(CMA)

    def item(inout: str, amount: str = "1000", after: str = "-500") -> TransactionItem:
        return TransactionItem(
            tran_date="20260305",
            tran_time="141233",
            inout_type=inout,
            tran_type="타행환",
            print_content="메모",
            tran_amt=amount,
            after_balance_amt=after,
        )

    assert transaction_of(item("입금"), account, 0).direction is Direction.IN
    assert transaction_of(item("지급"), account, 0).direction is Direction.OUT
    row = transaction_of(item("출금"), account, 0)
    assert row.balance_after == Decimal(-500)
    assert row.occurred_at == datetime(2026, 3, 5, 14, 12, 33, tzinfo=KST)
    assert transaction_of(item("기타", "0"), account, 0).amount == 0
    with pytest.raises(ValueError):
        transaction_of(item("??"), account, 0)


def test_identical_rows_get_distinct_stable_ids() -> None:
    """The relay has no transaction id: the derived id is stable and the occurrence splits twins."""
    account = account_ref(CMA)
    row = TransactionItem(
        tran_date="20260305",
        tran_time="141233",
        inout_type="입금",
        tran_amt="1",
        after_balance_amt="1",
    )

    first, second = transaction_of(row, account, 0), transaction_of(row, account, 1)

    assert first.tx_id != second.tx_id
    assert first.tx_id == transaction_of(row, account, 0).tx_id
    assert first.tx_id.startswith("20260305141233-")


def test_balance_amounts_are_decimal() -> None:
    """Amounts above int32 and negative balances parse exactly (spec §8.7)."""
    reply = BalanceReply(balance_amt="-3000000000", available_amt="")

    assert Decimal(reply.balance_amt) == Decimal(-3_000_000_000)


def test_account_kinds() -> None:
    """A securities account is the CMA when its alias says so; banks are deposits."""
    assert account_kind("240", "T", "삼성증권 CMA") is AccountKind.CMA
    assert account_kind("240", "1", "") is AccountKind.CMA
    assert account_kind("240", "T", "위탁") is AccountKind.BROKERAGE
    assert account_kind("088", "1", "") is AccountKind.DEPOSIT


def test_amount_text_refuses_fractions() -> None:
    """Transfer amounts are whole KRW digits (N(12))."""
    assert amount_text(Decimal(150000)) == "150000"
    with pytest.raises(ValueError):
        amount_text(Decimal("1.5"))


def test_sandbox_yaml_section_validates() -> None:
    """The documented sandbox section loads, with demo secrets as literal: references."""
    settings = OpenBankingSettings.model_validate(yaml.safe_load(SANDBOX_YAML))

    assert settings.client_id.get_secret_value() == "sandbox-demo-client-id"
    assert settings.limit_key("demo") == "openbanking_user:demo"
    assert settings.rate_limits()["openbanking_user"][0].limit == 30
    assert not settings.transfers.enabled


@pytest.mark.parametrize(
    "override",
    [
        {"typo": 1},
        {"client_use_code": "T99"},
        {"scope": "login"},
        {"scope": "login inquiry oob"},
        {"transfers": {"enabled": True}},
        {"transfers": {"per_transfer_limit": 5, "daily_limit": 4}},
        {"transfers": {"per_transfer_limit": "1.5"}},
    ],
)
def test_bad_settings_are_refused(override: dict[str, object]) -> None:
    """Unknown keys, bad codes, scopes and incomplete transfer config fail at load."""
    with pytest.raises(ValidationError):
        make_settings(**override)


def test_transfers_are_off_by_default() -> None:
    """Without a transfers section nothing can be sent."""
    data = yaml.safe_load(SANDBOX_YAML)
    del data["transfers"]

    assert not OpenBankingSettings.model_validate(data).transfers.enabled
