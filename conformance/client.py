"""The suite's HTTP side: a bearer-token FHIR client that pages searches and audits Bundles.

Searches follow ``next`` links verbatim (at most ``MAX_PAGES``), and every searchset
Bundle is checked as it arrives (type ``searchset``, absolute ``fullUrl`` ending in
``Type/id``, ``search.mode``); problems are collected for the Bundle check rather than
failing the search that happened to see them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance.result import Fail

Json = dict[str, Any]
MAX_PAGES = 20
SEARCH_MODES = {"match", "include", "outcome"}


@dataclass
class Page:
    """One search, all pages merged."""

    matches: list[Json] = field(default_factory=list)
    included: list[Json] = field(default_factory=list)
    pages: int = 0

    @property
    def ids(self) -> list[str]:
        return [str(r.get("id")) for r in self.matches]


class FhirClient:
    """Plain HTTP against ``base`` (the FHIR base URL, no trailing slash)."""

    def __init__(self, base: str, token: str | None, *, timeout: float = 30.0) -> None:
        self.base = base.rstrip("/")
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(headers=headers, timeout=timeout)
        self.bundle_problems: list[str] = []
        self.bundles_seen = 0
        self.multi_page_searches = 0

    def close(self) -> None:
        self.http.close()

    def url(self, ref: str) -> str:
        return ref if ref.startswith(("http://", "https://")) else f"{self.base}/{ref}"

    def get(self, ref: str, params: Any = None) -> httpx.Response:
        return self.http.get(self.url(ref), params=params)

    def read(self, ref: str) -> Json:
        """GET a resource; 200 and a JSON object, or Fail."""
        response = self.get(ref)
        if response.status_code != 200:
            raise Fail(f"GET {ref}: HTTP {response.status_code}")
        body: Json = response.json()
        return body

    def read_exact(self, ref: str) -> Json:
        """Inferno's read check: 200 and the resource of the requested type and id, or Fail."""
        rtype, rid = ref.rstrip("/").split("/")[-2:]
        body = self.read(ref)
        got = (body.get("resourceType"), body.get("id"))
        if got != (rtype, rid):
            raise Fail(f"GET {ref} returned {got[0]}/{got[1]}")
        return body

    def search(self, rtype: str, params: Any, *, method: str = "GET") -> Page:
        """Every match and include over all pages; Fail on a non-200 or a non-Bundle."""
        if method == "POST":
            response = self.http.post(f"{self.base}/{rtype}/_search", data=params)
        else:
            response = self.get(rtype, params)
        page = Page()
        what = f"{method} {rtype} {params}"
        while True:
            if response.status_code != 200:
                raise Fail(f"{what}: HTTP {response.status_code} {response.text[:200]}")
            bundle = response.json()
            if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
                raise Fail(f"{what}: the answer is not a Bundle")
            page.pages += 1
            self._audit(bundle, what)
            for entry in bundle.get("entry", []):
                resource = entry.get("resource", {})
                mode = entry.get("search", {}).get("mode", "match")
                if mode == "match" and resource.get("resourceType") == rtype:
                    page.matches.append(resource)
                elif mode != "outcome":
                    page.included.append(resource)
            url = next(
                (lk.get("url") for lk in bundle.get("link", []) if lk.get("relation") == "next"),
                None,
            )
            if not url:
                break
            if page.pages >= MAX_PAGES:
                self.bundle_problems.append(f"{what}: more than {MAX_PAGES} pages")
                break
            response = self.http.get(url)  # verbatim, never rebuilt
        if page.pages > 1:
            self.multi_page_searches += 1
        return page

    def _audit(self, bundle: Json, what: str) -> None:
        self.bundles_seen += 1
        problems = self.bundle_problems
        if bundle.get("type") != "searchset":
            problems.append(f"{what}: Bundle.type {bundle.get('type')!r}, not searchset")
        for entry in bundle.get("entry", []):
            resource = entry.get("resource") or {}
            full = str(entry.get("fullUrl", ""))
            tail = f"/{resource.get('resourceType')}/{resource.get('id')}"
            if not full.startswith(("http://", "https://")) or not full.endswith(tail):
                problems.append(f"{what}: fullUrl {full!r} is not an absolute URL ending {tail}")
            mode = entry.get("search", {}).get("mode")
            if mode not in SEARCH_MODES:
                problems.append(f"{what}: entry search.mode {mode!r}")


def client_credentials_token(
    base: str, client_id: str, client_secret: str, scope: str | None = None
) -> str:
    """A Backend-style token from the server's SMART ``token_endpoint`` (client_secret_basic)."""
    discovery = httpx.get(f"{base.rstrip('/')}/.well-known/smart-configuration", timeout=30)
    discovery.raise_for_status()
    endpoint = str(discovery.json()["token_endpoint"])
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    response = httpx.post(endpoint, data=form, auth=(client_id, client_secret), timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])
