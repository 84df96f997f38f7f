"""Polymarket market data: message parsing, per-token order books, book hashes and feeds."""
