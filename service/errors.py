"""The one exception the service raises for bad requests: a gRPC status and a message that says what to fix."""

import grpc


class StreamError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> StreamError:
    return StreamError(grpc.StatusCode.INVALID_ARGUMENT, message)
