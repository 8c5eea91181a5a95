"""KisSettings and the endpoint records."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.kis import endpoints
from adapters.kis.settings import KisSettings

BASE = {
    "app_key": "literal:PSdemoAppKeyReal00000000000000000001",
    "app_secret": "literal:secret",
    "account": "literal:50012345-01",
}


def test_defaults_pick_the_official_host_and_limit_per_env() -> None:
    """None base_url means the official host; rate budget 18/s real, 1/s paper per app key."""
    real = KisSettings.model_validate({**BASE, "env": "real"})
    paper = KisSettings.model_validate({**BASE, "env": "paper"})

    assert real.host == "https://openapi.koreainvestment.com:9443"
    assert paper.host == "https://openapivts.koreainvestment.com:29443"
    assert real.limit_key.startswith("kis_account:")
    assert paper.limit_key.startswith("kis_paper_account:")
    assert [s.limit for s in real.rate_limits()[real.limit_key]] == [18, 1000]
    assert [s.limit for s in paper.rate_limits()[paper.limit_key]] == [1]
    assert real.rate_limits()[real.limit_key][0].spread, "18/s must be spaced, not bursted"
    assert "PSdemo" not in real.limit_key


def test_unknown_keys_and_bad_accounts_are_refused() -> None:
    """extra="forbid" refuses typos; the account must be CANO-ACNT_PRDT_CD; no secret echoed."""
    with pytest.raises(ValidationError):
        KisSettings.model_validate({**BASE, "rate_limit": 3})
    with pytest.raises(ValidationError) as raised:
        KisSettings.model_validate({**BASE, "account": "literal:5001234501"})
    [error] = raised.value.errors()
    assert error["loc"] == ("account",)
    assert "5001234501" not in error["msg"]
    with pytest.raises(ValidationError):
        KisSettings.model_validate({**BASE, "app_key": "PSdemo-not-a-reference"})


def test_secrets_are_not_in_repr() -> None:
    """Resolved credentials are SecretStr: repr shows no key, secret or account."""
    settings = KisSettings.model_validate(BASE)

    assert "PSdemo" not in repr(settings)
    assert "50012345" not in repr(settings)


def test_endpoint_records_use_new_tr_ids_and_cite_the_spec() -> None:
    """New TR ids per env (paper = V…), old ones kept for reference, every record cited."""
    assert endpoints.ORDER_CASH_BUY.tr_id("real") == "TTTC0012U"
    assert endpoints.ORDER_CASH_BUY.tr_id("paper") == "VTTC0012U"
    assert endpoints.ORDER_CASH_BUY.old_real == "TTTC0802U"
    assert endpoints.DAILY_CCLD.tr_id("paper") == "VTTC0081R"
    assert endpoints.PRICE.tr_id("paper") == "FHKST01010100"
    assert endpoints.BALANCE.rows_per_page("real") == 50
    assert endpoints.BALANCE.rows_per_page("paper") == 20
    for record in endpoints.ALL:
        assert record.spec.startswith("§")
        assert record.doc
        assert record.verified
        if record.tr_real and record.tr_real[0] in "TJC":
            assert record.tr_paper == "V" + record.tr_real[1:]


def test_realtime_is_off_for_paper_unless_asked() -> None:
    """kis.realtime: on by default for real once an HTS ID is set, off for paper (the vendor
    limits paper) unless enabled; ws:// URLs only; room for 39 symbols beside the notices."""
    base = {"app_key": "literal:k", "app_secret": "literal:s", "account": "literal:50012345-01"}
    real = KisSettings.model_validate({**base, "env": "real", "realtime": {"hts_id": "me"}})
    paper = KisSettings.model_validate({**base, "env": "paper", "realtime": {"hts_id": "me"}})
    asked = KisSettings.model_validate(
        {**base, "env": "paper", "realtime": {"hts_id": "me", "enabled": True}}
    )

    assert (real.realtime_enabled, paper.realtime_enabled, asked.realtime_enabled) == (
        True,
        False,
        True,
    )
    assert real.ws_url == "ws://ops.koreainvestment.com:21000/tryitout"
    assert paper.ws_url == "ws://ops.koreainvestment.com:31000/tryitout"
    with pytest.raises(ValidationError, match="ws://"):
        KisSettings.model_validate({**base, "realtime": {"url": "http://x"}})
    symbols = [f"{100000 + i}" for i in range(40)]
    with pytest.raises(ValidationError, match="39 symbols"):
        KisSettings.model_validate({**base, "realtime": {"symbols": symbols}})
