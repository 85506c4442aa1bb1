"""Fault injection for the worker's crash path (tests and operators; off unless the variable is set).

With `PLD_FAULT_AGENT_CRASH_KEY=<key>`, a record with that Kafka key makes the agent raise outside
its safety net, as a bug would: the way to prove that a crashed agent stops the worker with a
non-zero status instead of leaving it alive and idle.
"""

import os
from collections.abc import Sequence

from stream.decoding import IncomingRecord

AGENT_CRASH_KEY_ENV = "PLD_FAULT_AGENT_CRASH_KEY"


class InjectedFaultError(RuntimeError):
    """The fault asked for by `PLD_FAULT_AGENT_CRASH_KEY`."""


def inject_agent_crash_if_asked(records: Sequence[IncomingRecord]) -> None:
    """Raise InjectedFaultError when a record carries the configured crash key."""
    key = os.environ.get(AGENT_CRASH_KEY_ENV)
    if key and any(record.key == key.encode() for record in records):
        raise InjectedFaultError(f"fault injected by {AGENT_CRASH_KEY_ENV}")
