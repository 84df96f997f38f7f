"""Command line of the operator (``ploy-operator``)."""

import typer

app = typer.Typer(help="Ploy TradingBot operator.", no_args_is_help=False)


@app.command()
def version() -> None:
    """Print the operator's version."""
    from tradingbot_operator import __version__

    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``ploy-operator`` console script."""
    app()
