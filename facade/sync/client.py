"""A Bulk Data Access 2.0.0 client of the facade (any deployment, over HTTP).

Its token comes from the facade's SMART ``token_endpoint`` (read from
``.well-known/smart-configuration``) with ``client_credentials``: a signed JWT
assertion (``private_key_jwt``, RS384/ES384: SMART Backend Services, as a warehouse
client registers with ``athena-facade clients add ... --kind confidential-asymmetric``),
or a client secret (HTTP Basic: the embedded ``local-dev`` client). The token is
renewed before it expires and once on a 401. Every request is counted (the summary's
"calls").
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, JWKRegistry, RSAKey

Json = dict[str, Any]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EARLY = 30  # seconds before expiry a token is renewed
KICKOFF_ATTEMPTS = 20  # 429s (the client's export limit) waited out before giving up


class BulkError(Exception):
    """The facade refused or failed (its OperationOutcome's text, if any)."""


class JobGone(BulkError):
    """The export is unknown to the facade (deleted, expired, or never ours): start anew."""


class JobFailed(BulkError):
    """The facade reports the export failed (``500`` on its status URL): start anew."""


def _diagnostics(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        issues = body.get("issue") or []
        texts = [str(i.get("diagnostics")) for i in issues if isinstance(i, dict)]
        if texts:
            return f"HTTP {response.status_code}: {'; '.join(texts)}"
        if "error" in body:
            return f"HTTP {response.status_code}: {body.get('error_description') or body['error']}"
    return f"HTTP {response.status_code}"


def load_key(path: Path) -> RSAKey | ECKey:
    """A private key: a JWK, a JWKS holding one key, or PEM."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"{"):
        value = json.loads(data)
        if "keys" in value:
            value = value["keys"][0]
        key = JWKRegistry.import_key(value)
    else:
        try:
            key = RSAKey.import_key(data)
        except ValueError:
            key = ECKey.import_key(data)
    if not isinstance(key, RSAKey | ECKey):
        raise BulkError("the key must be an RSA or EC private key")
    return key


@dataclass(frozen=True)
class Credentials:
    client_id: str
    key: RSAKey | ECKey | None = None
    secret: str | None = None
    scope: str = "system/*.rs"


@dataclass(frozen=True)
class Poll:
    manifest: Json | None
    progress: str = ""
    retry_after: float = 1.0


class BulkClient:
    def __init__(self, fhir_base: str, credentials: Credentials, *, timeout: float = 60) -> None:
        self.base = fhir_base.rstrip("/")
        self.credentials = credentials
        self.http = httpx.Client(timeout=timeout)
        self.calls = 0
        self._token: str | None = None
        self._expires = 0.0
        self._token_url: str | None = None
        self.granted: str | None = None  # the scopes the last token was granted

    def close(self) -> None:
        self.http.close()

    # -- the token -----------------------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.calls += 1
        return self.http.request(method, url, **kwargs)

    def token_url(self) -> str:
        if self._token_url is None:
            found = self._request("GET", f"{self.base}/.well-known/smart-configuration")
            if found.status_code != 200:
                raise BulkError(f"no SMART configuration at {self.base}: {_diagnostics(found)}")
            self._token_url = str(found.json()["token_endpoint"])
        return self._token_url

    def _assertion(self, audience: str) -> str:
        key = self.credentials.key
        assert key is not None
        alg = "ES384" if isinstance(key, ECKey) else "RS384"
        header: Json = {"alg": alg, "typ": "JWT"}
        if key.kid:
            header["kid"] = key.kid
        now = int(time.time())
        cid = self.credentials.client_id
        claims = {
            "iss": cid,
            "sub": cid,
            "aud": audience,
            "exp": now + 240,
            "iat": now,
            "jti": secrets.token_urlsafe(16),
        }
        return jwt.encode(header, claims, key, algorithms=[alg])

    def token(self, *, renew: bool = False) -> str:
        if self._token is not None and not renew and time.time() < self._expires - EARLY:
            return self._token
        url = self.token_url()
        form = {"grant_type": "client_credentials", "scope": self.credentials.scope}
        auth: tuple[str, str] | None = None
        if self.credentials.key is not None:
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = self._assertion(url)
        else:
            auth = (self.credentials.client_id, self.credentials.secret or "")
        response = self._request("POST", url, data=form, auth=auth)
        if response.status_code != 200:
            raise BulkError(f"no access token: {_diagnostics(response)}")
        body = response.json()
        self._token = str(body["access_token"])
        self.granted = str(body.get("scope") or self.credentials.scope)
        self._expires = time.time() + float(body.get("expires_in", 300))
        return self._token

    def _authorized(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {self.token()}"}
        response = self._request(method, url, headers=headers, **kwargs)
        if response.status_code == 401:  # expired or revoked meanwhile: once more, anew
            headers["Authorization"] = f"Bearer {self.token(renew=True)}"
            response = self._request(method, url, headers=headers, **kwargs)
        return response

    # -- discovery -----------------------------------------------------------------------

    def served_types(self) -> set[str]:
        """The resource types the deployment's CapabilityStatement declares."""
        response = self._request("GET", f"{self.base}/metadata")
        if response.status_code != 200:
            raise BulkError(f"no CapabilityStatement at {self.base}: {_diagnostics(response)}")
        rest = response.json().get("rest") or [{}]
        return {str(r["type"]) for r in rest[0].get("resource", []) if "type" in r}

    # -- an export -----------------------------------------------------------------------

    def kick_off(self, types: list[str], since: str | None) -> str:
        """A system-level ``$export`` of ``types``; its status URL."""
        params = {"_type": ",".join(types), "_outputFormat": "application/fhir+ndjson"}
        if since is not None:
            params["_since"] = since
        headers = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
        for _ in range(KICKOFF_ATTEMPTS):
            response = self._authorized(
                "GET", f"{self.base}/$export", params=params, headers=headers
            )
            if response.status_code == 202:
                return str(response.headers["content-location"])
            if response.status_code != 429:
                raise BulkError(f"the export was refused: {_diagnostics(response)}")
            time.sleep(min(float(response.headers.get("retry-after", 5)), 60.0))
        raise BulkError("the facade kept answering 429: too many exports of this client")

    def poll(self, status_url: str) -> Poll:
        response = self._authorized("GET", status_url, headers={"Accept": "application/json"})
        if response.status_code == 202:
            retry = response.headers.get("retry-after", "1")
            return Poll(None, response.headers.get("x-progress", ""), float(retry))
        if response.status_code == 200:
            manifest: Json = response.json()
            return Poll(manifest)
        if response.status_code in (404, 410):
            raise JobGone(_diagnostics(response))
        if response.status_code == 429 or response.status_code >= 502:
            return Poll(None, "busy", float(response.headers.get("retry-after", 2)))
        if response.status_code == 500:
            raise JobFailed(f"the export failed: {_diagnostics(response)}")
        raise BulkError(f"the export could not be polled: {_diagnostics(response)}")

    def lines(self, url: str) -> Iterator[bytes]:
        """One output file, streamed line by line."""
        headers = {"Accept": "application/fhir+ndjson", "Authorization": f"Bearer {self.token()}"}
        self.calls += 1
        with self.http.stream("GET", url, headers=headers) as response:
            if response.status_code in (404, 410):
                raise JobGone(f"HTTP {response.status_code} for an export file")
            if response.status_code != 200:
                response.read()
                raise BulkError(f"an export file could not be read: {_diagnostics(response)}")
            for line in response.iter_lines():
                if line.strip():
                    yield line.encode()

    def delete(self, status_url: str) -> None:
        """Done with the export: the facade may drop its files (a gone job is fine)."""
        response = self._authorized("DELETE", status_url)
        if response.status_code not in (202, 404, 410):
            raise BulkError(f"the export could not be deleted: {_diagnostics(response)}")
