"""The bot's Prometheus metrics, registered on a registry the app creates (never the global one).

Names follow Prometheus conventions: base units (seconds, USD), counters end in ``_total``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tradingbot.risk import RejectReason

EXCHANGE_REJECTED = "exchange"
"""``reason`` label of ``ploy_orders_rejected_total`` for orders the exchange itself refused."""


class ActiveOnlyGauge(Collector):
    """A gauge without labels whose series exists only while a value is set: :meth:`clear` removes it
    from the scrape (a plain ``Gauge`` always exports a sample, so a standby would report 0)."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self._value: float | None = None
        registry.register(self)

    def set(self, value: float) -> None:
        """Report ``value`` from the next scrape on."""
        self._value = value

    def clear(self) -> None:
        """Stop reporting the series (no sample at all, not 0)."""
        self._value = None

    @property
    def value(self) -> float | None:
        """The value reported now, None while the series is absent."""
        return self._value

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The metric family without samples (lets the registry check for duplicate names)."""
        yield GaugeMetricFamily(self.name, self.documentation)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One sample while a value is set, else none."""
        family = GaugeMetricFamily(self.name, self.documentation)
        if self._value is not None:
            family.add_metric([], self._value)
        yield family


class BotMetrics:
    """Order, role and PnL metrics of one bot process, all on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.orders_placed = Counter(
            "ploy_orders_placed_total",
            "Orders sent to the exchange (after the risk gate).",
            registry=registry,
        )
        self.orders_filled = Counter(
            "ploy_orders_filled_total", "Orders the exchange reported FILLED.", registry=registry
        )
        self.orders_rejected = Counter(
            "ploy_orders_rejected_total",
            "Orders refused before the exchange (risk gate) or by it, by reason.",
            ["reason"],
            registry=registry,
        )
        self.orders_failed = Counter(
            "ploy_orders_failed_total",
            "Orders that ended FAILED or whose outcome the exchange could not confirm.",
            registry=registry,
        )
        self.order_latency = Histogram(
            "ploy_order_latency_seconds",
            "From persisting PENDING to the exchange's confirmation being recorded, seconds.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry,
        )
        self.exchange_errors = Counter(
            "ploy_exchange_errors_total", "Transient exchange errors seen by the bot.", registry=registry
        )
        self.role_active = Gauge(
            "ploy_role_active",
            "1 while this process may trade (active and fenced), else 0.",
            registry=registry,
        )
        self.epoch = Gauge(
            "ploy_epoch", "The fencing epoch this process last saw for its bot.", registry=registry
        )
        self.pnl_usd = Gauge(
            "ploy_pnl_usd", "Mark-to-market PnL derived from the ledger's fills, USD.", registry=registry
        )
        self.daily_pnl_usd = ActiveOnlyGauge(
            "ploy_daily_pnl_usd",
            "PnL of the ledger's fills since the start of the current UTC day (the risk gate's daily-loss "
            "input), USD. Reported only by the active pod: a standby has no series.",
            registry,
        )
        self.exposure_usd = Gauge(
            "ploy_exposure_usd",
            "Net USD paid into open positions, from the ledger's fills.",
            registry=registry,
        )
        self.fenced_writes = Counter(
            "ploy_fenced_writes_total",
            "Order writes the database refused because the fence holds a newer epoch.",
            registry=registry,
        )
        self.reconciled_orders = Counter(
            "ploy_reconciled_orders_total",
            "Unsettled orders of an earlier run settled on becoming active, by final status.",
            ["status"],
            registry=registry,
        )
        self.unhedged_legs = Counter(
            "ploy_unhedged_legs_total",
            "Complete-set purchases whose second leg did not fill, by what became of the first: "
            "unwound (sold back) or kept (still held, counted in exposure).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("unwound", "kept"):
            self.unhedged_legs.labels(outcome=outcome)
        for reason in [*(r.value for r in RejectReason), EXCHANGE_REJECTED]:
            self.orders_rejected.labels(reason=reason)
