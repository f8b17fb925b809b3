"""Patient group (US-CORE-NOTES §1.2, §1.5): the SHALL searches, value matching, read."""

from __future__ import annotations

from collections.abc import Callable

from conformance.client import Json
from conformance.context import Context
from conformance.result import Fail, Skip, check, require


def _name_matches(patient: Json, text: str) -> bool:
    """Inferno's ``name``: case-insensitive starts-with on text, family, given, prefix, suffix."""
    wanted = text.lower()
    parts: list[str] = []
    for name in patient.get("name", []):
        parts += [str(name.get("text", "")), str(name.get("family", ""))]
        for key in ("given", "prefix", "suffix"):
            parts += [str(p) for p in name.get(key, [])]
    return any(p.lower().startswith(wanted) for p in parts if p)


def _family(patient: Json) -> str:
    family = next((str(n["family"]) for n in patient.get("name", []) if n.get("family")), None)
    if family is None:
        raise Skip(f"Patient/{patient.get('id')} has no name.family to search by")
    return family


def _search_each(
    ctx: Context, params_of: Callable[[Json], dict[str, str]], matches: Callable[[Json, Json], bool]
) -> str:
    """Search with params derived from each patient; the patient is found, every hit matches."""
    total = 0
    for pid, patient in ctx.need_patients().items():
        params = params_of(patient)
        found = ctx.client.search("Patient", params).matches
        require(pid in [p.get("id") for p in found], f"{params}: Patient/{pid} not returned")
        for hit in found:
            require(matches(hit, patient), f"{params}: Patient/{hit.get('id')} does not match")
        total += len(found)
    return f"{len(ctx.patients)} searches, {total} matches, all matching"


@check("Patient _id search (GET == POST)")
def patient_id_search(ctx: Context) -> str:
    if not ctx.patient_ids:
        raise Skip("no patient ids given")
    for pid in ctx.patient_ids:
        got = ctx.client.search("Patient", {"_id": pid})
        posted = ctx.client.search("Patient", {"_id": pid}, method="POST")
        require(got.ids == [pid], f"GET Patient?_id={pid} returned {got.ids}")
        require(posted.ids == got.ids, f"POST Patient/_search _id={pid}: {posted.ids} != {got.ids}")
        ctx.patients[pid] = got.matches[0]
    return f"{len(ctx.patients)} patients"


@check("Patient identifier search (value and system|value)")
def patient_identifier_search(ctx: Context) -> str:
    for pid, patient in ctx.need_patients().items():
        identifier = next((i for i in patient.get("identifier", []) if i.get("value")), None)
        if identifier is None:
            raise Fail(f"Patient/{pid} has no identifier.value")
        forms = [str(identifier["value"])]
        if identifier.get("system"):
            forms.append(f"{identifier['system']}|{identifier['value']}")
        for form in forms:
            system, _, value = form.rpartition("|")
            found = ctx.client.search("Patient", {"identifier": form}).matches
            require(pid in [p.get("id") for p in found], f"identifier={form}: {pid} not returned")
            for hit in found:
                require(
                    any(
                        i.get("value") == value and (not system or i.get("system") == system)
                        for i in hit.get("identifier", [])
                    ),
                    f"identifier={form}: Patient/{hit.get('id')} does not carry it",
                )
    return f"{len(ctx.patients)} patients, both forms"


@check("Patient name search")
def patient_name_search(ctx: Context) -> str:
    return _search_each(
        ctx, lambda p: {"name": _family(p)}, lambda hit, p: _name_matches(hit, _family(p))
    )


@check("Patient birthdate+name search")
def patient_birthdate_name_search(ctx: Context) -> str:
    def params(p: Json) -> dict[str, str]:
        if not p.get("birthDate"):
            raise Skip(f"Patient/{p.get('id')} has no birthDate")
        return {"birthdate": str(p["birthDate"]), "name": _family(p)}

    return _search_each(
        ctx,
        params,
        lambda hit, p: hit.get("birthDate") == p["birthDate"] and _name_matches(hit, _family(p)),
    )


@check("Patient gender+name search")
def patient_gender_name_search(ctx: Context) -> str:
    def params(p: Json) -> dict[str, str]:
        if not p.get("gender"):
            raise Skip(f"Patient/{p.get('id')} has no gender")
        return {"gender": str(p["gender"]), "name": _family(p)}

    return _search_each(
        ctx,
        params,
        lambda hit, p: hit.get("gender") == p["gender"] and _name_matches(hit, _family(p)),
    )


@check("Patient read")
def patient_read(ctx: Context) -> str:
    for pid in ctx.need_patients():
        ctx.client.read_exact(f"Patient/{pid}")
    return f"{len(ctx.patients)} reads"


@check("Patient _revinclude=Provenance:target")
def patient_revinclude(ctx: Context) -> str:
    provenance = 0
    for pid in ctx.need_patients():
        page = ctx.client.search("Patient", {"_id": pid, "_revinclude": "Provenance:target"})
        require(page.ids == [pid], f"Patient?_id={pid}&_revinclude=...: matches {page.ids}")
        provenance += sum(1 for r in page.included if r.get("resourceType") == "Provenance")
    return f"200 Bundles, {provenance} Provenance included"


CHECKS = [
    patient_id_search,
    patient_identifier_search,
    patient_name_search,
    patient_birthdate_name_search,
    patient_gender_name_search,
    patient_read,
    patient_revinclude,
]
