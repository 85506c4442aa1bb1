"""Helpers shared by the tests that start services of their own."""

import socket

import pytest

LOOPBACK = "127.0.0.1"
PORT_SEARCH_ATTEMPTS = 50


def port_is_free(port: int) -> bool:
    """Return whether ``port`` can be bound on loopback right now."""
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port_triple() -> int:
    """Return a port that is free together with the next two (client, controller, SASL client)."""
    for _ in range(PORT_SEARCH_ATTEMPTS):
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port: int = probe.getsockname()[1]
        if port_is_free(port + 1) and port_is_free(port + 2):
            return port
    pytest.fail("no three adjacent free ports on loopback")
