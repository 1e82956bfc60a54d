"""The committed stubs are exactly what the generator makes from the .proto files."""

from pathlib import Path

from rnnvoice.protos import generate


def test_committed_stubs_match_the_proto(tmp_path):
    written = generate.generate(tmp_path)
    assert {p.name for p in written} == {"voice_pb2.py", "voice_pb2.pyi", "voice_pb2_grpc.py"}
    for path in written:
        committed = generate.PROTO_ROOT / path.relative_to(tmp_path)
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} is out of date: run `python -m rnnvoice.protos.generate`"
        )


def test_stubs_import_under_the_package_namespace():
    from rnnvoice.protos import pb, pb_grpc

    assert pb.DESCRIPTOR.package == "rnnvoice.v1"
    assert hasattr(pb_grpc, "VoiceStub")
    assert Path(pb.__file__).parent.name == "v1"
