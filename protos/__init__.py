"""The gRPC contract: generated messages (`pb`) and service stubs (`pb_grpc`) of rnnvoice.v1."""

from rnnvoice.protos.rnnvoice.v1 import voice_pb2 as pb
from rnnvoice.protos.rnnvoice.v1 import voice_pb2_grpc as pb_grpc

# The full name health checks and reflection know the Voice service by.
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Voice"].full_name
# Trailing metadata of the UNAVAILABLE that ends a stream when the server shuts down (voice.proto, STREAM_END_DRAINED):
# the stream is gone with the server, so a resumable client does not resume it, even where the summary was not sent.
DRAINED_METADATA = ("rnnvoice-stream-end", "drained")

__all__ = ["DRAINED_METADATA", "SERVICE_NAME", "pb", "pb_grpc"]
