"""Bounded views of FHIR resources for a model: ids, references and the few fields it needs.

Every tool answers structured content built here plus a short text (one line per
item). The views are plain dicts without empty values; a full resource is only
given by ``fhir_read`` (and ``fhir_search`` when asked).

>>> patient_row({"resourceType": "Patient", "id": "a-1.E-2", "name": [{"family": "Doe", "given": ["Jo"]}]})
{'id': 'a-1.E-2', 'reference': 'Patient/a-1.E-2', 'name': 'Jo Doe'}
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


def compact(row: Json) -> Json:
    """Drop empty values (None, "", [], {}) so a view carries only what is known."""
    return {k: v for k, v in row.items() if v not in (None, "", [], {})}


def reference(resource: Json) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def human_name(names: Any) -> str | None:
    """The official (else first) HumanName as "Given Family"."""
    if not isinstance(names, list) or not names:
        return None
    name = next((n for n in names if n.get("use") == "official"), names[0])
    if name.get("text"):
        return str(name["text"])
    parts = [*name.get("given", []), name.get("family", "")]
    return " ".join(str(p) for p in parts if p) or None


def concept(value: Any) -> Json | None:
    """A CodeableConcept (or Coding) as {text, code, system}: the first coding and a label."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, dict):
        return None
    codings = value.get("coding") or ([value] if "code" in value else [])
    first = codings[0] if codings else {}
    text = value.get("text") or first.get("display")
    return compact({"text": text, "code": first.get("code"), "system": first.get("system")}) or None


def label(value: Any) -> str:
    found = concept(value) or {}
    return str(found.get("text") or found.get("code") or "")


def ref(value: Any) -> str | None:
    return str(value["reference"]) if isinstance(value, dict) and value.get("reference") else None


def _actor(resource: Json, kind: str) -> str | None:
    for participant in resource.get("participant") or []:
        found = ref(participant.get("actor"))
        if found and found.startswith(f"{kind}/"):
            return found
    return None


def patient_row(patient: Json) -> Json:
    identifiers = [
        compact({"system": i.get("system"), "value": i.get("value")})
        for i in (patient.get("identifier") or [])[:3]
    ]
    address = (patient.get("address") or [{}])[0]
    phones = [t.get("value") for t in patient.get("telecom") or [] if t.get("system") == "phone"]
    return compact(
        {
            "id": patient.get("id"),
            "reference": reference(patient),
            "name": human_name(patient.get("name")),
            "birthDate": patient.get("birthDate"),
            "gender": patient.get("gender"),
            "deceased": patient.get("deceasedDateTime") or patient.get("deceasedBoolean"),
            "identifiers": identifiers,
            "phone": phones[0] if phones else None,
            "city": ", ".join(p for p in (address.get("city"), address.get("state")) if p),
        }
    )


def patient_line(row: Json) -> str:
    born = f", born {row['birthDate']}" if row.get("birthDate") else ""
    return f"{row.get('name') or 'Unnamed'} ({row['id']}{born})"


def appointment_row(appointment: Json) -> Json:
    return compact(
        {
            "id": appointment.get("id"),
            "reference": reference(appointment),
            "status": appointment.get("status"),
            "start": appointment.get("start"),
            "end": appointment.get("end"),
            "minutes": appointment.get("minutesDuration"),
            "patient": _actor(appointment, "Patient"),
            "practitioner": _actor(appointment, "Practitioner"),
            "location": _actor(appointment, "Location"),
            "visit_type": concept(appointment.get("appointmentType")),
            "reason": concept(appointment.get("serviceType")),
            "slot": ref((appointment.get("slot") or [None])[0]),
            "cancelation_reason": label(appointment.get("cancelationReason")) or None,
            "comment": appointment.get("comment"),
        }
    )


def appointment_line(row: Json) -> str:
    kind = (row.get("visit_type") or {}).get("text", "")
    where = f" at {row['location']}" if row.get("location") else ""
    return f"{row.get('start', '?')} {row.get('status', '')} {kind}{where} ({row['id']})".replace(
        "  ", " "
    )


