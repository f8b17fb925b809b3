"""The kick-off request, parsed and authorized once into an :class:`ExportSpec`.

Bulk Data Access 2.0.0 "Bulk Data Kick-off Request": ``_outputFormat`` (the three
NDJSON spellings), ``_since`` (a FHIR instant), ``_type`` (comma lists, repeats
joined), ``_typeFilter`` (``Type?query`` in search syntax, several per type ORed;
``_include``, ``_revinclude``, ``_sort`` and the other result parameters are not
allowed), and ``patient`` (POST ``Parameters`` only; Patient and Group level).
Anything else is refused with 400, or ignored with a warning issue when the client
sends ``Prefer: handling=lenient``.

Authorization (SMART Backend Services, as ONC g10 requires): only ``system/``
scopes count, the token may carry no patient or user, and a type is exported only
when those scopes allow reading and searching it (``r`` and ``s``; v1 ``.read``).
The spec keeps the token's client, scopes and practices: the job runs every search
with that :class:`~facade.auth.context.AuthContext` after the token itself expired.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from facade.auth import policy
from facade.auth.context import AuthContext
from facade.auth.scopes import ScopeSet
from facade.bulk.plan import Level, level_types, strategy
from facade.errors import Forbidden, InvalidRequest, NotFound, UnsupportedParameter
from facade.fhir.outcome import outcome
from facade.mapping.filter import validate_request
from facade.mapping.ids import parse_table_id
from facade.mapping.loader import Mappings
from facade.search import SearchRequest, parse_query

Json = dict[str, Any]
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
SUPPORTED = frozenset({"_outputFormat", "_since", "_type", "_typeFilter", "patient"})
NEGOTIATION = frozenset({"_format", "_pretty"})
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$")
GROUP_ID = re.compile(r"^a-1\.[cC]-(?P<practice>\d{1,12})$")  # athena's ids (API-NOTES §5.3)


@dataclass(frozen=True)
class ExportSpec:
    """Everything a job needs, JSON-serializable (kept in the job store)."""

    level: Level
    request: str  # the kick-off URL, echoed in the manifest
    transaction_time: str
    client_id: str
    scopes: str  # the token's system/ scopes
    practices: list[str]
    types: list[str]
    group: str | None = None
    since: str | None = None
    type_filters: dict[str, list[str]] = field(default_factory=dict)  # type -> queries
    patients: dict[str, list[str]] | None = None  # practice -> patient ids (``patient``)
    output_format: str = "application/fhir+ndjson"
    notes: list[Json] = field(default_factory=list)  # OperationOutcomes for the error file

    def dump(self) -> Json:
        return asdict(self)

    @classmethod
    def load(cls, raw: Json) -> ExportSpec:
        return cls(**raw)

    def auth(self) -> AuthContext:
        return AuthContext(
            client_id=self.client_id,
            scopes=ScopeSet.parse(self.scopes),
            practices=tuple(self.practices),
            subject=self.client_id,
        )

    def since_instant(self) -> datetime | None:
        return parse_instant(self.since) if self.since else None


def parse_instant(text: str) -> datetime:
    if not _INSTANT.match(text):
        raise InvalidRequest(
            f"_since must be a FHIR instant (e.g. 2024-01-01T00:00:00Z), not {text[:40]!r}",
            expression=("_since",),
        )
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def group_practice(group: str, auth: AuthContext) -> str:
    """The practice of a Group id; another practice than the token's is unknown (404)."""
    match = GROUP_ID.match(group)
    if match is None or match["practice"] not in auth.practices:
        raise NotFound(f"Group/{group} is not known")
    return match["practice"]


