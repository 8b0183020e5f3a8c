"""Shared set-up of the examples: stub imports, addresses and security from the environment.

TLS is on when any of ORDERLY_CA_FILE (the CA of the services' certificates), ORDERLY_CLIENT_CERT and
ORDERLY_CLIENT_KEY (a client certificate for mTLS) or ORDERLY_TLS_SERVER_NAME (the name the certificate carries, when
it is not the address's host) is set. A bearer token from ORDERLY_TOKEN_FILE (re-read when it changes, so a refreshed
token is used by the next call) or ORDERLY_TOKEN goes on every call as `authorization: Bearer ...`; gRPC sends call
credentials over TLS only.
"""
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


CA_FILE = os.environ.get("ORDERLY_CA_FILE")
CLIENT_CERT = os.environ.get("ORDERLY_CLIENT_CERT")
CLIENT_KEY = os.environ.get("ORDERLY_CLIENT_KEY")
SERVER_NAME = os.environ.get("ORDERLY_TLS_SERVER_NAME")
TOKEN_FILE = os.environ.get("ORDERLY_TOKEN_FILE")
TOKEN = os.environ.get("ORDERLY_TOKEN")


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class _BearerToken(grpc.AuthMetadataPlugin):
    """Asked by gRPC before every call: the token file is read again when it has changed."""

    def __init__(self) -> None:
        self._stamp = None
        self._token = TOKEN.strip() if TOKEN else ""

    def _current(self) -> str:
        if TOKEN_FILE:
            stat = os.stat(TOKEN_FILE)
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if stamp != self._stamp:
                token = _read(TOKEN_FILE).decode().strip()
                if token:  # a half-written file keeps the previous token
                    self._token, self._stamp = token, stamp
        return self._token

    def __call__(self, context, callback) -> None:
        try:
            token = self._current()
        except OSError as error:
            callback((), error)
            return
        if not token:
            callback((), ValueError("no bearer token"))
            return
        callback((("authorization", f"Bearer {token}"),), None)


def secure() -> bool:
    return any((CA_FILE, CLIENT_CERT, CLIENT_KEY, SERVER_NAME))


def channel(address: str) -> grpc.Channel:
    if not secure():
        if TOKEN or TOKEN_FILE:
            raise SystemExit("a bearer token needs TLS: set ORDERLY_CA_FILE (and ORDERLY_CLIENT_CERT/KEY for mTLS)")
        return grpc.insecure_channel(address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(CA_FILE) if CA_FILE else None,
        private_key=_read(CLIENT_KEY) if CLIENT_KEY else None,
        certificate_chain=_read(CLIENT_CERT) if CLIENT_CERT else None,
    )
    if TOKEN or TOKEN_FILE:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.metadata_call_credentials(_BearerToken(), name="orderly-bearer")
        )
    options = [("grpc.ssl_target_name_override", SERVER_NAME)] if SERVER_NAME else []
    return grpc.secure_channel(address, credentials, options=options)


def check(condition: bool, message: str) -> None:
    """An assertion that survives `python -O`."""
    if not condition:
        raise AssertionError(message)
