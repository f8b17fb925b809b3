"""/metadata (no token) and SMART discovery, generated from the tables."""

from __future__ import annotations

import httpx

from facade.mapping.loader import load_mappings

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def test_metadata_needs_no_token_and_is_a_us_core_server(facade_url: str) -> None:
    response = httpx.get(f"{facade_url}/fhir/r4/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    cs = response.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    assert cs["kind"] == "instance"
    assert "json" in cs["format"] and "application/fhir+json" in cs["format"]
    assert any(
        i.startswith("http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server")
        for i in cs["instantiates"]
    )
    rest = cs["rest"][0]
    assert rest["mode"] == "server"
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert patient["supportedProfile"] == [
        "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|6.1.0"
    ]
    assert {i["code"] for i in patient["interaction"]} == {
        "read",
        "search-type",
        "create",
        "update",
        "patch",
    }
    table = load_mappings().tables["Patient"]
    assert [p["name"] for p in patient["searchParam"]] == list(table.search_params)
    combos = [
        sorted(e["valueString"] for e in ext["extension"] if e["url"] == "required")
        for ext in patient["extension"]
    ]
    assert sorted(["birthdate", "name"]) in combos and sorted(["death-date", "family"]) in combos
    # only what works is advertised: the tables, Subscription (facade/events) and Group
    # (the Bulk Data groups)
    assert {r["type"] for r in rest["resource"]} == {
        *load_mappings().tables,
        "Subscription",
        "Group",
    }


def test_metadata_validates_as_fhir(facade_url: str) -> None:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    cs = httpx.get(f"{facade_url}/fhir/r4/metadata").json()
    CapabilityStatement.model_validate(cs)


def test_oauth_uris_match_smart_configuration(facade_url: str) -> None:
    cs = httpx.get(f"{facade_url}/fhir/r4/metadata").json()
    security = cs["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = next(e for e in security["extension"] if e["url"] == OAUTH_URIS)
    token_uri = next(e["valueUri"] for e in uris["extension"] if e["url"] == "token")
    smart = httpx.get(
        f"{facade_url}/fhir/r4/.well-known/smart-configuration",
        headers={"Accept": "application/json"},
    )
    assert smart.status_code == 200
    assert smart.headers["content-type"].startswith("application/json")
    config = smart.json()
    assert config["token_endpoint"] == token_uri == f"{facade_url}/auth/token"
    assert "S256" in config["code_challenge_methods_supported"]
    assert "plain" not in config["code_challenge_methods_supported"]
    assert "client_credentials" in config["grant_types_supported"]
    # the token endpoint really works
    token = httpx.post(
        token_uri,
        data={"grant_type": "client_credentials", "scope": "system/Patient.read"},
        auth=("local-dev", "local-dev-secret"),
    )
    assert token.status_code == 200
