"""The `rnnvoice` command: one entry point, a subcommand per job, each a module of clients/cli/commands/."""

import argparse
import logging
import sys
from importlib.metadata import version

from rnnvoice.clients.cli.commands import (
    background,
    bench,
    calibrate,
    check_models,
    compare,
    dashboard,
    data,
    evaluate,
    fuzz,
    health,
    import_embedding,
    lm,
    load,
    mic,
    serve,
    soak,
    stream,
    train,
)
from rnnvoice.clients.errors import UsageError

COMMANDS = {
    "serve": serve,
    "stream": stream,
    "data": data,
    "train": train,
    "lm": lm,
    "import-embedding": import_embedding,
    "background": background,
    "eval": evaluate,
    "compare": compare,
    "calibrate": calibrate,
    "mic": mic,
    "load": load,
    "bench": bench,
    "health": health,
    "check-models": check_models,
    "dashboard": dashboard,
    "fuzz": fuzz,
    "soak": soak,
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's help with its default; an option whose default is none (or an empty list) says in its own
    words what leaving it out means."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default == []:
            return action.help
        return super()._get_help_string(action)


def parser() -> argparse.ArgumentParser:
    """The whole command line, every command's options included."""
    return _parser(chosen=None)


def _parser(chosen: str | None) -> argparse.ArgumentParser:
    """chosen: build only this command's options (some need heavy imports: train's config); None: all of them."""
    parser = argparse.ArgumentParser(
        prog="rnnvoice", description="Streaming GRU and LSTM voice models over gRPC.", formatter_class=HelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('rnnvoice')}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        command_parser = sub.add_parser(
            name, help=command.HELP, description=command.HELP, formatter_class=HelpFormatter
        )
        if chosen is None or name == chosen:
            command.add_arguments(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser(chosen=next((a for a in argv if a in COMMANDS), "")).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return COMMANDS[args.command].run(args) or 0
    except KeyboardInterrupt:
        return 130
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
