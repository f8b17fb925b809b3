"""The facade's OAuth 2.0 / SMART App Launch 2.0 authorization server (no HTTP here).

Routes in :mod:`facade.api.routes_auth` hand in parsed parameters and render
what comes back. Specifications:

- authorize: RFC 6749 §4.1, PKCE RFC 7636 (S256 only), SMART "App Launch"
  (``aud`` must be the FHIR base, ``launch`` from :meth:`create_launch`); RFC 8707
  ``resource`` (authorize and token) names which of this server's resource indicators
  the token is for (the FHIR base by default, or the MCP endpoint: MCP clients send
  ``resource`` instead of SMART's ``aud``), anything else is refused; the
  signed ``session`` that carries the request through login, picker and consent
  lives ``authorize_session_ttl_seconds`` from the authorize request and ends
  at consent or deny (its id is remembered in the store: no second code);
- token: RFC 6749 §4.1.3 (authorization_code), §6 (refresh_token, rotated,
  scope may only narrow), §4.4 + SMART Backend Services (client_credentials
  with private_key_jwt), errors §5.2;
- introspection RFC 7662, revocation RFC 7009 (a revoked token, or any token of
  a revoked grant, is refused by :meth:`authenticate_bearer` at once);
- id_token: OpenID Connect Core §2, RS256 with ``kid``, ``fhirUser``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from facade.audit import context as audit
from facade.auth.assertion import AssertionError_, AssertionVerifier
from facade.auth.clients import Client, ClientRegistry
from facade.auth.context import AuthContext
from facade.auth.keys import KeyRing
from facade.auth.scopes import ScopeSet
from facade.auth.throttle import LoginThrottle
from facade.auth.tokens import TokenIssuer, context_from_claims
from facade.auth.users import User, UserDirectory
from facade.errors import Unauthorized
from facade.mapping.ids import parse_id
from facade.settings import Settings
from facade.store import AuthStore, CodeRecord, RefreshRecord
from facade.store.base import token_hash
from facade.upstream.deadline import current as current_clock

LAUNCH_SCOPES = (
    "launch",
    "launch/patient",
    "launch/encounter",
    "openid",
    "fhirUser",
    "profile",
    "offline_access",
    "online_access",
)
OPTIONAL_OTHER = frozenset({"offline_access", "online_access"})  # the user may untick these
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_CONTEXT_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer: status, ``error`` and ``error_description``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class PageError(Exception):
    """An authorize error that must not redirect (unknown client, bad redirect_uri, wrong aud)."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title
        self.message = message


def _session_used() -> PageError:
    return PageError(
        "Sign-in already finished",
        "This sign-in has already been answered; start again from the application.",
    )


class RedirectError(Exception):
    """An authorize error reported to the client's (verified) redirect_uri (RFC 6749 §4.1.2.1);
    only for trusted (operator-registered) clients, others get a :class:`PageError`."""

    def __init__(self, redirect_uri: str, state: str | None, error: str, description: str) -> None:
        super().__init__(description)
        self.redirect_uri = redirect_uri
        self.state = state
        self.error = error
        self.description = description


