"""Drives the facade's SMART pages over HTTP, the way a browser would (forms, redirects)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from facade.auth.clients import hash_secret

REDIRECT = "http://127.0.0.1:9/callback"  # never contacted: tests read the Location header
LAUNCH_URL = "http://127.0.0.1:9/launch"  # PUBLIC's registered launch URL (EHR launcher)
PUBLIC = "test-public"
CONFIDENTIAL = "test-confidential"
CONFIDENTIAL_SECRET = "test-confidential-secret"
BACKEND_RS = "test-backend-rs384"
BACKEND_ES = "test-backend-es384"
BACKEND_BAD_URL = "test-backend-bad-url"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
USER_SCOPES = (
    "launch launch/patient launch/encounter openid fhirUser offline_access online_access "
    "patient/*.cruds user/*.cruds"
)
DONNA = "a-195900.E-60178"  # the demo patient user's record
FRANKIE = "a-195900.E-60180"  # male
ELEANA = "a-195900.E-60179"


def verifier_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


@dataclass
class Keys:
    rsa: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, private=True, auto_kid=True)
    )
    ec: ECKey = field(
        default_factory=lambda: ECKey.generate_key("P-384", private=True, auto_kid=True)
    )


def write_clients(data_dir: Path, keys: Keys, jwks_url: str) -> None:
    clients = [
        {
            "client_id": PUBLIC,
            "client_name": "Test public app",
            "kind": "public",
            "redirect_uris": [REDIRECT],
            "launch_uris": [LAUNCH_URL],
            "scope": USER_SCOPES,
        },
        {
            "client_id": CONFIDENTIAL,
            "client_name": "Test confidential app",
            "kind": "confidential-symmetric",
            "secret_hash": hash_secret(CONFIDENTIAL_SECRET),
            "redirect_uris": [REDIRECT],
            "scope": USER_SCOPES + " system/*.rs",
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        },
        {
            "client_id": BACKEND_RS,
            "kind": "confidential-asymmetric",
            "jwks": {"keys": [keys.rsa.as_dict(private=False)]},
            "scope": "system/*.rs",
            "grant_types": ["client_credentials"],
        },
        {
            "client_id": BACKEND_ES,
            "kind": "confidential-asymmetric",
            "jwks_uri": jwks_url,
            "scope": "system/*.rs",
            "grant_types": ["client_credentials"],
        },
        {
            "client_id": BACKEND_BAD_URL,
            "kind": "confidential-asymmetric",
            "jwks_uri": "http://203.0.113.5/jwks.json",
            "scope": "system/*.rs",
            "grant_types": ["client_credentials"],
        },
    ]
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "clients.json").write_text(json.dumps({"clients": clients}))


def assertion(
    client_id: str,
    key: RSAKey | ECKey,
    aud: str,
    *,
    alg: str | None = None,
    exp_in: int = 240,
    jti: str | None = None,
    kid: bool = True,
) -> str:
    alg = alg or ("ES384" if isinstance(key, ECKey) else "RS384")
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid:
        header["kid"] = key.kid
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": now + exp_in,
        "iat": now,
        "jti": jti or secrets.token_urlsafe(12),
    }
    return jwt.encode(header, claims, key, algorithms=[alg])


_SESSION = re.compile(r'name="session" value="([^"]+)"')
_SCOPE_BOX = re.compile(r'type="checkbox" name="scope" id="[^"]+" value="([^"]+)"')


def session_of(html: str) -> str:
    match = _SESSION.search(html)
    assert match, html[:500]
    return unescape(match.group(1))


@dataclass
class Flow:
    """The result of driving authorize -> login -> (picker) -> consent."""

    response: httpx.Response  # the final redirect (or the page where it stopped)
    verifier: str
    state: str
    pages: list[str]

    @property
    def params(self) -> dict[str, str]:
        location = self.response.headers.get("location", "")
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    @property
    def code(self) -> str:
        return self.params["code"]


@dataclass
class Steps:
    """authorize -> login -> (picker) up to the consent page, without consenting."""

    response: httpx.Response  # the consent page (or the page where the flow stopped)
    verifier: str
    state: str
    pages: list[str]
    sessions: dict[str, str] = field(default_factory=dict)  # page -> its session value

    @property
    def at_consent(self) -> bool:
        return self.response.status_code == 200 and 'action="/auth/consent"' in self.response.text


def to_consent(
    http: httpx.Client,
    base: str,
    *,
    client_id: str = PUBLIC,
    scope: str = "launch/patient openid fhirUser offline_access patient/*.rs",
    user: str = "patient.demo",
    password: str = "demo-password",
    patient: str = ELEANA,
    launch: str | None = None,
    extra: dict[str, str] | None = None,
    method: str = "GET",
    redirect_uri: str = REDIRECT,
) -> Steps:
    verifier, challenge = verifier_pair()
    state = secrets.token_urlsafe(8)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "aud": f"{base}/fhir/r4",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **({"launch": launch} if launch else {}),
        **(extra or {}),
    }
    if method == "GET":
        page = http.get(f"{base}/auth/authorize", params=params)
    else:
        page = http.post(f"{base}/auth/authorize", data=params)
    steps = Steps(page, verifier, state, [page.text])
    if page.status_code != 200:
        return steps
    steps.sessions["login"] = session_of(page.text)
    login = http.post(
        f"{base}/auth/login",
        data={"session": steps.sessions["login"], "username": user, "password": password},
    )
    steps.pages.append(login.text)
    steps.response = login
    if login.status_code != 200:
        return steps
    if 'action="/auth/patient"' in login.text:
        steps.sessions["patient"] = session_of(login.text)
        picked = http.post(
            f"{base}/auth/patient",
            data={"session": steps.sessions["patient"], "patient": patient, "action": "select"},
        )
        steps.pages.append(picked.text)
        steps.response = picked
    assert steps.at_consent, steps.response.text[:800]
    steps.sessions["consent"] = session_of(steps.response.text)
    return steps


def consent(
    http: httpx.Client, base: str, steps: Steps, *, untick: tuple[str, ...] = ()
) -> httpx.Response:
    """Allow on the consent page, keeping every offered scope except ``untick``."""
    boxes = [unescape(v) for v in _SCOPE_BOX.findall(steps.response.text)]
    keep = [("scope", b) for b in boxes if b not in untick]
    return http.post(
        f"{base}/auth/consent",
        content=urlencode([("session", steps.sessions["consent"]), ("decision", "allow"), *keep]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def run_flow(
    http: httpx.Client,
    base: str,
    *,
    untick: tuple[str, ...] = (),
    **kwargs: Any,
) -> Flow:
    """authorize -> login -> (picker) -> consent (allow); see :func:`to_consent` for kwargs."""
    steps = to_consent(http, base, **kwargs)
    if not steps.at_consent:
        return Flow(steps.response, steps.verifier, steps.state, steps.pages)
    done = consent(http, base, steps, untick=untick)
    return Flow(done, steps.verifier, steps.state, steps.pages)


def exchange(
    http: httpx.Client, base: str, flow: Flow, *, client_id: str = PUBLIC, **overrides: str
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": flow.code,
        "redirect_uri": REDIRECT,
        "code_verifier": flow.verifier,
        "client_id": client_id,
        **overrides,
    }
    return http.post(f"{base}/auth/token", data={k: v for k, v in data.items() if v is not None})
