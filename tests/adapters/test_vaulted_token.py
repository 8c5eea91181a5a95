"""The brokers' shared token shape (adapters/http/tokens.py), apart from any vendor."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from adapters.fake import FakeClock, FakeTokenVault
from adapters.http.tokens import IssuedToken, VaultedToken

START = datetime(2026, 3, 12, 1, 0, tzinfo=UTC)


class Counting(VaultedToken):
    """Issues t1, t2, ... valid for one hour, yielding once as a real request would."""

    def __init__(self, vault: FakeTokenVault, clock: FakeClock, names: list[str]) -> None:
        super().__init__(
            vault,
            key="v.token.real.abc",
            lock="v-token:abc",
            meta={"env": "real", "app": "abc"},
            margin=timedelta(seconds=60),
            clock=clock,
            source="v",
        )
        self._names = names

    async def _issue(self) -> IssuedToken:
        await asyncio.sleep(0)
        self._names.append(f"t{len(self._names) + 1}")
        return IssuedToken(self._names[-1], self._clock.now() + timedelta(hours=1))


async def test_one_issuance_for_concurrent_callers_and_processes_sharing_a_vault() -> None:
    clock, vault = FakeClock(START), FakeTokenVault()
    names: list[str] = []
    a, b = Counting(vault, clock, names), Counting(vault, clock, names)  # two processes
    got = await asyncio.gather(*(t.current() for t in (a, b, a, b)))
    assert got == ["t1"] * 4
    assert names == ["t1"]
    assert (a.issued + b.issued, a.vault_key) == (1, "v.token.real.abc")
    assert vault.rows["v.token.real.abc"][2] == {"env": "real", "app": "abc"}


async def test_reissued_inside_the_margin_and_a_refused_token_is_never_handed_out() -> None:
    clock, vault = FakeClock(START), FakeTokenVault()
    names: list[str] = []
    a, b = Counting(vault, clock, names), Counting(vault, clock, names)
    assert await a.current() == "t1"
    clock.advance(3600 - 61)
    assert await b.current() == "t1"  # still outside the 60 s margin
    clock.advance(2)
    assert await b.current() == "t2"  # inside it: re-issued
    assert await b.renew("t2") == "t3"  # refused upstream: dropped, a new one
    assert await a.renew("t1") == "t3"  # another process already stored a different one
    assert names == ["t1", "t2", "t3"]


async def test_discard_forgets_the_token_and_hands_it_to_then() -> None:
    clock, vault = FakeClock(START), FakeTokenVault()
    names: list[str] = []
    token = Counting(vault, clock, names)
    await token.current()
    revoked: list[str] = []

    async def revoke(value: str) -> None:
        revoked.append(value)

    await token.discard(then=revoke)
    await token.discard(then=revoke)  # nothing stored: nothing to revoke
    assert (revoked, vault.rows) == (["t1"], {})
    assert await token.current() == "t2"
