"""In-memory port fakes for fast unit tests and paper runs: real behaviour, no I/O.

Each fake keeps its state in plain attributes that tests assert on, and can be told to fail the
next call with any domain error, including the ones where the upstream acted but the reply was lost.
"""

from __future__ import annotations

from adapters.fake.accounts import FakeAccountSource
from adapters.fake.clock import FakeClock
from adapters.fake.executor import NOTHING_TO_CANCEL, FakeOrderExecutor
from adapters.fake.market import FakeMarketData
from adapters.fake.notifier import FakeNotifier
from adapters.fake.vault import FakeTokenVault

__all__ = [
    "NOTHING_TO_CANCEL",
    "FakeAccountSource",
    "FakeClock",
    "FakeMarketData",
    "FakeNotifier",
    "FakeOrderExecutor",
    "FakeTokenVault",
]
