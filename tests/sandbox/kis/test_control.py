"""The /_sandbox levers: accounts, clock and cash."""

from __future__ import annotations

from tests.sandbox.kis.helpers import Kis


async def test_accounts_list_demo_credentials(real: Kis) -> None:
    """GET /_sandbox/accounts lists the env's app keys, secrets and accounts."""
    body = (await real.http.get("/_sandbox/accounts")).json()

    app = body["apps"][0]
    assert body["env"] == "real"
    assert body["base_url"] == "https://openapi.koreainvestment.com:9443"
    assert (len(app["appkey"]), len(app["appsecret"])) == (36, 180)
    assert app["appkey"].startswith("PSdemoAppKeyReal")
    assert body["accounts"][0]["CANO"] == "50012345"
    assert body["accounts"][0]["ACNT_PRDT_CD"] == "01"
    assert body["accounts"][0]["dnca_tot_amt"] == "10000000"


async def test_clock_can_be_set_advanced_and_forced(real: Kis) -> None:
    """POST /_sandbox/clock sets, advances and forces the session; GET reports it."""
    set_reply = (
        await real.http.post("/_sandbox/clock", json={"set": "2026-03-12T20:00:00"})
    ).json()
    advanced = (await real.http.post("/_sandbox/clock", json={"advance_seconds": 3600})).json()
    forced = (await real.http.post("/_sandbox/clock", json={"session": "open"})).json()
    shown = (await real.http.get("/_sandbox/clock")).json()

    assert (set_reply["now"], set_reply["market_open"]) == ("2026-03-12T20:00:00+09:00", False)
    assert advanced["now"] == "2026-03-12T21:00:00+09:00"
    assert (forced["session"], forced["market_open"]) == ("open", True)
    assert shown == forced


async def test_clock_rejects_bad_input(real: Kis) -> None:
    """An unknown session mode is a 400."""
    response = await real.http.post("/_sandbox/clock", json={"session": "maybe"})

    assert response.status_code == 400


async def test_cash_moves_behind_the_clients_back(real: Kis) -> None:
    """POST /_sandbox/cash changes the deposit the next balance reports."""
    moved = await real.http.post(
        "/_sandbox/cash", json={"CANO": "50012345", "ACNT_PRDT_CD": "01", "delta": -250000}
    )

    summary = (await real.balance()).json()["output2"][0]

    assert moved.json()["dnca_tot_amt"] == "9750000"
    assert summary["dnca_tot_amt"] == summary["prvs_rcdl_excc_amt"] == "9750000"


async def test_cash_for_unknown_account_is_404(real: Kis) -> None:
    """Adjusting an account the sandbox does not have is a 404."""
    response = await real.http.post("/_sandbox/cash", json={"CANO": "99999999", "delta": 1})

    assert response.status_code == 404
