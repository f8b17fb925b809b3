"""HTTP face of the authorization server (:mod:`facade.auth.server`).

    GET|POST /auth/authorize         RFC 6749 §4.1.1 + PKCE; renders the login page
    POST     /auth/login             login form -> patient picker or consent
    POST     /auth/patient           patient picker (user launches needing a patient)
    POST     /auth/consent           consent form -> redirect with code and state
    POST     /auth/token             RFC 6749 §3.2: authorization_code, refresh_token,
                                     client_credentials (local-dev, Backend Services)
    POST     /auth/introspect        RFC 7662 (client- or bearer-authenticated)
    POST     /auth/revoke            RFC 7009
    POST     /auth/register          RFC 7591 (public and private_key_jwt clients)
    GET|POST /auth/launch            EHR launch: a ``launch`` value bound to patient/encounter
    GET      /auth/jwks              id_token signing keys
    GET      /auth/smart-style.json  SMART styling (``smart_style_url``)
    GET      /.well-known/openid-configuration

Token, introspection and revocation answers carry ``Cache-Control: no-store``
and ``Pragma: no-cache``; their errors follow RFC 6749 §5.2.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from facade.api import pages
from facade.api.deps import ServicesDep
from facade.auth.clients import Client
from facade.auth.context import AuthContext
from facade.auth.registration import RegistrationError, register_client
from facade.auth.scopes import ScopeSet
from facade.auth.server import (
    AuthorizationServer,
    OAuthError,
    PageError,
    Pending,
    RedirectError,
    redirect_with,
)
from facade.auth.throttle import LoginThrottled
from facade.engine import reads, searches
from facade.engine.services import Services
from facade.errors import FacadeError, Unauthorized
from facade.search import parse_query

router = APIRouter()
log = logging.getLogger("facade.auth")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PAGE_HEADERS = {
    **NO_STORE,
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
STYLE = {
    "color_background": "#f4f6f8",
    "color_error": "#b91c1c",
    "color_highlight": "#1d4ed8",
    "color_modal_backdrop": "",
    "color_success": "#15803d",
    "color_text": "#1b1f24",
    "dim_border_radius": "8px",
    "dim_font_size": "16px",
    "dim_spacing_size": "16px",
    "font_family_body": "system-ui, sans-serif",
    "font_family_heading": "system-ui, sans-serif",
}


def _error(status: int, error: str, description: str) -> JSONResponse:
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="token"'
    return JSONResponse({"error": error, "error_description": description}, status, headers)


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None


async def _form_items(request: Request) -> list[tuple[str, str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError(
            400, "invalid_request", "The body must be application/x-www-form-urlencoded"
        )
    try:
        return parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise OAuthError(400, "invalid_request", "The body must be UTF-8") from exc


async def _form(request: Request) -> dict[str, str]:
    return dict(await _form_items(request))


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status, headers=PAGE_HEADERS)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=NO_STORE)


def _app_name(authz: AuthorizationServer, client_id: str) -> str:
    client = authz.clients.get(client_id)
    return (client.client_name or client.client_id) if client else client_id


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{round(seconds / 60)} minutes"


def _page_error(exc: PageError) -> HTMLResponse:
    return _html(pages.error_page(exc.title, exc.message), 400)


# ---------------------------------------------------------------------- authorize flow
@router.api_route("/auth/authorize", methods=["GET", "POST"])
async def authorize(request: Request, services: ServicesDep) -> Response:
    """SMART App Launch 2.0 "Obtain authorization code": GET query or POST form."""
    authz = services.authz
    if request.method == "POST":
        try:
            params = await _form(request)
        except OAuthError as exc:
            return _html(pages.error_page("Bad request", exc.description), 400)
    else:
        params = dict(request.query_params)
    try:
        pending = authz.start_authorize(params)
    except PageError as exc:
        return _page_error(exc)
    except RedirectError as exc:
        return _redirect(
            redirect_with(
                exc.redirect_uri,
                {"error": exc.error, "error_description": exc.description, "state": exc.state},
            )
        )
    app = _app_name(authz, pending.client_id)
    return _html(pages.login_page(authz.sign_pending(pending), app))


@router.post("/auth/login")
async def login(request: Request, services: ServicesDep) -> Response:
    authz = services.authz
    try:
        form = await _form(request)
        pending = authz.load_pending(form.get("session", ""))
        username = form.get("username", "")
        address = request.client.host if request.client else "unknown"
        user = authz.login(pending, username, form.get("password", ""), address)
    except PageError as exc:
        return _page_error(exc)
    except OAuthError as exc:
        return _html(pages.error_page("Bad request", exc.description), 400)
    except LoginThrottled as exc:
        log.info("sign-in throttled retry_after=%d", exc.retry_after)
        page = pages.login_page(
            form["session"],
            _app_name(authz, pending.client_id),
            error=f"Too many failed sign-ins. Wait {_duration(exc.retry_after)}, then try again.",
            username=username,
        )
        return HTMLResponse(
            page, 429, headers={**PAGE_HEADERS, "Retry-After": str(exc.retry_after)}
        )
    if user is None:
        page = pages.login_page(
            form["session"],
            _app_name(authz, pending.client_id),
            error="The username or password is not correct.",
            username=username,
        )
        return _html(page, 401)
    return await _next_step(services, pending)


async def _next_step(services: Services, pending: Pending, *, query: str = "sandbox") -> Response:
    authz = services.authz
    session = authz.sign_pending(pending)
    if pending.needs_patient() and not pending.patient:
        return _html(pages.picker_page(session, await _patients(services, query), query=query))
    user = authz.user_of(pending)
    page = pages.consent_page(
        session,
        _app_name(authz, pending.client_id),
        pending.scopes,
        user=user.display,
        patient=pending.patient or pending.launch.get("patient"),
    )
    return _html(page)


def _picker_auth(services: Services) -> AuthContext:
    """The picker searches on the clinician's behalf, within the deployment's practices."""
    settings = services.settings
    return AuthContext(
        "patient-picker", ScopeSet.parse("system/Patient.rs"), tuple(settings.practices)
    )


async def _patients(services: Services, query: str) -> list[tuple[str, str]]:
    q = query.strip()
    if not q:
        return []
    req = parse_query("Patient", [("name", q), ("_count", "20")])
    try:
        bundle = await searches.search(
            services, _picker_auth(services), "Patient", req, strict=False
        )
    except FacadeError:
        return []
    found: list[tuple[str, str]] = []
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        name = (resource.get("name") or [{}])[0]
        label = " ".join([*name.get("given", []), name.get("family", "")]).strip()
        born = resource.get("birthDate")
        found.append((resource.get("id", ""), f"{label}, born {born}" if born else label))
    return found


@router.post("/auth/patient")
async def choose_patient(request: Request, services: ServicesDep) -> Response:
    authz = services.authz
    try:
        form = await _form(request)
        pending = authz.load_pending(form.get("session", ""))
        authz.picker_user(pending)
    except PageError as exc:
        return _page_error(exc)
    except OAuthError as exc:
        return _html(pages.error_page("Bad request", exc.description), 400)
    query = form.get("q", "")
    if form.get("action") == "select" and form.get("patient"):
        patient = form["patient"]
        try:
            await reads.read(services, _picker_auth(services), "Patient", patient)
        except FacadeError:
            session = authz.sign_pending(pending)
            patients = await _patients(services, query)
            page = pages.picker_page(
                session, patients, query=query, error="Choose a patient from the list."
            )
            return _html(page, 400)
        authz.choose_patient(pending, patient)
    elif form.get("action") == "select":
        session = authz.sign_pending(pending)
        patients = await _patients(services, query)
        return _html(
            pages.picker_page(session, patients, query=query, error="Choose a patient."), 400
        )
    return await _next_step(services, pending, query=query)


@router.post("/auth/consent")
async def consent(request: Request, services: ServicesDep) -> Response:
    authz = services.authz
    try:
        items = await _form_items(request)
        form = dict(items)
        pending = authz.load_pending(form.get("session", ""))
        if form.get("decision") != "allow":
            return _redirect(authz.deny(pending))
        ticked = [v for k, v in items if k == "scope"]
        return _redirect(authz.consent(pending, ticked))
    except PageError as exc:
        return _page_error(exc)
    except OAuthError as exc:
        return _html(pages.error_page("Bad request", exc.description), 400)


# ---------------------------------------------------------------------- token endpoint
@router.post("/auth/token")
async def token(request: Request, services: ServicesDep) -> JSONResponse:
    try:
        form = await _form(request)
        basic = _basic(request.headers.get("authorization", ""))
        body = await services.authz.token(form, basic)
    except OAuthError as exc:
        log.info("token request refused error=%s", exc.error)
        return _error(exc.status, exc.error, exc.description)
    return JSONResponse(body, headers=NO_STORE)


async def _caller(
    request: Request, authz: AuthorizationServer, form: dict[str, str]
) -> Client | AuthContext:
    """RFC 7662 §2.1: a client credential, or a bearer token, authorizes introspection."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        try:
            return authz.authenticate_bearer(header[7:].strip())
        except Unauthorized as exc:
            raise OAuthError(401, "invalid_client", "The bearer token is not valid") from exc
    return await authz.authenticate_client(form, _basic(header), allow_public=True)


