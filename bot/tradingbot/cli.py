"""Command line of the bot (``ploy-bot``)."""

import typer

app = typer.Typer(help="Ploy trading bot.", no_args_is_help=False)


@app.command()
def version() -> None:
    """Print the bot's version."""
    from tradingbot import __version__

    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``ploy-bot`` console script."""
    app()
