"""Small helpers: a catalog from YAML text."""

from __future__ import annotations

from pathlib import Path

from orchestrator.workflows.loader import WorkflowCatalog, load_catalog

AUTO_DCA = """\
workflows:
  dca:
    mode: {mode}
    guardrails:
      max_order_notional: {order_cap}
      max_daily_notional: {day_cap}
      max_orders_per_run: {max_orders}
      price_collar_bps: 100
    steps:
      - step: buy
        orders:
          - symbol: "005930"
            amount: 300000
          - symbol: "069500"
            quantity: 10
        price: {{offset_bps: 20}}
instruments:
  "069500": {{kind: etf}}
"""


def catalog_from(tmp_path: Path, text: str) -> WorkflowCatalog:
    path = tmp_path / "custom.yaml"
    path.write_text(text, encoding="utf-8")
    return load_catalog(path)


def dca(
    tmp_path: Path,
    *,
    mode: str = "auto",
    order_cap: int = 1_000_000,
    day_cap: int = 5_000_000,
    max_orders: int = 5,
) -> WorkflowCatalog:
    """An auto-mode DCA of two symbols: 4 × 005930 @ 71,100 and 10 × 069500 @ 35,070."""
    text = AUTO_DCA.format(mode=mode, order_cap=order_cap, day_cap=day_cap, max_orders=max_orders)
    return catalog_from(tmp_path, text)