def backend_auth(auth: AuthContext) -> AuthContext:
    """The token narrowed to its ``system/`` scopes; anything else may not export."""
    system = tuple(s for s in auth.scopes.scopes if s.context == "system")
    if auth.patient or auth.fhir_user or not system:
        raise Forbidden(
            "Bulk Data export needs a SMART Backend Services token (system/ scopes, "
            "client_credentials with private_key_jwt)"
        )
    return AuthContext(
        client_id=auth.client_id,
        scopes=ScopeSet(system, ()),
        practices=auth.practices,
        subject=auth.client_id,
    )


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def parse_kickoff(
    mappings: Mappings,
    auth: AuthContext,
    *,
    level: Level,
    group: str | None,
    items: list[tuple[str, str]],
    post: bool,
    lenient: bool,
    request_url: str,
    now: datetime | None = None,
) -> ExportSpec:
    """Validate and authorize a kick-off; raises the 4xx the IG asks for."""
    auth = backend_auth(auth)
    notes: list[Json] = []
    values: dict[str, list[str]] = {}
    for name, value in items:
        if name in NEGOTIATION:
            continue
        supported = name in SUPPORTED and (name != "patient" or (post and level != "system"))
        if not supported:
            message = f"The kick-off parameter {name!r} is not supported"
            if name == "patient":
                message = "patient is only supported in a POST Parameters body (Patient, Group)"
            if not lenient:
                raise UnsupportedParameter(message, expression=(name,))
            notes.append(outcome("not-supported", f"{message}; ignored", severity="warning"))
            continue
        values.setdefault(name, []).append(value)

    output_format = (values.get("_outputFormat") or [OUTPUT_FORMATS[0]])[-1].strip()
    if output_format.split(";")[0].strip().lower() not in OUTPUT_FORMATS:
        raise InvalidRequest(
            f"_outputFormat {output_format[:60]!r} is not supported; use application/fhir+ndjson",
            expression=("_outputFormat",),
        )
    since = None
    if values.get("_since"):
        since = values["_since"][-1].strip()
        parse_instant(since)

    practices = [group_practice(group, auth)] if group else list(auth.practices)
    offered = level_types(mappings, level)
    readable = [t for t in offered if auth.scopes.allows(t, "r") and auth.scopes.allows(t, "s")]
    if "_type" in values:
        types = list(dict.fromkeys(_split(values["_type"])))
        for rtype in types:
            if rtype not in offered:
                raise InvalidRequest(
                    f"_type {rtype} cannot be exported at this level; exportable: "
                    + ", ".join(offered),
                    expression=("_type",),
                )
            if rtype not in readable:
                raise Forbidden(f"The access token's scopes do not allow reading {rtype}")
    else:
        types = readable
    if not types:
        raise Forbidden("The access token's scopes allow reading none of the exportable types")

    filters = _type_filters(mappings, values.get("_typeFilter", []), types)
    patients = (
        _patients(mappings, values.get("patient"), practices) if "patient" in values else None
    )
    for rtype in list(types):
        note = _unsearchable(mappings, auth, rtype, filters.get(rtype), patients is not None)
        if note is not None:
            types.remove(rtype)
            notes.append(note)
    if not types:
        raise Forbidden("None of the requested types can be exported with this token")
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    return ExportSpec(
        level=level,
        request=request_url,
        transaction_time=stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
        client_id=auth.client_id,
        scopes=str(auth.scopes),
        practices=practices,
        types=types,
        group=group,
        since=since,
        type_filters=filters,
        patients=patients,
        output_format=output_format,
        notes=notes,
    )


RESULT_PARAMS = ("_include", "_revinclude", "_sort", "_count", "_elements", "_summary", "_total")


def _type_filters(mappings: Mappings, raw: list[str], types: list[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for value in _split_filters(raw):
        rtype, mark, query = value.partition("?")
        table = mappings.table(rtype)
        if not mark or table is None or rtype not in types:
            raise InvalidRequest(
                f"_typeFilter {value[:80]!r} must be Type?query for an exported type",
                expression=("_typeFilter",),
            )
        pairs = parse_qsl(query, keep_blank_values=True)
        for name, _ in pairs:
            if name.split(":")[0] in RESULT_PARAMS or name == "_cursor":
                raise InvalidRequest(
                    f"_typeFilter may not use {name} (Bulk Data 2.0.0)",
                    expression=("_typeFilter",),
                )
        req = parse_query(rtype, pairs)
        validate_request(table, req, strict=True)  # unknown parameters and bad values: 400
        filters.setdefault(rtype, []).append(query)
    return filters


def _split_filters(raw: list[str]) -> list[str]:
    """``_typeFilter`` values; one may hold several queries, comma-separated (IG 2.0.0)."""
    found = []
    for value in raw:
        # a comma starts a new query only where a type name follows
        found += [v for v in re.split(r",(?=[A-Z][A-Za-z]+\?)", value) if v.strip()]
    return [v.strip() for v in found]


def _patients(
    mappings: Mappings, raw: list[str] | None, practices: list[str]
) -> dict[str, list[str]]:
    table = mappings.table("Patient")
    assert table is not None
    found: dict[str, list[str]] = {}
    for value in raw or []:
        rid = value.strip().removeprefix("Patient/")
        try:
            fid = parse_table_id(rid, table.id)
        except InvalidRequest as exc:
            raise InvalidRequest(
                f"patient {value[:60]!r} is not a Patient reference", expression=("patient",)
            ) from exc
        if fid.practice not in practices:
            raise InvalidRequest(
                f"patient {value[:60]!r} is outside this export", expression=("patient",)
            )
        found.setdefault(fid.practice, [])
        if rid not in found[fid.practice]:
            found[fid.practice].append(rid)
    if not found:
        raise InvalidRequest("patient names no Patient", expression=("patient",))
    return found


def _unsearchable(
    mappings: Mappings,
    auth: AuthContext,
    rtype: str,
    filters: list[str] | None,
    by_patient: bool,
) -> Json | None:
    """Why a type cannot be exported under these scopes and filters (a note), or None."""
    table = mappings.table(rtype)
    assert table is not None
    for query in filters or [""]:
        req = validate_request(
            table, parse_query(rtype, parse_qsl(query, keep_blank_values=True)), strict=True
        )
        try:
            req = policy.restrict_search(table, auth, req)
        except Forbidden as exc:
            return outcome(
                "forbidden",
                f"{rtype} is not exported: {exc.diagnostics}; add a _typeFilter naming one",
                severity="warning",
            )
        if strategy(table, SearchRequest(rtype, req.params), by_patient=by_patient) is None:
            return outcome(
                "not-supported",
                f"{rtype} is not exported: athena cannot answer that query for a whole "
                "practice or per patient",
                severity="warning",
            )
    return None
