"""Every Redis key and channel the prompt registry uses, in one place, namespaced by deployment.

Two deployments sharing one Redis (two `PLD_APP_ID`s) never see each other's versions or pointers.
"""

from dataclasses import dataclass

KEY_PREFIX = "pld"


@dataclass(frozen=True)
class RegistryKeys:
    """The key names of one deployment's registry (`namespace` is its `PLD_APP_ID`)."""

    namespace: str

    @property
    def _root(self) -> str:
        return f"{KEY_PREFIX}:{self.namespace}:prompt"

    def version(self, version: str) -> str:
        """Hash of one stored prompt version (`json`, `sha256`, `signature`)."""
        return f"{self._root}:version:{version}"

    def versions(self) -> str:
        """Sorted set of stored versions, scored by the time they were stored."""
        return f"{self._root}:versions"

    def deployment(self) -> str:
        """Hash of the pointers: `production`, `canary`, `canary_share`, `shadow`, `generation`, `signature`."""
        return f"{self._root}:deployment"

    def history(self) -> str:
        """List of signed pointer moves (JSON `SignedEntry`), appended only."""
        return f"{self._root}:history"

    def changes(self) -> str:
        """Pub/sub channel announcing every pointer move (payload: the new generation)."""
        return f"{self._root}:changes"
