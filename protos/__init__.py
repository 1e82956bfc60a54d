"""The gRPC contract: generated messages (`pb`) and service stubs (`pb_grpc`) of rnnvoice.v1."""

from rnnvoice.protos.rnnvoice.v1 import voice_pb2 as pb
from rnnvoice.protos.rnnvoice.v1 import voice_pb2_grpc as pb_grpc

__all__ = ["pb", "pb_grpc"]