@router.post("/auth/introspect")
async def introspect(request: Request, services: ServicesDep) -> JSONResponse:
    authz = services.authz
    try:
        form = await _form(request)
        await _caller(request, authz, form)
    except OAuthError as exc:
        return _error(exc.status, exc.error, exc.description)
    if "token" not in form:
        return _error(400, "invalid_request", "token is required")
    return JSONResponse(authz.introspect(form["token"]), headers=NO_STORE)


@router.post("/auth/revoke")
async def revoke(request: Request, services: ServicesDep) -> Response:
    authz = services.authz
    try:
        form = await _form(request)
        client = await authz.authenticate_client(
            form, _basic(request.headers.get("authorization", "")), allow_public=True
        )
    except OAuthError as exc:
        return _error(exc.status, exc.error, exc.description)
    if "token" not in form:
        return _error(400, "invalid_request", "token is required")
    authz.revoke(client, form["token"])
    return Response(status_code=200, headers=NO_STORE)


# ---------------------------------------------------------------------- registration (RFC 7591)
@router.post("/auth/register")
async def register(request: Request, services: ServicesDep) -> JSONResponse:
    if not services.settings.dynamic_registration:
        return _error(404, "invalid_request", "Dynamic registration is disabled")
    try:
        metadata: Any = await request.json()
    except ValueError:
        return JSONResponse(
            {"error": "invalid_client_metadata", "error_description": "The body must be JSON"},
            400,
            headers=NO_STORE,
        )
    try:
        body = register_client(services.authz.clients, metadata, services.settings)
    except RegistrationError as exc:
        return JSONResponse(
            {"error": exc.error, "error_description": str(exc)}, 400, headers=NO_STORE
        )
    return JSONResponse(body, 201, headers=NO_STORE)


