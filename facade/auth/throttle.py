"""Sign-in throttling: password guessing on ``/auth/login`` is slowed to a trickle.

Every sign-in attempt is counted against two keys, the username typed and the
client address, for ``login_throttle_window_seconds`` (a sliding window). When
either key already holds its limit of recent attempts
(``login_throttle_user_failures``, ``login_throttle_address_failures``) the
attempt is refused before the password is looked at, so the right password does
not help while throttled; the refusal is not counted, so the key recovers as
its oldest failures age out. A successful sign-in forgives its own attempt and
the user's earlier failures (not the address's: an attacker's own account must
not wash out guesses at someone else's).

The count lives in the auth store (atomic across worker processes), under
hashes of the keys. Unknown usernames count like known ones, so the throttle
does not reveal who exists.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from facade.store import AuthStore
from facade.store.base import token_hash


class LoginThrottled(Exception):
    """Too many recent failed sign-ins for this user or from this address."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Attempt:
    id: str
    user_key: str


class LoginThrottle:
    def __init__(
        self,
        store: AuthStore,
        *,
        user_failures: int,
        address_failures: int,
        window_seconds: int,
    ) -> None:
        self._store = store
        self._user_failures = user_failures
        self._address_failures = address_failures
        self._window = window_seconds

    def begin(self, username: str, address: str) -> Attempt:
        """Count an attempt (a failure until :meth:`succeeded`); raise when throttled."""
        user_key = token_hash(f"user\x00{username.strip()}")
        address_key = token_hash(f"address\x00{address}")
        attempt = Attempt(secrets.token_hex(8), user_key)
        now = int(time.time())
        limits = {user_key: self._user_failures, address_key: self._address_failures}
        wait = self._store.claim_attempt(attempt.id, limits, now, now + self._window)
        if wait:
            raise LoginThrottled(wait)
        return attempt

    def succeeded(self, attempt: Attempt) -> None:
        self._store.forgive_attempt(attempt.id, clear_key=attempt.user_key)
