"""Client-side encryption of backup objects: AES-256-GCM in chunks, after compression.

The stored format of one object (`SEALED`):

    b"LFE1" | nonce prefix (7 random bytes) | chunk 0 | chunk 1 | ... | last chunk

Each chunk is AES-256-GCM over up to 64 KiB of plaintext, so 64 KiB + 16 bytes of tag;
every chunk but the last is full. Chunk i's 12-byte nonce is the prefix, i as 4 bytes
big-endian, and 1 for the last chunk or 0 for the others (the STREAM construction, as
in Tink and age): chunks cannot be reordered, dropped, or cut off at the end without
failing authentication. The associated data is the header and the object's name, so an
object cannot be passed off as another one of the same backup.

The key: HKDF-SHA256 of the secret's text (`leapfrog secrets`), so any secret works; a
generated one is 32 random bytes. The manifest records the algorithm and a key id,
`SECRET:FINGERPRINT` (a second HKDF output, not the key), so a restore names the secret
it needs and tells a changed secret from a corrupt object before decrypting anything.
"""

from __future__ import annotations

import base64
import itertools
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from leapfrog.backup.driver import BackupError
from leapfrog.shared.named_secrets import SecretSource

__all__ = ["ALGORITHM", "Key", "Keyring", "open_sealed", "seal"]

ALGORITHM = "aes-256-gcm"
MAGIC = b"LFE1"
_PREFIX = 7
HEADER = len(MAGIC) + _PREFIX
PLAIN_CHUNK = 64 << 10
TAG = 16
SEALED_CHUNK = PLAIN_CHUNK + TAG


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


@dataclass(frozen=True)
class Key:
    secret: str
    """The name of the secret it comes from."""
    material: bytes
    fingerprint: str

    @classmethod
    def from_secret(cls, name: str, text: str) -> Key:
        material = _derive(text, b"leapfrog backup aes-256-gcm key")
        fingerprint = _derive(text, b"leapfrog backup key id").hex()[:16]
        return cls(name, material, fingerprint)

    @property
    def key_id(self) -> str:
        return f"{self.secret}:{self.fingerprint}"

    def __repr__(self) -> str:  # never the key itself, in logs or tracebacks
        return f"Key({self.key_id})"


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= 1 << 32:
        raise BackupError("object too large to encrypt (more than 2^32 chunks)")
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def seal(key: Key, name: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The object `name`'s bytes, encrypted (the format above)."""
    aead = AESGCM(key.material)
    header = MAGIC + secrets.token_bytes(_PREFIX)
    prefix = header[len(MAGIC) :]
    aad = header + name.encode()
    yield header
    buffer = bytearray()
    index = 0
    for chunk in chunks:
        buffer += chunk
        # A chunk goes out only once more bytes follow it, so the last one is known.
        while len(buffer) > PLAIN_CHUNK:
            yield aead.encrypt(_nonce(prefix, index, False), bytes(buffer[:PLAIN_CHUNK]), aad)
            del buffer[:PLAIN_CHUNK]
            index += 1
    yield aead.encrypt(_nonce(prefix, index, True), bytes(buffer), aad)


def open_sealed(key: Key, name: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The plaintext of a sealed object, each chunk authenticated before it is given out."""
    aead = AESGCM(key.material)
    buffer = bytearray()
    stream = iter(chunks)
    while len(buffer) < HEADER:
        chunk = next(stream, None)
        if chunk is None:
            raise BackupError(f"object {name} is not an encrypted object (too short)")
        buffer += chunk
    header = bytes(buffer[:HEADER])
    if not header.startswith(MAGIC):
        raise BackupError(f"object {name} is not an encrypted object (no {MAGIC.decode()} header)")
    del buffer[:HEADER]
    prefix = header[len(MAGIC) :]
    aad = header + name.encode()
    index = 0

    def opened(sealed: bytes, last: bool) -> bytes:
        try:
            return aead.decrypt(_nonce(prefix, index, last), sealed, aad)
        except InvalidTag:
            raise BackupError(
                f"object {name} failed authentication at chunk {index}: it was changed "
                f"or cut, or is not encrypted with the key of secret {key.secret!r}"
            ) from None

    # The header's read may have brought whole chunks along: drain before reading more.
    for chunk in itertools.chain([b""], stream):
        buffer += chunk
        while len(buffer) > SEALED_CHUNK:
            yield opened(bytes(buffer[:SEALED_CHUNK]), False)
            del buffer[:SEALED_CHUNK]
            index += 1
    if len(buffer) < TAG:
        raise BackupError(f"object {name} is cut short (its last chunk is missing)")
    yield opened(bytes(buffer), True)


class Keyring:
    """The key new objects are sealed with (when `writing` names a secret), and any key a
    manifest names, from the stack's named secrets."""

    def __init__(self, secrets_store: SecretSource, writing: str | None) -> None:
        self._secrets = secrets_store
        self.writing = writing

    def current(self) -> Key | None:
        """The key for new objects; generated into its secret on first use."""
        if self.writing is None:
            return None
        text = self._secrets.get(self.writing)
        if text is None:
            text = base64.b64encode(secrets.token_bytes(32)).decode()
            self._secrets.set(self.writing, text)
        return Key.from_secret(self.writing, text)

    def key(self, key_id: str) -> Key:
        """The key an object was sealed with, or a BackupError naming the secret."""
        name, _, fingerprint = key_id.rpartition(":")
        text = self._secrets.get(name)
        if text is None:
            raise BackupError(
                f"the backup is encrypted with the key in secret {name!r}, which this stack "
                "does not have",
                hint=f"put the key back: `leapfrog secrets --set {name}` (reads it from stdin)",
            )
        key = Key.from_secret(name, text)
        if key.fingerprint != fingerprint:
            raise BackupError(
                f"secret {name!r} holds another key (id {key.fingerprint}) than the one the "
                f"backup was encrypted with (id {fingerprint})",
                hint=f"set the key the backup was made with: `leapfrog secrets --set {name}`",
            )
        return key
