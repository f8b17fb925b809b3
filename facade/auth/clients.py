"""The client registry: who may ask for tokens, how it authenticates, what it may get.

Three sources, looked up in this order:

- built in: the embedded ``local-dev`` client (DESIGN.md "Contracts"):
  confidential, HTTP Basic, ``client_credentials``, ``system/*``;
- ``{data_dir}/clients.json``: the operator's clients (``athena-facade clients
  add``), re-read when the file changes, so a new client works without a
  restart. Writers take an exclusive ``flock`` on ``clients.json.lock``, re-read
  the file inside it, and replace it atomically from a temporary file of their
  own, so concurrent ``clients add`` runs (or processes) lose nothing;
- the auth store (``auth.sqlite3``): RFC 7591 registrations (``dynamic``),
  shared at once by every worker process.

Operator clients are *trusted*: only they get authorize errors redirected to
their redirect URI, and only their ``launch_uris`` are targets of the EHR
launcher (RFC 9700 §4.11: no open redirectors). Secrets are stored as
PBKDF2-SHA256 hashes.

Kinds (SMART App Launch 2.0 "Client Authentication"):

    public                     client_id in the body, PKCE (authorization_code, refresh_token)
    confidential-symmetric     HTTP Basic with the client secret (client_secret_basic)
    confidential-asymmetric    private_key_jwt: a JWT signed with a key from its JWKS or JWKS URL
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from facade.settings import DEV_CLIENT_ID
from facade.store import AuthStore

log = logging.getLogger("facade.auth")

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
    launch_uris: list[str] = Field(default_factory=list)  # where the EHR launcher may send
    dynamic: bool = False  # registered through RFC 7591, not by an operator: not trusted

    @field_validator("launch_uris")
    @classmethod
    def _absolute_urls(cls, uris: list[str]) -> list[str]:
        for uri in uris:
            parts = urlsplit(uri)
            if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
                raise ValueError(f"{uri!r} must be an absolute http(s) URL without a fragment")
            if parts.username is not None or parts.password is not None:
                raise ValueError(f"{uri!r} must not carry user information")
        return uris

    @property
    def trusted(self) -> bool:
        """Registered by an operator (CLI, clients.json), so its URIs may be redirected to
        without the user's say (authorize errors, the EHR launcher)."""
        return not self.dynamic

    @property
    def auth_method(self) -> str:
        return {
            "public": "none",
            "confidential-symmetric": "client_secret_basic",
            "confidential-asymmetric": "private_key_jwt",
        }[self.kind]


class ClientRegistry:
    """Built-in clients, the clients file and dynamic registrations (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        builtin: list[Client],
        *,
        dev_secret: str | None,
        store: AuthStore | None = None,
    ) -> None:
        self.path = path
        self._builtin = {c.client_id: c for c in builtin}
        self._dev_secret = dev_secret
        self._store = store
        self._lock = threading.Lock()
        self._seen: tuple[int, ...] | None = None
        self._clients: dict[str, Client] = {}

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _read_file(self) -> dict[str, Client]:
        data = json.loads(self.path.read_text() or "{}")
        return {
            c["client_id"]: Client.model_validate({**c, "dynamic": False})
            for c in data.get("clients", [])
        }

    def _load(self) -> dict[str, Client]:
        with self._lock:
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._seen, self._clients = None, {}
                return self._clients
            # every write replaces the file (a new inode); the mtime alone can repeat within
            # one timestamp tick, and a change another process makes must not be missed
            seen = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
            if seen != self._seen:
                try:
                    self._clients = self._read_file()
                except (OSError, ValueError, ValidationError, KeyError, TypeError):
                    # a hand edit gone wrong: keep serving the clients we had, say so
                    log.error("clients file %s is not valid; keeping the last good one", self.path)
                self._seen = seen
            return self._clients

    def get(self, client_id: str) -> Client | None:
        found = self._builtin.get(client_id) or self._load().get(client_id)
        if found is None and self._store is not None:
            body = self._store.get_client(client_id)
            if body is not None:
                found = Client.model_validate({**body, "dynamic": True})
        return found

    def all(self) -> list[Client]:
        dynamic = self._store.list_clients() if self._store is not None else []
        return [
            *self._builtin.values(),
            *self._load().values(),
            *(Client.model_validate({**body, "dynamic": True}) for body in dynamic),
        ]

    def launch_target(self, url: str) -> Client | None:
        """The trusted client that registered exactly this launch URL (EHR launcher)."""
        for client in (*self._builtin.values(), *self._load().values()):
            if client.trusted and url in client.launch_uris:
                return client
        return None

    def check_secret(self, client: Client, secret: str) -> bool:
        if client.kind != "confidential-symmetric":
            return False
        if client.client_id == DEV_CLIENT_ID and client.client_id in self._builtin:
            expected = (self._dev_secret or "").encode()
            return bool(expected) and hmac.compare_digest(secret.encode(), expected)
        return client.secret_hash is not None and check_secret(secret, client.secret_hash)

    # ------------------------------------------------------------------ operator clients (file)
    def add(self, client: Client) -> None:
        """Add or replace an operator client in the clients file."""
        if client.client_id in self._builtin:
            raise ValueError(f"{client.client_id} is a built-in client")
        with self._file_locked() as current:
            current[client.client_id] = client.model_copy(update={"dynamic": False})

    def remove(self, client_id: str) -> bool:
        """Remove an operator client, or else a dynamically registered one."""
        with self._file_locked() as current:
            found = current.pop(client_id, None) is not None
        if not found and self._store is not None:
            found = self._store.remove_client(client_id)
        return found

    @contextmanager
    def _file_locked(self) -> Iterator[dict[str, Client]]:
        """Read-modify-write of the clients file under an exclusive lock (threads and
        processes); the file is re-read inside the lock and replaced atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            before = self._read_file() if self.path.exists() else {}
            current = dict(before)
            yield current
            if current != before:
                self._write(current)
        finally:
            os.close(fd)  # releases the lock
        with self._lock:
            self._seen = None

    def _write(self, clients: dict[str, Client]) -> None:
        body = {
            "clients": [
                c.model_dump(exclude_none=True, exclude={"dynamic"}) for c in clients.values()
            ]
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".clients.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:  # mkstemp: mode 0600
                json.dump(body, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ RFC 7591 (auth store)
    def register(self, client: Client) -> None:
        """Store a dynamically registered client (untrusted); every worker sees it at once."""
        if self._store is None:
            raise RuntimeError("dynamic registration needs the auth store")
        if client.client_id in self._builtin or client.client_id in self._load():
            raise ValueError(f"{client.client_id} is taken")
        body = client.model_dump(exclude_none=True, exclude={"dynamic"})
        if not self._store.add_client(client.client_id, body, int(time.time())):
            raise ValueError(f"{client.client_id} is taken")


def dev_client() -> Client:
    """The embedded local-dev client (secret checked against FACADE_DEV_CLIENT_SECRET)."""
    return Client(
        client_id=DEV_CLIENT_ID,
        client_name="local development",
        kind="confidential-symmetric",
        scope="system/*.cruds",
        grant_types=["client_credentials"],
    )
