"""Start and stop the project's real services (Kafka, Redis) on loopback, without Docker."""

from __future__ import annotations

__all__ = ["OpsError", "ServiceStartError"]


class OpsError(Exception):
    """Root of every error raised by ``ops``.

    OpsError
    └── ServiceStartError   a service could not be installed, started or reached
    """


class ServiceStartError(OpsError):
    """A service could not be installed, started or reached in time."""
