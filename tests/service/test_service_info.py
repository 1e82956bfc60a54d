"""Health checking, server reflection and the model list answer as a user's tools expect."""

import subprocess
import sys

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from rnnvoice.models.decoding.ctc import beam_search
from rnnvoice.models.weights import shipped_models
from rnnvoice.protos import pb
from rnnvoice.service.registry import ModelRegistry


def test_health_reports_serving(server):
    with grpc.insecure_channel(server.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "rnnvoice.v1.Voice"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_describes_the_service(server):
    with grpc.insecure_channel(server.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {"rnnvoice.v1.Voice", "grpc.health.v1.Health"} <= services
        pool = DescriptorPool(database)
        voice = pool.FindServiceByName("rnnvoice.v1.Voice")
        assert {m.name for m in voice.methods} == {"StreamAudio", "Recognize", "ListModels"}
        stream = voice.methods_by_name["StreamAudio"]
        assert stream.client_streaming and stream.server_streaming


@pytest.mark.parametrize("task", [pb.TASK_KEYWORDS, pb.TASK_TRANSCRIPTION])
def test_list_models_reports_both_cells_and_gru_state_is_smaller(client, task):
    models = {m.cell: m for m in client.list_models() if m.task == task}
    gru, lstm = models[pb.CELL_GRU], models[pb.CELL_LSTM]
    assert gru.hidden_size == lstm.hidden_size and gru.layers == lstm.layers
    # h for GRU; h and c for LSTM: every layer, float32.
    assert gru.state_bytes == gru.layers * gru.hidden_size * 4
    assert lstm.state_bytes == 2 * gru.state_bytes
    assert gru.parameters < lstm.parameters
    # Both step with the speech embedding, every 80 ms (the recognisers give two CTC frames a step).
    assert gru.sample_rate_hz == lstm.sample_rate_hz == 16000
    assert abs(gru.frame_rate_hz - 12.5) < 1e-6 and abs(lstm.frame_rate_hz - 12.5) < 1e-6
    if task == pb.TASK_KEYWORDS:
        assert "computer" in gru.keywords and "seven" in gru.keywords and len(gru.keywords) == 21
    else:
        assert "".join(gru.keywords) == " 'abcdefghijklmnopqrstuvwxyz"


def test_loading_a_recogniser_loads_the_language_model_before_any_stream():
    beam_search.cache_clear()
    ModelRegistry({key: path for key, path in shipped_models().items() if key[0] == "transcription"})
    assert beam_search.cache_info().currsize == 1
    beam_search.cache_clear()
    ModelRegistry({key: path for key, path in shipped_models().items() if key[0] == "keywords"})
    assert beam_search.cache_info().currsize == 0  # keyword-only servers need none


@pytest.mark.slow
def test_the_server_does_not_import_training_data():
    """The language model and lexicon are shipped files: a started server never imports the generators."""
    script = """
import asyncio, sys
from rnnvoice.models.weights import shipped_models
from rnnvoice.service.server import VoiceServer
from rnnvoice.service.settings import ServerSettings

async def main():
    server = VoiceServer(ServerSettings(host="127.0.0.1", port=0, models=shipped_models(), grace_s=1.0))
    await server.start()
    await server.stop()

asyncio.run(main())
print(sorted(m for m in sys.modules if m.startswith(("rnnvoice.models.data", "rnnvoice.models.training"))))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
