"""Builds the authorization server from settings (called once from the app's lifespan)."""

from __future__ import annotations

import httpx

from facade.auth.assertion import AssertionVerifier
from facade.auth.clients import ClientRegistry, dev_client
from facade.auth.keys import KeyRing
from facade.auth.remote_jwks import JwksFetcher
from facade.auth.server import AuthorizationServer
from facade.auth.tokens import TokenIssuer
from facade.auth.users import UserDirectory, demo_users
from facade.settings import Settings
from facade.store import AuthStore, SqliteAuthStore
from facade.store.database import location
from facade.store.shared import RedisLink, SharedAuthStore


def auth_endpoints(settings: Settings) -> dict[str, str]:
    """Every URL the authorization server publishes (discovery and oauth-uris share these)."""
    base = settings.base_url
    urls = {
        "authorize": f"{base}/auth/authorize",
        "token": f"{base}/auth/token",
        "introspect": f"{base}/auth/introspect",
        "revoke": f"{base}/auth/revoke",
        "jwks": f"{base}/auth/jwks",
        "style": f"{base}/auth/smart-style.json",
    }
    if settings.dynamic_registration:
        urls["register"] = f"{base}/auth/register"
    return urls


def auth_store(settings: Settings, link: RedisLink | None = None) -> SqliteAuthStore:
    where = location(settings.data_dir, "auth", settings.database)
    if settings.shared:
        return SharedAuthStore(where, link)  # bearer checks across hosts (README "Scale-out")
    return SqliteAuthStore(where)


def clients_file(settings: Settings, store: AuthStore | None = None) -> ClientRegistry:
    """The client registry: built-in, ``clients.json`` and (in the auth store) dynamic clients."""
    dev_secret = settings.dev_client_secret.get_secret_value()
    return ClientRegistry(
        settings.data_dir / "clients.json",
        [dev_client()],
        dev_secret=dev_secret,
        store=store if store is not None else auth_store(settings),
    )


class AuthorizationResources:
    """The server plus what it owns and must close (store file, JWKS-fetching client)."""

    def __init__(self, server: AuthorizationServer, http: httpx.AsyncClient) -> None:
        self.server = server
        self._http = http

    async def aclose(self) -> None:
        await self._http.aclose()
        self.server.store.close()


def build_authorization_server(
    settings: Settings, issuer: TokenIssuer, session_key: bytes, *, link: RedisLink | None = None
) -> AuthorizationResources:
    endpoints = auth_endpoints(settings)
    store = auth_store(settings, link)
    clients = clients_file(settings, store)
    users = UserDirectory(
        demo_users(settings.demo_password.get_secret_value()) if settings.demo_users else []
    )
    # JWKS URLs of registered clients only (vetted by JwksFetcher); never athena. No proxy
    # from the environment: the fetcher connects to the address it has checked.
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.jwks_fetch_timeout_seconds),
        follow_redirects=False,
        trust_env=False,
    )
    fetcher = JwksFetcher(
        http,
        allow_loopback=settings.jwks_loopback_allowed,
        prefixes=settings.jwks_url_allow,
        timeout=settings.jwks_fetch_timeout_seconds,
        max_bytes=settings.jwks_max_bytes,
    )
    assertions = AssertionVerifier(clients, store, fetcher, token_url=endpoints["token"])
    server = AuthorizationServer(
        settings,
        clients=clients,
        users=users,
        store=store,
        keys=KeyRing.load_or_create(settings.jwks_path),
        issuer=issuer,
        assertions=assertions,
        session_key=session_key,
        endpoints=endpoints,
    )
    return AuthorizationResources(server, http)
