"""Bot configuration: the ``trading`` block of the TradingBot spec plus bot-level settings."""