def proposal_row(proposal: Json) -> Json:
    """An ``Appointment/$find`` proposal: what ``book_appointment`` takes, and when/who/where."""
    return compact(
        {
            "appointment_id": proposal.get("id"),
            "slot": ref((proposal.get("slot") or [None])[0]),
            "start": proposal.get("start"),
            "end": proposal.get("end"),
            "practitioner": _actor(proposal, "Practitioner"),
            "location": _actor(proposal, "Location"),
            "visit_type": concept(proposal.get("appointmentType")),
        }
    )


def proposal_line(row: Json) -> str:
    kind = (row.get("visit_type") or {}).get("text", "")
    who = row.get("practitioner_name") or row.get("practitioner", "")
    where = row.get("location_name") or row.get("location", "")
    return f"{row.get('start')} {kind} with {who} at {where} ({row['appointment_id']})"


def condition_row(condition: Json) -> Json:
    return compact(
        {
            "id": condition.get("id"),
            "reference": reference(condition),
            "code": concept(condition.get("code")),
            "clinical_status": label(condition.get("clinicalStatus")) or None,
            "onset": condition.get("onsetDateTime"),
            "recorded": condition.get("recordedDate"),
            "encounter": ref(condition.get("encounter")),
        }
    )


def encounter_row(encounter: Json) -> Json:
    period = encounter.get("period") or {}
    practitioner = next(
        (p.get("individual") for p in encounter.get("participant") or [] if p.get("individual")),
        None,
    )
    location = next(
        (loc.get("location") for loc in encounter.get("location") or [] if loc.get("location")),
        None,
    )
    return compact(
        {
            "id": encounter.get("id"),
            "reference": reference(encounter),
            "status": encounter.get("status"),
            "class": (encounter.get("class") or {}).get("code"),
            "type": concept(encounter.get("type")),
            "start": period.get("start"),
            "end": period.get("end"),
            "patient": ref(encounter.get("subject")),
            "practitioner": ref(practitioner),
            "practitioner_name": (practitioner or {}).get("display"),
            "location": ref(location),
            "location_name": (location or {}).get("display"),
            "reason": concept(encounter.get("reasonCode")),
            "appointment": ref((encounter.get("appointment") or [None])[0]),
        }
    )


def encounter_line(row: Json) -> str:
    kind = (row.get("type") or {}).get("text", "visit")
    who = f" with {row['practitioner_name']}" if row.get("practitioner_name") else ""
    diagnoses = row.get("diagnoses") or []
    dx = "; ".join(str((d.get("code") or {}).get("text", d.get("id"))) for d in diagnoses)
    return f"{row.get('start', '?')} {kind}{who} ({row['id']})" + (f": {dx}" if dx else "")


def resource_row(resource: Json) -> Json:
    """Any type: id, reference and its commonly useful top-level elements, summarised."""
    specific = {
        "Patient": patient_row,
        "Appointment": appointment_row,
        "Encounter": encounter_row,
        "Condition": condition_row,
    }.get(str(resource.get("resourceType")))
    if specific is not None:
        return specific(resource)
    row: Json = {"id": resource.get("id"), "reference": reference(resource)}
    for name in ("status", "active", "start", "end", "birthDate", "gender"):
        row[name] = resource.get(name)
    row["name"] = (
        human_name(resource.get("name"))
        if isinstance(resource.get("name"), list)
        else resource.get("name")
    )
    for name in ("code", "type", "specialty", "serviceType", "category"):
        row[name] = concept(resource.get(name))
    for name in ("subject", "patient", "practitioner", "location", "organization", "schedule"):
        value = resource.get(name)
        row[name] = ref(value[0] if isinstance(value, list) and value else value)
    actors = [ref(a) for a in resource.get("actor") or []]
    row["actors"] = [a for a in actors if a]
    return compact(row)


def resource_line(row: Json) -> str:
    detail = row.get("name") or (row.get("code") or row.get("type") or {}).get("text") or ""
    extra = " ".join(str(row[k]) for k in ("status", "start") if row.get(k))
    return " ".join(p for p in (row["reference"], str(detail), extra) if p)


def without_narrative(resource: Json) -> Json:
    """A resource for a model: ``meta`` and the XHTML ``text.div`` left out (size, markup)."""
    out = {k: v for k, v in resource.items() if k != "meta"}
    text = out.get("text")
    if isinstance(text, dict) and "div" in text:
        out.pop("text")
    return out
