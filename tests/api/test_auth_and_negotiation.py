"""Bearer tokens on every FHIR route but metadata; the local-dev token endpoint; content negotiation."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import dev_token


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "invalid_request"),
        ({"Authorization": "Basic bG9jYWwtZGV2OngK"}, "invalid_request"),
        ({"Authorization": "Bearer not-a-token"}, "invalid_token"),
        ({"Authorization": "Bearer " + "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"}, "invalid_token"),
    ],
)
@pytest.mark.parametrize("path", ["Patient/a-195900.E-60178", "Patient?name=sandbox"])
def test_missing_or_bad_token_is_401_with_challenge(
    facade_url: str, headers: dict[str, str], error: str, path: str
) -> None:
    response = httpx.get(f"{facade_url}/fhir/r4/{path}", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert f'error="{error}"' in response.headers["www-authenticate"]
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "login"


def test_post_search_needs_a_token_too(facade_url: str) -> None:
    response = httpx.post(f"{facade_url}/fhir/r4/Patient/_search", data={"name": "x"})
    assert response.status_code == 401


def test_scope_for_another_type_is_403(facade_url: str) -> None:
    token = dev_token(facade_url, scope="system/Observation.rs")
    headers = {"Authorization": f"Bearer {token}"}
    read = httpx.get(f"{facade_url}/fhir/r4/Patient/a-195900.E-60178", headers=headers)
    assert read.status_code == 403
    assert read.json()["issue"][0]["code"] == "forbidden"
    search = httpx.get(f"{facade_url}/fhir/r4/Patient?name=x", headers=headers)
    assert search.status_code == 403


def test_v2_read_only_scope_cannot_search(facade_url: str) -> None:
    token = dev_token(facade_url, scope="system/Patient.r")
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        httpx.get(f"{facade_url}/fhir/r4/Patient/a-195900.E-60178", headers=headers).status_code
        == 200
    )
    assert httpx.get(f"{facade_url}/fhir/r4/Patient?name=x", headers=headers).status_code == 403


@pytest.mark.parametrize(
    ("auth", "data", "status", "error"),
    [
        (("local-dev", "wrong"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (
            ("someone", "local-dev-secret"),
            {"grant_type": "client_credentials"},
            401,
            "invalid_client",
        ),
        (None, {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (("local-dev", "local-dev-secret"), {}, 400, "invalid_request"),
        (
            ("local-dev", "local-dev-secret"),
            {"grant_type": "password"},
            400,
            "unsupported_grant_type",
        ),
        (
            ("local-dev", "local-dev-secret"),
            {"grant_type": "client_credentials", "scope": "patient/Patient.read"},
            400,
            "invalid_scope",
        ),
    ],
)
def test_token_endpoint_errors_follow_rfc6749(
    facade_url: str,
    auth: tuple[str, str] | None,
    data: dict[str, str],
    status: int,
    error: str,
) -> None:
    response = httpx.post(f"{facade_url}/auth/token", data=data, auth=auth)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


def test_token_response_shape(facade_url: str) -> None:
    response = httpx.post(
        f"{facade_url}/auth/token",
        data={"grant_type": "client_credentials", "scope": "system/Patient.read system/Bogus.x"},
        auth=("local-dev", "local-dev-secret"),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert body["scope"] == "system/Patient.read"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


@pytest.mark.parametrize(
    ("params", "headers", "status", "media"),
    [
        ({}, {}, 200, "application/fhir+json"),
        ({"_format": "json"}, {}, 200, "application/fhir+json"),
        ({"_format": "application/fhir+json"}, {}, 200, "application/fhir+json"),
        ({"_format": "application/json"}, {}, 200, "application/json"),
        ({}, {"Accept": "application/json"}, 200, "application/json"),
        ({}, {"Accept": "application/fhir+json;q=0.9, */*;q=0.1"}, 200, "application/fhir+json"),
        ({"_format": "xml"}, {}, 406, None),
        ({}, {"Accept": "application/fhir+xml"}, 406, None),
        ({"_format": "text/turtle"}, {}, 406, None),
    ],
)
def test_content_negotiation(
    fhir: httpx.Client,
    params: dict[str, str],
    headers: dict[str, str],
    status: int,
    media: str | None,
) -> None:
    response = fhir.get("Patient/a-195900.E-60178", params=params, headers=headers)
    assert response.status_code == status
    if media:
        assert response.headers["content-type"].split(";")[0] == media
    else:
        assert response.json()["resourceType"] == "OperationOutcome"


def test_pretty_output(fhir: httpx.Client) -> None:
    pretty = fhir.get("Patient/a-195900.E-60178", params={"_pretty": "true"}).text
    compact = fhir.get("Patient/a-195900.E-60178").text
    assert "\n  " in pretty and "\n" not in compact


def test_unknown_routes_and_methods_are_operation_outcomes(fhir: httpx.Client) -> None:
    delete = fhir.delete("Patient/a-195900.E-60178")
    assert delete.status_code == 405
    assert delete.json()["resourceType"] == "OperationOutcome"
    assert "athena does not delete Patient" in delete.json()["issue"][0]["diagnostics"]
    assert delete.headers["allow"].startswith("GET, HEAD")
    for url in ("Patient?identifier=60178", "Appointment/a-195900.Appointment-1"):
        refused = fhir.delete(url)
        assert refused.status_code == 405 and refused.json()["issue"][0]["code"] == "not-supported"
    cancel = fhir.delete("Appointment/a-195900.Appointment-1").json()["issue"][0]["diagnostics"]
    assert "status to cancelled" in cancel
    assert fhir.delete("ImagingStudy/1").status_code == 404
    assert httpx.delete(f"{fhir.base_url}Patient/a-195900.E-60178").status_code == 401
    unsupported = fhir.get("ImagingStudy", params={"patient": "x"})
    assert unsupported.status_code == 404
    form = fhir.post(
        "Patient/_search", content=b'{"name":"x"}', headers={"Content-Type": "application/json"}
    )
    assert form.status_code == 415
