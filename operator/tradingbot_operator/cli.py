"""Command line of the operator (``ploy-operator``): ``run`` and ``version``."""

from __future__ import annotations

import asyncio
import logging

import typer
import uvloop

from tradingbot_operator.workqueue import MAX_CONCURRENT

app = typer.Typer(help="Ploy TradingBot operator.", no_args_is_help=True)


@app.command()
def version() -> None:
    """Print the operator's version."""
    from tradingbot_operator import __version__

    typer.echo(__version__)


@app.command()
def run(
    namespace: list[str] = typer.Option(  # noqa: B008 - typer declares options this way
        [], "--namespace", "-n", help="Watch only this namespace (repeatable)."
    ),
    all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A", help="Watch the whole cluster."),
    peering: str | None = typer.Option(
        None, "--peering", help="KopfPeering name for leader handover between replicas; none: standalone."
    ),
    priority: int = typer.Option(0, "--priority", help="Peering priority (higher wins)."),
    metrics_port: int = typer.Option(8000, "--metrics-port", help="Port of /metrics (0 disables it)."),
    liveness: str | None = typer.Option(
        None, "--liveness", help="kopf liveness endpoint, e.g. http://0.0.0.0:8080/healthz."
    ),
    prometheus_url: str | None = typer.Option(
        None,
        "--prometheus-url",
        envvar="PLOY_PROMETHEUS_URL",
        help="Prometheus queried by the metric analysis gate (spec.rollout.analysis), e.g. "
        "http://prometheus-operated.monitoring:9090; none: every analysis query is inconclusive.",
    ),
    resync_seconds: float = typer.Option(
        300.0, "--resync-seconds", min=1.0, help="Longest time between two passes over a TradingBot."
    ),
    child_cache: bool = typer.Option(
        True,
        "--child-cache/--no-child-cache",
        help="Read each TradingBot's children from the watch-fed cache (default) instead of listing "
        "them on every pass.",
    ),
    max_concurrent_passes: int = typer.Option(
        MAX_CONCURRENT,
        "--max-concurrent-passes",
        min=1,
        max=1024,
        help="Passes in flight at once for changes (and as many again for spec changes); resyncs get an "
        "eighth of it.",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Run the operator until SIGTERM/SIGINT."""
    from tradingbot_operator.main import RunOptions, run_operator

    if namespace and all_namespaces:
        raise typer.BadParameter("use either --namespace or --all-namespaces")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # kopf logs "Handler ... succeeded" at INFO for every watch event (thousands a minute at 1,000
        # TradingBots); its warnings and errors still show.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    options = RunOptions(
        namespaces=tuple(namespace),
        all_namespaces=not namespace,
        peering=peering,
        priority=priority,
        metrics_port=metrics_port,
        liveness=liveness,
        prometheus_url=prometheus_url,
        resync_seconds=resync_seconds,
        child_cache=child_cache,
        max_concurrent_passes=max_concurrent_passes,
    )
    # uvloop, as kopf's own CLI uses when it is installed. The asyncio loop's own work was about 8 % of
    # the operator's samples at 1,000 TradingBots; one back-to-back run showed no clear change in CPU
    # to converge (30.7 s vs 29.9 s), so this is for parity with kopf, not a measured gain.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run_operator(options))


def main() -> None:
    """Entry point of the ``ploy-operator`` console script."""
    app()
