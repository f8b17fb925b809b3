"""Clients' JWKS URLs: which ones are acceptable, and fetching one without becoming a
server-side request forgery (SSRF) tool for whoever registers a client (RFC 7591 §5
warns that registered URLs are attacker-chosen; OWASP SSRF prevention).

A JWKS URL is parsed, never prefix-matched: ``https`` only, except ``http`` to
loopback (``127.0.0.0/8``, ``::1``, ``localhost``), and loopback only where
``Settings.jwks_loopback_allowed`` (embedded mode by default); no user
information (``http://127.0.0.1:9@attacker.example/`` is refused), no fragment,
a real host name or IP literal (no ``2130706433``-style numbers), and an IP
literal must be a public address. ``FACADE_JWKS_URL_ALLOW`` prefixes then narrow
what passes.

A fetch resolves the host first and refuses it when any address is loopback
(unless allowed) or, for a dynamically registered client, not public (private,
link-local such as cloud metadata, reserved); it then connects to that vetted
address (TLS still verifies the host name), follows no redirect, uses no proxy,
asks for no content coding, reads at most ``jwks_max_bytes`` and stops after ``jwks_fetch_timeout_seconds``
overall. Every failure, whatever its cause (refused connection, timeout, a 404,
a body that is not a JWKS, too large, a refused address), raises the same
:class:`JwksUnavailable` with the same message, after the same delay (the fetch
timeout): the answer tells a caller nothing about what listens where. The cause
is logged (a category, no URL or body) for the operator.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

log = logging.getLogger("facade.auth")
UNAVAILABLE = "The client's JWKS URL could not be read"
MAX_URL_LENGTH = 2048
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class JwksUrlRefused(ValueError):
    """A JWKS URL that may not be registered; the message says why (registration only)."""


class JwksUnavailable(Exception):
    """The JWKS could not be fetched; one message for every cause."""

    def __init__(self) -> None:
        super().__init__(UNAVAILABLE)


@dataclass(frozen=True)
class JwksUrl:
    url: str
    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int
    ip: IPAddress | None  # the host is an IP literal
    loopback: bool


def _is_loopback(host: str, ip: IPAddress | None) -> bool:
    if ip is not None:
        return ip.is_loopback or (
            isinstance(ip, ipaddress.IPv6Address)
            and ip.ipv4_mapped is not None
            and ip.ipv4_mapped.is_loopback
        )
    return host == "localhost" or host.endswith(".localhost")


def check_jwks_url(url: object, *, allow_loopback: bool, prefixes: list[str]) -> JwksUrl:
    """Parse and vet a JWKS URL (see the module docstring); raise :class:`JwksUrlRefused`."""
    if not isinstance(url, str) or not url:
        raise JwksUrlRefused("jwks_uri must be a URL")
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 or c == "\\" for c in url):
        raise JwksUrlRefused("jwks_uri is not a valid URL")
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise JwksUrlRefused("jwks_uri is not a valid URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise JwksUrlRefused("jwks_uri must be an https URL")
    if "@" in parts.netloc:
        raise JwksUrlRefused("jwks_uri must not carry user information")
    if "#" in url:
        raise JwksUrlRefused("jwks_uri must not have a fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise JwksUrlRefused("jwks_uri needs a host")
    ip: IPAddress | None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
        labels = host.split(".")
        if not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
            # e.g. 2130706433, 0x7f.1, 127.1: numbers a resolver may read as loopback
            raise JwksUrlRefused("jwks_uri has an invalid host name") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        raise JwksUrlRefused("jwks_uri has an invalid host")
    loopback = _is_loopback(host, ip)
    if loopback and not allow_loopback:
        raise JwksUrlRefused("jwks_uri must not point at this server's own host (loopback)")
    if not loopback and scheme != "https":
        raise JwksUrlRefused("jwks_uri must be an https URL (http only to loopback)")
    if ip is not None and not loopback and not ip.is_global:
        raise JwksUrlRefused("jwks_uri must not point at a private or reserved address")
    if not any(url.startswith(prefix) for prefix in prefixes):
        raise JwksUrlRefused("jwks_uri is not an allowed URL (FACADE_JWKS_URL_ALLOW)")
    default = 443 if scheme == "https" else 80
    return JwksUrl(url, scheme, host, port or default, ip, loopback)


def address_allowed(ip: IPAddress, *, allow_loopback: bool, allow_private: bool) -> bool:
    if ip.is_multicast or ip.is_unspecified:
        return False
    if _is_loopback(str(ip), ip):
        return allow_loopback
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global or (allow_private and ip.is_private and not ip.is_link_local)


class JwksFetcher:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        allow_loopback: bool,
        prefixes: list[str],
        timeout: float,
        max_bytes: int,
    ) -> None:
        self._http = http
        self._allow_loopback = allow_loopback
        self._prefixes = prefixes
        self._timeout = timeout
        self._max_bytes = max_bytes

    async def fetch(self, url: str, *, client_id: str, trusted: bool) -> KeySet:
        """The key set at ``url``; :class:`JwksUnavailable` (after the timeout) on any failure."""
        started = time.monotonic()
        try:
            target = check_jwks_url(
                url, allow_loopback=self._allow_loopback, prefixes=self._prefixes
            )
        except JwksUrlRefused:
            # refused before any network traffic: nothing to learn from the timing
            log.info("jwks fetch refused client=%s reason=url", client_id)
            raise JwksUnavailable() from None
        try:
            async with asyncio.timeout(self._timeout):
                return await self._fetch(target, trusted=trusted)
        except (
            _Failure,
            TimeoutError,
            OSError,
            httpx.HTTPError,
            ValueError,
            KeyError,
            TypeError,
            JoseError,
        ) as exc:
            reason = exc.reason if isinstance(exc, _Failure) else type(exc).__name__
            log.info("jwks fetch failed client=%s reason=%s", client_id, reason)
            # answer every failure after the same delay: refused, 404 and timeout look alike
            await asyncio.sleep(max(0.0, self._timeout - (time.monotonic() - started)))
            raise JwksUnavailable() from None

    async def _resolve(self, target: JwksUrl) -> list[IPAddress]:
        if target.ip is not None:
            return [target.ip]
        infos = await asyncio.get_running_loop().getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM
        )
        return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]

    async def _fetch(self, target: JwksUrl, *, trusted: bool) -> KeySet:
        addresses = await self._resolve(target)
        if not addresses or not all(
            address_allowed(a, allow_loopback=self._allow_loopback, allow_private=trusted)
            for a in addresses
        ):
            raise _Failure("address")
        ip = addresses[0]
        parts = urlsplit(target.url)
        host_in_url = f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)
        pinned = parts._replace(netloc=f"{host_in_url}:{target.port}").geturl()
        default = 443 if target.scheme == "https" else 80
        host_header = f"[{target.host}]" if ":" in target.host else target.host
        if target.port != default:
            host_header += f":{target.port}"
        request = self._http.build_request(
            "GET",
            pinned,
            # identity only: a compressed body could inflate far past the size limit
            headers={
                "Accept": "application/json",
                "Accept-Encoding": "identity",
                "Host": host_header,
            },
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        response = await self._http.send(request, stream=True, follow_redirects=False)
        try:
            if response.status_code != 200:
                raise _Failure(f"status {response.status_code}")
            if response.headers.get("content-encoding", "identity").lower() != "identity":
                raise _Failure("content coding")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self._max_bytes:
                raise _Failure("too large")
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > self._max_bytes:
                    raise _Failure("too large")
        finally:
            await response.aclose()
        try:
            data = json.loads(bytes(body))
        except ValueError as exc:
            raise _Failure("not json") from exc
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise _Failure("not a jwks")
        return KeySet.import_key_set(data)  # type: ignore[arg-type]


class _Failure(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
