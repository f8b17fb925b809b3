"""Secrets at rest: AES-256-GCM under a per-secret data key, the data key wrapped by a master key.

Named secrets live in ``{data_dir}/vault.json`` (mode 0600)::

    {"version": 1, "secrets": {"athena_client_secret": {
        "key_id": "k2",              # the master key that wraps the data key
        "data_key": "<b64>",         # nonce || AES-GCM(master, data key, aad = name)
        "nonce": "<b64>", "ciphertext": "<b64>",   # AES-GCM(data key, secret, aad = name)
        "updated_at": 1764590000}}}

Values kept elsewhere (each Subscription's webhook secret, in events.sqlite3) are *sealed*
into one self-describing text, ``vault:v1:{key_id}:{data_key}:{nonce}:{ciphertext}``
(base64url parts), with the row's identity as AAD so a sealed value copied to another
row does not open. Plaintext is returned only by :meth:`Vault.get` / :meth:`Vault.open`;
errors name secrets and key ids, never values.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facade.vault.keys import KeyProvider, VaultError

SEALED = "vault:v1:"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Vault:
    def __init__(self, path: Path, provider: KeyProvider) -> None:
        self.path = path
        self.provider = provider
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ envelope
    def _encrypt(self, value: str, aad: bytes) -> dict[str, str]:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        ciphertext = AESGCM(data_key).encrypt(nonce, value.encode("utf-8"), aad)
        key_id, wrapped = self.provider.wrap(data_key, aad)
        return {
            "key_id": key_id,
            "data_key": _b64(wrapped),
            "nonce": _b64(nonce),
            "ciphertext": _b64(ciphertext),
        }

    def _decrypt(self, entry: dict[str, Any], aad: bytes, what: str) -> str:
        data_key = self.provider.unwrap(str(entry["key_id"]), _unb64(entry["data_key"]), aad)
        try:
            plain = AESGCM(data_key).decrypt(
                _unb64(entry["nonce"]), _unb64(entry["ciphertext"]), aad
            )
        except Exception:
            raise VaultError(
                f"{what} does not decrypt (altered, or moved from another row)"
            ) from None
        return plain.decode("utf-8")

    def _rewrap(self, entry: dict[str, Any], aad: bytes) -> dict[str, Any]:
        data_key = self.provider.unwrap(str(entry["key_id"]), _unb64(entry["data_key"]), aad)
        key_id, wrapped = self.provider.wrap(data_key, aad)
        return {**entry, "key_id": key_id, "data_key": _b64(wrapped)}

    # ------------------------------------------------------------------ named secrets
    def _load(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            body = json.loads(self.path.read_text())
        except ValueError:
            raise VaultError(f"{self.path} is not a vault file") from None
        found: dict[str, dict[str, Any]] = body.get("secrets", {})
        return found

    def _save(self, secrets: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".vault-")
        with os.fdopen(fd, "w") as out:
            json.dump({"version": 1, "secrets": secrets}, out, indent=2, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """This process's threads and the other processes (workers, CLI) change the file
        one at a time (``flock`` on ``vault.json.lock``)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_suffix(".json.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def set(self, name: str, value: str) -> None:
        with self._locked():
            secrets = self._load()
            secrets[name] = {**self._encrypt(value, name.encode()), "updated_at": int(time.time())}
            self._save(secrets)

    def setdefault(self, name: str, value: str) -> str:
        """Store ``value`` unless ``name`` is already there; the value that is kept."""
        with self._locked():
            secrets = self._load()
            if name in secrets:
                return self._decrypt(secrets[name], name.encode(), name)
            secrets[name] = {**self._encrypt(value, name.encode()), "updated_at": int(time.time())}
            self._save(secrets)
            return value

    def get(self, name: str) -> str | None:
        entry = self._load().get(name)
        return None if entry is None else self._decrypt(entry, name.encode(), name)

    def delete(self, name: str) -> bool:
        with self._locked():
            secrets = self._load()
            if secrets.pop(name, None) is None:
                return False
            self._save(secrets)
            return True

    def list(self) -> list[tuple[str, str, int]]:
        """(name, master key id, updated_at) of every secret: never a value."""
        return [
            (name, str(e["key_id"]), int(e.get("updated_at", 0)))
            for name, e in sorted(self._load().items())
        ]

    def rotate(self) -> int:
        """Re-wrap every data key under the active master key; how many were re-wrapped."""
        active = self.provider.active_key_id()
        with self._locked():
            secrets = self._load()
            moved = 0
            for name, entry in secrets.items():
                if entry["key_id"] != active:
                    secrets[name] = self._rewrap(entry, name.encode())
                    moved += 1
            if moved:
                self._save(secrets)
            return moved

    # ------------------------------------------------------------------ sealed values
    def seal(self, value: str, aad: str) -> str:
        e = self._encrypt(value, aad.encode())
        return SEALED + ":".join((e["key_id"], e["data_key"], e["nonce"], e["ciphertext"]))

    def open(self, sealed: str, aad: str) -> str:
        if not sealed.startswith(SEALED):
            return sealed  # written before the vault was configured
        parts = sealed[len(SEALED) :].split(":")
        if len(parts) != 4:
            raise VaultError("a sealed value is malformed")
        entry = dict(zip(("key_id", "data_key", "nonce", "ciphertext"), parts, strict=True))
        return self._decrypt(entry, aad.encode(), "a sealed value")

    def reseal(self, sealed: str, aad: str) -> str | None:
        """The sealed value re-wrapped under the active key; None when it already is."""
        if not sealed.startswith(SEALED):
            return self.seal(sealed, aad)  # plaintext from before the vault: seal it now
        parts = sealed[len(SEALED) :].split(":")
        if len(parts) != 4 or parts[0] == self.provider.active_key_id():
            return None
        entry = dict(zip(("key_id", "data_key", "nonce", "ciphertext"), parts, strict=True))
        moved = self._rewrap(entry, aad.encode())
        return SEALED + ":".join(
            (moved["key_id"], moved["data_key"], moved["nonce"], moved["ciphertext"])
        )
