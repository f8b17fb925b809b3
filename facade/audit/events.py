"""AuditEvent resources following IHE BALP (Basic Audit Log Patterns, ITI BALP 1.1.x).

A request captures a few facts (:class:`Interaction`, :class:`ToolUse`,
:class:`facade.audit.context.SecurityEvent`); the recorder's writer thread turns them into a
record (the facts as compact JSON plus the searchable columns, :func:`interaction_rows`),
and the AuditEvent resource is rendered from the facts only when the trail is read
(:func:`render`), so recording stays cheap. Mapping (EVENTS-BULK-MCP-SCALE §6.3):

- who: ``agent[client]`` (``who.identifier`` = the OAuth ``client_id``, ``network`` = the
  source address, ``policy`` = ``urn:ietf:params:oauth:jti:{jti}``: the token's id, never
  the token), ``agent[user]`` (``who.reference`` = ``fhirUser``, ``who.identifier`` = the
  user name, ``requestor``), ``agent[server]`` (this facade);
- what: ``type``/``subtype``/``action`` per profile (Read R, Query E, Create C, Update U,
  Delete D, operations E), ``entity[data]`` (the resource), ``entity[patient]``,
  ``entity[query]`` (the raw query, base64, as BALP Query requires);
- when: ``recorded``; outcome: ``outcome`` (0 / 4 / 8) and ``outcomeDesc`` = the HTTP
  status; correlation: ``entity[transaction]`` = the ``X-Request-Id``.

Nothing else of the request is kept: no bodies, no headers, no tokens.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson

from facade.audit.context import SECURITY_KINDS, SecurityEvent
from facade.auth.context import AuthContext
from facade.store.audit import AuditRow

Json = dict[str, Any]

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
BALP_ENTITY = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
# the facade's own codes (operations, exports, MCP tools, security events): README "Audit trail"
FACADE_SUBTYPE = "urn:athena-fhir-facade:audit-subtype"
CLIENT_SYSTEM = "urn:athena-fhir-facade:client-id"
USER_SYSTEM = "urn:athena-fhir-facade:user"
JTI = "urn:ietf:params:oauth:jti:"
SERVER = "athena-fhir-facade"

# kind -> (action, subtype system, BALP profile for a patient / without one)
KINDS: dict[str, tuple[str, str, str, str]] = {
    "read": ("R", INTERACTION, "IHE.BasicAudit.PatientRead", "IHE.BasicAudit.Read"),
    "vread": ("R", INTERACTION, "IHE.BasicAudit.PatientRead", "IHE.BasicAudit.Read"),
    "search-type": ("E", INTERACTION, "IHE.BasicAudit.PatientQuery", "IHE.BasicAudit.Query"),
    "search-system": ("E", INTERACTION, "IHE.BasicAudit.PatientQuery", "IHE.BasicAudit.Query"),
    "create": ("C", INTERACTION, "IHE.BasicAudit.PatientCreate", "IHE.BasicAudit.Create"),
    "update": ("U", INTERACTION, "IHE.BasicAudit.PatientUpdate", "IHE.BasicAudit.Update"),
    "patch": ("U", INTERACTION, "IHE.BasicAudit.PatientUpdate", "IHE.BasicAudit.Update"),
    "delete": ("D", INTERACTION, "IHE.BasicAudit.PatientDelete", "IHE.BasicAudit.Delete"),
    "operation": ("E", INTERACTION, "", ""),
    "export": ("E", FACADE_SUBTYPE, "", ""),
    "export-status": ("R", FACADE_SUBTYPE, "", ""),
    "export-file": ("R", FACADE_SUBTYPE, "", ""),
    "export-cancel": ("D", FACADE_SUBTYPE, "", ""),
    "mcp-tool": ("E", FACADE_SUBTYPE, "", ""),
}
# security events: DICOM event types (User Authentication for a sign-in, else Security Alert)
SECURITY_TYPE = {"login": ("110114", "User Authentication")}
_ALERT = ("110113", "Security Alert")

_PRACTICE = re.compile(r"a-([0-9]{1,10})\.")
_SKIPPED = frozenset({"/metadata", "/.well-known/smart-configuration"})


class Token(NamedTuple):
    """What a record says about the token (the same for every request it makes)."""

    facts: tuple[tuple[str, str], ...]  # client, user, fhir_user, jti: the ones present
    agent: str  # the agent column
    patient: str | None  # the patient user, else the launch context's patient
    practice: str | None  # the token's practice, when it reaches only one

    @property
    def client(self) -> str:
        return dict(self.facts)["client"]

    @property
    def jti(self) -> str | None:
        return dict(self.facts).get("jti")


_TOKENS: dict[int, tuple[AuthContext, Token]] = {}  # id(auth) -> (auth, its Token)
TOKENS_MAX = 4096  # tokens remembered (bounded, as the verified tokens are)


def token(auth: AuthContext | None) -> Token | None:
    """The token's facts, once per AuthContext (verified tokens are remembered, so a
    client's requests share one): the entry holds ``auth``, so its id is not reused."""
    if auth is None:
        return None
    found = _TOKENS.get(id(auth))
    if found is not None and found[0] is auth:
        return found[1]
    user = auth.subject if auth.subject != auth.client_id else None
    facts = {"client": auth.client_id, "user": user, "fhir_user": auth.fhir_user, "jti": auth.jti}
    made = Token(
        tuple((k, v) for k, v in facts.items() if v),
        _spaced([auth.client_id, user, auth.fhir_user]),
        auth.patient_user or auth.patient,
        auth.practices[0] if len(auth.practices) == 1 else None,
    )
    if len(_TOKENS) >= TOKENS_MAX:
        _TOKENS.clear()
    _TOKENS[id(auth)] = (auth, made)
    return made


