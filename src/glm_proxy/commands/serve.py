"""``glm-proxy serve``: run the proxy under uvicorn (the default command).

Settings come from the environment merged over a ``.env`` file in the working directory (the
environment wins), and flags override both. A bad value stops start-up with one line that
names the setting, and exit code 2; so does a HOST other machines can reach while neither
PROXY_API_KEY nor ALLOW_REMOTE (``--allow-remote``) is set.

SIGTERM stops the proxy like Ctrl-C: requests in flight get SHUTDOWN_GRACE seconds
(``glm_proxy.server.shutdown``), and the exit code is 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from glm_proxy.config import Settings

EXIT_BAD_SETTINGS = 2
EXIT_PORT_TAKEN = 1
SHUTDOWN_BACKSTOP = 5.0
"""Seconds past SHUTDOWN_GRACE after which uvicorn itself cancels what still runs."""


def configure(parser: argparse.ArgumentParser) -> None:
    from glm_proxy.commands.startup import settings_epilog

    parser.epilog = settings_epilog()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--host", help="address to listen on (HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (PORT, default 8082)")
    parser.add_argument(
        "--base-url",
        help="the backend's OpenAI-compatible URL (OPENAI_BASE_URL, default http://127.0.0.1:1234/v1)",
    )
    parser.add_argument(
        "--log-level",
        help="DEBUG (also bodies), INFO, WARNING (the default: request lines and warnings), "
        "ERROR (no request lines), CRITICAL (LOG_LEVEL)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        default=None,
        help="serve other machines without PROXY_API_KEY: anyone who reaches HOST may use the "
        "proxy and its backend key (ALLOW_REMOTE=true)",
    )
    parser.add_argument(
        "--reload", action="store_true", help="restart when the code changes (development)"
    )
    parser.add_argument("--workers", type=int, help="number of worker processes (default 1)")
    parser.add_argument(
        "--env-file", help="file of NAME=value settings (default: .env in this folder, if any)"
    )


def run(args: argparse.Namespace) -> int:
    from glm_proxy.config import SettingsError, load_settings
    from glm_proxy.server.auth import exposure_problem

    overrides = {
        "HOST": args.host,
        "PORT": args.port,
        "OPENAI_BASE_URL": args.base_url,
        "LOG_LEVEL": args.log_level,
        "ALLOW_REMOTE": "true" if args.allow_remote else None,
    }
    try:
        env = read_environment(args.env_file)
        settings = load_settings(env, overrides)
        if args.workers is not None and args.workers < 1:
            raise SettingsError(f"--workers: expected a positive number, got {args.workers}")
        problem = exposure_problem(settings)
        if problem is not None:
            raise SettingsError(problem)
    except SettingsError as error:
        print(f"glm-proxy: {error}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    from glm_proxy.commands.startup import port_problem

    taken = port_problem(settings.host, settings.port)
    if taken is not None:
        print(f"glm-proxy: {taken}", file=sys.stderr)
        return EXIT_PORT_TAKEN
    serve(settings, reload=args.reload, workers=args.workers)
    return 0


def read_environment(env_file: str | None = None) -> dict[str, str]:
    """``os.environ`` over the ``.env`` file (``env_file``, or ``.env`` if it exists)."""
    from dotenv import dotenv_values

    from glm_proxy.config import SettingsError

    path = Path(env_file) if env_file else Path(".env")
    values: dict[str, str] = {}
    if path.is_file():
        values = {k: v for k, v in dotenv_values(path).items() if v is not None}
        from glm_proxy.commands.startup import misspelt_warnings

        for warning in misspelt_warnings(values, str(path)):
            print(warning, file=sys.stderr)
    elif env_file:
        raise SettingsError(f"--env-file: no such file: {env_file}")
    values.update(os.environ)
    return values


def serve(settings: Settings, *, reload: bool = False, workers: int | None = None) -> None:
    """Run uvicorn until it is stopped."""
    import uvicorn

    from glm_proxy.access_log import configure_logging
    from glm_proxy.config import settings_to_env
    from glm_proxy.server.app import create_app

    configure_logging(settings.log_level, hidden=_hidden(settings))
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "access_log": False,  # glm_proxy writes its own line per request
        "http": "httptools",
        "ws": "none",
        "lifespan": "on",
        "timeout_graceful_shutdown": settings.shutdown_grace + SHUTDOWN_BACKSTOP,
    }
    print(_banner(settings), file=sys.stderr, flush=True)
    from glm_proxy.commands.startup import print_line, probe_backend_in_background

    probe_backend_in_background(settings, print_line)
    # uvicorn raises the signal again once it has shut down: SIGTERM then ends like Ctrl-C,
    # which uvicorn.run absorbs (exit code 0), instead of killing the process.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if reload or (workers or 1) > 1:
        # Each worker builds its app from the environment: hand the final settings down.
        os.environ.update(settings_to_env(settings))
        uvicorn.run(
            "glm_proxy.commands.serve:worker_app",
            factory=True,
            reload=reload,
            workers=workers,
            **options,
        )
    else:
        uvicorn.run(create_app(settings), **options)


def worker_app() -> FastAPI:
    """The app of one worker process (``--reload``/``--workers``): settings from the environment."""
    return environment_app(os.environ)


def environment_app(env: Mapping[str, str] | None = None) -> FastAPI:
    """An app for entry points that uvicorn imports (``server:app``): logging configured,
    uvicorn's own access log off, settings from ``env`` (default: environment over ``.env``)."""
    import logging

    from glm_proxy.access_log import configure_logging
    from glm_proxy.config import SettingsError, load_settings
    from glm_proxy.server.app import create_app

    try:
        settings = load_settings(read_environment() if env is None else env)
    except SettingsError as error:
        print(f"glm-proxy: {error}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_SETTINGS) from None
    configure_logging(settings.log_level, hidden=_hidden(settings))
    logging.getLogger("uvicorn.access").disabled = True
    return create_app(settings)


def _hidden(settings: Settings) -> tuple[str, ...]:
    """The keys that log lines must not show."""
    return (*((settings.api_key,) if settings.api_key else ()), *settings.proxy_api_keys)


def _banner(settings: Settings) -> str:
    models = "all models" if settings.glm_models == ("*",) else "models matching "
    if settings.glm_models != ("*",):
        models += ", ".join(repr(p) for p in settings.glm_models)
    access = "clients need a key" if settings.proxy_api_keys else "no client key"
    return (
        f"glm-proxy on http://{settings.host}:{settings.port}/v1 -> "
        f"{settings.public_base_url()} (GLM handling for {models}; {access})"
    )
