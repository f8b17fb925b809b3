"""The client registry: who may ask for tokens, how it authenticates, what it may get.

Clients live in ``{data_dir}/clients.json`` (written by ``athena-facade clients
add``, and by RFC 7591 registration when enabled) and are re-read when the file
changes, so a new client works without a restart. Secrets are stored as
PBKDF2-SHA256 hashes. The embedded ``local-dev`` client is built in (DESIGN.md
"Contracts"): confidential, HTTP Basic, ``client_credentials``, ``system/*``.

Kinds (SMART App Launch 2.0 "Client Authentication"):

    public                     client_id in the body, PKCE (authorization_code, refresh_token)
    confidential-symmetric     HTTP Basic with the client secret (client_secret_basic)
    confidential-asymmetric    private_key_jwt: a JWT signed with a key from its JWKS or JWKS URL
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from facade.settings import DEV_CLIENT_ID

ClientKind = Literal["public", "confidential-symmetric", "confidential-asymmetric"]
GrantType = Literal["authorization_code", "refresh_token", "client_credentials"]
PBKDF2_ITERATIONS = 200_000


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, PBKDF2_ITERATIONS)
    return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${salt.hex()}${digest.hex()}"


def check_secret(secret: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(candidate.hex(), digest)


def _code_grant() -> list[GrantType]:
    return ["authorization_code", "refresh_token"]


class Client(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str
    client_name: str = ""
    kind: ClientKind
    secret_hash: str | None = None
    redirect_uris: list[str] = Field(default_factory=list)
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    scope: str = ""  # the scopes this client may be granted (SMART v1 or v2 syntax)
    grant_types: list[GrantType] = Field(default_factory=_code_grant)

    @property
    def auth_method(self) -> str:
        return {
            "public": "none",
            "confidential-symmetric": "client_secret_basic",
            "confidential-asymmetric": "private_key_jwt",
        }[self.kind]


class ClientRegistry:
    """Built-in clients plus the clients file; lookups re-read the file when it changed."""

    def __init__(self, path: Path, builtin: list[Client], *, dev_secret: str | None) -> None:
        self.path = path
        self._builtin = {c.client_id: c for c in builtin}
        self._dev_secret = dev_secret
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._clients: dict[str, Client] = {}

    def _load(self) -> dict[str, Client]:
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime
            except FileNotFoundError:
                self._mtime, self._clients = None, {}
                return self._clients
            if mtime != self._mtime:
                data = json.loads(self.path.read_text() or "{}")
                self._clients = {
                    c["client_id"]: Client.model_validate(c) for c in data.get("clients", [])
                }
                self._mtime = mtime
            return self._clients

    def get(self, client_id: str) -> Client | None:
        return self._builtin.get(client_id) or self._load().get(client_id)

    def all(self) -> list[Client]:
        return [*self._builtin.values(), *self._load().values()]

    def check_secret(self, client: Client, secret: str) -> bool:
        if client.kind != "confidential-symmetric":
            return False
        if client.client_id == DEV_CLIENT_ID and client.client_id in self._builtin:
            expected = (self._dev_secret or "").encode()
            return bool(expected) and hmac.compare_digest(secret.encode(), expected)
        return client.secret_hash is not None and check_secret(secret, client.secret_hash)

    def add(self, client: Client) -> None:
        if client.client_id in self._builtin:
            raise ValueError(f"{client.client_id} is a built-in client")
        current = dict(self._load())
        current[client.client_id] = client
        self._write(current)

    def remove(self, client_id: str) -> bool:
        current = dict(self._load())
        if current.pop(client_id, None) is None:
            return False
        self._write(current)
        return True

    def _write(self, clients: dict[str, Client]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"clients": [c.model_dump(exclude_none=True) for c in clients.values()]}
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(body, handle, indent=1)
        tmp.replace(self.path)
        with self._lock:
            self._mtime = None


def dev_client() -> Client:
    """The embedded local-dev client (secret checked against FACADE_DEV_CLIENT_SECRET)."""
    return Client(
        client_id=DEV_CLIENT_ID,
        client_name="local development",
        kind="confidential-symmetric",
        scope="system/*.cruds",
        grant_types=["client_credentials"],
    )
