"""`rnnvoice mic`: the microphone to a server, with a level meter and each result as it happens."""

import argparse
import sys

from rnnvoice.clients.cli.options import add_stream_options

HELP = "stream the microphone to a server and show detections live"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--list-devices", action="store_true", help="list the microphones and exit")
    p.add_argument("--device", help="microphone number or part of its name (default: the system's default)")
    add_stream_options(p, live=True)


def run(args) -> int:
    import grpc

    from rnnvoice.clients.cli.options import stream_options

    # sounddevice is imported by these only when a microphone is used.
    from rnnvoice.clients.client import Audio, VoiceClient, stream_config
    from rnnvoice.clients.connection import connection_from_args
    from rnnvoice.clients.mic_client import Display, ServerLink, capture, summary
    from rnnvoice.clients.microphone import MicError, find_microphone, list_devices, open_microphone

    try:
        if args.list_devices:
            print(list_devices())
            return 0
        index, name, rate = find_microphone(int(args.device) if args.device and args.device.isdigit() else args.device)
    except MicError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    display = Display()
    with VoiceClient(args.server, connection=connection_from_args(args)) as client:
        try:
            config = stream_config(Audio(b"", rate), cell=args.cell, **stream_options(args, client, live=True))
        except grpc.RpcError as e:  # asking for the keywords a sensitivity applies to
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
        link = ServerLink(client, config, display)
        link.thread.start()
        mic = None
        try:
            display.line(f"connecting to {args.server}...")
            while not link.connected.wait(0.5):  # the microphone opens once there is somewhere to send it
                pass
            mic = open_microphone(index, name, rate)
            display.line(f"listening to {name!r} at {rate} Hz, {args.cell.upper()} {args.task} model; Ctrl-C to stop")
            captured_s, overflows = capture(mic, rate, link, display)
        except KeyboardInterrupt:
            captured_s, overflows = 0.0, 0
        except MicError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        finally:
            if mic is not None:
                mic.close()
            link.finish()
        display.line(summary(captured_s, name, link, overflows))
    if link.error:
        print(f"error: {link.error}", file=sys.stderr)
        return 1
    return 0
