"""End users who can log in on the authorize pages.

Embedded mode ships two documented demo users (README "SMART on FHIR"); their
password is ``FACADE_DEMO_PASSWORD`` (default ``demo-password``), and settings
refuse that default outside embedded mode, like the local-dev client secret.
A deployment in front of real athenahealth plugs its identity provider in
here (not built yet: outside embedded mode, with demo users off, nobody can log in).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    username: str
    display: str
    fhir_user: str  # relative reference: Practitioner/... or Patient/...
    password: str

    @property
    def patient(self) -> str | None:
        """A patient user's own record: their patient context, and the only one they reach."""
        if self.fhir_user.startswith("Patient/"):
            return self.fhir_user.removeprefix("Patient/")
        return None

    @property
    def subject(self) -> str:
        return self.username


DEMO_CLINICIAN = "dr.demo"
DEMO_PATIENT = "patient.demo"


def demo_users(password: str) -> list[User]:
    return [
        User(
            DEMO_CLINICIAN,
            "Dr. Demo (clinician)",
            "Practitioner/a-195900.Provider-23",
            password,
        ),
        User(DEMO_PATIENT, "Demo patient", "Patient/a-195900.E-60178", password),
    ]


class UserDirectory:
    def __init__(self, users: list[User]) -> None:
        self._users = {u.username: u for u in users}

    def authenticate(self, username: str, password: str) -> User | None:
        user = self._users.get(username.strip())
        # compare even for unknown users so timing does not reveal who exists
        expected = user.password if user else "\x00unknown-user"
        ok = hmac.compare_digest(password.encode(), expected.encode())
        return user if ok and user else None

    def get(self, username: str) -> User | None:
        return self._users.get(username)
