"""Master keys: a :class:`KeyProvider` wraps and unwraps data keys, naming the key it used.

Envelope encryption (EVENTS-BULK-MCP-SCALE §7): each secret is encrypted with its own random
AES-256-GCM data key; the provider wraps that data key under a master key and answers the
master key's id, stored with the secret. Rotation adds a master key, makes it active and
re-wraps every data key (the secrets themselves are not re-encrypted).

:class:`LocalKeyProvider` holds the master keys in memory, read from the environment
(``FACADE_VAULT_MASTER_KEY``) or a key file (``FACADE_VAULT_KEY_FILE``). A KMS or HashiCorp
Vault provider implements the same three methods: AWS KMS ``Encrypt``/``Decrypt`` (or
``GenerateDataKey``) with ``EncryptionContext`` = ``context``, Vault Transit
``encrypt_data``/``decrypt_data`` with ``context``; the key id is the KMS key ARN or the
Transit key name and version.

Key text: ``kid:base64(32 bytes)``, several separated by commas, the first active, e.g.
``FACADE_VAULT_MASTER_KEY="k2:...,k1:..."``. A key file holds the same text (one or more
lines). ``athena-facade vault keygen`` prints a new key.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class VaultError(Exception):
    """A vault problem, said without any secret material."""


class KeyProvider(Protocol):
    def active_key_id(self) -> str: ...

    def wrap(self, data_key: bytes, context: bytes) -> tuple[str, bytes]:
        """(the active master key's id, ``data_key`` encrypted under it, bound to ``context``)."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes: ...


class LocalKeyProvider:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise VaultError("no master key")
        for kid, key in keys:
            if not _KID.match(kid):
                raise VaultError(f"master key id {kid[:64]!r} must be letters, digits, . _ -")
            if len(key) != 32:
                raise VaultError(f"master key {kid} must be 32 bytes (base64)")
        self._active = keys[0][0]
        self._keys = dict(keys)

    @classmethod
    def parse(cls, text: str) -> LocalKeyProvider:
        keys: list[tuple[str, bytes]] = []
        for item in re.split(r"[,\n]", text):
            item = item.strip()
            if not item or item.startswith("#"):
                continue
            kid, sep, encoded = item.partition(":")
            if not sep:
                raise VaultError("a master key is written kid:base64key")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except ValueError:
                raise VaultError(f"master key {kid.strip()[:64]} is not base64") from None
            keys.append((kid.strip(), key))
        return cls(keys)

    @classmethod
    def from_file(cls, path: Path) -> LocalKeyProvider:
        if not path.exists():
            raise VaultError(f"the vault key file {path} does not exist")
        if path.stat().st_mode & 0o077:
            raise VaultError(f"the vault key file {path} must be readable by its owner only")
        return cls.parse(path.read_text())

    def active_key_id(self) -> str:
        return self._active

    def wrap(self, data_key: bytes, context: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(12)
        wrapped = AESGCM(self._keys[self._active]).encrypt(nonce, data_key, context)
        return self._active, nonce + wrapped

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise VaultError(
                f"master key {key_id} is not configured (keep retired keys until rotate)"
            )
        try:
            return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], context)
        except Exception:
            raise VaultError(f"a data key does not open under master key {key_id}") from None


def new_key_text(kid: str) -> str:
    """A new master key, as FACADE_VAULT_MASTER_KEY takes it."""
    return f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}"
