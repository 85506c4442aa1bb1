"""Every Redis key and channel the project uses, in one place."""

KEY_PREFIX = "pld"


def prompt_version_key(version: str) -> str:
    """Hash of one stored prompt version (`json`, `sha256`, optional `signature`)."""
    return f"{KEY_PREFIX}:prompt:version:{version}"


def prompt_versions_key() -> str:
    """Sorted set of stored versions, scored by the time they were stored."""
    return f"{KEY_PREFIX}:prompt:versions"


def deployment_key() -> str:
    """Hash of the pointers: `production`, `canary`, `canary_share`, `shadow`, `generation`."""
    return f"{KEY_PREFIX}:prompt:deployment"


def history_key() -> str:
    """List of pointer moves (JSON `HistoryEntry`), appended only."""
    return f"{KEY_PREFIX}:prompt:history"


def changes_channel() -> str:
    """Pub/sub channel announcing every pointer move (payload: the new generation)."""
    return f"{KEY_PREFIX}:prompt:changes"