class Interaction(NamedTuple):
    """A FHIR request as the HTTP face saw it (facade/api/audit.py), and what its
    :class:`~facade.audit.context.Note` gathered, as values only (strings and tuples of
    them): a record waits up to a batch's linger for the writer, and nothing of the
    request (the note and its lists, the AuthContext) is kept alive for it or walked by
    the garbage collector meanwhile."""

    at: float
    method: str
    path: str  # under the FHIR base, e.g. /Patient/a-195900.E-1
    query: bytes
    status: int
    request_id: str
    address: str | None
    location: str | None  # a create's Location header
    who: Token | None = None  # the verified token
    patients: tuple[str, ...] = ()  # whose records the response held
    security: tuple[SecurityEvent, ...] = ()  # the security events the request decided


class ToolUse(NamedTuple):
    """An MCP tool call (facade/mcp/server.py), over either transport."""

    at: float
    tool: str
    status: int  # 200, or the failure's HTTP status
    request_id: str
    auth: AuthContext | None
    patient: str | None


_SECOND: tuple[int, str] = (-1, "")  # the last second formatted (one per request otherwise)


def instant(at: float) -> str:
    """``at`` (epoch seconds) as an ISO instant in UTC with microseconds, exactly as
    ``datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds")`` (the fraction
    rounded half-even), the date and time of day formatted once per second.

    >>> instant(1764605485.1234565)
    '2025-12-01T16:11:25.123456+00:00'
    """
    global _SECOND
    second = int(at) if at >= 0 else int(at) - 1
    micro = round((at - second) * 1_000_000)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    cached = _SECOND
    if cached[0] != second:
        cached = _SECOND = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{micro:06d}+00:00"


