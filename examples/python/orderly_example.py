"""Shared set-up of the examples: stub imports and addresses from the environment."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from orderly.orders.v1 import (  # noqa: E402,F401
    commands_pb2,
    commands_pb2_grpc,
    event_service_pb2,
    event_service_pb2_grpc,
    events_pb2,
    queries_pb2,
    queries_pb2_grpc,
    types_pb2,
)

COMMAND_ADDR = os.environ.get("ORDERLY_COMMAND_ADDR", "127.0.0.1:" + os.environ.get("COMMAND_PORT", "50051"))
QUERY_ADDR = os.environ.get("ORDERLY_QUERY_ADDR", "127.0.0.1:" + os.environ.get("QUERY_PORT", "50052"))


def channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address)


def check(condition: bool, message: str) -> None:
    """An assertion that survives `python -O`."""
    if not condition:
        raise AssertionError(message)
