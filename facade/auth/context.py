"""AuthContext: what a verified bearer token allows (DESIGN.md request path, auth/)."""

from __future__ import annotations

from dataclasses import dataclass

from facade.auth.scopes import ScopeSet
from facade.errors import Forbidden


@dataclass(frozen=True)
class AuthContext:
    client_id: str
    scopes: ScopeSet
    practices: tuple[str, ...]  # practices this token may reach
    patient: str | None = None  # patient in context (SMART launch): the compartment it opens
    encounter: str | None = None
    fhir_user: str | None = None  # relative reference, e.g. Patient/a-195900.E-60178
    subject: str | None = None  # the end user (``sub``), or the client for backend tokens
    jti: str | None = None
    grant_id: str | None = None
    expires_at: int = 0

    @property
    def patient_user(self) -> str | None:
        """The patient id when the end user is a patient: everything they reach is theirs."""
        if self.fhir_user and self.fhir_user.startswith("Patient/"):
            return self.fhir_user.removeprefix("Patient/")
        return None

    def require(self, resource_type: str, permission: str) -> None:
        """``permission`` is a SMART v2 letter: r (read), s (search), c, u, d."""
        if not self.scopes.allows(resource_type, permission):
            action = {"r": "read", "s": "search", "c": "create", "u": "update", "d": "delete"}
            raise Forbidden(
                f"The access token's scopes do not allow {action.get(permission, permission)} "
                f"on {resource_type}"
            )
