"""Calls to athena (any environment) that observe what the tables depend on.

:class:`Athena` is a small synchronous client (httpx): a client-credentials token from
``/oauth2/v1/token`` (HTTP Basic, API-NOTES §2.1), then GETs on either surface. It is used
by ``athena-facade drift`` and ``athena-facade doctor``; the facade itself talks to athena
only through :mod:`facade.upstream`. Nothing here writes to athena.

:func:`observe` runs the probe plan: one or more GETs per read route the tables use, ids
found along the way (a department, a provider, patients that have appointments,
insurances, encounters), the CapabilityStatement, and four deliberate errors (an unknown
id and a malformed request on each surface) for the error shapes. Bodies are kept in
memory only; the report names fields and routes, never values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import orjson

from facade.drift.derive import route_key

Json = dict[str, Any]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    ms: float


class ProbeError(Exception):
    """athena could not be reached, or refused the credentials (the message says which)."""


class Athena:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        practice: str,
        *,
        timeout: float = 15.0,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.practice = practice
        self._credentials = (client_id, client_secret)
        self._scope = scope
        self._http = httpx.Client(timeout=timeout, follow_redirects=False)
        self._token: str | None = None
        self.token_answer: Answer | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Athena:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> Answer:
        started = time.perf_counter()
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ProbeError(f"{type(exc).__name__} calling {url.split('?')[0]}") from exc
        try:
            body = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            body = response.content[:0] if not response.content else "(not JSON)"
        ms = (time.perf_counter() - started) * 1000
        return Answer(response.status_code, dict(response.headers), body, ms)

    def token(self) -> Answer:
        """A client-credentials token; kept for the calls that follow."""
        answer = self._send(
            "POST",
            f"{self.base}/oauth2/v1/token",
            data={"grant_type": "client_credentials", "scope": self._scope},
            auth=self._credentials,
        )
        self.token_answer = answer
        if answer.status == 200 and isinstance(answer.body, dict):
            self._token = str(answer.body.get("access_token") or "") or None
        return answer

    def get(self, surface: str, path: str, params: dict[str, str] | None = None) -> Answer:
        if self._token is None:
            token = self.token()
            if self._token is None:
                raise ProbeError(f"athena's token endpoint answered {token.status}")
        prefix = f"/v1/{self.practice}" if surface == "rest" else "/fhir/r4"
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        return self._send("GET", f"{self.base}{prefix}{path}", params=params, headers=headers)


@dataclass
class Observations:
    """Answers per route key (``rest GET /patients``), the CapabilityStatement, errors."""

    answers: dict[str, list[Answer]] = field(default_factory=dict)
    capability: Any = None
    errors: dict[str, Answer] = field(default_factory=dict)  # "rest 404" -> the answer
    notes: list[str] = field(default_factory=list)  # what could not be probed, and why

    def add(self, key: str, answer: Answer) -> Answer:
        self.answers.setdefault(key, []).append(answer)
        return answer


CLINICAL_TYPES = (
    "Condition",  # problems and health concerns beside the diagnoses found above
    "AllergyIntolerance", "CarePlan", "CareTeam", "Device", "DiagnosticReport",
    "DocumentReference", "Goal", "Immunization", "Media", "MedicationDispense",
    "MedicationRequest", "Observation", "Procedure", "QuestionnaireResponse", "RelatedPerson",
    "ServiceRequest", "Specimen",
)  # fmt: skip
MEDICATION_INTENTS = (
    "proposal,plan,order,original-order,reflex-order,filler-order,instance-order,option"
)


_LINKED = {
    "DocumentReference": [("content.attachment.url", "/Binary/{id}")],
    "MedicationRequest": [("medicationReference.reference", "/Medication/{id}")],
}


def _linked(record: Json, path: str) -> str | None:
    """``Type/id`` at ``path`` (a relative reference, or the tail of athena's absolute URL)."""
    current: list[Any] = [record]
    for part in path.split("."):
        following: list[Any] = []
        for item in current:
            value = item.get(part) if isinstance(item, dict) else None
            following += value if isinstance(value, list) else [] if value is None else [value]
        current = following
    for value in current:
        if isinstance(value, str) and "/" in value:
            return "/".join(value.rstrip("/").split("/")[-2:])
    return None


def _records(answer: Answer, key: str) -> list[Json]:
    body = answer.body
    if isinstance(body, list):
        return [r for r in body if isinstance(r, dict)]
    if isinstance(body, dict):
        if body.get("resourceType") == "Bundle":
            return [
                e["resource"]
                for e in body.get("entry", []) or []
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            ]
        items = body.get(key)
        if isinstance(items, list):
            return [r for r in items if isinstance(r, dict)]
    return []


def _first(records: list[Json], name: str) -> str | None:
    for record in records:
        value = record.get(name)
        if isinstance(value, (str, int)) and str(value):
            return str(value)
    return None


def _us(day: date) -> str:
    return day.strftime("%m/%d/%Y")  # athena's dates


def observe(athena: Athena, *, today: date | None = None, candidates: int = 5) -> Observations:
    """Run the probe plan against ``athena`` (module docstring)."""
    obs = Observations()
    practice = athena.practice
    ah_practice = f"Organization/a-1.Practice-{practice}"
    day = today or date.today()

    def rest(path: str, params: dict[str, str] | None = None, key: str | None = None) -> Answer:
        return obs.add(route_key("rest", "GET", key or path), athena.get("rest", path, params))

    def fhir(path: str, params: dict[str, str] | None = None, key: str | None = None) -> Answer:
        return obs.add(route_key("fhir", "GET", key or path), athena.get("fhir", path, params))

    departments = _records(rest("/departments", {"providerlist": "true"}), "departments")
    department = _first(departments, "departmentid")
    providers = _records(rest("/providers"), "providers")
    provider = _first(providers, "providerid")
    if department is None or provider is None:
        obs.notes.append("no department or provider: the practice's other routes were skipped")
        return obs
    booked = _records(
        rest(
            "/appointments/booked",
            {
                "departmentid": department,
                "startdate": _us(day - timedelta(days=30)),
                "enddate": _us(day + timedelta(days=30)),
                "showcancelled": "true",
                "limit": "100",
            },
        ),
        "appointments",
    )
    slots = _records(
        rest(
            "/appointments/open",
            {"departmentid": department, "reasonid": "-1", "limit": "100"},
        ),
        "appointments",
    )
    listed = _records(rest("/patients", {"departmentid": department, "limit": "100"}), "patients")
    patients = [str(r["patientid"]) for r in booked if r.get("patientid")]
    patients += [str(r["patientid"]) for r in listed if r.get("patientid")]
    patients = list(dict.fromkeys(patients))[:candidates]
    for appointment in [_first(booked, "appointmentid"), _first(slots, "appointmentid")]:
        if appointment:
            rest(f"/appointments/{appointment}", key="/appointments/{id}")
    if not patients:
        obs.notes.append("no patients found in the department: patient routes were skipped")
    coverage_seen = encounter_seen = False
    for index, patient in enumerate(patients):
        fid = f"a-{practice}.E-{patient}"
        if index == 0:
            fhir(f"/Patient/{fid}", key="/Patient/{id}")
            fhir("/Patient", {"_id": fid, "ah-practice": ah_practice})
            rest(f"/patients/{patient}/appointments", {"showcancelled": "true"},
                 key="/patients/{id}/appointments")  # fmt: skip
        insurances = _records(
            rest(f"/patients/{patient}/insurances", key="/patients/{id}/insurances"), "insurances"
        )
        if insurances and not coverage_seen:
            found = _records(
                fhir("/Coverage", {"patient": f"Patient/{fid}", "ah-practice": ah_practice}), ""
            )
            coverage = _first(found, "id")
            if coverage:
                fhir(f"/Coverage/{coverage}", key="/Coverage/{id}")
                coverage_seen = True
        if not encounter_seen:
            encounters = _records(
                fhir("/Encounter", {"patient": f"Patient/{fid}", "ah-practice": ah_practice}), ""
            )
            encounter = _first(encounters, "id")
            if encounter:
                encounter_seen = True
                local = encounter.rpartition("-")[2]
                fhir(f"/Encounter/{encounter}", key="/Encounter/{id}")
                rest(f"/chart/encounter/{local}", key="/chart/encounter/{id}")
                rest(f"/chart/encounters/{local}/summary", key="/chart/encounters/{id}/summary")
                conditions = _records(
                    fhir("/Condition", {"patient": f"Patient/{fid}", "ah-practice": ah_practice}),
                    "",
                )
                condition = _first(conditions, "id")
                if condition:
                    fhir(f"/Condition/{condition}", key="/Condition/{id}")
                provenance = _records(
                    fhir("/Provenance", {"target": f"Patient/{fid}", "ah-practice": ah_practice}),
                    "",
                )
                first = _first(provenance, "id")
                if first:
                    fhir(f"/Provenance/{first}", key="/Provenance/{id}")
        if coverage_seen and encounter_seen:
            break
    # the US Core clinical types: the first of the sandbox charts (API-NOTES §1.4) or the
    # department's patients that has records, searched and one of them read
    charted = [str(n) for n in range(60178, 60185)] + patients
    for kind in CLINICAL_TYPES:
        extra = {"intent": MEDICATION_INTENTS} if kind == "MedicationRequest" else {}
        for patient in charted:
            query = {"patient": f"Patient/a-{practice}.E-{patient}", "ah-practice": ah_practice,
                     "_count": "100"}  # fmt: skip
            found = _records(fhir(f"/{kind}", {**query, **extra}), "")
            first = _first(found, "id")
            if first:
                fhir(f"/{kind}/{first}", key=f"/{kind}/{{id}}")
                for path, key in _LINKED.get(
                    kind, []
                ):  # what the records name (Binary, Medication)
                    linked = next((v for r in found if (v := _linked(r, path))), None)
                    if linked:
                        fhir(f"/{linked}", key=key)
                        kind_of, _, ident = linked.partition("/")
                        fhir(f"/{kind_of}", {"_id": ident, "ah-practice": ah_practice})
                break
    for kind, fid in (
        ("Practitioner", f"a-{practice}.Provider-{provider}"),
        ("Organization", f"a-{practice}.Department-{department}"),
        ("Location", f"a-{practice}.Department-{department}"),
    ):
        fhir(f"/{kind}/{fid}", key=f"/{kind}/{{id}}")
        fhir(f"/{kind}", {"_id": fid, "ah-practice": ah_practice})
    obs.capability = athena.get("fhir", "/metadata").body
    # error shapes: an id that cannot exist, and a request athena refuses, on each surface
    obs.errors["rest 404"] = athena.get("rest", "/patients/999999999")
    obs.errors["rest 400"] = athena.get("rest", "/patients", {"dob": "not-a-date"})
    obs.errors["fhir 404"] = athena.get("fhir", f"/Patient/a-{practice}.E-999999999")
    obs.errors["fhir 400"] = athena.get("fhir", "/Patient", {"_id": "60178"})
    return obs
