"""The `rnnvoice` command: one entry point, a subcommand per job, each a module of clients/commands/."""

import argparse
import logging
import sys

from rnnvoice.clients.commands import (bench, calibrate, compare, dashboard, data, evaluate, fuzz, health, lm, load,
                                       mic, serve, soak, stream, train)

COMMANDS = {
    "serve": serve,
    "stream": stream,
    "data": data,
    "train": train,
    "lm": lm,
    "eval": evaluate,
    "compare": compare,
    "calibrate": calibrate,
    "mic": mic,
    "load": load,
    "bench": bench,
    "health": health,
    "dashboard": dashboard,
    "fuzz": fuzz,
    "soak": soak,
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's help with its default, where there is one to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        default = action.default
        if default is None or default is False or default == "" or default == []:
            return action.help
        return super()._get_help_string(action)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rnnvoice", description="Streaming GRU and LSTM voice models over gRPC.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, command in COMMANDS.items():
        command_parser = sub.add_parser(name, help=command.HELP, description=command.HELP,
                                        formatter_class=HelpFormatter)
        if name == chosen:  # only the chosen command's options: some need heavy imports (train's config)
            command.add_arguments(command_parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command].run(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
