"""What the orchestrator needs from the outside world, as structural Protocols.

Adapters satisfy these without inheriting from them; `orchestrator.bootstrap` is the only place that
decides which adapter stands behind which port. Upstream ports live in `upstream`; persistence ports
(stores) live beside the area that owns them (`orders`, `reconciliation`, `scheduling`, ...).
"""

from __future__ import annotations

from orchestrator.ports.upstream import (
    AccountSource,
    AuditLog,
    Clock,
    MarketData,
    Notifier,
    OrderExecutor,
)

__all__ = ["AccountSource", "AuditLog", "Clock", "MarketData", "Notifier", "OrderExecutor"]
