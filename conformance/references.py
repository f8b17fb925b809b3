"""Reference resolution (US-CORE-NOTES §1.5): each must-support Encounter reference resolves.

A GET on the reference (relative to the base, or absolute) returns 200 with the same
resource type and id. Up to ``PER_PATH`` distinct references per element are read; an
element no returned Encounter carries is reported in the message, not failed, as Inferno
skips it (the must-support either/or pairs make some absent by design).
"""

from __future__ import annotations

from conformance.context import Context, values
from conformance.result import Skip, check, require

PER_PATH = 3
PATHS = {
    "subject": {"Patient"},
    "participant.individual": {"Practitioner", "PractitionerRole", "RelatedPerson"},
    "location.location": {"Location"},
    "serviceProvider": {"Organization"},
    "reasonReference": {"Condition", "Procedure", "Observation", "ImmunizationRecommendation"},
}


@check("Encounter reference resolution")
def encounter_references(ctx: Context) -> str:
    encounters = ctx.need_encounters()
    resolved: list[str] = []
    absent: list[str] = []
    for path, types in PATHS.items():
        refs = sorted(
            {
                str(v["reference"])
                for e in encounters
                for v in values(e, path)
                if isinstance(v, dict) and v.get("reference") and not v["reference"].startswith("#")
            }
        )
        if not refs:
            absent.append(path)
            continue
        for ref in refs[:PER_PATH]:
            parts = ref.split("/")
            require(len(parts) >= 2, f"{path} -> {ref!r} is not Type/id")
            rtype = parts[-2]
            require(rtype in types, f"{path} -> {ref}: {rtype} is not one of {sorted(types)}")
            ctx.resolved.append(ctx.client.read_exact(ref))
        resolved.append(f"{path} ({min(len(refs), PER_PATH)})")
    if not resolved:
        raise Skip("no returned Encounter carries a must-support reference")
    message = "resolved: " + ", ".join(resolved)
    return message + (f"; absent: {', '.join(absent)}" if absent else "")
