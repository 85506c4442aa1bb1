"""Ed25519 signatures for the registry: publishers sign with the private key, workers verify with the public one.

What is signed, each under its own domain tag so that no signature can be replayed as another kind:
- a prompt version: its canonical sha256 (`pld-version:<sha256>`);
- a deployment: the canonical JSON of every pointer, the canary share and the generation, in the
  registry's namespace (`pld-deployment:<namespace>:<json>`): a worker applies only what a publisher
  signed, and never a generation lower than one it already applied;
- a history entry: its canonical JSON (`pld-history:<namespace>:<json>`).

A worker holds only the public key, so a compromised worker (or anyone with Redis access) cannot sign.
Keys are PEM files (`openssl genpkey -algorithm ed25519`); `ops` writes a pair for the loopback services
(`ops/prompt_keys.py`), so a developer's machine is signed end to end like production.
"""

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from stream.errors import PromptSignatureError, PromptStoreError

T = TypeVar("T")

VERSION_TAG = "pld-version"
DEPLOYMENT_TAG = "pld-deployment"
HISTORY_TAG = "pld-history"


def signed_message(tag: str, *parts: str) -> bytes:
    """The bytes a signature covers: a domain tag and the parts, colon-separated."""
    return ":".join((tag, *parts)).encode("utf-8")


@dataclass(frozen=True)
class PromptSigner:
    """Signs with a private key (publishers: `pld prompt`)."""

    key: Ed25519PrivateKey

    @classmethod
    def from_file(cls, path: Path) -> "PromptSigner":
        """The private key in a PEM file; an unreadable, empty or non-Ed25519 file is a PromptStoreError."""
        key = _load(path, "signing key", lambda pem: serialization.load_pem_private_key(pem, password=None))
        if not isinstance(key, Ed25519PrivateKey):
            raise PromptStoreError(f"{path} is not an Ed25519 private key")
        return cls(key)

    def sign(self, message: bytes) -> str:
        """The signature, base64."""
        return base64.b64encode(self.key.sign(message)).decode("ascii")

    @property
    def verifier(self) -> "PromptVerifier":
        """The verifier of this key's signatures."""
        return PromptVerifier(self.key.public_key())


@dataclass(frozen=True)
class PromptVerifier:
    """Verifies with a public key (workers)."""

    key: Ed25519PublicKey

    @classmethod
    def from_file(cls, path: Path) -> "PromptVerifier":
        """The public key in a PEM file; an unreadable, empty or non-Ed25519 file is a PromptStoreError."""
        key = _load(path, "public key", serialization.load_pem_public_key)
        if not isinstance(key, Ed25519PublicKey):
            raise PromptStoreError(f"{path} is not an Ed25519 public key")
        return cls(key)

    def verify(self, signature: str, message: bytes, what: str) -> None:
        """Raise PromptSignatureError unless `signature` (base64) signs `message`."""
        try:
            self.key.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, ValueError) as exc:
            raise PromptSignatureError(f"{what} is unsigned or its signature does not match") from exc


def _load(path: Path, what: str, parse: Callable[[bytes], T]) -> T:
    try:
        return parse(path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise PromptStoreError(f"cannot read the prompt {what} {path}: {exc}") from exc
