"""Bearer-token and scope checks (API-NOTES sections 2.2, 4.2, 7.4).

- Missing token: 401 "Developer Inactive"; unknown/revoked/expired: 401
  "Invalid Access Token" (short text bodies, athena gateway style).
- ``athena/service/Athenanet.MDP.*`` gates /v1.
- FHIR needs ``system/{Type}.read`` (v1 style) or a v2 ``system/{Type}.{cruds}``
  scope holding ``r`` for reads and ``s`` for searches; ``*`` is a wildcard type.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.requests import Request

from emulator.errors import FhirError, GatewayError
from emulator.oauth import MDP_SCOPE, AccessToken

if TYPE_CHECKING:
    from emulator.world import World

_SYSTEM_SCOPE = re.compile(r"^system/(?P<type>[A-Za-z]+|\*)\.(?P<perm>read|write|\*|c?r?u?d?s?)$")


def bearer_token(world: World, request: Request) -> AccessToken:
    """The live token of the request, or a 401 GatewayError."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        # athena quirk: the gateway says "Developer Inactive" when no token is sent.
        raise GatewayError(401, "Developer Inactive")
    token = world.tokens.lookup(value.strip())
    if token is None:
        raise GatewayError(401, "Invalid Access Token")
    return token


def allows_v1(token: AccessToken) -> bool:
    return MDP_SCOPE in token.scopes


def allows_fhir(token: AccessToken, resource: str, interaction: str) -> bool:
    """``interaction`` is "read" or "search"."""
    letter = "r" if interaction == "read" else "s"
    for scope in token.scopes:
        match = _SYSTEM_SCOPE.match(scope)
        if match is None or match["type"] not in {resource, "*"}:
            continue
        perm = match["perm"]
        if perm in {"read", "*"} or (perm not in {"write"} and letter in perm):
            return True
    return False


def require_v1(token: AccessToken) -> None:
    if not allows_v1(token):
        # [G] the real refusal body is unknown; a short gateway text like the 401s.
        raise GatewayError(403, "Insufficient Scope")


def require_fhir(token: AccessToken, resource: str, interaction: str) -> None:
    if not allows_fhir(token, resource, interaction):
        # athena quirk: forbidden / "Invalid scope" (developer field notes, section 2.2).
        raise FhirError(403, "forbidden", "Invalid scope")
