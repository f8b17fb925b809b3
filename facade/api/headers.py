"""Security headers on every response (added by the request envelope, facade/api/timing.py).

- ``X-Content-Type-Options: nosniff`` everywhere: FHIR JSON, OAuth JSON, HTML pages,
  errors, ``/metrics``; a browser must never guess another type for a body.
- ``Strict-Transport-Security`` only when clients reach the facade over https
  (``FACADE_PUBLIC_BASE_URL``): over plain http a browser ignores it (RFC 6797 §8.1), and
  a loopback deployment must not pin a name to https. One year, without
  ``includeSubDomains`` (other hosts under the same domain are not ours to pin).
- No server banner: uvicorn is started without its ``Server`` header (``facade/cli.py``);
  granian cannot leave it out but keeps one the app sends, so under granian the header
  says only ``athena-fhir-facade`` (the name ``/metadata`` publishes anyway), no software
  or version.
"""

from __future__ import annotations

from facade.settings import Settings

HSTS_MAX_AGE = 365 * 24 * 3600


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers every response carries under ``settings``."""
    headers = [(b"x-content-type-options", b"nosniff")]
    if settings.base_url.lower().startswith("https://"):
        headers.append((b"strict-transport-security", f"max-age={HSTS_MAX_AGE}".encode()))
    if settings.server == "granian":
        headers.append((b"server", b"athena-fhir-facade"))
    return headers
