"""KFTC Open Banking adapter: the Samsung Securities read path (AccountSource)."""
