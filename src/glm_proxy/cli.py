"""The ``glm-proxy`` command line.

``glm-proxy [serve] [flags]`` runs the proxy; other subcommands are tools around it. Each
subcommand lives in ``glm_proxy.commands.<name>`` with ``configure(parser)`` and ``run(args)``;
modules are imported only when their command runs, so start-up stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

COMMANDS = {
    "serve": ("serve", "run the proxy (the default command)"),
    "parse": ("parse", "print what the proxy makes of a raw model output"),
    "mock-backend": ("mock_backend", "run a built-in backend that answers like a raw GLM server"),
    "demo": ("demo", "start a mock GLM backend and the proxy, and show conversions"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glm-proxy",
        description="OpenAI-compatible proxy that converts GLM XML tool calls.",
    )
    parser.add_argument("--version", action="version", version=f"glm-proxy {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = _command_module(module_name)
        if module is None:
            continue
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(command_parser)
    return parser


_TOP_LEVEL = ("-h", "--help", "--version")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("glm-proxy")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class _Command(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _command_module(module_name: str) -> _Command | None:
    try:
        return cast(_Command, importlib.import_module(f"glm_proxy.commands.{module_name}"))
    except ModuleNotFoundError as error:
        if error.name == f"glm_proxy.commands.{module_name}":
            return None  # a command not written yet
        raise


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0] not in COMMANDS and args_list[0] not in _TOP_LEVEL):
        args_list.insert(0, "serve")
    args = build_parser().parse_args(args_list)
    module = _command_module(COMMANDS[args.command][0])
    assert module is not None
    return module.run(args)


if __name__ == "__main__":
    sys.exit(main())
