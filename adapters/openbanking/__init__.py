"""KFTC Open Banking adapter: the Samsung Securities read path (AccountSource).

`build_openbanking(settings, resilience, stores, http)` wires the account source, the consent
flow and guarded deposits over the shared resilient layer; `openbanking_http_client(settings)`
makes the httpx client. What the adapter persists is described by the Protocols in `stores`
(implemented in `adapters.db.openbanking`).
"""

from __future__ import annotations

from adapters.openbanking.account import OpenBankingAccountSource
from adapters.openbanking.consent import (
    ConsentStatus,
    OpenBankingConsent,
    consent_finish,
    consent_revoke,
    consent_start,
    consent_status,
)
from adapters.openbanking.factory import (
    UPSTREAM,
    OpenBanking,
    build_openbanking,
    openbanking_http_client,
)
from adapters.openbanking.settings import OpenBankingSettings, TransferSettings
from adapters.openbanking.stores import (
    Consent,
    ConsentState,
    ConsentStore,
    StoredToken,
    Stores,
    TokenVault,
    TranIdAllocator,
    TransferJournal,
    TransferRecord,
)
from adapters.openbanking.transfers import OpenBankingTransfers

__all__ = [
    "UPSTREAM",
    "Consent",
    "ConsentState",
    "ConsentStatus",
    "ConsentStore",
    "OpenBanking",
    "OpenBankingAccountSource",
    "OpenBankingConsent",
    "OpenBankingSettings",
    "OpenBankingTransfers",
    "StoredToken",
    "Stores",
    "TokenVault",
    "TranIdAllocator",
    "TransferJournal",
    "TransferRecord",
    "TransferSettings",
    "build_openbanking",
    "consent_finish",
    "consent_revoke",
    "consent_start",
    "consent_status",
    "openbanking_http_client",
]
