"""The Voice service on a gRPC server, with request parsing that turns bad bytes into a status, not a traceback."""

from dataclasses import dataclass, field

import grpc
from google.protobuf import message_factory
from google.protobuf.message import DecodeError

from rnnvoice.protos import SERVICE_NAME, pb
from rnnvoice.service.errors import StreamError, invalid

HANDLERS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


@dataclass(frozen=True)
class Refused:
    """A request message the server did not parse; the handler raises its error (a worker relaying the call sends
    the bytes on, for the worker that keeps the stream to refuse)."""

    error: StreamError
    data: bytes = field(default=b"", repr=False)


def accepted(request):
    """The request, or its Refused error raised."""
    if isinstance(request, Refused):
        raise request.error
    return request


def _parser(message_type, max_bytes: int):
    name = message_type.DESCRIPTOR.name

    def parse(data: bytes):
        # Checked on the raw bytes, before parsing copies them.
        if len(data) > max_bytes:
            return Refused(
                invalid(
                    f"a {name} of {len(data)} bytes is more than this server takes ({max_bytes} "
                    "bytes); send smaller chunks, or stream a long recording"
                ),
                data,
            )
        try:
            return message_type.FromString(data)
        except DecodeError:
            return Refused(
                invalid(
                    f"the request is not a valid {name} message ({len(data)} bytes); send one "
                    "made by the rnnvoice.v1 stubs"
                ),
                data,
            )

    return parse


def add_voice_service(servicer, server, max_request_bytes: dict[str, int]) -> None:
    """Registers every method of the Voice service; max_request_bytes: method name -> largest request taken
    (methods not named take the server's limit)."""
    handlers = {}
    for method in pb.DESCRIPTOR.services_by_name["Voice"].methods:
        request, response = (message_factory.GetMessageClass(t) for t in (method.input_type, method.output_type))
        handlers[method.name] = HANDLERS[method.client_streaming, method.server_streaming](
            getattr(servicer, method.name),
            request_deserializer=_parser(request, max_request_bytes.get(method.name, 1 << 31)),
            response_serializer=response.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
