"""Seed loading and the deterministic, balance-consistent transaction history."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.fake import FakeClock
from adapters.sandbox.openbanking import DEFAULT_SEED_PATH, create_app
from adapters.sandbox.openbanking.formats import KST
from adapters.sandbox.openbanking.history import generate_history, opening_balance
from adapters.sandbox.openbanking.ledger import signed
from adapters.sandbox.openbanking.seed import load_seed

from .conftest import START, make_seed

FIRST = datetime(2026, 1, 1, tzinfo=KST)
LAST = datetime(2026, 3, 31, tzinfo=KST)


def test_same_seed_number_gives_the_same_history() -> None:
    """Two generations with one seed number are identical; another seed number differs."""
    one = generate_history(
        seed=7, count=80, final_balance=1_000_000, first_day=FIRST, last_day=LAST
    )
    two = generate_history(
        seed=7, count=80, final_balance=1_000_000, first_day=FIRST, last_day=LAST
    )
    other = generate_history(
        seed=8, count=80, final_balance=1_000_000, first_day=FIRST, last_day=LAST
    )
    assert one == two
    assert one != other


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), count=st.integers(0, 150), balance=st.integers(0, 10**11))
def test_history_replays_to_the_seeded_balance(seed: int, count: int, balance: int) -> None:
    """Replaying the rows from the opening balance ends on the seeded balance, never below 0."""
    rows = generate_history(
        seed=seed, count=count, final_balance=balance, first_day=FIRST, last_day=LAST
    )
    assert len(rows) == count
    running = opening_balance(rows, balance)
    assert running >= 0
    for row in rows:
        running += signed(row.inout_type, row.amount)
        assert row.after_balance == running >= 0
        assert FIRST <= row.at < LAST.replace(hour=23, minute=59, second=59)
        assert row.amount >= 0
        assert row.inout_type != "기타" or row.amount == 0
    assert running == balance
    assert [r.at for r in rows] == sorted(r.at for r in rows)


def test_default_seed_has_the_demo_user_with_samsung_cma() -> None:
    """The shipped seed loads: user demo, a 240 CMA and a 243 account, ≥ 60 rows each."""
    app = create_app(seed_path=DEFAULT_SEED_PATH, clock=FakeClock(START).now)
    relay = app.state.relay
    demo = relay.user_by_ref("demo")
    assert demo is not None
    accounts = relay.accounts_of(demo.user_seq_no)
    assert {a.bank_code_std for a in accounts} == {"240", "243"}
    for account in accounts:
        assert len(account.history) >= 60
        assert account.history[-1].after_balance == account.balance
        assert account.history[-1].at < START
    client = next(iter(relay.clients.values()))
    assert "NOT-REAL" in client.client_secret


def test_history_is_anchored_to_the_clock_when_no_end_date() -> None:
    """Without end_date the history ends before the sandbox clock's today."""
    seed = make_seed()
    del seed["users"][0]["accounts"][0]["history"]["end_date"]
    relay = create_app(seed=seed, clock=FakeClock(START).now).state.relay
    last = relay.accounts["120260101000000000240001"].history[-1].at
    assert last.date() < START.date()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s["users"][0].update(user_seq_no=1100000001),  # unquoted: loses its type
        lambda s: s["users"][0]["accounts"][0].update(fintech_use_num="123"),
        lambda s: s["users"][0]["accounts"][0].update(bank_code_std=240),
        lambda s: s["clients"][0].update(client_use_code="t99"),
        lambda s: s["users"][1].update(user_seq_no="1100000001"),
        lambda s: s["users"][0]["accounts"][0].update(balance_amt=1.5),
    ],
    ids=[
        "int-user-seq-no",
        "short-fintech",
        "int-bank-code",
        "bad-use-code",
        "dupe-user",
        "float-balance",
    ],
)
def test_seed_validation_rejects_off_spec_values(mutate: object) -> None:
    """Seeds with identifiers or amounts that break the spec's formats are refused."""
    seed = make_seed()
    assert callable(mutate)
    mutate(seed)
    with pytest.raises(ValidationError):
        load_seed(data=seed)


def test_naive_clock_is_refused() -> None:
    """The sandbox clock must be timezone-aware."""
    with pytest.raises(ValueError, match="timezone-aware"):
        create_app(seed=make_seed(), clock=lambda: datetime(2026, 3, 10))  # noqa: DTZ001


def test_seed_and_seed_path_are_exclusive() -> None:
    """create_app refuses both a seed mapping and a seed path."""
    with pytest.raises(ValueError):
        create_app(seed=make_seed(), seed_path=DEFAULT_SEED_PATH)
