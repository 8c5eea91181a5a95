"""Secrets at rest: tokens encrypted with MultiFernet (first key encrypts, every key decrypts).

Rotation: put the new key first, keep the old ones, run `rotate()`; then drop the old keys.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr
from sqlalchemy import select

from adapters.db.engine import Database
from adapters.db.tables import StoredSecretRow
from orchestrator.domain.errors import ConfigError, IntegrityError
from orchestrator.domain.timeutil import to_utc


class TokenCipher:
    def __init__(self, keys: Sequence[SecretStr]) -> None:
        if not keys:
            raise ConfigError("security.encryption_keys: at least one key is required")
        try:
            self._fernet = MultiFernet([Fernet(k.get_secret_value().encode()) for k in keys])
        except ValueError as e:
            raise ConfigError(
                "security.encryption_keys: each key must be a Fernet key "
                "(32 url-safe base64 bytes; make one with `orchestrator secrets new-key`)"
            ) from e

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as e:
            raise IntegrityError(
                "stored secret cannot be decrypted with the configured keys"
            ) from e

    def rotate(self, ciphertext: str) -> str:
        return self._fernet.rotate(ciphertext.encode()).decode()


def sandbox_key(path: Path) -> SecretStr:
    """Load or create (mode 0600) the local key file used when sandbox mode configures none."""
    if path.exists():
        return SecretStr(path.read_text(encoding="utf-8").strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return SecretStr(key)


class SecretStore:
    """Encrypted key/value rows for tokens, shared by every process using the database."""

    def __init__(self, db: Database, cipher: TokenCipher) -> None:
        self._db = db
        self._cipher = cipher

    async def put(
        self,
        key: str,
        value: str,
        *,
        now: datetime,
        expires_at: datetime | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        async with self._db.session() as session:
            row = await session.get(StoredSecretRow, key)
            ciphertext = self._cipher.encrypt(value)
            expires = None if expires_at is None else to_utc(expires_at)
            if row is None:
                row = StoredSecretRow(
                    key=key, ciphertext=ciphertext, expires_at=expires, updated_at=now, meta=meta
                )
                session.add(row)
            else:
                row.ciphertext = ciphertext
                row.expires_at = expires
                row.updated_at = now
                row.meta = meta

    async def get(self, key: str) -> tuple[str, datetime | None, dict[str, Any]] | None:
        async with self._db.autocommit() as session:
            row = await session.get(StoredSecretRow, key)
            if row is None:
                return None
            return self._cipher.decrypt(row.ciphertext), row.expires_at, dict(row.meta or {})

    async def delete(self, key: str) -> None:
        async with self._db.session() as session:
            row = await session.get(StoredSecretRow, key)
            if row is not None:
                await session.delete(row)

    async def expiries(self) -> dict[str, datetime | None]:
        """Expiry per stored secret, for the status API (never the values)."""
        async with self._db.session() as session:
            rows = (await session.execute(select(StoredSecretRow))).scalars()
            return {r.key: r.expires_at for r in rows}

    async def rotate_all(self) -> int:
        """Re-encrypt every row under the first key; returns how many rows were rewritten."""
        async with self._db.session() as session:
            rows = list((await session.execute(select(StoredSecretRow))).scalars())
            for row in rows:
                row.ciphertext = self._cipher.rotate(row.ciphertext)
            return len(rows)
