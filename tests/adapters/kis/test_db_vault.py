"""The token vault on the real database: SecretStore (encrypted) + cross-process named locks."""

from __future__ import annotations

import asyncio

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select

from adapters.db.engine import Database
from adapters.db.locks import LockedSecrets, NamedLocks
from adapters.db.secrets import SecretStore, TokenCipher
from adapters.db.tables import StoredSecretRow
from tests.adapters.kis.conftest import TOKEN, HarnessFactory


class TickingTimer:
    """Monotonic seconds that move only when the lock's injected sleep is awaited."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds

    async def sleep(self, seconds: float) -> None:
        self.seconds += seconds
        await asyncio.sleep(0)


def _vault(db: Database, key: str) -> LockedSecrets:
    """A vault as one process would build it (its own store, cipher and lock handles).

    No lock timeout: fake time would run out while the holder waits on SQLite's thread.
    """
    timer = TickingTimer()
    locks = NamedLocks(db, timeout_seconds=None, sleep=timer.sleep, timer=timer)
    return LockedSecrets(SecretStore(db, TokenCipher([SecretStr(key)])), locks)


async def test_token_is_encrypted_in_the_database_and_reused_after_restart(
    db: Database, make_harness: HarnessFactory
) -> None:
    """The issued token is stored encrypted; a restarted process decrypts and reuses it."""
    key = Fernet.generate_key().decode()
    harness = await make_harness("real", vault=_vault(db, key))
    await harness.kis.accounts.cash(harness.account, fresh=True)

    restarted = harness.restart(vault=_vault(db, key))
    await restarted.accounts.positions(harness.account, fresh=True)

    async with db.session() as session:
        rows = list((await session.execute(select(StoredSecretRow))).scalars())
    token = await restarted.tokens.current()
    assert harness.spy.count(TOKEN) == 1
    assert [row.key for row in rows] == [harness.kis.tokens.vault_key]
    assert token not in rows[0].ciphertext
    assert rows[0].expires_at is not None


async def test_two_processes_racing_issue_one_token(
    db: Database, make_harness: HarnessFactory
) -> None:
    """Two adapters with separate vault handles on one database issue exactly one token."""
    key = Fernet.generate_key().decode()
    harness = await make_harness("real", vault=_vault(db, key))
    other = harness.restart(vault=_vault(db, key))

    tokens = await asyncio.gather(harness.kis.tokens.current(), other.tokens.current())

    assert tokens[0] == tokens[1]
    assert harness.spy.count(TOKEN) == 1


async def test_named_lock_excludes_another_process_until_released(db: Database) -> None:
    """A held lock makes a second holder (own handles) wait, then time out; release frees it."""
    timer = TickingTimer()
    first = NamedLocks(db, timeout_seconds=1.0, poll_seconds=0.1, sleep=timer.sleep, timer=timer)
    second = NamedLocks(db, timeout_seconds=1.0, poll_seconds=0.1, sleep=timer.sleep, timer=timer)

    async with first.lock("kis-token:abc"):
        with pytest.raises(TimeoutError):
            async with second.lock("kis-token:abc"):
                pass
        async with second.lock("kis-token:other"):  # other names are independent
            pass
    async with second.lock("kis-token:abc"):
        pass

    assert timer.seconds >= 1.0


async def test_named_lock_is_released_when_the_holder_fails(db: Database) -> None:
    """An exception inside the block releases the lock for the next holder."""
    timer = TickingTimer()
    locks = NamedLocks(db, timeout_seconds=1.0, sleep=timer.sleep, timer=timer)

    with pytest.raises(RuntimeError):
        async with locks.lock("job"):
            raise RuntimeError("boom")
    async with NamedLocks(db, timeout_seconds=0.1, sleep=timer.sleep, timer=timer).lock("job"):
        pass

    assert timer.seconds == 0.0
