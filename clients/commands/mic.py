"""`rnnvoice mic`: the microphone to a server, with a level meter and each result as it happens."""

import argparse
import sys

from rnnvoice.models.types import Cell, Task

HELP = "stream the microphone to a server and show detections live"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--list-devices", action="store_true", help="list the microphones and exit")
    p.add_argument("--device", help="microphone number or part of its name (default: the system's default)")
    p.add_argument("--cell", choices=[c.value for c in Cell], default=Cell.GRU.value, help="which model runs it")
    p.add_argument("--task", choices=[t.value for t in Task], default=Task.KEYWORDS.value, help="what to ask for")
    p.add_argument("--server", default="localhost:50051", help="host:port of the server")


def run(args) -> int:
    # sounddevice is imported by these only when a microphone is used.
    from rnnvoice.clients.client import Audio, VoiceClient, stream_config
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
    config = stream_config(Audio(b"", rate), args.cell, args.task, interim_results=True)
    with VoiceClient(args.server) as client:
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
