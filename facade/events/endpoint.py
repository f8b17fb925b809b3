"""rest-hook endpoints: which URLs a Subscription may name, and sending to one without
becoming a server-side request forgery tool (Backport IG "channels": servers are
strongly recommended to refuse http; Standard Webhooks spec "SSRF"; OWASP SSRF).

An endpoint is parsed, never prefix-matched (the rules of
:mod:`facade.auth.remote_jwks`): ``https`` only, ``http`` only to loopback and loopback
only where ``Settings.events_loopback_allowed`` (embedded mode by default); no user
information or fragment; a real host name or a public IP literal. Private, link-local
and reserved addresses are refused unless the host is listed in
``FACADE_EVENTS_ALLOW_PRIVATE_HOSTS``. A delivery resolves the host again, refuses it
when any address is not allowed, connects to the vetted address (TLS still verifies the
name), follows no redirect and uses no proxy.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from facade.auth.remote_jwks import JwksUrlRefused, address_allowed, check_jwks_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EndpointRefused(ValueError):
    """The endpoint may not be used; the message says why (shown to the subscriber)."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    scheme: str
    host: str
    port: int
    ip: IPAddress | None
    loopback: bool
    private_allowed: bool


def check_endpoint(url: object, *, allow_loopback: bool, private_hosts: list[str]) -> Endpoint:
    """Vet a rest-hook URL (see the module docstring); raise :class:`EndpointRefused`."""
    host = urlsplit(url).hostname or "" if isinstance(url, str) else ""
    listed = host.lower().rstrip(".") in {h.lower() for h in private_hosts}
    try:
        checked = check_jwks_url(url, allow_loopback=allow_loopback, prefixes=[""])
    except JwksUrlRefused as exc:
        message = str(exc).replace("jwks_uri", "channel.endpoint")
        if not (listed and "private or reserved" in message):
            raise EndpointRefused(message) from None
        parts = urlsplit(str(url))
        if parts.scheme != "https":
            raise EndpointRefused("channel.endpoint must be an https URL") from None
        return Endpoint(
            str(url), "https", host, parts.port or 443, ipaddress.ip_address(host), False, True
        )
    return Endpoint(
        checked.url,
        checked.scheme,
        checked.host,
        checked.port,
        checked.ip,
        checked.loopback,
        listed,
    )


class Refused(Exception):
    """The endpoint resolved to an address that is not allowed (no request was sent)."""


async def resolve(endpoint: Endpoint, *, allow_loopback: bool) -> IPAddress:
    if endpoint.ip is not None:
        addresses = [endpoint.ip]
    else:
        infos = await asyncio.get_running_loop().getaddrinfo(
            endpoint.host, endpoint.port, type=socket.SOCK_STREAM
        )
        addresses = [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]
    allowed = [
        address_allowed(a, allow_loopback=allow_loopback, allow_private=endpoint.private_allowed)
        for a in addresses
    ]
    if not addresses or not all(allowed):
        raise Refused(endpoint.host)
    return addresses[0]


async def post(
    http: httpx.AsyncClient,
    endpoint: Endpoint,
    body: bytes,
    headers: dict[str, str],
    *,
    seconds: float,
    allow_loopback: bool,
) -> httpx.Response:
    """POST ``body`` to the vetted address of ``endpoint`` (no redirects, bounded)."""
    async with asyncio.timeout(seconds):
        ip = await resolve(endpoint, allow_loopback=allow_loopback)
        parts = urlsplit(endpoint.url)
        literal = f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)
        pinned = parts._replace(netloc=f"{literal}:{endpoint.port}").geturl()
        default = 443 if endpoint.scheme == "https" else 80
        host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        if endpoint.port != default:
            host += f":{endpoint.port}"
        request = http.build_request(
            "POST",
            pinned,
            content=body,
            headers={**headers, "Host": host, "Accept-Encoding": "identity"},
            extensions={"sni_hostname": endpoint.host} if endpoint.scheme == "https" else {},
            timeout=httpx.Timeout(seconds),
        )
        response = await http.send(request, follow_redirects=False, stream=True)
        try:
            received = 0
            async for chunk in response.aiter_raw():  # ignored; read a little, then stop
                received += len(chunk)
                if received > 65536:
                    break
        finally:
            await response.aclose()
        return response
