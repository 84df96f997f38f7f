"""Command line of the bot (``ploy-bot``): run, migrate, check-config, version."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from tradingbot.config.errors import ConfigError
from tradingbot.config.settings import Settings, load_settings

app = typer.Typer(
    help="Ploy trading bot (Polymarket paper trading, fenced in PostgreSQL).", no_args_is_help=True
)

EXIT_CONFIG = 2
DATABASE_URL_HELP = (
    "PLOY_DATABASE_URL is not set: export the bot's PostgreSQL URL, "
    "e.g. PLOY_DATABASE_URL=postgresql://ploy@localhost:5432/ploy (DATABASE_URL also works)"
)


def _settings(config: Path | None, *, for_migration: bool = False) -> Settings:
    try:
        return load_settings(config, for_migration=for_migration)
    except ConfigError as exc:
        typer.echo(f"config error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None


def _dsn(settings: Settings) -> str:
    from tradingbot.ledger.dsn import DsnError
    from tradingbot.runtime import DatabaseUrlMissing, asyncpg_dsn

    try:
        return asyncpg_dsn(settings)
    except DatabaseUrlMissing:
        typer.echo(DATABASE_URL_HELP, err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except DsnError as exc:  # its message never quotes the string
        typer.echo(f"config error: PLOY_DATABASE_URL: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML config file (default: $PLOY_CONFIG, else the embedded replay config)."
    ),
]


@app.command()
def run(
    config: ConfigOption = None,
    migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="Apply migrations first (default: yes; in a cluster a failure is logged, not fatal).",
        ),
    ] = None,
) -> None:
    """Run the bot: standalone on the replay feed by default, or in-cluster per PLOY_* settings."""
    import uvicorn

    from tradingbot.app import create_app

    settings = _settings(config)
    dsn = _dsn(settings)
    _logging()
    if migrate or (migrate is None and settings.role == "standalone"):
        asyncio.run(_migrate(dsn))
    elif migrate is None:
        asyncio.run(_migrate_best_effort(dsn))
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
            log_config=None,
            access_log=False,
            loop="auto",  # uvloop when installed
            http="auto",  # httptools when installed
        )
    )
    # Everything imported and built so far lives as long as the process: collect once, then move it
    # out of the collector's generations, so a full collection no longer walks it and stalls the
    # event loop (a 180-300 ms pause was seen under load, as /health/ready tail latency,
    # bench/health_ready.py).
    gc.collect()
    gc.freeze()
    # uvicorn shuts down gracefully on SIGTERM and then re-raises it against the handler installed
    # before it started; catching it there makes a graceful stop exit 0, as Kubernetes expects.
    stopped_by: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: stopped_by.append(signum))
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        raise typer.Exit(1)


async def _migrate_best_effort(dsn: str, give_up_after: float = 10.0) -> list[int] | None:
    """Startup migration of an in-cluster pod: returns the versions applied, or None when it failed.

    The schema may already have been migrated by the operator's migration Job or by another pod (the
    advisory lock serialises them). A database that is down or a failing migration must not keep the pod
    from starting: ``/health/ready`` reports the schema version, so the rollout gate sees the problem.
    Only the exception's type is logged, never its text, which could carry connection details.
    """
    try:
        return await _migrate(dsn, give_up_after)
    except Exception as exc:  # any failure here is reported by readiness instead
        logging.getLogger("tradingbot.migrate").warning("startup migration skipped: %s", type(exc).__name__)
        return None


async def _migrate(dsn: str, give_up_after: float = 60.0) -> list[int]:
    import asyncpg
    from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

    from tradingbot.ledger.errors import TRANSIENT_DB_ERRORS
    from tradingbot.ledger.migrate import migrate as apply_migrations

    log = logging.getLogger("tradingbot.migrate")
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT_DB_ERRORS),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(give_up_after),
        reraise=True,
    ):
        with attempt:
            conn = await asyncpg.connect(dsn, timeout=5)
    try:
        applied = await apply_migrations(conn)
    finally:
        await conn.close()
    log.info("migrations applied: %s", applied or "none (schema up to date)")
    return applied


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Apply the ledger's SQL migrations (idempotent; safe to run from several pods at once)."""
    settings = _settings(config, for_migration=True)
    dsn = _dsn(settings)
    _logging()
    applied = asyncio.run(_migrate(dsn))
    typer.echo(
        f"applied {len(applied)} migration(s)" + (f": {', '.join(map(str, applied))}" if applied else "")
    )


@app.command("check-config")
def check_config(file: Annotated[Path, typer.Argument(help="The YAML config file to validate.")]) -> None:
    """Validate FILE (plus PLOY_* environment) and print `config ok` or the first problem."""
    _settings(file)
    typer.echo("config ok")


@app.command()
def version() -> None:
    """Print the bot's version."""
    from tradingbot import __version__

    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``ploy-bot`` console script."""
    app()