# ---------------------------------------------------------------------- EHR launch
def _launcher_off(services: Services) -> JSONResponse | None:
    if services.settings.launcher_enabled:
        return None
    body = {"error": "not_found", "error_description": "The EHR launcher is not enabled here"}
    return JSONResponse(body, 404, headers=NO_STORE)


@router.get("/auth/launch", response_model=None)
async def launcher(services: ServicesDep) -> HTMLResponse | JSONResponse:
    return _launcher_off(services) or _html(pages.launcher_page())


@router.post("/auth/launch")
async def create_launch(request: Request, services: ServicesDep) -> Response:
    """Issue an opaque ``launch`` bound to a patient (and encounter, fhirContext).

    Form or JSON: ``patient``, optional ``encounter``, ``fhirContext`` (list of
    relative references), ``need_patient_banner``, ``intent``, ``launch_url``.
    With ``launch_url`` (exactly one of a trusted client's ``launch_uris``) the browser
    is sent to ``launch_url?iss=<FHIR base>&launch=...`` (SMART EHR launch); otherwise
    the answer is ``{"launch": ..., "iss": ...}``.
    Only where the launcher is enabled (``FACADE_EHR_LAUNCHER``; embedded by default).
    """
    off = _launcher_off(services)
    if off is not None:
        return off
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: dict[str, Any]
    try:
        if content_type == "application/json":
            data = dict(await request.json())
        else:
            items = await _form_items(request)
            data = dict(items)
            data["fhirContext"] = [v for k, v in items if k == "fhirContext" and v]
    except (OAuthError, ValueError, TypeError):
        return _error(400, "invalid_request", "Send a form or a JSON object")
    patient = str(data.get("patient") or "")
    context = data.get("fhirContext") or []
    banner = str(data.get("need_patient_banner", "true")).lower() not in ("false", "0")
    try:
        if not isinstance(context, list):
            raise ValueError("fhirContext must be a list")
        value = services.authz.create_launch(
            patient,
            str(data.get("encounter") or "") or None,
            [str(c) for c in context],
            banner,
            str(data.get("intent") or "") or None,
        )
    except (FacadeError, ValueError) as exc:
        message = exc.diagnostics if isinstance(exc, FacadeError) else str(exc)
        if content_type != "application/json":
            return _html(pages.launcher_page(error=message), 400)
        return _error(400, "invalid_request", message)
    iss = services.settings.fhir_base
    launch_url = str(data.get("launch_url") or "")
    if launch_url:
        if services.authz.clients.launch_target(launch_url) is None:
            # only to a launch URL an operator registered (clients add --launch-url):
            # anything else would make the launcher an open redirector
            message = "The launch URL is not registered for any application."
            if content_type == "application/json":
                return _error(400, "invalid_request", message)
            return _html(pages.launcher_page(error=message), 400)
        return _redirect(redirect_with(launch_url, {"iss": iss, "launch": value}))
    return JSONResponse({"launch": value, "iss": iss}, headers=NO_STORE)


# ---------------------------------------------------------------------- keys, style, discovery
@router.get("/auth/jwks")
async def jwks(services: ServicesDep) -> JSONResponse:
    return JSONResponse(
        services.authz.keys.jwks(), headers={"Cache-Control": "public, max-age=300"}
    )


@router.get("/auth/smart-style.json")
async def smart_style() -> JSONResponse:
    return JSONResponse(STYLE, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/.well-known/openid-configuration")
async def openid_configuration(services: ServicesDep) -> JSONResponse:
    return JSONResponse(
        services.openid_configuration, headers={"Cache-Control": "public, max-age=300"}
    )
