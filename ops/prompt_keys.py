"""The Ed25519 key pair that signs prompt versions on a developer's machine (loopback services only).

Production keeps its private key with whoever publishes (`PLD_PROMPT_PRIVATE_KEY`) and gives workers only
the public key (`PLD_PROMPT_PUBLIC_KEY`). On loopback, `ops` writes a pair into the cache dir, private key
owner-only, so the demo and the tests sign and verify exactly as production does.
"""

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ops.paths import cache_root

KEYS_DIR = "prompt-keys"
PRIVATE_FILE = "private.pem"
PUBLIC_FILE = "public.pem"
PRIVATE_MODE = 0o600
DIR_MODE = 0o700


def local_keys_dir() -> Path:
    """`<cache>/prompt-keys`, where the loopback key pair lives."""
    return cache_root() / KEYS_DIR


def ensure_local_prompt_keys(directory: Path | None = None) -> tuple[Path, Path]:
    """The loopback key pair's (private, public) paths, written the first time."""
    directory = directory or local_keys_dir()
    private, public = directory / PRIVATE_FILE, directory / PUBLIC_FILE
    if private.exists() and public.exists():
        return private, public
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(DIR_MODE)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(pem)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public.write_bytes(public_pem)
    return private, public
