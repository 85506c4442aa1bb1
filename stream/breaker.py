"""`CircuitBreaker`: after N inference failures in a row the worker stops dead-lettering and holds its batch.

A message the model cannot decode is dead-lettered; but when every message fails, the model (not the
traffic) is broken, and dead-lettering the whole stream would only move it to the DLQ. So after
`threshold` consecutive failures the breaker opens: the batch in hand is held (not acknowledged),
consumption stops, health turns red; after a cool-down the held batch is retried, and one success
closes the breaker again.
"""

from dataclasses import dataclass


class CircuitOpenError(Exception):
    """Raised from the batch path while the breaker is open: retry the batch later, publish nothing."""


@dataclass
class CircuitBreaker:
    """Counts consecutive inference failures."""

    threshold: int
    consecutive_failures: int = 0

    @property
    def is_open(self) -> bool:
        """Whether the last `threshold` messages all failed."""
        return self.consecutive_failures >= self.threshold

    def record_success(self) -> None:
        """A message was decided: the model works."""
        self.consecutive_failures = 0

    def record_failure(self) -> None:
        """A message failed in the model; raise CircuitOpenError when that makes `threshold` in a row."""
        self.consecutive_failures += 1
        if self.is_open:
            raise CircuitOpenError(f"{self.consecutive_failures} consecutive inference failures")