def classify(method: str, path: str, query: bytes) -> tuple[str, str | None, str | None] | None:
    """(kind, resource type, id) of a FHIR request; None for what is not audited
    (the CapabilityStatement and SMART discovery: public documents)."""
    if method == "HEAD":
        method = "GET"
    if method == "GET" and path.count("/") == 2:  # the usual request: /Type/id, a read
        _, read_type, read_id = path.split("/")
        if read_type[:1].isupper() and read_id[:1] not in ("", "$", "_"):
            return "read", read_type, read_id
    if path in _SKIPPED or (path == "" and method == "GET" and not query):
        return None
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "bulk":  # /bulk/status/{job}, /bulk/files/{job}/{name}
        job = parts[2] if len(parts) > 2 else None
        if method == "DELETE":
            return "export-cancel", None, job
        return ("export-file" if parts[1:2] == ["files"] else "export-status"), None, job
    rtype = parts[0] if parts and parts[0][:1].isupper() else None
    for i, part in enumerate(parts):
        if part.startswith("$"):
            rid = parts[1] if i == 2 else None
            return ("export" if part == "$export" else "operation"), rtype, rid
    if not parts or (len(parts) == 1 and parts[0] == "_search"):
        return "search-system", None, None
    if len(parts) == 1 or parts[1] == "_search":
        return ("create" if method == "POST" and len(parts) == 1 else "search-type"), rtype, None
    if len(parts) == 4 and parts[2] == "_history":
        return "vread", rtype, parts[1]
    kind = {"GET": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
    return (kind or "operation"), rtype, parts[1]


def _outcome(status: int) -> str:
    return "0" if 0 < status < 400 else "4" if status < 500 else "8"


def _coding(system: str, code: str, display: str | None = None) -> Json:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _agents(
    client_id: str | None,
    user: str | None,
    fhir_user: str | None,
    jti: str | None,
    address: str | None,
    *,
    client_role: str,
) -> list[Json]:
    """Client (source of the request), user (the requestor when there is one), server."""
    client: Json = {
        "type": {"coding": [_coding(DCM, client_role)]},
        "who": {"identifier": {"system": CLIENT_SYSTEM, "value": client_id or "unknown"}},
        "requestor": not (user or fhir_user),
    }
    if jti:
        client["policy"] = [JTI + jti]
    if address:
        client["network"] = {"address": address, "type": "2"}  # IP address
    agents = [client]
    if user or fhir_user:
        who: Json = {}
        if fhir_user:
            who["reference"] = fhir_user
        if user:
            who["identifier"] = {"system": USER_SYSTEM, "value": user}
        agents.append(
            {
                "type": {"coding": [_coding(PARTICIPATION, "IRCP", "information recipient")]},
                "who": who,
                "requestor": True,
            }
        )
    server_role = "110152" if client_role == "110153" else "110153"
    agents.append(
        {
            "type": {"coding": [_coding(DCM, server_role)]},
            "who": {"display": SERVER},
            "requestor": False,
        }
    )
    return agents


def _patient_of(auth: AuthContext | None) -> str | None:
    if auth is None:
        return None
    return auth.patient_user or auth.patient


def _query_patient(rtype: str | None, query: bytes) -> str | None:
    """The patient a search names (``patient``/``subject``, or a Patient search's ``_id``)."""
    for key, value in parse_qsl(query.decode("latin-1")):
        if key in ("patient", "subject") or (rtype == "Patient" and key == "_id"):
            value = value.removeprefix("Patient/")
            if "," not in value and "/" not in value:
                return value
    return None


def _transaction(request_id: str) -> Json:
    return {
        "type": _coding(BALP_ENTITY, "XrequestId"),
        "what": {"identifier": {"value": request_id}},
    }


def _patient_entity(patient: str) -> Json:
    return {
        "type": _coding(ENTITY_TYPE, "1", "Person"),
        "role": _coding(OBJECT_ROLE, "1", "Patient"),
        "what": {"reference": f"Patient/{patient}"},
    }


def _source() -> Json:
    return {
        "observer": {"display": SERVER},
        "type": [_coding(SOURCE_TYPE, "4", "Application Server")],
    }


def _facts(facts: Json) -> str:
    """The facts as stored (compact JSON, without the empty ones): what the chain hashes."""
    return orjson.dumps({k: v for k, v in facts.items() if v is not None and v != ""}).decode()


def _spaced(values: list[str | None]) -> str:
    """`` a b `` (the agent and entity columns: a search matches `` value ``)."""
    return " " + " ".join(v for v in values if v) + " "


def interaction_rows(item: Interaction, default_practice: str) -> list[AuditRow]:
    """The records of a FHIR request: its interaction, then each security event it decided.

    Runs on the writer thread once per request: the cheapest request (a cached read) spends
    about as long here as in the facade, so it builds the facts and columns directly."""
    rows = [security_row(e, item, default_practice) for e in item.security]
    kind_found = classify(item.method, item.path, item.query)
    if kind_found is None:
        return rows
    kind, rtype, rid = kind_found
    if item.location and kind == "create":  # .../Type/{id}/_history/1 -> the created id
        tail = item.location.split("/fhir/r4/", 1)[-1].split("/")
        if len(tail) >= 2:
            rid = tail[1]
    patient = rid if rtype == "Patient" and rid else None
    if patient is None and item.query and kind.startswith("search"):
        patient = _query_patient(rtype, item.query)
    others: list[str] = []
    if item.patients == (patient,):  # a read of a patient's record names that patient
        pass
    elif item.patients:
        found = [p for p in (patient, *item.patients) if p]
        patient = found[0]
        others = [p for p in dict.fromkeys(found) if p != patient]
    who = item.who
    if not patient and who is not None:
        patient = who.patient
    # the stored facts: the empty ones left out (as _facts does), in this order
    recorded = instant(item.at)
    facts: Json = {"kind": kind, "recorded": recorded, "status": item.status}
    if item.request_id:
        facts["request_id"] = item.request_id
    if item.address:
        facts["address"] = item.address
    if who is not None:
        facts.update(who.facts)
    if patient:
        facts["patient"] = patient
    if others:
        facts["patients"] = others  # more patients a search's page held
    if rtype:
        facts["type"] = rtype
    if rid:
        facts["id"] = rid
    if item.query and (kind.startswith("search") or kind in ("export", "operation")):
        facts["query"] = base64.b64encode(item.query).decode()
    name = item.path.rsplit("/", 1)[-1][:64] if kind == "operation" else ""
    if name:
        facts["name"] = name
    entities = [f"Patient/{p}" for p in others]
    if patient:
        entities.insert(0, f"Patient/{patient}")
    if rtype and rid and (rtype != "Patient" or rid not in (patient, *others)):
        entities.append(f"{rtype}/{rid}")
    found_practice = _PRACTICE.search(item.path) or (
        _PRACTICE.search(item.query.decode("latin-1")) if item.query else None
    )
    if found_practice:
        practice = found_practice.group(1)
    else:
        practice = (who.practice if who is not None else None) or default_practice
    row = AuditRow(
        recorded,
        practice,
        kind,
        KINDS[kind][0],
        _outcome(item.status),
        who.agent if who is not None else "  ",
        patient or "",
        " " + " ".join(entities) + " ",
        orjson.dumps(facts).decode(),
        (patient, *others) if patient else (),
    )
    return [row, *rows] if rows else [row]


def _practice(text: str, auth: AuthContext | None, default_practice: str) -> str:
    found = _PRACTICE.search(text)
    if found:
        return found.group(1)
    if auth is not None and len(auth.practices) == 1:
        return auth.practices[0]
    return default_practice


def security_row(event: SecurityEvent, item: Interaction, default_practice: str) -> AuditRow:
    """A security event (sign-in, token, refresh, revocation, registration, consent)."""
    facts: Json = {
        "kind": event.kind,
        "recorded": instant(item.at),
        "success": event.success,
        "request_id": item.request_id,
        "address": item.address,
        "client": event.client_id,
        "user": event.user,
        "fhir_user": event.fhir_user,
        "jti": event.jti,
        "patient": event.patient,
        "detail": event.detail[:120],
    }
    return AuditRow(
        facts["recorded"],
        _practice(event.patient or "", None, default_practice),
        event.kind,
        "E",
        "0" if event.success else "4",
        _spaced([event.client_id, event.user, event.fhir_user]),
        event.patient or "",
        f" Patient/{event.patient} " if event.patient else "  ",
        _facts(facts),
        (event.patient,) if event.patient else (),
    )


def tool_row(use: ToolUse, default_practice: str) -> AuditRow:
    """An MCP tool call: an operation of the facade's (subtype ``mcp-tool``), named."""
    patient = use.patient or _patient_of(use.auth)
    who = token(use.auth)
    facts: Json = {
        "kind": "mcp-tool",
        "recorded": instant(use.at),
        "status": use.status,
        "request_id": use.request_id,
        **dict(who.facts if who is not None else ()),
        "patient": patient,
        "name": use.tool[:64],
    }
    return AuditRow(
        facts["recorded"],
        _practice(patient or "", use.auth, default_practice),
        "mcp-tool",
        "E",
        _outcome(use.status),
        who.agent if who is not None else "  ",
        patient or "",
        f" Patient/{patient} " if patient else "  ",
        _facts(facts),
        (patient,) if patient else (),
    )


# -- rendering (reads of the trail; the store keeps the facts, hash-chained) ----------------


def render(facts: Json) -> Json:
    """The AuditEvent (IHE BALP) of one record's facts."""
    kind = str(facts["kind"])
    if kind in SECURITY_KINDS:
        return _render_security(facts)
    status = int(facts.get("status") or 0)
    patient = facts.get("patient")
    rtype, rid = facts.get("type"), facts.get("id")
    action, subtype_system, with_patient, without = KINDS[kind]
    code = kind.split("-")[0] if subtype_system == INTERACTION else kind
    others = facts.get("patients") or []
    profile = (with_patient if not others else without) if patient else without
    resource: Json = {"resourceType": "AuditEvent"}
    if profile:
        resource["meta"] = {"profile": [BALP + profile]}
    resource.update(
        {
            "type": _coding(EVENT_TYPE, "rest", "RESTful Operation"),
            "subtype": [_coding(subtype_system, code)],
            "action": action,
            "recorded": facts["recorded"],
            "outcome": _outcome(status),
            "outcomeDesc": f"HTTP {status}" if status else "no response",
            "agent": _agents(
                facts.get("client"),
                facts.get("user"),
                facts.get("fhir_user"),
                facts.get("jti"),
                facts.get("address"),
                client_role="110152" if kind in ("read", "vread") else "110153",
            ),
            "source": _source(),
            "entity": [_transaction(str(facts.get("request_id", "")))],
        }
    )
    entity: list[Json] = resource["entity"]
    for one in [patient, *others] if patient else []:
        entity.append(_patient_entity(str(one)))
    if rtype and rid and not (rtype == "Patient" and rid == patient):
        entity.append(
            {
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "role": _coding(OBJECT_ROLE, "4", "Domain Resource"),
                "what": {"reference": f"{rtype}/{rid}"},
            }
        )
    elif rid and not rtype:  # a bulk export job
        entity.append(
            {
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "what": {"identifier": {"value": rid}},
            }
        )
    if "query" in facts or kind.startswith("search"):
        query: Json = {
            "type": _coding(ENTITY_TYPE, "2", "System Object"),
            "role": _coding(OBJECT_ROLE, "24", "Query"),
            "query": facts.get("query", ""),
        }
        if rtype:
            query["what"] = {"display": rtype}
        entity.append(query)
    if facts.get("name"):  # an operation's or an MCP tool's name
        entity.append(
            {
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "role": _coding(OBJECT_ROLE, "3", "Report"),
                "name": facts["name"],
            }
        )
    return resource


def _render_security(facts: Json) -> Json:
    kind = str(facts["kind"])
    code, display = SECURITY_TYPE.get(kind, _ALERT)
    resource: Json = {
        "resourceType": "AuditEvent",
        "type": _coding(DCM, code, display),
        "subtype": [_coding(FACADE_SUBTYPE, kind)],
        "action": "E",
        "recorded": facts["recorded"],
        "outcome": "0" if facts.get("success") else "4",
        "agent": _agents(
            facts.get("client"),
            facts.get("user"),
            facts.get("fhir_user"),
            facts.get("jti"),
            facts.get("address"),
            client_role="110150",  # Application (BALP AuthZconsent)
        ),
        "source": _source(),
        "entity": [_transaction(str(facts.get("request_id", "")))],
    }
    if facts.get("detail"):
        resource["outcomeDesc"] = facts["detail"]
    if facts.get("patient"):
        resource["entity"].append(_patient_entity(str(facts["patient"])))
    return resource
