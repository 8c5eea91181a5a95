"""Orders, holdings, buying power, order lists, quotes and header paging on the Kiwoom sandbox."""

from __future__ import annotations

from collections.abc import Callable

from tests.sandbox.kiwoom.conftest import Kiwoom
from tests.sandbox.kiwoom.test_gateway import code_of

BALANCE = {"qry_tp": "1", "dmst_stex_tp": "KRX"}
HISTORY = {"qry_tp": "1", "stk_bond_tp": "0", "sell_tp": "0", "dmst_stex_tp": "%", "ord_dt": ""}


async def test_market_buy_fills_and_shows_in_zero_padded_balance(real: Kiwoom) -> None:
    reply = await real.buy("000660", 2)
    assert reply.json()["return_code"] == 0
    assert len(reply.json()["ord_no"]) == 7
    balance = (await real.tr("acnt", "kt00018", BALANCE)).json()
    rows = {r["stk_cd"]: r for r in balance["acnt_evlt_remn_indv_tot"]}
    assert set(rows) == {"A000660", "A005930", "A069500"}
    assert rows["A000660"]["rmnd_qty"] == "000000000002"
    assert rows["A000660"]["pur_pric"] == "000000000182000"
    loss = rows["A069500"]["evltv_prft"]  # 30 x (35,000 - 36,000)
    assert loss == "-00000000030000"
    assert len(loss) == 15
    assert balance["tot_pur_amt"] == "000000002804000"


async def test_limit_order_rests_until_price_then_cancel_remainder(real: Kiwoom) -> None:
    resting = (await real.buy("005930", 3, 70_000)).json()["ord_no"]
    open_rows = (
        await real.tr("acnt", "ka10075", {"all_stk_tp": "0", "trde_tp": "0", "stex_tp": "0"})
    ).json()["oso"]
    assert [(r["ord_no"], r["oso_qty"]) for r in open_rows] == [(resting, "000000000003")]
    power = (
        await real.tr("acnt", "kt00010", {"stk_cd": "005930", "trde_tp": "2", "uv": "70000"})
    ).json()
    assert int(power["ord_alowa"]) == 20_000_000 - 210_000
    cancel = {"dmst_stex_tp": "KRX", "orig_ord_no": resting, "stk_cd": "005930", "cncl_qty": "0"}
    reply = (await real.tr("ordr", "kt10003", cancel)).json()
    assert reply["base_orig_ord_no"] == resting
    assert reply["cncl_qty"] == "3"
    again = await real.tr("ordr", "kt10003", cancel)
    assert code_of(again) == "SB0003"
    unknown = await real.tr("ordr", "kt10003", {**cancel, "orig_ord_no": "9999999"})
    assert code_of(unknown) == "RC4032"
    rows = (await real.tr("acnt", "kt00007", HISTORY)).json()["acnt_ord_cntr_prps_dtl"]
    assert [(r["ord_no"], r["ori_ord"], r["mdfy_cncl"]) for r in rows] == [
        (resting, "", ""),
        (reply["ord_no"], resting, "취소"),
    ]


async def test_fill_when_price_moves_and_refusals(real: Kiwoom) -> None:
    ord_no = (await real.sell("005930", 5, 72_000)).json()["ord_no"]
    await real.http.post("/_sandbox/price", json={"stk_cd": "005930", "price": 72_500})
    fills = (
        await real.tr("acnt", "ka10076", {"qry_tp": "0", "sell_tp": "0", "stex_tp": "0"})
    ).json()["cntr"]
    assert [(f["ord_no"], f["cntr_qty"], f["cntr_pric"]) for f in fills] == [
        (ord_no, "000000000005", "000000000072500")
    ]
    assert code_of(await real.sell("005930", 100)) == "SB0002"
    assert code_of(await real.buy("005930", 1_000)) == "SB0001"
    assert code_of(await real.buy("999999", 1)) == "1902"


async def test_quotes_are_signed_and_multi_quote_caps_at_100(real: Kiwoom) -> None:
    down = (await real.tr("stkinfo", "ka10001", {"stk_cd": "000660"})).json()
    assert down["cur_prc"] == "-182000"
    assert down["base_pric"] == "185000"
    up = (await real.tr("stkinfo", "ka10001", {"stk_cd": "005930_NX"})).json()
    assert up["cur_prc"] == "+71500"
    assert up["stk_cd"] == "005930_NX"
    rows = (await real.tr("stkinfo", "ka10095", {"stk_cd": "005930|000660"})).json()
    assert [r["cur_prc"] for r in rows["atn_stk_infr"]] == ["+71500", "-182000"]
    real.state.clock.advance(1)
    too_many = await real.tr("stkinfo", "ka10095", {"stk_cd": "|".join(["005930"] * 101)})
    assert too_many.json()["return_code"] == 5
    assert code_of(too_many) == "1634"


async def test_header_paging_over_many_pages(connect: Callable[..., Kiwoom]) -> None:
    client = connect("real", page_size=3, orders_per_second=1000, queries_per_second=1000)
    await client.login()
    placed = [(await client.buy("005930", 1, 60_000)).json()["ord_no"] for _ in range(10)]
    seen: list[str] = []
    cont, key, pages = "", "", 0
    while True:
        reply = await client.tr("acnt", "kt00007", HISTORY, cont=cont, next_key=key)
        pages += 1
        seen += [r["ord_no"] for r in reply.json()["acnt_ord_cntr_prps_dtl"]]
        if reply.headers["cont-yn"] != "Y":
            break
        cont, key = "Y", reply.headers["next-key"]
        assert 0 < len(key) <= 50
    assert seen == placed
    assert pages == 4
    bad = await client.tr("acnt", "kt00007", HISTORY, cont="Y", next_key="forged")
    assert code_of(bad) == "1517"
