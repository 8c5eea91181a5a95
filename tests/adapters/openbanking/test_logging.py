"""What the adapter logs: named events, never tokens or account numbers."""

from __future__ import annotations

from datetime import date

from structlog.testing import capture_logs

from .conftest import CMA, DEMO_SEQ, USER, Harness, account_ref


async def test_events_carry_no_tokens_or_account_numbers(harness: Harness) -> None:
    """A consent, reads, a refresh and a lost transfer reply: no secret or number in any event."""
    with capture_logs() as events:
        await harness.consent()
        await harness.fault(kind="expire_tokens", user_seq_no=DEMO_SEQ)
        await harness.ob.source.cash(account_ref(CMA), fresh=True)
        [
            t
            async for t in harness.ob.source.transactions(
                account_ref(CMA), date(2026, 3, 1), date(2026, 3, 10)
            )
        ]
        await harness.fault(kind="transfer_outcome", rsp_code="A0007", executed=True, count=1)
        await harness.ob.transfers.deposit("k", 1000)

    names = {e["event"] for e in events}
    assert {
        "openbanking.consent_granted",
        "openbanking.token_refreshed",
        "openbanking.transfer_unknown",
        "openbanking.transfer_succeeded",
    } <= names
    text = repr(events)
    token = await harness.stores.vault.load(f"openbanking:user:{USER}")
    assert token is not None
    for secret in (token.access_token, token.refresh_token or "?", CMA, "71001234567801"):
        assert secret not in text
    assert "sandbox-demo-client-secret" not in text
