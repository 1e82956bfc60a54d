"""The transport floor: a server that speaks the Voice protocol and does nothing else, so that the benchmark can
tell what grpc.aio and protobuf cost a stream from what rnnvoice's own work adds to it.

It answers audio chunks at once with the message the real server sends the benchmark's streams (interim scores
of every keyword, or an interim transcript), as many as the real server answered (`--answer-share`, the share of
chunks answered, spread evenly over each stream), ends each stream with a summary of the audio it heard, and
exports the two metrics the benchmark reads (`process_cpu_seconds_total`, `rnnvoice_audio_seconds_total`). No
decoding, front end, model, session table or limits: whatever it costs, the real server cannot cost less with
grpc.aio while it sends as many messages.

    python -m rnnvoice.clients.qa.transport_floor --port 50052 --metrics-port 9101 --answer-share 1
"""

import argparse
import asyncio

import grpc
import numpy as np
import prometheus_client

from rnnvoice.clients.client import CELLS, ENCODINGS, TASKS
from rnnvoice.models.types import Cell, Task
from rnnvoice.models.vocabulary import KEYWORDS
from rnnvoice.protos import pb, pb_grpc

# The client's tables, read the other way: from the wire's enums to sample widths and metric labels.
BYTES_PER_SAMPLE = {enum: np.dtype(dtype).itemsize for enum, dtype in ENCODINGS.values()}
TASK_NAMES = {enum: task.value for task, enum in TASKS.items()}
CELL_NAMES = {enum: cell.value for cell, enum in CELLS.items()}


class AnswerOnly(pb_grpc.VoiceServicer):
    def __init__(self, answer_share: float):
        self.answer_share = answer_share
        self.audio = prometheus_client.Counter("rnnvoice_audio_seconds", "audio heard", ["task", "cell"])

    async def StreamAudio(self, request_iterator, context):
        config, frame_bytes, heard, chunks = None, 2, 0, 0
        async for request in request_iterator:
            if request.HasField("config"):
                config = request.config
                frame_bytes = BYTES_PER_SAMPLE.get(config.format.encoding, 2) * max(1, config.format.channels)
                keywords = config.task == pb.TASK_KEYWORDS
                scores = dict.fromkeys(KEYWORDS, 0.0)
            elif request.HasField("audio") and config is not None:
                samples = len(request.audio.data) // frame_bytes
                heard += samples
                chunks += 1
                if int(chunks * self.answer_share) == int((chunks - 1) * self.answer_share):
                    continue  # not this chunk: the real server answered this share of them
                time_s = heard / config.format.sample_rate_hz
                result = (
                    {"scores": {"time_s": time_s, "scores": scores}}
                    if keywords
                    else {"transcript": {"text": "seven yes", "stability": 0.5, "end_s": time_s}}
                )
                await context.write(pb.StreamAudioResponse(sequence=request.audio.sequence, **result))
        if config is None:
            return
        audio_s = heard / config.format.sample_rate_hz
        labels = TASK_NAMES.get(config.task, Task.KEYWORDS), CELL_NAMES.get(config.cell, Cell.GRU)
        self.audio.labels(*labels).inc(audio_s)
        await context.write(pb.StreamAudioResponse(summary=pb.StreamSummary(audio_s=audio_s)))


async def serve(host: str, port: int, metrics_port: int, answer_share: float) -> None:
    prometheus_client.start_http_server(metrics_port, host)
    server = grpc.aio.server()
    pb_grpc.add_VoiceServicer_to_server(AnswerOnly(answer_share), server)
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument(
        "--answer-share", type=float, default=1.0, help="share of each stream's chunks answered, 0 to 1 (default: all)"
    )
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port, args.metrics_port, args.answer_share))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
