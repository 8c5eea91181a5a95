"""KIS Open API adapter: OrderExecutor, AccountSource and MarketData for Korea Investment & Securities."""
