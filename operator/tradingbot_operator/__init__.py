"""Ploy's kopf operator: health-gated blue-green rollouts of TradingBot resources."""

__version__ = "0.1.0"
