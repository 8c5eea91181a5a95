"""Use cases: snapshots, reconciliation, orders (the intent journal), transfers."""
