"""`rnnvoice health`: asks a server's gRPC health service; the container health check of the deployment."""

import argparse
import sys

HELP = "ask a server's gRPC health service; exit 0 when it serves"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnvoice.clients.connection import DEFAULT_SERVER, add_connection_arguments
    from rnnvoice.protos import SERVICE_NAME

    p.add_argument("--server", default=DEFAULT_SERVER, help="host:port of the server")
    p.add_argument("--service", default=SERVICE_NAME, help="service to ask about; '' for the whole server")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")
    add_connection_arguments(p, token=False)  # the health service is open to all, but may sit behind TLS


def run(args) -> int:
    """0 when the service is SERVING; 1 otherwise, with the reason on stderr."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from rnnvoice.clients.connection import connection_from_args

    with connection_from_args(args).channel(args.server) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as e:
            print(f"{args.server}: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{args.server}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1
