"""Scopes (v1, v2, granular) and the patient compartment on every FHIR interaction."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from facade.api.app import create_app
from facade.auth import policy
from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.auth.tokens import TokenIssuer
from facade.engine.runtime import derive, signing_key
from facade.errors import Forbidden
from facade.mapping.loader import load_mappings
from facade.mapping.planner import plan_search
from facade.search import parse_query
from facade.settings import Settings
from tests.auth.conftest import bearer
from tests.auth.smart_support import DONNA, ELEANA, FRANKIE, exchange, run_flow

PUBLIC_FHIR_ROUTES = {"/fhir/r4/metadata", "/fhir/r4/.well-known/smart-configuration"}
# outside the FHIR base: the MCP endpoint needs a token, its RFC 9728 documents do not
PUBLIC_OTHER_ROUTES = {
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
}


def _token(http: httpx.Client, base: str, scope: str, user: str, patient: str = ELEANA) -> str:
    flow = run_flow(http, base, scope=scope, user=user, patient=patient)
    response = exchange(http, base, flow)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _ids(bundle: dict[str, object]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]  # type: ignore[attr-defined,index]


# ------------------------------------------------------------------ patient compartment
def test_patient_user_reads_only_own_record(smart_url: str, http: httpx.Client) -> None:
    token = _token(http, smart_url, "launch/patient patient/*.rs", "patient.demo")
    fhir = f"{smart_url}/fhir/r4"
    assert http.get(f"{fhir}/Patient/{DONNA}", headers=bearer(token)).status_code == 200
    other = http.get(f"{fhir}/Patient/{ELEANA}", headers=bearer(token))
    assert other.status_code == 404  # no existence leak
    assert other.json()["resourceType"] == "OperationOutcome"
    assert http.get(f"{fhir}/Patient/a-195900.E-99999999", headers=bearer(token)).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"name": "sandbox"},
        {"_id": ELEANA},
        {"_id": f"{ELEANA},{DONNA}"},
        {"family": "Sandboxtest", "gender": "female"},
        {"birthdate": "1988-03-15"},
        {"ah-practice": "Organization/a-1.Practice-195900"},
    ],
)
def test_patient_token_searches_are_pinned_to_the_patient(
    smart_url: str, http: httpx.Client, query: dict[str, str]
) -> None:
    token = _token(http, smart_url, "launch/patient patient/*.rs", "patient.demo")
    response = http.get(f"{smart_url}/fhir/r4/Patient", params=query, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert set(_ids(response.json())) <= {DONNA}
    post = http.post(f"{smart_url}/fhir/r4/Patient/_search", data=query, headers=bearer(token))
    assert set(_ids(post.json())) <= {DONNA}


def test_plain_patient_search_returns_the_context_patient(
    smart_url: str, http: httpx.Client
) -> None:
    token = _token(http, smart_url, "launch/patient patient/Patient.read", "patient.demo")
    response = http.get(f"{smart_url}/fhir/r4/Patient", headers=bearer(token))
    assert _ids(response.json()) == [DONNA]


def test_clinician_patient_scopes_are_confined_to_the_picked_patient(
    smart_url: str, http: httpx.Client
) -> None:
    token = _token(http, smart_url, "launch/patient patient/*.rs", "dr.demo", patient=ELEANA)
    fhir = f"{smart_url}/fhir/r4"
    assert http.get(f"{fhir}/Patient/{ELEANA}", headers=bearer(token)).status_code == 200
    assert http.get(f"{fhir}/Patient/{FRANKIE}", headers=bearer(token)).status_code == 404
    found = http.get(f"{fhir}/Patient", params={"name": "sandbox"}, headers=bearer(token))
    assert _ids(found.json()) == [ELEANA]


def test_clinician_user_scopes_see_every_patient(smart_url: str, http: httpx.Client) -> None:
    token = _token(http, smart_url, "openid fhirUser user/*.rs", "dr.demo")
    found = http.get(
        f"{smart_url}/fhir/r4/Patient", params={"name": "sandbox"}, headers=bearer(token)
    )
    assert len(_ids(found.json())) >= 5


def test_patient_user_with_user_scopes_is_still_confined(
    smart_url: str, http: httpx.Client
) -> None:
    token = _token(http, smart_url, "openid fhirUser user/*.rs", "patient.demo")
    fhir = f"{smart_url}/fhir/r4"
    assert http.get(f"{fhir}/Patient/{ELEANA}", headers=bearer(token)).status_code == 404
    found = http.get(f"{fhir}/Patient", params={"name": "sandbox"}, headers=bearer(token))
    assert _ids(found.json()) == [DONNA]


def test_the_compartment_is_pushed_into_the_upstream_query() -> None:
    """athena is asked for the context patient only (the planner's _id route), not a scan."""
    mappings = load_mappings()
    table = mappings.tables["Patient"]
    auth = AuthContext("app", ScopeSet.parse("patient/*.rs"), ("195900",), patient=DONNA)
    for query in ([], [("gender", "female")], [("name", "sand")], [("_id", ELEANA)]):
        req = policy.restrict_search(table, auth, parse_query("Patient", query))
        plan = plan_search(table, req, "195900")
        assert plan.route.name == "fhir-by-id"
        assert ("_id", DONNA) in plan.params
        assert all(value != ELEANA for _, value in plan.params)


def test_patient_scopes_without_patient_context_are_403() -> None:
    table = load_mappings().tables["Patient"]
    auth = AuthContext("app", ScopeSet.parse("patient/*.rs"), ("195900",))
    with pytest.raises(Forbidden):
        policy.restrict_search(table, auth, parse_query("Patient", []))


def test_a_table_without_compartment_is_closed_to_patient_tokens() -> None:
    table = load_mappings().tables["Patient"].model_copy(update={"compartment": None})
    auth = AuthContext("app", ScopeSet.parse("patient/*.rs"), ("195900",), patient=DONNA)
    with pytest.raises(Forbidden):
        policy.restrict_search(table, auth, parse_query("Patient", []))
    assert not policy.visible(table, auth, {"resourceType": "Patient", "id": DONNA}, "r")


def test_reference_compartments_match_subject_references() -> None:
    """The generic hook: a table whose compartment is a reference (e.g. Encounter.subject)."""
    from facade.mapping.table import Compartment

    table = (
        load_mappings()
        .tables["Patient"]
        .model_copy(update={"compartment": Compartment(param="_id", path="link.other")})
    )
    mine = {"id": "x", "link": [{"other": {"reference": f"Patient/{DONNA}"}}]}
    theirs = {"id": "y", "link": [{"other": {"reference": f"Patient/{ELEANA}"}}]}
    assert policy.in_compartment(table, mine, DONNA)
    assert not policy.in_compartment(table, theirs, DONNA)


# ------------------------------------------------------------------ scopes
def test_missing_scope_for_the_type_is_403(smart_url: str, http: httpx.Client) -> None:
    token = _token(http, smart_url, "launch/patient patient/Observation.rs", "patient.demo")
    fhir = f"{smart_url}/fhir/r4"
    read = http.get(f"{fhir}/Patient/{DONNA}", headers=bearer(token))
    assert read.status_code == 403 and read.json()["issue"][0]["code"] == "forbidden"
    assert http.get(f"{fhir}/Patient", headers=bearer(token)).status_code == 403


def test_v2_read_without_search_letter(smart_url: str, http: httpx.Client) -> None:
    token = _token(http, smart_url, "launch/patient patient/Patient.r", "patient.demo")
    fhir = f"{smart_url}/fhir/r4"
    assert http.get(f"{fhir}/Patient/{DONNA}", headers=bearer(token)).status_code == 200
    assert http.get(f"{fhir}/Patient", headers=bearer(token)).status_code == 403


def test_granular_query_scope_constrains_search_and_read(
    smart_url: str, http: httpx.Client
) -> None:
    token = _token(http, smart_url, "openid user/Patient.rs?gender=female", "dr.demo")
    fhir = f"{smart_url}/fhir/r4"
    found = http.get(f"{fhir}/Patient", params={"family": "Sandboxtest"}, headers=bearer(token))
    assert found.status_code == 200
    ids = _ids(found.json())
    assert ids and FRANKIE not in ids and "a-195900.E-60181" not in ids
    assert http.get(f"{fhir}/Patient/{ELEANA}", headers=bearer(token)).status_code == 200
    assert http.get(f"{fhir}/Patient/{FRANKIE}", headers=bearer(token)).status_code == 404


def test_several_granular_scopes_need_the_search_to_pick_one() -> None:
    table = load_mappings().tables["Patient"]
    scopes = ScopeSet.parse("user/Patient.rs?gender=female user/Patient.rs?gender=male")
    auth = AuthContext("app", scopes, ("195900",))
    with pytest.raises(Forbidden):
        policy.restrict_search(table, auth, parse_query("Patient", [("name", "x")]))
    ok = policy.restrict_search(
        table, auth, parse_query("Patient", [("name", "x"), ("gender", "male")])
    )
    assert [p.name for p in ok.params] == ["name", "gender"]


def test_the_safety_net_drops_what_the_token_may_not_see() -> None:
    """filter_results (behind every pinned search): another patient's records, records outside
    a granular scope's query; everything for an unconfined token; a page of nothing needs no
    decision (a patient scope without context refuses only when there is something to check)."""
    table = load_mappings().tables["Patient"]
    page = [
        {"resourceType": "Patient", "id": DONNA, "gender": "female"},
        {"resourceType": "Patient", "id": ELEANA, "gender": "female"},
        {"resourceType": "Patient", "id": FRANKIE, "gender": "male"},
    ]
    mine = AuthContext("app", ScopeSet.parse("patient/*.rs"), ("195900",), patient=DONNA)
    assert [r["id"] for r in policy.filter_results(table, mine, page)] == [DONNA]
    granular = AuthContext("app", ScopeSet.parse("user/Patient.rs?gender=female"), ("195900",))
    assert [r["id"] for r in policy.filter_results(table, granular, page)] == [DONNA, ELEANA]
    system = AuthContext("app", ScopeSet.parse("system/*.rs"), ("195900",))
    assert policy.filter_results(table, system, page) == page
    for resource in page:  # the same decisions one by one (reads)
        assert policy.visible(table, mine, resource, "s") == (resource["id"] == DONNA)
        assert policy.visible(table, granular, resource, "s") == (resource["gender"] == "female")
    nobody = AuthContext("app", ScopeSet.parse("patient/*.rs"), ("195900",))
    assert policy.filter_results(table, nobody, []) == []
    with pytest.raises(Forbidden):
        policy.filter_results(table, nobody, page)


# ------------------------------------------------------------------ tokens
def test_expired_token_is_401(smart_url: str, smart_data_dir: Path, http: httpx.Client) -> None:
    settings = Settings(data_dir=smart_data_dir, public_base_url=smart_url)
    issuer = TokenIssuer(
        derive(signing_key(settings), "access-token"),
        issuer=smart_url,
        audience=f"{smart_url}/fhir/r4",
        ttl_seconds=1,
    )
    token = issuer.issue("local-dev", ScopeSet.parse("system/*.rs"), ("195900",), ttl=-5)
    response = http.get(f"{smart_url}/fhir/r4/Patient/{DONNA}", headers=bearer(token))
    assert response.status_code == 401
    assert "expired" in response.json()["issue"][0]["diagnostics"]


def _api_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, set[str]]]:
    """Every (path, methods) of the app, through included routers (FastAPI 0.16x wraps them)."""
    found: list[tuple[str, set[str]]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append((prefix + route.path, set(route.methods)))
        elif hasattr(route, "original_router"):
            inner = prefix + getattr(route.include_context, "prefix", "")
            found += _api_routes(route.original_router.routes, inner)
        elif isinstance(route, Route):  # plain ASGI routes (the MCP endpoint, facade/mcp)
            found.append((prefix + route.path, set(route.methods or ())))
        else:
            raise AssertionError(f"unrecognised route object {route!r}: extend the walker")
    return found


def test_every_fhir_route_needs_a_token(smart_url: str, http: httpx.Client) -> None:
    """Enumerates the app's routes: any FHIR route but metadata/discovery must answer 401."""
    app = create_app(Settings(data_dir=Path("/nonexistent-not-started")))
    routes = _api_routes(list(app.routes))
    assert any(p == "/auth/token" for p, _ in routes)  # the walker sees every router
    checked = 0
    for route_path, methods in routes:
        if not route_path.startswith("/fhir/r4") or route_path in PUBLIC_FHIR_ROUTES:
            continue
        path = re.sub(r"\{resource_type\}", "Patient", route_path)
        path = path.replace("{op:fhirop}", "$find")  # a type-level operation
        path = re.sub(r"\{[^}]+\}", DONNA, path)
        for method in methods:
            response = http.request(method, f"{smart_url}{path}")
            assert response.status_code == 401, (method, route_path, response.status_code)
            checked += 1
    assert checked >= 3


def test_the_mcp_endpoint_needs_a_token(smart_url: str, http: httpx.Client) -> None:
    """The app's routes outside /fhir/r4 and /auth: /mcp answers 401 to every method."""
    app = create_app(Settings(data_dir=Path("/nonexistent-not-started")))
    routes = dict(_api_routes(list(app.routes)))
    assert "/mcp" in routes and set(routes) >= PUBLIC_OTHER_ROUTES
    for method in routes["/mcp"] - {"HEAD"}:
        assert http.request(method, f"{smart_url}/mcp").status_code == 401, method
    for path in PUBLIC_OTHER_ROUTES:
        assert http.get(f"{smart_url}{path}").status_code == 200


def test_public_fhir_routes_are_only_metadata_and_discovery(smart_url: str) -> None:
    for path in PUBLIC_FHIR_ROUTES:
        assert httpx.get(f"{smart_url}{path}").status_code == 200
