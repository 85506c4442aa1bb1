"""Is a Kafka broker answering? One ApiVersions request (Kafka's own handshake) per bootstrap host.

A TCP connect proves only that something listens; a broker that accepts connections but cannot serve
(starting, stuck, or not Kafka at all) fails here. ApiVersions needs no authentication, so it works on
SASL listeners too; on TLS listeners the socket is wrapped with the worker's TLS context first.
"""

import socket
import ssl
import struct

API_VERSIONS_KEY = 18
API_VERSION = 0
CORRELATION_ID = 0x504C44  # "PLD"
CLIENT_ID = b"pld-health-probe"
HEADER = struct.Struct(">hhih")  # api key, api version, correlation id, client id length
RESPONSE_HEAD = struct.Struct(">iih")  # length, correlation id, error code
NO_ERROR = 0
DEFAULT_PORT = 9092


def broker_answers(bootstrap: str, timeout_s: float, tls: ssl.SSLContext | None = None) -> bool:
    """Whether any host of the bootstrap list answers ApiVersions without an error."""
    return any(_answers(host, port, timeout_s, tls) for host, port in _hosts(bootstrap))


def _hosts(bootstrap: str) -> list[tuple[str, int]]:
    hosts = []
    for entry in bootstrap.split(","):
        host, _, port = entry.strip().rpartition(":")
        try:
            hosts.append((host.strip("[]") or "127.0.0.1", int(port) if port else DEFAULT_PORT))
        except ValueError:
            continue
    return hosts


def _answers(host: str, port: int, timeout_s: float, tls: ssl.SSLContext | None) -> bool:
    request = HEADER.pack(API_VERSIONS_KEY, API_VERSION, CORRELATION_ID, len(CLIENT_ID)) + CLIENT_ID
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw:
            sock = tls.wrap_socket(raw, server_hostname=host) if tls is not None else raw
            sock.sendall(struct.pack(">i", len(request)) + request)
            head = _read(sock, RESPONSE_HEAD.size)
    except (OSError, ValueError):
        return False
    if head is None:
        return False
    _length, correlation_id, error_code = RESPONSE_HEAD.unpack(head)
    return bool(correlation_id == CORRELATION_ID and error_code == NO_ERROR)


def _read(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
