"""Trading strategies: pure functions from order books to opportunities."""
