"""Every Redis key the project uses, in one place."""

KEY_PREFIX = "pld"


def prompt_version_key(version: str) -> str:
    """Hash of one stored prompt version (`json`, `sha256`)."""
    return f"{KEY_PREFIX}:prompt:version:{version}"


def active_prompt_key() -> str:
    """String naming the active prompt version."""
    return f"{KEY_PREFIX}:prompt:active"


def prompt_versions_key() -> str:
    """Sorted set of stored versions, scored by the time they were stored."""
    return f"{KEY_PREFIX}:prompt:versions"
