"""The audit trail end to end: a real emulator and facade; every interaction kind and every
security event recorded as an AuditEvent, searchable and readable with an audit scope only.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from emulator.app import create_app as create_emulator
from emulator.config import EmulatorConfig
from emulator.server import ServerThread
from facade.audit.events import CLIENT_SYSTEM, JTI
from facade.store.audit import SqliteAuditStore
from tests.auth.smart_support import PUBLIC, Keys, exchange, run_flow, to_consent, write_clients
from tests.conftest import dev_token, facade_settings, start_facade

Json = dict[str, Any]
PID = "195900"
DONNA = f"a-{PID}.E-60178"  # patient.demo
ELEANA = f"a-{PID}.E-60179"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


class Stack:
    def __init__(self, server: ServerThread, base: str, data_dir: Path) -> None:
        self.server = server
        self.base = base
        self.fhir = f"{base}/fhir/r4"
        self.data_dir = data_dir

    def flush(self) -> None:
        self.server.app.state.services.audit.flush()

    def events(self, token: str, query: str = "") -> list[Json]:
        """Every AuditEvent the search finds (following next links)."""
        self.flush()
        found: list[Json] = []
        url: str | None = f"{self.fhir}/AuditEvent?_count=100{'&' + query if query else ''}"
        while url:
            page = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert page.status_code == 200, page.text
            body = page.json()
            found += [e["resource"] for e in body.get("entry", [])]
            url = next((li["url"] for li in body["link"] if li["relation"] == "next"), None)
        return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    emulator = ServerThread(
        create_emulator(
            EmulatorConfig(api_requests_per_second=100_000, token_requests_per_minute=1000)
        )
    )
    upstream = emulator.start()
    data_dir = tmp_path_factory.mktemp("audit")
    write_clients(data_dir, Keys(), "http://127.0.0.1:9/jwks.json")
    settings = facade_settings(upstream, data_dir, dynamic_registration=True)
    server = start_facade(settings)
    yield Stack(server, settings.base_url, data_dir)
    server.stop()
    emulator.stop()


@pytest.fixture(scope="module")
def auditor(stack: Stack) -> str:
    return dev_token(stack.base, "system/AuditEvent.rs")


@pytest.fixture(scope="module")
def system(stack: Stack) -> Iterator[httpx.Client]:
    token = dev_token(stack.base, "system/*.cruds")
    with httpx.Client(
        base_url=stack.fhir, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


def user_token(stack: Stack, user: str, scope: str) -> str:
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        flow = run_flow(http, stack.base, scope=scope, user=user)
        response = exchange(http, stack.base, flow)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def subtype(event: Json) -> str:
    return str(event["subtype"][0]["code"])


def request_id(event: Json) -> str | None:
    for entity in event["entity"]:
        if entity["type"].get("code") == "XrequestId":
            return str(entity["what"]["identifier"]["value"])
    return None


def by_request(events: list[Json], response: httpx.Response) -> Json:
    rid = response.headers["x-request-id"]
    found = [e for e in events if request_id(e) == rid and e["type"]["code"] == "rest"]
    assert len(found) == 1, (rid, found)
    return found[0]


def client_agent(event: Json) -> Json:
    return next(
        a for a in event["agent"] if a["who"].get("identifier", {}).get("system") == CLIENT_SYSTEM
    )


def patients(event: Json) -> list[str]:
    return [
        e["what"]["reference"]
        for e in event["entity"]
        if e.get("role", {}).get("code") == "1" and "reference" in e.get("what", {})
    ]


def new_patient(first: str, last: str) -> Json:
    return {
        "resourceType": "Patient",
        "name": [{"family": last, "given": [first]}],
        "gender": "female",
        "birthDate": "1990-02-03",
        "telecom": [{"system": "phone", "value": "(617) 555-0199", "use": "mobile"}],
        "address": [
            {"line": ["1 Main St"], "city": "Boston", "state": "MA", "postalCode": "02110"}
        ],
    }


def test_every_fhir_interaction_kind_is_an_audit_event(
    stack: Stack, system: httpx.Client, auditor: str
) -> None:
    read = system.get(f"Patient/{DONNA}")
    assert read.status_code == 200, read.text
    search = system.get("Encounter", params={"patient": DONNA})
    assert search.status_code == 200, search.text
    created = system.post("Patient", json=new_patient("Ada", "Auditt"), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    body = created.json()
    body["gender"] = "male"
    updated = system.put(f"Patient/{rid}", json=body, headers=FHIR_JSON)
    assert updated.status_code == 200, updated.text
    patched = system.patch(
        f"Patient/{rid}",
        content=json.dumps([{"op": "replace", "path": "/gender", "value": "female"}]),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    operation = system.post(
        "Appointment/$find", json={"resourceType": "Parameters", "parameter": []}, headers=FHIR_JSON
    )
    export = system.get(
        "Patient/$export", headers={"Prefer": "respond-async", "Accept": "application/fhir+json"}
    )
    missing = system.get(f"Patient/a-{PID}.E-99999999")
    assert missing.status_code == 404

    events = stack.events(auditor)
    expected = {
        "read": (read, "R", "0"),
        "search": (search, "E", "0"),
        "create": (created, "C", "0"),
        "update": (updated, "U", "0"),
        "patch": (patched, "U", "0"),
        "operation": (operation, "E", "0" if operation.status_code < 400 else "4"),
        "export": (export, "E", "0" if export.status_code < 400 else "4"),
    }
    for code, (response, action, outcome) in expected.items():
        event = by_request(events, response)
        assert subtype(event) == code, (code, event)
        assert event["action"] == action and event["outcome"] == outcome, (code, event)
        agent = client_agent(event)
        assert agent["who"]["identifier"]["value"] == "local-dev"
        assert agent["policy"][0].startswith(JTI) and agent["network"]["address"] == "127.0.0.1"
    assert patients(by_request(events, read)) == [f"Patient/{DONNA}"]
    assert by_request(events, read)["meta"]["profile"][0].endswith("IHE.BasicAudit.PatientRead")
    query = next(
        e for e in by_request(events, search)["entity"] if e.get("role", {}).get("code") == "24"
    )
    assert base64.b64decode(query["query"]).decode() == f"patient={DONNA}"
    assert patients(by_request(events, search)) == [f"Patient/{DONNA}"]
    assert patients(by_request(events, created)) == [f"Patient/{rid}"]
    assert patients(by_request(events, patched)) == [f"Patient/{rid}"]
    failed = by_request(events, missing)
    assert failed["outcome"] == "4" and failed["outcomeDesc"] == "HTTP 404"


def test_the_patients_a_response_held_are_recorded(
    stack: Stack, system: httpx.Client, auditor: str
) -> None:
    """Who read which patient: a read of another type names the patient it belongs to, and a
    search names every patient on its page (and is found by each)."""
    encounters = system.get("Encounter", params={"patient": ELEANA}).json()["entry"]
    encounter = system.get(f"Encounter/{encounters[0]['resource']['id']}")
    assert encounter.status_code == 200
    donna = system.get(f"Patient/{DONNA}").json()
    family = donna["name"][0]["family"]
    page = system.get("Patient", params={"family": family[:2]})
    assert page.status_code == 200
    held = {e["resource"]["id"] for e in page.json()["entry"] if e["search"]["mode"] == "match"}
    assert len(held) > 1, held
    events = stack.events(auditor)
    read = by_request(events, encounter)
    assert patients(read) == [f"Patient/{ELEANA}"]
    assert read["meta"]["profile"][0].endswith("IHE.BasicAudit.PatientRead")
    search = by_request(events, page)
    assert set(patients(search)) == {f"Patient/{p}" for p in held}
    for one in held:
        found = stack.events(auditor, f"patient={one}")
        assert search["id"] in {e["id"] for e in found}, one


def test_security_events_are_recorded(stack: Stack, auditor: str) -> None:
    with httpx.Client(timeout=30, follow_redirects=False) as http:
        wrong = to_consent(http, stack.base, user="dr.demo", password="not-the-password")
        assert wrong.response.status_code in (200, 401), wrong.response.status_code
        bad_client = http.post(
            f"{stack.base}/auth/token",
            data={"grant_type": "client_credentials"},
            auth=("local-dev", "wrong-secret"),
        )
        assert bad_client.status_code == 401
        flow = run_flow(
            http,
            stack.base,
            user="patient.demo",
            scope="launch/patient openid fhirUser offline_access patient/*.rs",
        )
        issued = exchange(http, stack.base, flow)
        assert issued.status_code == 200, issued.text
        tokens = issued.json()
        refreshed = http.post(
            f"{stack.base}/auth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": PUBLIC,
            },
        )
        assert refreshed.status_code == 200, refreshed.text
        revoked = http.post(
            f"{stack.base}/auth/revoke",
            data={"token": refreshed.json()["access_token"], "client_id": PUBLIC},
        )
        assert revoked.status_code == 200, revoked.text
        registered = http.post(
            f"{stack.base}/auth/register",
            json={"redirect_uris": ["https://app.example.org/cb"], "client_name": "audited"},
        )
        assert registered.status_code == 201, registered.text
    events = [e for e in stack.events(auditor) if e["type"]["code"] != "rest"]
    kinds = [(subtype(e), e["outcome"]) for e in events]
    for expected in [
        ("login", "4"),
        ("login", "0"),
        ("token", "4"),
        ("consent", "0"),
        ("token", "0"),
        ("refresh", "0"),
        ("revoke", "0"),
        ("register", "0"),
    ]:
        assert expected in kinds, (expected, kinds)
    failed_login = next(e for e in events if subtype(e) == "login" and e["outcome"] == "4")
    user = next(a for a in failed_login["agent"] if a["requestor"])
    assert user["who"]["identifier"]["value"] == "dr.demo"
    assert failed_login["type"]["code"] == "110114"
    consent = next(e for e in events if subtype(e) == "consent")
    assert patients(consent) and consent["agent"][1]["who"]["reference"] == f"Patient/{DONNA}"
    # the token issued to patient.demo carries the jti its later uses are recorded with
    jtis = [
        p for e in events if subtype(e) == "token" for a in e["agent"] for p in a.get("policy", [])
    ]
    assert jtis and all(p.startswith(JTI) and len(p) < len(JTI) + 40 for p in jtis)
    reg = next(e for e in events if subtype(e) == "register")
    new_id = registered.json()["client_id"]
    assert client_agent(reg)["who"]["identifier"]["value"] == new_id


def test_mcp_tool_calls_are_recorded(stack: Stack, auditor: str) -> None:
    token = dev_token(stack.base, "system/*.rs")

    async def call() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            Client(streamable_http_client(f"{stack.base}/mcp", http_client=http)) as client,
        ):
            await client.call_tool("get_patient_summary", {"patient_id": DONNA})

    asyncio.run(call())
    tools = stack.events(auditor, "subtype=mcp-tool")
    assert tools, "no MCP tool call recorded"
    event = tools[-1]
    assert any(e.get("name") == "get_patient_summary" for e in event["entity"])
    assert patients(event) == [f"Patient/{DONNA}"]
    assert client_agent(event)["who"]["identifier"]["value"] == "local-dev"


def test_search_parameters_narrow_the_trail(
    stack: Stack, system: httpx.Client, auditor: str
) -> None:
    assert system.get(f"Patient/{ELEANA}").status_code == 200
    for_eleana = stack.events(auditor, f"patient={ELEANA}")
    assert for_eleana and all(f"Patient/{ELEANA}" in patients(e) for e in for_eleana)
    reads = stack.events(auditor, "action=R&outcome=0")
    assert reads and all(e["action"] == "R" and e["outcome"] == "0" for e in reads)
    by_client = stack.events(auditor, "agent=local-dev")
    assert by_client and all(
        client_agent(e)["who"]["identifier"]["value"] == "local-dev" for e in by_client
    )
    entity = stack.events(auditor, f"entity=Patient/{ELEANA}")
    again = stack.events(auditor, f"patient={ELEANA}")  # the searches above are audited too
    assert entity and {e["id"] for e in entity} <= {e["id"] for e in again}
    assert any(subtype(e) == "search" and "AuditEvent" in json.dumps(e) for e in again)
    dated = stack.events(auditor, "date=ge2000-01-01")
    assert len(dated) >= len(for_eleana)
    assert stack.events(auditor, "date=lt2000-01-01") == []
    one = for_eleana[-1]
    read = httpx.get(
        f"{stack.fhir}/AuditEvent/{one['id']}", headers={"Authorization": f"Bearer {auditor}"}
    )
    assert read.status_code == 200 and read.json() == one


@pytest.mark.parametrize(
    "who",
    ["system-wildcard", "patient-scope", "patient-user", "no-audit-scope-user", "none", "forged"],
)
def test_only_tokens_with_an_audit_scope_reach_the_trail(
    stack: Stack, auditor: str, who: str
) -> None:
    some = stack.events(auditor)[0]["id"]
    tokens = {
        "system-wildcard": lambda: dev_token(stack.base, "system/*.cruds"),
        "patient-scope": lambda: user_token(
            stack,
            "patient.demo",
            "launch/patient openid fhirUser patient/AuditEvent.rs patient/*.rs",
        ),
        "patient-user": lambda: user_token(
            stack, "patient.demo", "openid fhirUser user/AuditEvent.rs"
        ),
        "no-audit-scope-user": lambda: user_token(stack, "dr.demo", "openid fhirUser user/*.cruds"),
        "none": lambda: "",
        "forged": lambda: auditor[:-4] + ("AAAA" if not auditor.endswith("AAAA") else "BBBB"),
    }
    token = tokens[who]()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    search = httpx.get(f"{stack.fhir}/AuditEvent", headers=headers)
    read = httpx.get(f"{stack.fhir}/AuditEvent/{some}", headers=headers)
    expected = 401 if who in ("none", "forged") else 403
    assert search.status_code == expected, search.text
    assert read.status_code in (expected, 404), read.text
    assert search.json()["resourceType"] == "OperationOutcome"
    assert read.json()["resourceType"] == "OperationOutcome"  # nothing of the record
    assert "urn:ietf:params:oauth:jti" not in read.text + search.text


def test_a_clinician_with_the_user_audit_scope_reads_the_trail(stack: Stack) -> None:
    token = user_token(stack, "dr.demo", "openid fhirUser user/AuditEvent.rs")
    stack.flush()
    answer = httpx.get(f"{stack.fhir}/AuditEvent", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json()["entry"]


def test_audit_event_is_in_the_capability_statement(stack: Stack) -> None:
    metadata = httpx.get(f"{stack.fhir}/metadata").json()
    audit = next(r for r in metadata["rest"][0]["resource"] if r["type"] == "AuditEvent")
    names = {p["name"] for p in audit["searchParam"]}
    assert {"date", "agent", "entity", "patient", "action", "outcome"} <= names


def test_no_token_and_no_secret_in_the_trail(stack: Stack, system: httpx.Client) -> None:
    token = system.headers["Authorization"].removeprefix("Bearer ")
    assert system.get(f"Patient/{DONNA}").status_code == 200
    stack.flush()
    store = SqliteAuditStore(stack.data_dir / "audit.sqlite3")
    try:
        text = "\n".join(r.facts + r.agent + r.entity for r in store.scan())
    finally:
        store.close()
    assert text and token not in text and token.split(".")[2] not in text
    assert "local-dev-secret" not in text and "demo-password" not in text


def test_the_trail_cannot_be_written_through_the_api(stack: Stack, auditor: str) -> None:
    """Even a token with every AuditEvent letter cannot create, change or delete a record."""
    token = dev_token(stack.base, "system/AuditEvent.cruds")
    before = stack.events(auditor)
    some = before[0]
    headers = {"Authorization": f"Bearer {token}", **FHIR_JSON}
    forged = {**some, "outcome": "0", "agent": []}
    attempts = [
        httpx.post(f"{stack.fhir}/AuditEvent", json=forged, headers=headers),
        httpx.put(f"{stack.fhir}/AuditEvent/{some['id']}", json=forged, headers=headers),
        httpx.delete(f"{stack.fhir}/AuditEvent/{some['id']}", headers=headers),
    ]
    for response in attempts:
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
    after = stack.events(auditor)
    assert {e["id"]: e for e in after}[some["id"]] == some
    assert [e["id"] for e in after][: len(before)] == [e["id"] for e in before]
