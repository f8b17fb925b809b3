"""The revocation check a worker skips for a moment (FACADE_REVOCATION_RECHECK_SECONDS).

A worker trusts the store's "active" answer for a token briefly; its own revocations
clear that at once (RFC 7009 revocation through this worker is refused on the very next
request). With the recheck at 0, a revocation another worker wrote to the shared store
(simulated by writing it to the store directly) is refused on the next request too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.conftest import dev_token, facade_settings, start_facade

READ = "/fhir/r4/Patient/a-195900.E-60178"


def _serve(emulator_url: str, tmp_path: Path, recheck: float) -> Any:
    settings = facade_settings(emulator_url, tmp_path, revocation_recheck_seconds=recheck)
    return settings, start_facade(settings)


def test_this_workers_revocation_applies_at_once(emulator_url: str, tmp_path: Path) -> None:
    settings, server = _serve(emulator_url, tmp_path, 30.0)  # long: only the clearing helps
    try:
        token = dev_token(settings.base_url)
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(settings.base_url + READ, headers=headers).status_code == 200
        revoked = httpx.post(
            f"{settings.base_url}/auth/revoke",
            data={"token": token},
            auth=("local-dev", "local-dev-secret"),
        )
        assert revoked.status_code == 200
        assert httpx.get(settings.base_url + READ, headers=headers).status_code == 401
    finally:
        server.stop()


def test_without_recheck_another_workers_revocation_applies_at_once(
    emulator_url: str, tmp_path: Path
) -> None:
    settings, server = _serve(emulator_url, tmp_path, 0.0)
    try:
        token = dev_token(settings.base_url)
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(settings.base_url + READ, headers=headers).status_code == 200
        store = server.app.state.services.authz.store
        claims = server.app.state.services.issuer.verify(token)
        assert claims.jti
        store.revoke_token(claims.jti, 2**31 - 1)  # as another worker would, in the shared store
        assert httpx.get(settings.base_url + READ, headers=headers).status_code == 401
    finally:
        server.stop()
