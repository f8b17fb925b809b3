"""A Bulk Data client as Inferno's bulk data kit drives one: Backend Services token, kick-off,
polling with Retry-After, manifest, NDJSON downloads (Bulk Data Access 2.0.0)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from joserfc.jwk import RSAKey

from tests.auth.smart_support import ASSERTION_TYPE, assertion

Json = dict[str, Any]
BACKEND = "bulk-backend"
OTHER = "bulk-other-backend"
GRANULAR = "bulk-granular-backend"
USER_APP = "bulk-user-app"
GRANULAR_SCOPE = "system/Patient.rs system/Encounter.rs?status=finished system/Condition.rs"
KICKOFF_HEADERS = {"Accept": "application/fhir+json", "Prefer": "respond-async"}


@dataclass
class Clients:
    keys: dict[str, RSAKey] = field(default_factory=dict)

    def key(self, client_id: str) -> RSAKey:
        if client_id not in self.keys:
            self.keys[client_id] = RSAKey.generate_key(2048, private=True, auto_kid=True)
        return self.keys[client_id]

    def write(self, data_dir: Path) -> None:
        """Backend Services clients (private_key_jwt, RS384) in the operator's clients.json."""
        scopes = {BACKEND: "system/*.rs", OTHER: "system/*.rs", GRANULAR: GRANULAR_SCOPE}
        clients = [
            {
                "client_id": client_id,
                "kind": "confidential-asymmetric",
                "jwks": {"keys": [self.key(client_id).as_dict(private=False)]},
                "scope": scope,
                "grant_types": ["client_credentials"],
            }
            for client_id, scope in scopes.items()
        ]
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "clients.json").write_text(json.dumps({"clients": clients}))

    def token(self, base: str, client_id: str = BACKEND, scope: str | None = None) -> str:
        """A SMART Backend Services access token: client_credentials + a signed assertion."""
        token_url = f"{base}/auth/token"
        response = httpx.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "scope": scope or ("system/*.rs" if client_id != GRANULAR else GRANULAR_SCOPE),
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(client_id, self.key(client_id), token_url),
            },
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def kick_off(
    http: httpx.Client,
    fhir_base: str,
    token: str,
    path: str = "Group/a-1.c-195900/$export",
    params: Any = None,
    *,
    headers: dict[str, str] | None = None,
    body: Json | None = None,
) -> httpx.Response:
    merged = {**KICKOFF_HEADERS, **bearer(token), **(headers or {})}
    if body is not None:
        merged["Content-Type"] = "application/fhir+json"
        return http.post(f"{fhir_base}/{path}", params=params, headers=merged, json=body)
    return http.get(f"{fhir_base}/{path}", params=params, headers=merged)


def poll(http: httpx.Client, status_url: str, token: str, *, timeout: float = 90) -> httpx.Response:
    """Poll as Inferno does (Accept: application/json, honouring Retry-After) until not 202."""
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(status_url, headers={"Accept": "application/json", **bearer(token)})
        if response.status_code != 202:
            return response
        assert response.headers.get("x-progress"), "202 without X-Progress"
        assert len(response.headers["x-progress"]) < 100
        retry = float(response.headers["retry-after"])
        assert time.monotonic() < deadline, "the export did not finish in time"
        time.sleep(min(retry, 0.3))


def export(
    http: httpx.Client,
    fhir_base: str,
    token: str,
    path: str = "Group/a-1.c-195900/$export",
    params: Any = None,
    **kwargs: Any,
) -> Json:
    """Kick off, poll to the end; the manifest."""
    started = kick_off(http, fhir_base, token, path, params, **kwargs)
    assert started.status_code == 202, started.text
    done = poll(http, started.headers["content-location"], token)
    assert done.status_code == 200, done.text
    manifest: Json = done.json()
    return manifest


def download(http: httpx.Client, url: str, token: str) -> list[Json]:
    response = http.get(url, headers={"Accept": "application/fhir+ndjson", **bearer(token)})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def resources(http: httpx.Client, manifest: Json, token: str) -> dict[str, list[Json]]:
    """Every exported resource by type (each line checked to be of its file's type)."""
    found: dict[str, list[Json]] = {}
    for item in manifest["output"]:
        lines = download(http, item["url"], token)
        assert len(lines) == item["count"]
        assert all(r["resourceType"] == item["type"] for r in lines)
        found.setdefault(item["type"], []).extend(lines)
    return found
