"""``athena-facade doctor``: a checklist of what a deployment needs, checked for real.

Configuration (already validated when this runs: facade/config_check.py), credentials,
the data directory, then athena itself: a client-credentials token (and the scopes it
granted), one cheap call per surface with it (``/v1/{practice}/departments`` and athena's
FHIR practice Organization), the quota headers of the /v1 answer, and the FHIR
CapabilityStatement. Prints one line per check (``ok``, ``warn``, ``FAIL``, ``skip``);
exits 1 when anything failed. Never prints a secret.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from facade.drift.probe import ProbeError
from facade.drift.run import athena_for
from facade.settings import EMULATOR_CLIENT_ID, Settings
from facade.upstream.client import QUOTA_LIMIT_HEADER, QUOTA_REMAINING_HEADER


@dataclass
class Check:
    state: str  # ok | warn | FAIL | skip
    name: str
    detail: str


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    return lowered.get(name.lower())


def checks(settings: Settings) -> list[Check]:
    out: list[Check] = []
    base = settings.upstream_base()
    out.append(
        Check("ok", "configuration", f"environment {settings.environment}, athena at {base}")
    )
    client_id, _ = settings.upstream_credentials()
    if settings.environment == "embedded":
        detail = "the emulator's local-dev client" if client_id == EMULATOR_CLIENT_ID else client_id
        out.append(Check("ok", "credentials", detail))
    else:
        out.append(Check("ok", "credentials", f"client {client_id} (secret set)"))
    data = settings.data_dir
    writable = (data.is_dir() and os.access(data, os.W_OK)) or not data.exists()
    out.append(
        Check(
            "ok" if writable else "FAIL",
            "data directory",
            f"{data} " + ("writable" if writable else "is not writable"),
        )
    )
    if settings.environment != "embedded":
        if settings.metrics_token is None:
            out.append(Check("warn", "metrics", "FACADE_METRICS_TOKEN unset: /metrics answers 403"))
        if not settings.base_url.startswith("https://"):
            out.append(
                Check(
                    "warn",
                    "public URL",
                    f"{settings.base_url} is not https: set"
                    " FACADE_PUBLIC_BASE_URL to the https URL clients use (behind TLS)",
                )
            )
    athena = athena_for(settings)
    try:
        try:
            token = athena.token()
        except ProbeError as exc:
            out.append(Check("FAIL", "athena reachable", f"{base}: {exc}"))
            out += [Check("skip", n, "athena unreachable") for n in _LATER]
            return out
        out.append(Check("ok", "athena reachable", f"{base} ({token.ms:.0f} ms)"))
        if token.status != 200 or athena._token is None:
            reason = token.body.get("error") if isinstance(token.body, dict) else token.status
            out.append(Check("FAIL", "token", f"athena refused the credentials ({reason})"))
            out += [Check("skip", n, "no token") for n in _LATER[1:]]
            return out
        granted = set(str((token.body or {}).get("scope", "")).split())
        missing = set(settings.athena_scope.split()) - granted
        out.append(
            Check(
                "warn" if missing else "ok",
                "token",
                "granted"
                + (
                    f"; not granted: {' '.join(sorted(missing))}"
                    if missing
                    else " every scope asked"
                ),
            )
        )
        practice = settings.default_practice
        rest = athena.get("rest", "/departments", {"limit": "1"})
        out.append(
            Check(
                "ok" if rest.status == 200 else "FAIL",
                "/v1 API",
                f"GET /v1/{practice}/departments: {rest.status} ({rest.ms:.0f} ms)",
            )
        )
        fhir = athena.get("fhir", f"/Organization/a-1.Practice-{practice}")
        out.append(
            Check(
                "ok" if fhir.status == 200 else "FAIL",
                "FHIR API",
                f"GET /fhir/r4/Organization/a-1.Practice-{practice}: {fhir.status} "
                f"({fhir.ms:.0f} ms)",
            )
        )
        limit = _header(rest.headers, QUOTA_LIMIT_HEADER)
        left = _header(rest.headers, QUOTA_REMAINING_HEADER)
        if limit and left:
            out.append(Check("ok", "quota", f"{left} of {limit} calls left (athena's headers)"))
        else:
            out.append(Check("warn", "quota", "athena sent no quota headers"))
        metadata = athena.get("fhir", "/metadata")
        version = metadata.body.get("fhirVersion") if isinstance(metadata.body, dict) else None
        out.append(
            Check(
                "ok" if version == "4.0.1" else "FAIL",
                "CapabilityStatement",
                f"fhirVersion {version}",
            )
        )
    except ProbeError as exc:
        out.append(Check("FAIL", "athena", str(exc)))
    finally:
        athena.close()
    return out


_LATER = ["token", "/v1 API", "FHIR API", "quota", "CapabilityStatement"]


def run(settings: Settings) -> int:
    results = checks(settings)
    width = max(len(c.name) for c in results)
    for c in results:
        print(f"[{c.state:4}] {c.name:{width}}  {c.detail}")
    failed = [c.name for c in results if c.state == "FAIL"]
    if failed:
        print(f"doctor: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("doctor: all checks passed")
    return 0
