"""The trading-config contract: the ``trading`` block of a TradingBot, one definition both sides import.

The operator receives it in ``TradingBot.spec.trading`` (the CRD's schema is generated from these models)
and renders it unchanged into the bot's config file; the bot reads it back with the same models; the
tradingbot chart's ``values.schema.json`` (its ``trading`` part) is generated from them too. Pure: no
I/O, no Kubernetes, imports neither the bot nor the operator (import-linter contracts in pyproject.toml).
"""

from trading_config.model import MarketSpec, RiskSpec, StrategySpec, TradingSpec

__all__ = ["MarketSpec", "RiskSpec", "StrategySpec", "TradingSpec"]
