"""The bot's HTTP API: health probes, metrics and read-only ledger views, one router per concern."""
