"""Kiwoom REST adapter: OrderExecutor, AccountSource and MarketData for Kiwoom Securities."""
