"""How each type is exported is read from its table (facade/bulk/plan.py): pure, no server."""

from __future__ import annotations

from facade.bulk.plan import checkable, level_types, native_route, strategy
from facade.bulk.spec import _split_filters
from facade.engine.runtime import load_checked_mappings
from facade.search import SearchRequest, parse_query

MAPPINGS = load_checked_mappings()


def _table(rtype: str):  # type: ignore[no-untyped-def]
    table = MAPPINGS.table(rtype)
    assert table is not None
    return table


def test_strategies_follow_the_routes() -> None:
    plain = {t: strategy(_table(t), SearchRequest(t, ())) for t in MAPPINGS.tables}
    assert plain["Patient"] == "list"  # the practice's patient list
    assert plain["Location"] == plain["Slot"] == plain["Schedule"] == "list"
    assert plain["Encounter"] == plain["Condition"] == plain["Appointment"] == "patient"
    # a filter athena can answer for a whole practice turns a per-patient type into a list
    dated = parse_query("Appointment", [("date", "ge2025-01-01"), ("date", "lt2025-02-01")])
    assert strategy(_table("Appointment"), dated) == "list"
    # named patients: the compartment types are searched per patient, Patient by _id
    assert strategy(_table("Patient"), SearchRequest("Patient", ()), by_patient=True) == "patient"


def test_levels_and_native_sources_come_from_the_tables() -> None:
    system = level_types(MAPPINGS, "system")
    group = level_types(MAPPINGS, "group")
    # every table but Binary (read only) and Medication (athena finds them by _id only)
    searchable = set(MAPPINGS.tables) - {"Binary", "Medication"}
    assert set(system) == searchable
    assert set(group) == {
        t for t in searchable if MAPPINGS.tables[t].compartment or MAPPINGS.tables[t].shared
    }
    assert "Slot" in system and "Slot" not in group
    natives = {t for t in MAPPINGS.tables if native_route(_table(t)) is not None}
    assert natives == {
        "Patient", "Encounter", "Condition", "Provenance", "Practitioner", "Location", "Organization",
        # the US Core clinical types: athena's own FHIR resources, in its Group export too
        "AllergyIntolerance", "CarePlan", "CareTeam", "Device", "DiagnosticReport",
        "DocumentReference", "Goal", "Immunization", "Media", "Medication", "MedicationDispense",
        "MedicationRequest", "Observation", "Procedure", "QuestionnaireResponse", "RelatedPerson",
        "ServiceRequest", "Specimen",
    }  # fmt: skip
    assert checkable(_table("Encounter"), parse_query("Encounter", [("status", "finished")]))


def test_type_filters_split_on_commas_before_a_type() -> None:
    assert _split_filters(["Patient?gender=female,Patient?gender=male"]) == [
        "Patient?gender=female",
        "Patient?gender=male",
    ]
    assert _split_filters(["Encounter?status=finished,cancelled"]) == [
        "Encounter?status=finished,cancelled"
    ]
