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
    patient: str | None = None  # patient compartment (SMART launch context), later issues

    def require(self, resource_type: str, permission: str) -> None:
        """``permission`` is a SMART v2 letter: r (read), s (search), c, u, d."""
        if not self.scopes.allows(resource_type, permission):
            action = {"r": "read", "s": "search", "c": "create", "u": "update", "d": "delete"}
            raise Forbidden(
                f"The access token's scopes do not allow {action.get(permission, permission)} "
                f"on {resource_type}"
            )
