"""What replies look like on the wire: every number a string, headers as KIS sends them
(spec §3, §5)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.sandbox.kis.helpers import TRADING, Kis


def non_strings(value: Any, path: str = "$") -> list[str]:
    """Paths of every leaf that is not a string."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in non_strings(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in non_strings(v, f"{path}[{i}]")]
    return [] if isinstance(value, str) else [path]


async def every_business_reply(real: Kis) -> list[httpx.Response]:
    order = await real.order("buy", "005930", 1, 60000, "00")
    return [
        order,
        await real.order("buy", "005930", 2),
        await real.amend(order.json()),
        await real.balance(),
        await real.daily_ccld(),
        await real.psbl_order("005930"),
        await real.price("069500"),
        await real.get(
            f"{TRADING}/inquire-psbl-sell", "TTTC8408R", {**real.account(), "PDNO": "005930"}
        ),
        await real.get(
            f"{TRADING}/inquire-psbl-rvsecncl",
            "TTTC0084R",
            {**real.account(), "INQR_DVSN_1": "0", "INQR_DVSN_2": "0"},
        ),
        await real.order("buy", "005930", 1, 71050, "00"),  # a rejection
    ]


async def test_every_value_in_business_replies_is_a_string(real: Kis) -> None:
    """Numbers, amounts, rates and codes all travel as strings, in successes and rejections."""
    replies = await every_business_reply(real)

    assert [r.status_code for r in replies] == [200] * len(replies)
    assert [non_strings(r.json()) for r in replies] == [[] for _ in replies]


async def test_decimal_fields_keep_their_documented_scale(real: Kis) -> None:
    """pchs_avg_pric has 4 decimals, evlu_pfls_rt 2, fltt_rt 8, as in the portal example."""
    row = (await real.balance()).json()["output1"][0]

    assert row["pchs_avg_pric"] == "71250.0000"
    assert len(row["evlu_pfls_rt"].split(".")[1]) == 2
    assert len(row["fltt_rt"].split(".")[1]) == 8


async def test_reply_headers_echo_tr_id_and_carry_gt_uid(real: Kis) -> None:
    """Replies carry content-type with charset, the tr_id echoed and a 32-char gt_uid."""
    response = await real.price()
    echoed = await real.get(
        "/uapi/domestic-stock/v1/quotations/inquire-price",
        "FHKST01010100",
        {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"},
        gt_uid="A" * 32,
    )

    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["tr_id"] == "FHKST01010100"
    assert len(response.headers["gt_uid"]) == 32
    assert echoed.headers["gt_uid"] == "A" * 32
    assert "tr_cont" not in response.headers


async def test_success_messages_follow_the_environment(real: Kis, paper: Kis) -> None:
    """Inquiries answer KIOK0510 (msg1 right-padded) on real and 20310000 on paper."""
    real_body = (await real.balance()).json()
    paper_body = (await paper.balance()).json()

    assert real_body["msg_cd"] == "KIOK0510"
    assert real_body["msg1"].rstrip() == "조회가 완료되었습니다" != real_body["msg1"]
    assert (paper_body["msg_cd"], paper_body["msg1"]) == (
        "20310000",
        "모의투자 조회가 완료되었습니다.",
    )


async def test_quote_fields_agree_with_each_other(real: Kis) -> None:
    """inquire-price: change = price − previous close, limits ±30 %, aspr_unit is the tick."""
    quote = (await real.price()).json()["output"]

    last, prev = int(quote["stck_prpr"]), int(quote["stck_sdpr"])
    assert int(quote["prdy_vrss"]) == last - prev
    assert int(quote["stck_llam"]) <= int(quote["stck_lwpr"]) <= last <= int(quote["stck_hgpr"])
    assert int(quote["stck_mxpr"]) <= prev * 13 // 10
    assert quote["aspr_unit"] == "100"
    assert quote["prdy_vrss_sign"] in {"2", "3", "5"}
    assert int(quote["acml_vol"]) > 0


async def test_unknown_paths_answer_mca00124(real: Kis) -> None:
    """A path the API does not have answers 404 with MCA00124."""
    response = await real.http.get("/uapi/domestic-stock/v1/trading/nope")

    assert (response.status_code, response.json()["msg_cd"]) == (404, "MCA00124")