@dataclass
class Pending:
    """A validated authorization request travelling through login, picker and consent."""

    client_id: str
    redirect_uri: str
    scope: str  # requested scopes this client may be granted
    state: str | None
    code_challenge: str
    nonce: str | None = None
    launch: dict[str, Any] = field(default_factory=dict)  # EHR launch context
    user: str | None = None
    patient: str | None = None
    sid: str = ""  # one id for every page of this sign-in; used up at consent or deny
    audience: str = ""  # RFC 8707 resource the token is for ("" = the FHIR base)
    expires_at: int = 0  # fixed at the authorize request: re-signing never extends it

    def dump(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def load(cls, data: dict[str, Any]) -> Pending:
        known: dict[str, Any] = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    @property
    def scopes(self) -> ScopeSet:
        return ScopeSet.parse(self.scope)

    def needs_patient(self) -> bool:
        scopes = self.scopes
        wants = "launch/patient" in scopes.other or any(
            s.context == "patient" for s in scopes.scopes
        )
        return wants and not self.launch.get("patient")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def practice_of(patient: str) -> str:
    return parse_id(patient, "E").practice


class AuthorizationServer:
    def __init__(
        self,
        settings: Settings,
        *,
        clients: ClientRegistry,
        users: UserDirectory,
        store: AuthStore,
        keys: KeyRing,
        issuer: TokenIssuer,
        assertions: AssertionVerifier,
        session_key: bytes,
        endpoints: dict[str, str],
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.users = users
        self.store = store
        self.keys = keys
        self.issuer = issuer
        self.assertions = assertions
        self._session_key = OctKey.import_key(session_key)
        self.endpoints = endpoints
        self.throttle = LoginThrottle(
            store,
            user_failures=settings.login_throttle_user_failures,
            address_failures=settings.login_throttle_address_failures,
            window_seconds=settings.login_throttle_window_seconds,
        )

    # ------------------------------------------------------------------ bearer tokens
    def authenticate_bearer(self, token: str) -> AuthContext:
        auth = self.issuer.verify(token)
        if auth.jti and self.store.token_revoked(auth.jti):
            raise Unauthorized("The access token has been revoked")
        if auth.grant_id and not self.store.grant_active(auth.grant_id, int(time.time())):
            raise Unauthorized("The access token has been revoked")
        clock = current_clock()
        if clock is not None:
            clock.client = auth.client_id  # the access log names the client
        audit.note_auth(auth)
        return auth

    # ------------------------------------------------------------------ authorize
    def sign_pending(self, pending: Pending) -> str:
        claims = {"p": pending.dump(), "exp": pending.expires_at}
        return jwt.encode({"alg": "HS256"}, claims, self._session_key)

    def load_pending(self, value: str) -> Pending:
        try:
            claims = jwt.decode(value, self._session_key, algorithms=["HS256"]).claims
        except (JoseError, ValueError) as exc:
            raise PageError(
                "Sign-in expired", "This sign-in form is invalid; start again."
            ) from exc
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp < time.time() or not isinstance(claims.get("p"), dict):
            raise PageError("Sign-in expired", "This sign-in took too long; start again.")
        try:
            pending = Pending.load(claims["p"])
        except TypeError as exc:
            raise PageError(
                "Sign-in expired", "This sign-in form is invalid; start again."
            ) from exc
        if not pending.sid or self.store.session_used(token_hash(pending.sid)):
            raise _session_used()
        return pending

    def _end_session(self, pending: Pending) -> None:
        """A sign-in issues one answer (a code or a denial); any later use is refused."""
        if not self.store.use_session(token_hash(pending.sid), pending.expires_at):
            raise _session_used()

    def start_authorize(self, params: dict[str, str]) -> Pending:
        """Validate an authorization request (GET query or POST form)."""
        client_id = params.get("client_id", "")
        client = self.clients.get(client_id) if client_id else None
        if client is None:
            raise PageError("Unknown application", "The application (client_id) is not registered.")
        if "authorization_code" not in client.grant_types:
            raise PageError(
                "Not allowed", "This application may not use the authorization code flow."
            )
        redirect_uri = params.get("redirect_uri") or ""
        if not redirect_uri and len(client.redirect_uris) == 1:
            redirect_uri = client.redirect_uris[0]
        if redirect_uri not in client.redirect_uris:
            raise PageError(
                "Invalid redirect", "The redirect_uri is not registered for this application."
            )
        target = params.get("resource", "").rstrip("/")  # RFC 8707
        aud = params.get("aud", "").rstrip("/")
        if target and target not in self.issuer.audiences:
            raise PageError(
                "Wrong resource",
                "The resource parameter must name this server "
                f"({', '.join(self.issuer.audiences)}).",
            )
        if (aud or not target) and aud != self.settings.fhir_base:
            # SMART: the aud must be this server's FHIR base; never issue a code otherwise.
            # An RFC 8707 client (MCP) may send resource instead.
            raise PageError(
                "Wrong audience",
                f"The aud parameter must be this FHIR server's base URL ({self.settings.fhir_base}).",
            )
        state = params.get("state")

        def fail(error: str, description: str) -> RedirectError | PageError:
            if client.trusted:
                return RedirectError(redirect_uri, state, error, description)
            # RFC 9700 §4.11.2: a dynamically registered client's redirect URI is anyone's;
            # sending errors there unasked would make this server an open redirector
            return PageError(
                "Invalid request", f"The application's request is invalid: {description}."
            )

        if params.get("response_type") != "code":
            raise fail("unsupported_response_type", "response_type must be code")
        challenge = params.get("code_challenge", "")
        method = params.get("code_challenge_method", "")
        if not challenge:
            raise fail("invalid_request", "PKCE is required: send code_challenge (S256)")
        if method != "S256":
            raise fail("invalid_request", "code_challenge_method must be S256 (plain is refused)")
        if not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge):
            raise fail("invalid_request", "code_challenge must be a base64url SHA-256 digest")
        requested = ScopeSet.parse(params.get("scope", ""))
        allowed = ScopeSet.parse(client.scope)
        resource = [s for s in requested.scopes if s.context != "system" and allowed.covers(s)]
        other = [o for o in requested.other if o in LAUNCH_SCOPES and o in allowed.other]
        if not resource and "openid" not in other:
            raise fail("invalid_scope", "None of the requested scopes can be granted")
        launch: dict[str, Any] = {}
        launch_value = params.get("launch")
        if launch_value:
            found = self.store.get_launch(token_hash(launch_value), int(time.time()))
            if found is None:
                raise fail("invalid_request", "The launch value is unknown or has expired")
            launch = found
        return Pending(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=str(ScopeSet(tuple(resource), tuple(dict.fromkeys(other)))),
            state=state,
            code_challenge=challenge,
            nonce=params.get("nonce") or None,
            launch=launch,
            sid=secrets.token_urlsafe(16),
            expires_at=int(time.time()) + self.settings.authorize_session_ttl_seconds,
            audience=target,
        )

    def login(self, pending: Pending, username: str, password: str, address: str) -> User | None:
        """Check the password (None when wrong); raise ``LoginThrottled`` without checking it
        when this user or this client address has failed too often lately."""
        if pending.user is not None:
            # only the login page's own session signs in: a later page's session already
            # carries a user (and maybe a patient they chose), which nobody may take over
            raise PageError("Already signed in", "This sign-in already has a user; start again.")
        known = username if self.users.get(username) is not None else "unknown"
        try:
            attempt = self.throttle.begin(username, address)
        except Exception:
            audit.security(
                "login", False, client_id=pending.client_id, user=known, detail="throttled"
            )
            raise
        user = self.users.authenticate(username, password)
        if user is None:
            audit.security("login", False, client_id=pending.client_id, user=known)
            return None
        self.throttle.succeeded(attempt)
        audit.security(
            "login", True, client_id=pending.client_id, user=user.username, fhir_user=user.fhir_user
        )
        launch_patient = pending.launch.get("patient")
        if user.patient and launch_patient and launch_patient != user.patient:
            raise PageError("Not your record", "This launch is for another patient's record.")
        pending.user = user.username
        if launch_patient:
            pending.patient = launch_patient
        elif user.patient and pending.needs_patient():
            pending.patient = user.patient
        return user

    def user_of(self, pending: Pending) -> User:
        user = self.users.get(pending.user or "")
        if user is None:
            raise PageError("Sign-in expired", "Please sign in again.")
        return user

    def picker_user(self, pending: Pending) -> User:
        """The clinician who may use the patient picker for this sign-in.

        Nobody else may: a patient user only ever gets her own record (the
        picker would list other patients), and a launch or an earlier choice has
        already fixed the patient.
        """
        user = self.user_of(pending)
        if user.patient:
            raise PageError("Not allowed", "You can only share your own record.")
        if not pending.needs_patient() or pending.patient:
            raise PageError("Not allowed", "This sign-in has no patient to choose.")
        return user

    def choose_patient(self, pending: Pending, patient: str) -> None:
        """Record the picked patient (the caller has checked that it exists)."""
        self.picker_user(pending)
        pending.patient = patient

    def consent(self, pending: Pending, ticked: list[str]) -> str:
        """Issue the code for the scopes the user kept; return the redirect URL."""
        user = self.user_of(pending)
        requested = pending.scopes
        keep = set(ticked)
        resource = tuple(s for s in requested.scopes if s.text in keep)
        other = tuple(o for o in requested.other if o not in OPTIONAL_OTHER or o in keep)
        granted = ScopeSet(resource, other)
        patient = pending.patient or pending.launch.get("patient")
        if pending.needs_patient() and not patient:
            raise PageError("No patient", "Choose a patient first.")
        if user.patient and patient not in (None, user.patient):
            raise PageError("Not your record", "You can only share your own record.")
        self._end_session(pending)
        now = int(time.time())
        grant_id = secrets.token_urlsafe(16)
        self.store.create_grant(
            grant_id, pending.client_id, now + self.settings.refresh_token_ttl_seconds
        )
        payload = {
            "scope": str(granted),
            "subject": user.subject,
            "fhir_user": user.fhir_user,
            "patient": patient,
            "encounter": pending.launch.get("encounter"),
            "fhir_context": pending.launch.get("fhir_context") or [],
            "need_patient_banner": pending.launch.get("need_patient_banner", True),
            "intent": pending.launch.get("intent"),
            "nonce": pending.nonce,
            "auth_time": now,
            "audience": pending.audience or None,
        }
        code = secrets.token_urlsafe(32)
        self.store.put_code(
            token_hash(code),
            CodeRecord(
                grant_id=grant_id,
                client_id=pending.client_id,
                redirect_uri=pending.redirect_uri,
                code_challenge=pending.code_challenge,
                payload=payload,
                expires_at=now + self.settings.auth_code_ttl_seconds,
            ),
        )
        audit.security(
            "consent",
            True,
            client_id=pending.client_id,
            user=user.username,
            fhir_user=user.fhir_user,
            patient=patient,
            detail=str(granted)[:120],
        )
        return redirect_with(pending.redirect_uri, {"code": code, "state": pending.state})

    def deny(self, pending: Pending) -> str:
        self._end_session(pending)
        audit.security("consent", False, client_id=pending.client_id, user=pending.user)
        return redirect_with(
            pending.redirect_uri,
            {
                "error": "access_denied",
                "error_description": "The user declined",
                "state": pending.state,
            },
        )

    # ------------------------------------------------------------------ EHR launch
    def create_launch(
        self,
        patient: str,
        encounter: str | None = None,
        fhir_context: list[str] | None = None,
        need_patient_banner: bool = True,
        intent: str | None = None,
    ) -> str:
        parse_id(patient, "E")  # raises InvalidRequest on a malformed id
        if encounter and not _CONTEXT_ID.match(encounter):
            raise ValueError("encounter must be a FHIR id")
        refs = [r for r in (fhir_context or []) if r]
        if any(not _REFERENCE.match(r) for r in refs):
            raise ValueError("fhirContext entries must be relative references (Type/id)")
        value = secrets.token_urlsafe(24)
        payload = {
            "patient": patient,
            "encounter": encounter or None,
            "fhir_context": refs,
            "need_patient_banner": need_patient_banner,
            "intent": intent or None,
        }
        expires = int(time.time()) + self.settings.launch_ttl_seconds
        self.store.put_launch(token_hash(value), payload, expires)
        return value

    # ------------------------------------------------------------------ client authentication
    async def authenticate_client(
        self, form: dict[str, str], basic: tuple[str, str] | None, *, allow_public: bool
    ) -> Client:
        if basic is not None:
            client_id, secret = basic
            client = self.clients.get(client_id)
            if client is None or not self.clients.check_secret(client, secret):
                raise OAuthError(401, "invalid_client", "Unknown client or wrong secret")
            return client
        if "client_assertion" in form or "client_assertion_type" in form:
            try:
                client = await self.assertions.verify(
                    form.get("client_assertion", ""), form.get("client_assertion_type")
                )
            except AssertionError_ as exc:
                raise OAuthError(401, "invalid_client", str(exc)) from exc
            if form.get("client_id") not in (None, client.client_id):
                raise OAuthError(401, "invalid_client", "client_id does not match the assertion")
            return client
        public_id = form.get("client_id")
        if allow_public and public_id:
            found = self.clients.get(public_id)
            if found is None:
                raise OAuthError(401, "invalid_client", "Unknown client")
            if found.kind != "public":
                raise OAuthError(401, "invalid_client", "This client must authenticate")
            return found
        raise OAuthError(401, "invalid_client", "Client authentication is required")

    # ------------------------------------------------------------------ token endpoint
    async def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """The token endpoint; each answer is a security event (``token`` / ``refresh``)."""
        kind = "refresh" if form.get("grant_type") == "refresh_token" else "token"
        claimed = basic[0] if basic is not None else form.get("client_id")
        try:
            body = await self._token(form, basic)
        except OAuthError as exc:
            audit.security(kind, False, client_id=claimed, detail=exc.error)
            raise
        claims = self.issuer.claims(body["access_token"]) or {}
        audit.security(
            kind,
            True,
            client_id=str(claims.get("client_id") or claimed or ""),
            user=claims.get("sub") if claims.get("sub") != claims.get("client_id") else None,
            fhir_user=claims.get("fhirUser") or claims.get("fhir_user"),
            jti=claims.get("jti"),
            patient=body.get("patient"),
            detail=str(form.get("grant_type", ""))[:40],
        )
        return body

    async def _token(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        grant = form.get("grant_type")
        # A public client is identified by client_id; what it may do is checked per grant.
        client = await self.authenticate_client(form, basic, allow_public=True)
        if not grant:
            raise OAuthError(400, "invalid_request", "grant_type is required")
        if grant == "authorization_code":
            return self._authorization_code(client, form)
        if grant == "refresh_token":
            return self._refresh(client, form)
        if grant == "client_credentials":
            return self._client_credentials(client, form)
        raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant[:40]} is not supported")

    def _check_grant_type(self, client: Client, grant: str) -> None:
        if grant not in client.grant_types:
            raise OAuthError(400, "unauthorized_client", f"This client may not use {grant}")

    def _audience(self, form: dict[str, str], granted: str | None) -> str | None:
        """RFC 8707 §2.2: a token request's ``resource``, which for a grant (code, refresh)
        may only repeat the resource it was authorized for (``granted``)."""
        resource = form.get("resource", "").rstrip("/")
        if not resource:
            return granted
        if resource not in self.issuer.audiences or resource != (granted or resource):
            raise OAuthError(
                400, "invalid_target", "The resource is not one this grant can be used for"
            )
        return resource

    def _authorization_code(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        self._check_grant_type(client, "authorization_code")
        code = form.get("code", "")
        if not code:
            raise OAuthError(400, "invalid_request", "code is required")
        record = self.store.take_code(token_hash(code))
        now = int(time.time())
        if record is None or record.client_id != client.client_id:
            raise OAuthError(400, "invalid_grant", "The authorization code is invalid")
        if record.used:
            self.store.revoke_grant(record.grant_id)  # RFC 6749 §4.1.2: code replay
            raise OAuthError(400, "invalid_grant", "The authorization code was already used")
        if record.expires_at < now:
            raise OAuthError(400, "invalid_grant", "The authorization code has expired")
        if form.get("redirect_uri", "") != record.redirect_uri:
            raise OAuthError(400, "invalid_grant", "redirect_uri does not match the authorization")
        verifier = form.get("code_verifier", "")
        if not verifier.strip():
            raise OAuthError(400, "invalid_request", "code_verifier is required (PKCE)")
        if not _VERIFIER.match(verifier) or not hmac.compare_digest(
            s256(verifier), record.code_challenge
        ):
            raise OAuthError(400, "invalid_grant", "code_verifier does not match the challenge")
        payload = record.payload
        self._audience(form, payload.get("audience") or self.issuer.audience)
        scopes = ScopeSet.parse(payload["scope"])
        body = self._user_tokens(client, record.grant_id, scopes, payload, now)
        if "openid" in scopes.other:
            body["id_token"] = self._id_token(client, payload, scopes, now)
        return body

    def _user_tokens(
        self,
        client: Client,
        grant_id: str,
        scopes: ScopeSet,
        payload: dict[str, Any],
        now: int,
        *,
        refresh_scope: str | None = None,
    ) -> dict[str, Any]:
        patient = payload.get("patient")
        practices = (practice_of(patient),) if patient else tuple(self.settings.practices)
        access = self.issuer.issue(
            client.client_id,
            scopes,
            practices,
            subject=payload.get("subject"),
            patient=patient,
            encounter=payload.get("encounter"),
            fhir_user=payload.get("fhir_user"),
            grant_id=grant_id,
            audience=payload.get("audience"),
        )
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.issuer.ttl,
            "scope": str(scopes),
        }
        if patient:
            body["patient"] = patient
            body["need_patient_banner"] = bool(payload.get("need_patient_banner", True))
        if payload.get("encounter"):
            body["encounter"] = payload["encounter"]
        if payload.get("fhir_context"):
            body["fhirContext"] = list(payload["fhir_context"])
        if payload.get("intent"):
            body["intent"] = payload["intent"]
        body["smart_style_url"] = self.endpoints["style"]
        offline = {"offline_access", "online_access"} & set(
            ScopeSet.parse(refresh_scope or str(scopes)).other
        )
        if offline and "refresh_token" in client.grant_types:
            refresh = secrets.token_urlsafe(32)
            self.store.put_refresh(
                token_hash(refresh),
                RefreshRecord(
                    grant_id=grant_id,
                    client_id=client.client_id,
                    scope=refresh_scope or str(scopes),
                    payload=payload,
                    expires_at=now + self.settings.refresh_token_ttl_seconds,
                ),
            )
            body["refresh_token"] = refresh
        return body

    def _id_token(self, client: Client, payload: dict[str, Any], scopes: ScopeSet, now: int) -> str:
        claims: dict[str, Any] = {
            "iss": self.settings.base_url,
            "sub": payload["subject"],
            "aud": client.client_id,
            "iat": now,
            "exp": now + self.issuer.ttl,
            "auth_time": payload.get("auth_time", now),
        }
        if payload.get("nonce"):
            claims["nonce"] = payload["nonce"]
        if "fhirUser" in scopes.other and payload.get("fhir_user"):
            claims["fhirUser"] = f"{self.settings.fhir_base}/{payload['fhir_user']}"
        return self.keys.sign(claims)

    def _refresh(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        """RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every check runs before the
        presented token is consumed, so a refused request (wrong scope, wrong client)
        leaves it usable; only a token that was already rotated out ends the grant."""
        self._check_grant_type(client, "refresh_token")
        presented = form.get("refresh_token", "")
        if not presented:
            raise OAuthError(400, "invalid_request", "refresh_token is required")
        now = int(time.time())
        key = token_hash(presented)
        record = self.store.get_refresh(key)
        if record is None or record.client_id != client.client_id:
            raise OAuthError(400, "invalid_grant", "The refresh token is invalid")
        if record.used:
            self.store.revoke_grant(record.grant_id)  # a rotated token came back: stolen?
            raise OAuthError(400, "invalid_grant", "The refresh token was already used")
        if record.expires_at < now or not self.store.grant_active(record.grant_id, now):
            raise OAuthError(400, "invalid_grant", "The refresh token has expired or was revoked")
        self._audience(form, record.payload.get("audience") or self.issuer.audience)
        original = ScopeSet.parse(record.scope)
        scopes = original
        if form.get("scope"):
            scopes = ScopeSet.parse(form["scope"])
            if not scopes.within(original):
                raise OAuthError(400, "invalid_scope", "A refresh can only narrow the scope")
        taken = self.store.take_refresh(key)
        if taken is None or taken.used:  # another request rotated it meanwhile: a replay
            self.store.revoke_grant(record.grant_id)
            raise OAuthError(400, "invalid_grant", "The refresh token was already used")
        return self._user_tokens(
            client, record.grant_id, scopes, record.payload, now, refresh_scope=record.scope
        )

    def _client_credentials(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        self._check_grant_type(client, "client_credentials")
        requested = ScopeSet.parse(form.get("scope") or "system/*.rs")
        granted = ScopeSet(
            tuple(s for s in requested.narrow_to(ScopeSet.parse(client.scope)).scopes), ()
        )
        granted = ScopeSet(tuple(s for s in granted.scopes if s.context == "system"), ())
        if not granted.scopes:
            raise OAuthError(400, "invalid_scope", "None of the requested scopes can be granted")
        audience = self._audience(form, None)
        ttl = (
            self.issuer.ttl
            if client.kind == "confidential-symmetric"
            else self.settings.backend_token_ttl_seconds
        )
        access = self.issuer.issue(
            client.client_id, granted, tuple(self.settings.practices), ttl=ttl, audience=audience
        )
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": str(granted),
        }

    # ------------------------------------------------------------------ introspection, revocation
    def introspect(self, token: str) -> dict[str, Any]:
        now = int(time.time())
        claims = self.issuer.claims(token) if token else None
        if claims is not None:
            auth = context_from_claims(claims)
            if auth.expires_at <= now:
                return {"active": False}
            try:
                self.authenticate_bearer(token)
            except Unauthorized:
                return {"active": False}
            body: dict[str, Any] = {
                "active": True,
                "token_type": "Bearer",
                "client_id": auth.client_id,
                "scope": str(auth.scopes),
                "exp": auth.expires_at,
                "iat": claims.get("iat"),
                "iss": self.settings.base_url,
                "sub": auth.subject,
                "aud": claims.get("aud"),
            }
            if auth.patient:
                body["patient"] = auth.patient
            if auth.encounter:
                body["encounter"] = auth.encounter
            if auth.fhir_user:
                body["fhirUser"] = f"{self.settings.fhir_base}/{auth.fhir_user}"
            return body
        record = self.store.get_refresh(token_hash(token)) if token else None
        if (
            record is not None
            and not record.used
            and record.expires_at > now
            and self.store.grant_active(record.grant_id, now)
        ):
            return {
                "active": True,
                "token_type": "refresh_token",
                "client_id": record.client_id,
                "scope": record.scope,
                "exp": record.expires_at,
                "iss": self.settings.base_url,
                "sub": record.payload.get("subject"),
            }
        return {"active": False}

    def revoke(self, client: Client, token: str) -> None:
        """RFC 7009: revoke the token and its grant; unknown or foreign tokens are ignored."""
        claims = self.issuer.claims(token) if token else None
        if claims is not None:
            if claims.get("client_id") != client.client_id:
                audit.security("revoke", False, client_id=client.client_id, detail="foreign")
                return
            self.store.revoke_token(str(claims["jti"]), int(claims["exp"]))
            audit.security("revoke", True, client_id=client.client_id, jti=str(claims["jti"]))
            if claims.get("gid"):
                self.store.revoke_grant(str(claims["gid"]))
            return
        record = self.store.get_refresh(token_hash(token)) if token else None
        if record is not None and record.client_id == client.client_id:
            self.store.revoke_grant(record.grant_id)
            audit.security("revoke", True, client_id=client.client_id, detail="refresh_token")
            return
        audit.security("revoke", False, client_id=client.client_id, detail="unknown token")


def redirect_with(uri: str, params: dict[str, str | None]) -> str:
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"
