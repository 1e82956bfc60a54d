"""The `rnnvoice` subcommands, a module each with HELP, add_arguments(parser) and run(args) -> int.

Heavy imports (torch, training, matplotlib, sounddevice, grpc) wait inside run, or inside add_arguments,
which runs for the chosen command only: `rnnvoice --help` loads none of them, and `rnnvoice serve`
nothing of training or data synthesis.
"""
