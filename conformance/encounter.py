"""Encounter group (US-CORE-NOTES §1.3, §1.5): patient search forms, _id, the four SHALL
date comparators, token ``system|code``, read and Provenance revinclude."""

from __future__ import annotations

from datetime import timedelta

from conformance.client import Json
from conformance.context import Context, values
from conformance.dates import implicit_range, satisfies
from conformance.result import Skip, check, require

MAX_ID_CHECKS = 10


def _subject_id(encounter: Json) -> str:
    return str(encounter.get("subject", {}).get("reference", "")).rsplit("/", 1)[-1]


@check("Encounter patient search (id == Patient/id, GET == POST)")
def encounter_patient_search(ctx: Context) -> str:
    if not ctx.patient_ids:
        raise Skip("no patient ids given")
    for pid in ctx.patient_ids:
        got = ctx.client.search("Encounter", {"patient": pid})
        typed = ctx.client.search("Encounter", {"patient": f"Patient/{pid}"})
        posted = ctx.client.search("Encounter", {"patient": pid}, method="POST")
        require(sorted(typed.ids) == sorted(got.ids), f"patient={pid} != patient=Patient/{pid}")
        require(sorted(posted.ids) == sorted(got.ids), f"POST patient={pid} != GET")
        for encounter in got.matches:
            require(
                _subject_id(encounter) == pid,
                f"patient={pid}: Encounter/{encounter.get('id')} has another subject",
            )
        ctx.encounters[pid] = got.matches
    return f"{len(ctx.all_encounters())} encounters over {len(ctx.patient_ids)} patients"


@check("Encounter _id search and read")
def encounter_id_and_read(ctx: Context) -> str:
    sample = ctx.need_encounters()[:MAX_ID_CHECKS]
    for encounter in sample:
        eid = str(encounter.get("id"))
        found = ctx.client.search("Encounter", {"_id": eid}).ids
        require(found == [eid], f"Encounter?_id={eid} returned {found}")
        ctx.client.read_exact(f"Encounter/{eid}")
    return f"{len(sample)} encounters"


@check("Encounter date+patient search (gt, ge, lt, le)")
def encounter_date_comparators(ctx: Context) -> str:
    ctx.need_encounters()
    searches = 0
    for pid, encounters in ctx.encounters.items():
        seed = next((e for e in encounters if e.get("period", {}).get("start")), None)
        if seed is None:
            continue
        start = implicit_range(seed["period"]["start"])[0]
        for prefix, shift in (("gt", -1), ("ge", -1), ("lt", 1), ("le", 1)):
            value = (start + timedelta(days=shift)).isoformat(timespec="seconds")
            params = {"patient": pid, "date": f"{prefix}{value}"}
            found = ctx.client.search("Encounter", params).matches
            require(
                seed.get("id") in [e.get("id") for e in found],
                f"{params}: Encounter/{seed.get('id')} (period.start {start}) not returned",
            )
            for encounter in found:
                require(
                    satisfies(prefix, value, encounter.get("period", {})),
                    f"{params}: Encounter/{encounter.get('id')} period "
                    f"{encounter.get('period')} does not satisfy {prefix}",
                )
            searches += 1
    if not searches:
        raise Skip("no Encounter has a period.start")
    return f"{searches} searches, every result satisfies its comparator"


def _token_check(ctx: Context, param: str, path: str) -> str:
    encounter = next(
        (
            e
            for e in ctx.need_encounters()
            if any(c.get("system") and c.get("code") for c in values(e, path))
        ),
        None,
    )
    if encounter is None:
        raise Skip(f"no Encounter has {path} with system and code")
    coding = next(c for c in values(encounter, path) if c.get("system") and c.get("code"))
    token = f"{coding['system']}|{coding['code']}"
    params = {"patient": _subject_id(encounter), param: token}
    found = ctx.client.search("Encounter", params).matches
    require(encounter.get("id") in [e.get("id") for e in found], f"{params}: seed not returned")
    for hit in found:
        require(
            any(
                c.get("system") == coding["system"]
                and str(c.get("code", "")).lower() == str(coding["code"]).lower()
                for c in values(hit, path)
            ),
            f"{params}: Encounter/{hit.get('id')} does not carry {token}",
        )
    return f"{param}={token}: {len(found)} matching"


@check("Encounter class+patient search (system|code)")
def encounter_class_search(ctx: Context) -> str:
    return _token_check(ctx, "class", "class")


@check("Encounter patient+type search (system|code)")
def encounter_type_search(ctx: Context) -> str:
    return _token_check(ctx, "type", "type.coding")


@check("Encounter _revinclude=Provenance:target")
def encounter_revinclude(ctx: Context) -> str:
    if not ctx.patient_ids:
        raise Skip("no patient ids given")
    provenance = 0
    for pid in ctx.patient_ids:
        page = ctx.client.search("Encounter", {"patient": pid, "_revinclude": "Provenance:target"})
        provenance += sum(1 for r in page.included if r.get("resourceType") == "Provenance")
    return f"200 Bundles, {provenance} Provenance included"


CHECKS = [
    encounter_patient_search,
    encounter_id_and_read,
    encounter_date_comparators,
    encounter_class_search,
    encounter_type_search,
    encounter_revinclude,
]
