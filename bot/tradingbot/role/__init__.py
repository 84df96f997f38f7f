"""Who may trade: standalone (always active) or the TradingBot's ``status.activeColor`` in a cluster."""
