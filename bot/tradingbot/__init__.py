"""Ploy's trading bot: a Polymarket paper-trading service whose order writes are fenced in PostgreSQL."""

__version__ = "0.1.0"
