"""The hello-world FastAPI app ``bench/health_ready.py`` measures next to the bot, served the same way.

``python bench/hello_app.py PORT`` runs one route, ``GET /hello`` answering a small JSON object, under
uvicorn with the settings ``ploy-bot run`` uses (``tradingbot.cli.run``: one process, ``loop="auto"``
and ``http="auto"`` so uvloop and httptools, no access log), until SIGTERM.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI


def create_app() -> FastAPI:
    """A FastAPI app with ``GET /hello`` -> ``{"status": "ok"}``."""
    app = FastAPI(docs_url=None, redoc_url=None)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    """Serve :func:`create_app` on 127.0.0.1 at the port given as the only argument."""
    uvicorn.Server(
        uvicorn.Config(
            create_app(),
            host="127.0.0.1",
            port=int(sys.argv[1]),
            log_config=None,
            access_log=False,
            loop="auto",
            http="auto",
        )
    ).run()


if __name__ == "__main__":
    main()
