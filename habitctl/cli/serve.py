"""habitctl serve: the read-only public HTTP endpoint on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from habitctl.cli.runtime import command


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default: [api] host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port to listen on (default: [api] port)."),
    ] = None,
) -> None:
    """Serve the public habits over HTTP, read-only (GET /public/habits, /docs)."""
    with command(ctx) as rt:
        import signal
        from types import FrameType

        import uvicorn

        from habitctl.api import create_app

        # The same check as every command: exit 7 with "run `habitctl db upgrade`" if the
        # schema is behind (an embedded SQLite file is migrated, as on first use).
        rt.session_factory(gate=True)  # the URL as given: the API's own role
        rt.close()
        settings = rt.settings

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                # uvicorn re-raises a stop signal after its graceful shutdown, so the process
                # would die "killed by SIGTERM"; a requested stop is a clean exit 0 here, as
                # for the daemon. A second Ctrl-C still forces the exit.
                if self.should_exit and sig == signal.SIGINT:
                    self.force_exit = True
                self.should_exit = True

        config = uvicorn.Config(
            create_app(settings),
            host=host or settings.api.host,
            port=port or settings.api.port,
            # Per-request log lines cost a measurable share of throughput on this hot,
            # read-only path; a reverse proxy in front keeps the access log.
            access_log=False,
            server_header=False,
        )
        Server(config).run()


def register_commands(app: typer.Typer) -> None:
    app.command("serve")(serve)
