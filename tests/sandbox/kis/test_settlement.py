"""T+2 settlement: deposit, D+1, D+2 and orderable cash after a buy (spec §4.3, §4.5)."""

from __future__ import annotations

from datetime import datetime

from adapters.sandbox.kis.clock import KST
from tests.sandbox.kis.helpers import Kis


def cash(body: dict[str, object]) -> tuple[int, int, int]:
    summary = body["output2"][0]  # type: ignore[index]
    return (
        int(summary["dnca_tot_amt"]),
        int(summary["nxdy_excc_amt"]),
        int(summary["prvs_rcdl_excc_amt"]),
    )


async def test_deposit_orderable_and_d2_cash_differ_after_a_buy(real: Kis) -> None:
    """After a Thursday buy the deposit is untouched, D+2 is reduced, orderable even more."""
    fill = (await real.order("buy", "005930", 10)).json()
    await real.order("buy", "005930", 5, 60000, "00")  # rests, holding cash back
    account = real.broker.accounts["50012345-01"]
    cost = sum(f.amount + f.fee for f in account.fills)

    deposit, d1, d2 = cash((await real.balance()).json())
    orderable = int((await real.psbl_order()).json()["output"]["ord_psbl_cash"])

    assert fill["rt_cd"] == "0"
    assert (deposit, d1) == (10_000_000, 10_000_000)
    assert d2 == 10_000_000 - cost
    assert orderable == d2 - (5 * 60000 + real.broker.fees.commission(5 * 60000))
    assert orderable < d2 < deposit


async def test_buy_settles_on_the_second_business_day(real: Kis) -> None:
    """A Thursday buy shows in D+1 cash on Friday and leaves the deposit on Monday (T+2)."""
    await real.order("buy", "005930", 10)
    cost = sum(f.amount + f.fee for f in real.broker.accounts["50012345-01"].fills)

    real.broker.clock.set(datetime(2026, 3, 13, 10, 0, tzinfo=KST))
    await real.login()
    friday = cash((await real.balance()).json())
    real.broker.clock.set(datetime(2026, 3, 16, 10, 0, tzinfo=KST))
    await real.login()
    monday = cash((await real.balance()).json())

    settled = 10_000_000 - cost
    assert friday == (10_000_000, settled, settled)
    assert monday == (settled, settled, settled)


async def test_sale_proceeds_are_orderable_before_they_settle(real: Kis) -> None:
    """Selling raises D+2 and orderable cash at once, while the deposit waits for T+2."""
    await real.order("sell", "005930", 10)
    proceeds = sum(f.cash_effect for f in real.broker.accounts["50012345-01"].fills)

    deposit, _, d2 = cash((await real.balance()).json())
    orderable = (await real.psbl_order()).json()["output"]

    assert deposit == 10_000_000
    assert d2 == int(orderable["ord_psbl_cash"]) == 10_000_000 + proceeds
    assert int(orderable["ruse_psbl_amt"]) == proceeds


async def test_sold_out_position_stays_with_zero_quantity_until_settled(real: Kis) -> None:
    """A position sold out today is listed with hldg_qty 0 until D+2, then disappears."""
    await real.order("sell", "005930", 10)
    today = {r["pdno"]: r for r in (await real.balance()).json()["output1"]}
    real.broker.clock.set(datetime(2026, 3, 16, 10, 0, tzinfo=KST))
    await real.login()
    settled = {r["pdno"] for r in (await real.balance()).json()["output1"]}

    assert today["005930"]["hldg_qty"] == "0"
    assert today["005930"]["thdt_sll_qty"] == "10"
    assert "005930" not in settled


async def test_sell_tax_applies_to_stocks_not_etfs(real: Kis) -> None:
    """Stock sales pay the securities tax; ETF sales do not."""
    await real.order("sell", "005930", 1)
    await real.order("sell", "069500", 1)

    stock, etf = real.broker.accounts["50012345-01"].fills

    assert stock.tax == stock.amount * 20 // 10_000 > 0
    assert etf.tax == 0
