"""``_summary``, ``_elements``, ``_total`` and ``HEAD`` through the real facade and emulator."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from facade.mapping.loader import load_mappings

SANDBOX = "a-195900.E-60178"
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}
ELEMENTS = load_mappings().elements


def _subsetted(resource: dict[str, Any]) -> bool:
    return SUBSETTED in resource.get("meta", {}).get("tag", [])


def test_read_summary_true_keeps_only_summary_elements(fhir: httpx.Client) -> None:
    full = fhir.get(f"Patient/{SANDBOX}").json()
    summary = fhir.get(f"Patient/{SANDBOX}", params={"_summary": "true"})
    assert summary.status_code == 200, summary.text
    body = summary.json()
    allowed = {"resourceType"} | {
        key
        for name in ELEMENTS["Patient"].summary | ELEMENTS["Patient"].mandatory
        for key in ELEMENTS["Patient"].elements[name]
    }
    assert set(body) <= allowed | {f"_{k}" for k in allowed}
    assert "extension" in full and "extension" not in body  # race, ethnicity: not summary
    assert body["name"] == full["name"] and body["birthDate"] == full["birthDate"]
    assert _subsetted(body) and not _subsetted(full)
    assert summary.headers["etag"] != fhir.get(f"Patient/{SANDBOX}").headers["etag"]


def test_read_elements_and_summary_modes(fhir: httpx.Client) -> None:
    full = fhir.get(f"Patient/{SANDBOX}").json()
    picked = fhir.get(f"Patient/{SANDBOX}", params={"_elements": "gender,birthDate"}).json()
    assert set(picked) == {"resourceType", "id", "meta", "gender", "birthDate"}
    assert _subsetted(picked)
    data = fhir.get(f"Patient/{SANDBOX}", params={"_summary": "data"}).json()
    assert "text" not in data and data["extension"] == full["extension"]
    text = fhir.get(f"Patient/{SANDBOX}", params={"_summary": "text"}).json()
    assert set(text) <= {"resourceType", "id", "meta", "text"}
    whole = fhir.get(f"Patient/{SANDBOX}", params={"_summary": "false"}).json()
    assert whole == full


def test_mandatory_elements_are_always_kept(fhir: httpx.Client) -> None:
    found = fhir.get("Encounter", params={"patient": SANDBOX, "_elements": "period"}).json()
    assert found["entry"]
    for entry in found["entry"]:
        resource = entry["resource"]
        assert {"status", "class", "period"} <= set(resource)  # status, class: min 1
        assert "subject" not in resource and _subsetted(resource)


@pytest.mark.parametrize(
    ("params", "expression"),
    [
        ({"_summary": "count"}, "_summary"),
        ({"_summary": "everything"}, "_summary"),
    ],
)
def test_bad_summary_on_a_read_is_400(
    fhir: httpx.Client, params: dict[str, str], expression: str
) -> None:
    answer = fhir.get(f"Patient/{SANDBOX}", params=params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert answer.json()["issue"][0]["expression"] == [expression]


def test_unknown_element_is_dropped_or_refused_under_strict(fhir: httpx.Client) -> None:
    lenient = fhir.get(f"Patient/{SANDBOX}", params={"_elements": "gender,nonsense"})
    assert lenient.status_code == 200 and "gender" in lenient.json()
    strict = fhir.get(
        "Patient",
        params={"_id": SANDBOX, "_elements": "nonsense"},
        headers={"Prefer": "handling=strict"},
    )
    assert strict.status_code == 400
    assert strict.json()["issue"][0]["expression"] == ["_elements"]


def test_search_summary_count_is_the_total_only(fhir: httpx.Client) -> None:
    everything = fhir.get("Patient", params={"name": "sandbox", "_count": "100"}).json()
    counted = fhir.get("Patient", params={"name": "sandbox", "_summary": "count"})
    assert counted.status_code == 200, counted.text
    body = counted.json()
    assert body["total"] == len(everything["entry"]) and body["total"] >= 7
    assert not body.get("entry")
    assert "_summary=count" in body["link"][0]["url"]
    zero = fhir.get("Patient", params={"name": "sandbox", "_count": "0"}).json()
    assert zero["total"] == body["total"] and not zero.get("entry")


def test_total_accurate_on_a_locally_filtered_search(fhir: httpx.Client) -> None:
    """Encounter date is filtered by the facade: the total is counted, and it is right."""
    params = {"patient": SANDBOX, "date": "ge2020-01-01", "_count": "2"}
    pages: list[str] = []
    page = fhir.get("Encounter", params=params).json()
    while True:
        pages += [e["resource"]["id"] for e in page.get("entry", [])]
        nxt = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        if nxt is None:
            break
        page = fhir.get(nxt).json()
    accurate = fhir.get("Encounter", params={**params, "_total": "accurate"}).json()
    assert accurate["total"] == len(pages) and len(accurate["entry"]) <= 2
    none = fhir.get("Encounter", params={**params, "_total": "none"}).json()
    assert "total" not in none


def test_a_count_beyond_the_read_budget_is_too_costly(
    emulator_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.conftest import dev_token, facade_settings, start_facade

    settings = facade_settings(
        emulator_url, tmp_path_factory.mktemp("costly"), max_upstream_pages_per_count=1
    )
    server = start_facade(settings)
    try:
        headers = {"Authorization": f"Bearer {dev_token(settings.base_url)}"}
        answer = httpx.get(
            f"{settings.fhir_base}/Patient",
            params={"gender": "female", "_summary": "count"},
            headers=headers,
            timeout=30,
        )
        assert answer.status_code == 400, answer.text
        issue = answer.json()["issue"][0]
        assert issue["code"] == "too-costly" and issue["expression"] == ["_total"]
    finally:
        server.stop()


def test_search_summary_and_elements_subset_every_match(fhir: httpx.Client) -> None:
    found = fhir.get("Patient", params={"name": "sandbox", "_summary": "true"}).json()
    assert found["entry"]
    for entry in found["entry"]:
        assert _subsetted(entry["resource"]) and "extension" not in entry["resource"]
    picked = fhir.get(
        "Patient", params={"name": "sandbox", "_elements": "name", "_count": "3"}
    ).json()
    nxt = next(link["url"] for link in picked["link"] if link["relation"] == "next")
    assert "_elements=name" in nxt
    following = fhir.get(nxt).json()
    for entry in [*picked["entry"], *following["entry"]]:
        assert set(entry["resource"]) == {"resourceType", "id", "meta", "name"}


def test_include_follows_references_that_elements_drops(fhir: httpx.Client) -> None:
    found = fhir.get(
        "Encounter",
        params={"patient": SANDBOX, "_elements": "period", "_include": "Encounter:patient"},
    ).json()
    modes = [e["search"]["mode"] for e in found["entry"]]
    assert "include" in modes
    included = [e["resource"] for e in found["entry"] if e["search"]["mode"] == "include"]
    assert included[0]["id"] == SANDBOX and not _subsetted(included[0])


def test_head_on_reads_searches_and_metadata(fhir: httpx.Client) -> None:
    for path, params in (
        (f"Patient/{SANDBOX}", {}),
        (f"Patient/{SANDBOX}", {"_summary": "true"}),
        ("Patient", {"name": "sandbox"}),
        ("metadata", {}),
    ):
        got = fhir.get(path, params=params)
        head = fhir.head(path, params=params)
        assert head.status_code == 200, (path, head.text)
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        if "etag" in got.headers:
            assert head.headers["etag"] == got.headers["etag"]


def test_head_keeps_authorization_and_errors(fhir: httpx.Client, facade_url: str) -> None:
    anonymous = httpx.head(f"{facade_url}/fhir/r4/Patient/{SANDBOX}")
    assert anonymous.status_code == 401 and anonymous.content == b""
    missing = fhir.head("Patient/a-195900.E-99999999")
    assert missing.status_code == 404 and missing.content == b""
