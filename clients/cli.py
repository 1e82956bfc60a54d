"""The `rnnvoice` command: one entry point, a subcommand per job, each imported only when used."""

import argparse
import importlib
import logging
import sys

# name -> (module, help). The module has `<name>_arguments(parser)` and `<name>_command(args) -> int`.
COMMANDS = {
    "serve": ("rnnvoice.service.main", "run the gRPC server on the shipped models"),
    "stream": ("rnnvoice.clients.file_client", "stream a recording to a server and print results"),
    "data": ("rnnvoice.models.commands", "build a training corpus: synthetic and real speech, noise"),
    "train": ("rnnvoice.models.commands", "train a GRU or LSTM keyword or speech recognition model"),
    "eval": ("rnnvoice.models.commands", "measure a model on held-out speakers"),
    "compare": ("rnnvoice.models.commands", "GRU beside LSTM: every pair of eval reports as one table"),
    "calibrate": ("rnnvoice.models.commands", "tune a keyword model's detection thresholds on held-out voices"),
    "mic": ("rnnvoice.clients.mic_client", "stream the microphone to a server and show detections live"),
    "load": ("rnnvoice.clients.load", "many concurrent streams of a recording: latency as the client sees it"),
    "bench": ("rnnvoice.clients.bench", "GRU against LSTM under load: latency, real-time factor, memory"),
    "health": ("rnnvoice.clients.health_check", "ask a server's gRPC health service; exit 0 when it serves"),
    "dashboard": ("rnnvoice.clients.dashboard", "draw the Grafana dashboard's queries from a Prometheus as a PNG"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rnnvoice", description="Streaming GRU and LSTM voice models over gRPC.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # only the chosen command's module (and its imports) is loaded
            getattr(importlib.import_module(module), f"{name}_arguments")(command)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run = getattr(importlib.import_module(COMMANDS[args.command][0]), f"{args.command}_command")
    try:
        return run(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
