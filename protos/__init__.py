"""The gRPC contract: generated messages (`pb`) and service stubs (`pb_grpc`) of rnnvoice.v1."""

from rnnvoice.protos.rnnvoice.v1 import voice_pb2 as pb
from rnnvoice.protos.rnnvoice.v1 import voice_pb2_grpc as pb_grpc

# The full name health checks and reflection know the Voice service by.
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Voice"].full_name

__all__ = ["SERVICE_NAME", "pb", "pb_grpc"]
