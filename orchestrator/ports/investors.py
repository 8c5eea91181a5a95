"""Where investors, their accounts and their institution credentials are kept.

The store only stores: uniqueness is enforced by the database (a duplicate raises Conflict naming
the existing record), encryption of credential secrets happens inside the adapter with the
process keyring, and every business rule (what an account's reconciliation reads, who may do
what) lives in the domain and the services.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from orchestrator.domain.investors import (
    Credential,
    Investor,
    InvestorAccount,
    InvestorStatus,
    Page,
)


class InvestorStore(Protocol):
    # --- investors --------------------------------------------------------------------------
    async def add_investor(self, investor: Investor) -> None:
        """Insert; Conflict naming the existing investor when the id is taken."""

    async def investor(self, investor_id: str) -> Investor | None: ...

    async def investors(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        search: str | None = None,
        status: InvestorStatus | None = None,
    ) -> Page[Investor]:
        """Ordered by id; `cursor` is the last id of the previous page; `search` matches a
        prefix of the id or a substring of the display name (case-insensitive)."""

    async def active_investor_ids(self) -> Sequence[str]: ...

    async def count_investors(self) -> int: ...

    async def set_investor_status(
        self, investor_id: str, status: InvestorStatus, *, now: datetime
    ) -> Investor:
        """NotFound when there is no such investor."""

    # --- accounts ---------------------------------------------------------------------------
    async def add_account(self, account: InvestorAccount) -> None:
        """Insert; Conflict naming the existing account when the id, or the source's own
        reference (source + external_ref), is taken."""

    async def upsert_discovered(self, account: InvestorAccount) -> InvestorAccount:
        """Insert an account found by discovery, or refresh the descriptive fields (name,
        masked number, institution) of the one already known by (source, external_ref) or id;
        overrides and `enabled` set by an operator are kept."""

    async def account(self, account_id: str) -> InvestorAccount | None: ...

    async def accounts(self, investor_id: str) -> Sequence[InvestorAccount]: ...

    async def reconciled_accounts(
        self, investor_id: str | None = None
    ) -> Sequence[InvestorAccount]:
        """Every enabled account of every active investor, or of `investor_id` only (ordered
        by investor, then id)."""

    async def update_account(
        self,
        account_id: str,
        *,
        now: datetime,
        overrides: Mapping[str, object] | None = None,
        enabled: bool | None = None,
    ) -> InvestorAccount:
        """NotFound when there is no such account."""

    # --- credentials ------------------------------------------------------------------------
    async def put_credential(
        self, credential: Credential, secrets: Mapping[str, str], *, fingerprint: str
    ) -> None:
        """Insert or replace the investor's credential for the institution (rotation replaces
        it); Conflict naming the other investor when `fingerprint` (of the key) is theirs."""

    async def credential(self, investor_id: str, institution: str) -> Credential | None: ...

    async def credential_secrets(
        self, investor_id: str, institution: str
    ) -> tuple[Credential, dict[str, str]] | None:
        """The decrypted secrets, for the adapter that uses them; never for a reply."""

    async def credentials(self, investor_id: str) -> Sequence[Credential]: ...

    async def delete_credential(self, investor_id: str, institution: str) -> bool: ...

    async def active_credentials(self, institution: str) -> Sequence[Credential]: ...

    async def reencrypt(self) -> int:
        """Re-encrypt every stored credential under the first key; rows rewritten."""
