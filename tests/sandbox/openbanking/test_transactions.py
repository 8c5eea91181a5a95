"""거래내역조회: 25-row pages, next_page_yn + befor_inquiry_trace_info, filters, sort, ranges."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from adapters.fake import FakeClock
from adapters.sandbox.openbanking import Relay, create_app

from .conftest import (
    BANK25,
    BASE_URL,
    CMA,
    CMA_BALANCE,
    EMPTY,
    KIS,
    SleepRecorder,
    bearer,
    dtime,
    make_seed,
    user_token,
)

PATH = "/v2.0/account/transaction_list/fin_num"
Page = dict[str, Any]


def query(clock: FakeClock, ids: Iterator[str], fintech: str, **extra: str) -> dict[str, str]:
    params = {
        "bank_tran_id": next(ids),
        "fintech_use_num": fintech,
        "inquiry_type": "A",
        "inquiry_base": "D",
        "from_date": "20250101",
        "to_date": "20260310",
        "sort_order": "D",
        "tran_dtime": dtime(clock),
    }
    params.update(extra)
    return params


async def all_pages(
    client: httpx.AsyncClient,
    token: dict[str, Any],
    clock: FakeClock,
    ids: Iterator[str],
    fintech: str,
    **extra: str,
) -> list[Page]:
    pages: list[Page] = []
    cursor: dict[str, str] = {}
    while True:
        response = await client.get(
            PATH, headers=bearer(token), params=query(clock, ids, fintech, **extra, **cursor)
        )
        page: Page = response.json()
        pages.append(page)
        if page.get("next_page_yn") != "Y":
            return pages
        assert page["befor_inquiry_trace_info"], "a next page needs a cursor"
        cursor = {"befor_inquiry_trace_info": page["befor_inquiry_trace_info"]}


@pytest.mark.parametrize(
    ("fintech", "sizes"),
    [(BANK25, [25]), (KIS, [25, 1]), (CMA, [25, 25, 10])],
    ids=["25-rows", "26-rows", "60-rows"],
)
async def test_paging_by_25(
    client: httpx.AsyncClient,
    clock: FakeClock,
    ids: Iterator[str],
    fintech: str,
    sizes: list[int],
) -> None:
    """Pages hold at most 25 rows; next_page_yn/cursor walk every row exactly once."""
    token = await user_token(client)
    pages = await all_pages(client, token, clock, ids, fintech)
    assert [len(p["res_list"]) for p in pages] == sizes
    assert [p["page_record_cnt"] for p in pages] == [str(n) for n in sizes]
    assert [p["next_page_yn"] for p in pages] == ["Y"] * (len(sizes) - 1) + ["N"]
    assert pages[-1]["befor_inquiry_trace_info"] == ""
    for page in pages[:-1]:
        assert len(page["befor_inquiry_trace_info"]) == 20
    rows = [r for p in pages for r in p["res_list"]]
    keys = [(r["tran_date"], r["tran_time"], r["after_balance_amt"]) for r in rows]
    assert len(set(keys)) == sum(sizes)
    assert keys == sorted(keys, reverse=True)


async def test_zero_rows_is_a0018_by_default(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """An account without rows in range answers A0018 with an empty page and no cursor."""
    token = await user_token(client)
    page = (await client.get(PATH, headers=bearer(token), params=query(clock, ids, EMPTY))).json()
    assert page["rsp_code"] == "A0018"
    assert page["rsp_message"] == "거래내역 없음"
    assert page["res_list"] == []
    assert page["page_record_cnt"] == "0"
    assert page["next_page_yn"] == "N"
    assert page["befor_inquiry_trace_info"] == ""


async def test_zero_rows_can_be_a0000_when_seeded_so(
    clock: FakeClock, sleeper: SleepRecorder, ids: Iterator[str]
) -> None:
    """With empty_transaction_list: A0000 an empty range is a successful empty page."""
    app = create_app(seed=make_seed(empty_transaction_list="A0000"), clock=clock.now, sleep=sleeper)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        token = await user_token(http)
        page = (await http.get(PATH, headers=bearer(token), params=query(clock, ids, EMPTY))).json()
    assert page["rsp_code"] == "A0000"
    assert page["res_list"] == []


async def test_rows_have_the_documented_shape_and_balance_chain(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """Rows are all strings, inout_type is Korean text, after_balance_amt chains to the balance."""
    token = await user_token(client)
    pages = await all_pages(client, token, clock, ids, CMA, sort_order="A")
    rows = [r for p in pages for r in p["res_list"]]
    assert pages[0]["balance_amt"] == str(CMA_BALANCE)
    assert rows[-1]["after_balance_amt"] == str(CMA_BALANCE)
    assert {r["inout_type"] for r in rows} <= {"입금", "출금", "지급", "기타"}
    for before, row in itertools.pairwise(rows):
        delta = (
            int(row["tran_amt"]) * {"입금": 1, "출금": -1, "지급": -1, "기타": 0}[row["inout_type"]]
        )
        assert int(before["after_balance_amt"]) + delta == int(row["after_balance_amt"])
    assert set(rows[0]) == {
        "tran_date",
        "tran_time",
        "inout_type",
        "tran_type",
        "print_content",
        "tran_amt",
        "after_balance_amt",
        "branch_name",
    }
    assert all(isinstance(v, str) for r in rows for v in r.values())


@pytest.mark.parametrize(("inquiry_type", "allowed"), [("I", {"입금"}), ("O", {"출금", "지급"})])
async def test_inquiry_type_filters(
    client: httpx.AsyncClient,
    clock: FakeClock,
    ids: Iterator[str],
    relay: Relay,
    inquiry_type: str,
    allowed: set[str],
) -> None:
    """inquiry_type I returns only deposits, O only withdrawals (출금 and 지급)."""
    token = await user_token(client)
    pages = await all_pages(client, token, clock, ids, CMA, inquiry_type=inquiry_type)
    rows = [r for p in pages for r in p["res_list"]]
    expected = sum(1 for t in relay.accounts[CMA].history if t.inout_type in allowed)
    assert 0 < len(rows) == expected
    assert {r["inout_type"] for r in rows} <= allowed


async def test_sort_order_ascending_is_the_reverse_of_descending(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """sort_order A walks the same rows oldest-first."""
    token = await user_token(client)
    down = [r for p in await all_pages(client, token, clock, ids, CMA) for r in p["res_list"]]
    up = [
        r
        for p in await all_pages(client, token, clock, ids, CMA, sort_order="A")
        for r in p["res_list"]
    ]
    assert up == list(reversed(down))


async def test_date_and_time_ranges(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """inquiry_base D bounds by date; T bounds by date+time and needs from_time/to_time."""
    token = await user_token(client)
    history = relay.accounts[CMA].history
    day = history[30].at.strftime("%Y%m%d")
    by_day = await all_pages(client, token, clock, ids, CMA, from_date=day, to_date=day)
    same_day = [t for t in history if t.at.strftime("%Y%m%d") == day]
    assert len(by_day[0]["res_list"]) == len(same_day)
    moment = history[30].at
    by_time = await all_pages(
        client,
        token,
        clock,
        ids,
        CMA,
        inquiry_base="T",
        from_date=day,
        to_date=day,
        from_time=moment.strftime("%H%M%S"),
        to_time=moment.strftime("%H%M%S"),
    )
    assert len(by_time[0]["res_list"]) == 1
    missing_time = (
        await client.get(
            PATH, headers=bearer(token), params=query(clock, ids, CMA, inquiry_base="T")
        )
    ).json()
    assert missing_time["rsp_code"] == "A0004"
    assert "[from_time]" in missing_time["rsp_message"]
    bad_time = (
        await client.get(
            PATH,
            headers=bearer(token),
            params=query(clock, ids, CMA, inquiry_base="T", from_time="000000", to_time="240000"),
        )
    ).json()
    assert "[to_time]" in bad_time["rsp_message"]


async def test_cursor_must_be_omitted_on_first_page_and_well_formed(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """An empty or dummy befor_inquiry_trace_info is a format error (A0004)."""
    token = await user_token(client)
    for dummy in ["", "123", "1T201806172"]:
        body = (
            await client.get(
                PATH,
                headers=bearer(token),
                params=query(clock, ids, CMA, befor_inquiry_trace_info=dummy),
            )
        ).json()
        assert body["rsp_code"] == "A0004", dummy
        assert "[befor_inquiry_trace_info]" in body["rsp_message"]


async def test_enum_parameters_are_validated(
    client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str]
) -> None:
    """inquiry_type, inquiry_base and sort_order outside their enums → A0004; so is from > to."""
    token = await user_token(client)
    for field, value in [
        ("inquiry_type", "X"),
        ("inquiry_base", "d"),
        ("sort_order", "Z"),
        ("from_date", "20260311"),
    ]:
        body = (
            await client.get(
                PATH, headers=bearer(token), params=query(clock, ids, CMA, **{field: value})
            )
        ).json()
        assert body["rsp_code"] == "A0004", field
        assert f"[{field}]" in body["rsp_message"]


async def test_cursor_survives_a_new_transaction_between_pages(
    app: Starlette, client: httpx.AsyncClient, clock: FakeClock, ids: Iterator[str], relay: Relay
) -> None:
    """A row booked after page 1 does not shift page 2 of a descending walk."""
    token = await user_token(client)
    first = (await client.get(PATH, headers=bearer(token), params=query(clock, ids, CMA))).json()
    relay.accounts[CMA].post(
        at=clock.now(), inout_type="입금", amount=1000, tran_type="대체", print_content="new"
    )
    second = (
        await client.get(
            PATH,
            headers=bearer(token),
            params=query(
                clock, ids, CMA, befor_inquiry_trace_info=first["befor_inquiry_trace_info"]
            ),
        )
    ).json()
    expected = sorted(relay.accounts[CMA].history, key=lambda t: t.sort_key, reverse=True)
    assert second["res_list"][0]["print_content"] == expected[26].print_content
    assert second["res_list"][0]["after_balance_amt"] == str(expected[26].after_balance)
