"""Health checking, server reflection and the model list answer as a user's tools expect."""

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from rnnvoice.models.decoding.language_model import domain_ngrams
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
    assert gru.sample_rate_hz == 16000 and abs(gru.frame_rate_hz - 100 / 3) < 1e-6
    if task == pb.TASK_KEYWORDS:
        assert "computer" in gru.keywords and "seven" in gru.keywords and len(gru.keywords) == 21
    else:
        assert "".join(gru.keywords) == " 'abcdefghijklmnopqrstuvwxyz"


def test_loading_a_recogniser_builds_the_language_model_before_any_stream():
    domain_ngrams.cache_clear()
    ModelRegistry({key: path for key, path in shipped_models().items() if key[0] == "transcription"})
    assert domain_ngrams.cache_info().currsize == 1
    domain_ngrams.cache_clear()
    ModelRegistry({key: path for key, path in shipped_models().items() if key[0] == "keywords"})
    assert domain_ngrams.cache_info().currsize == 0  # keyword-only servers need none
