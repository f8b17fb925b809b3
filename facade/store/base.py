"""The authorization server's durable state: codes, refresh tokens, revocations, replays.

Secrets (authorization codes, refresh tokens, launch values) are never stored:
callers hand in ``token_hash(secret)`` and keep the secret only in the response.
A *grant* is one user authorization (or one backend client session); every
code, refresh token and access token carries its grant id, so revoking the
grant ends them all at once (RFC 7009 §2.1).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol


def token_hash(secret: str) -> str:
    """SHA-256 of a high-entropy secret: enough to look it up, useless if the store leaks."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CodeRecord:
    grant_id: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    payload: dict[str, Any]  # scope and launch context (patient, encounter, user, nonce, ...)
    expires_at: int
    used: bool = False


@dataclass(frozen=True)
class RefreshRecord:
    grant_id: str
    client_id: str
    scope: str
    payload: dict[str, Any]
    expires_at: int
    used: bool = False


class AuthStore(Protocol):
    caches_answers: bool  # revocation answers kept by the store itself (then not above it)

    def create_grant(self, grant_id: str, client_id: str, expires_at: int) -> None: ...

    def revoke_grant(self, grant_id: str) -> None: ...

    def grant_active(self, grant_id: str, now: int) -> bool: ...

    def put_code(self, code_hash: str, record: CodeRecord) -> None: ...

    def take_code(self, code_hash: str) -> CodeRecord | None:
        """The code's record, marking it used in the same step (a second take sees used=True)."""
        ...

    def put_refresh(self, token_hash: str, record: RefreshRecord) -> None: ...

    def take_refresh(self, token_hash: str) -> RefreshRecord | None:
        """Like :meth:`take_code`: rotation marks the presented refresh token used."""
        ...

    def get_refresh(self, token_hash: str) -> RefreshRecord | None: ...

    def revoke_token(self, jti: str, expires_at: int) -> None: ...

    def token_revoked(self, jti: str) -> bool: ...

    def remember_assertion(self, client_id: str, jti: str, expires_at: int, now: int) -> bool:
        """Record a client assertion's ``jti``; False when it was already seen (a replay)."""
        ...

    def put_launch(self, launch_hash: str, payload: dict[str, Any], expires_at: int) -> None: ...

    def get_launch(self, launch_hash: str, now: int) -> dict[str, Any] | None: ...

    def use_session(self, session_hash: str, expires_at: int) -> bool:
        """End an authorize session; False when it had already ended (a replay)."""
        ...

    def session_used(self, session_hash: str) -> bool: ...

    def claim_attempt(self, attempt: str, limits: dict[str, int], now: int, expires_at: int) -> int:
        """Count a sign-in attempt against each key (user, client address) until ``expires_at``.

        Atomic across processes: when a key already holds ``limits[key]`` unexpired
        attempts nothing is recorded and the answer is the seconds until one
        expires; otherwise the attempt is recorded under every key and the answer is 0.
        """
        ...

    def forgive_attempt(self, attempt: str, clear_key: str | None = None) -> None:
        """A sign-in succeeded: drop its attempt (and every earlier failure under ``clear_key``)."""
        ...

    def add_client(self, client_id: str, body: dict[str, Any], created_at: int) -> bool:
        """Store a dynamically registered client; False when the id is taken."""
        ...

    def get_client(self, client_id: str) -> dict[str, Any] | None: ...

    def list_clients(self) -> list[dict[str, Any]]: ...

    def remove_client(self, client_id: str) -> bool: ...

    def purge(self, now: int) -> None: ...

    def close(self) -> None: ...
