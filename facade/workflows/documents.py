"""``DocumentReference/$docref`` (US Core 6.1 OperationDefinition docref).

athena generates no documents on demand, so the operation answers with the patient's
existing clinical notes: a DocumentReference search by ``patient``, the ``start`` /
``end`` care-date range on ``context.period`` (``period=ge{start}``, ``period=le{end}``:
overlap, FHIR date semantics) and ``type`` (Codings, OR). Without a type every note type
is in scope (there is no CCD to prefer). The search goes through the engine, so the
token's scopes and patient compartment apply as for any search; ``on-demand=true`` is a
400 (not supported), as the operation allows.
"""

from __future__ import annotations

from typing import Any

from facade.auth.context import AuthContext
from facade.engine import registry, searches
from facade.engine.operations import OperationCall, parameters
from facade.engine.services import Services
from facade.engine.writes import WriteOutcome
from facade.errors import InvalidRequest
from facade.search import SearchParam, SearchRequest

Json = dict[str, Any]
KNOWN = {"patient", "start", "end", "type", "on-demand", "profile", "_count", "ah-practice"}


@registry.operation("DocumentReference", "docref")
async def docref(services: Services, auth: AuthContext, call: OperationCall) -> WriteOutcome:
    items = list(call.params)
    if call.method == "POST":
        items += parameters(call.body)
    values: dict[str, list[str]] = {}
    for name, value in items:
        if name not in KNOWN:
            raise InvalidRequest(f"$docref has no parameter {name!r}", expression=(name,))
        values.setdefault(name, []).append(value)
    patients = values.get("patient", [])
    if len(patients) != 1:
        raise InvalidRequest("$docref needs exactly one patient", expression=("patient",))
    if any(v.lower() == "true" for v in values.get("on-demand", [])):
        raise InvalidRequest(
            "$docref on-demand=true is not supported: athena generates no documents",
            expression=("on-demand",),
        )
    params = [SearchParam("patient", None, (patients[0],))]
    for name, prefix in (("start", "ge"), ("end", "le")):
        for value in values.get(name, [])[:1]:
            params.append(SearchParam("period", None, (f"{prefix}{value}",)))
    if values.get("type"):
        params.append(SearchParam("type", None, tuple(values["type"])))
    for value in values.get("ah-practice", [])[:1]:
        params.append(SearchParam("ah-practice", None, (value,)))
    count = int(values["_count"][0]) if values.get("_count", [""])[0].isdigit() else None
    request = SearchRequest("DocumentReference", tuple(params), count=count)
    bundle = await searches.search(services, auth, "DocumentReference", request, strict=True)
    return WriteOutcome(200, bundle, {})
