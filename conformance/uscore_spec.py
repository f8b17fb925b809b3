"""What the US Core 6.1 groups search for, as Inferno's US Core test kit does.

- :data:`GROUPS`: one per profile of a clinical type, with the first search Inferno runs
  (patient plus the profile's category or code).
- :data:`PARAMS`: each search parameter's type and the elements it matches (from the US
  Core 6.1.0 SearchParameters' expressions), for judging every returned resource.
- :data:`COMBINATIONS`: the server CapabilityStatement's search combinations per type,
  with their expectation (``SHALL`` / ``SHOULD``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Group:
    name: str
    resource: str
    profile: str  # StructureDefinition id, e.g. us-core-observation-lab
    first: dict[str, str] = field(default_factory=dict)  # beside patient

    @property
    def key(self) -> str:
        return self.profile


def _obs(name: str, profile: str, **first: str) -> Group:
    return Group(name, "Observation", profile, first)


VITALS_CATEGORY = "vital-signs"
GROUPS: list[Group] = [
    Group("AllergyIntolerance", "AllergyIntolerance", "us-core-allergyintolerance"),
    Group("CarePlan", "CarePlan", "us-core-careplan", {"category": "assess-plan"}),
    Group("CareTeam", "CareTeam", "us-core-careteam",
          {"status": "proposed,active,suspended,inactive,entered-in-error"}),
    Group("Condition Encounter Diagnosis", "Condition", "us-core-condition-encounter-diagnosis",
          {"category": "encounter-diagnosis"}),
    Group("Condition Problems and Health Concerns", "Condition",
          "us-core-condition-problems-health-concerns", {"category": "problem-list-item,health-concern"}),
    Group("Implantable Device", "Device", "us-core-implantable-device"),
    Group("DiagnosticReport Lab", "DiagnosticReport", "us-core-diagnosticreport-lab", {"category": "LAB"}),
    Group("DiagnosticReport Note", "DiagnosticReport", "us-core-diagnosticreport-note",
          {"category": "LP29684-5,LP29708-2,LP7839-6"}),
    Group("DocumentReference", "DocumentReference", "us-core-documentreference"),
    Group("Goal", "Goal", "us-core-goal"),
    Group("Immunization", "Immunization", "us-core-immunization"),
    Group("MedicationDispense", "MedicationDispense", "us-core-medicationdispense"),
    Group("MedicationRequest", "MedicationRequest", "us-core-medicationrequest",
          {"intent": "proposal,plan,order,original-order,reflex-order,filler-order,instance-order,option"}),
    _obs("Observation Lab", "us-core-observation-lab", category="laboratory"),
    _obs("Observation Clinical Result", "us-core-observation-clinical-result",
         category="procedure,imaging,exam,therapy,activity"),
    _obs("Blood Pressure", "us-core-blood-pressure", code="85354-9"),
    _obs("BMI", "us-core-bmi", code="39156-5"),
    _obs("Body Height", "us-core-body-height", code="8302-2"),
    _obs("Body Temperature", "us-core-body-temperature", code="8310-5"),
    _obs("Body Weight", "us-core-body-weight", code="29463-7"),
    _obs("Head Circumference", "us-core-head-circumference", code="9843-4"),
    _obs("Heart Rate", "us-core-heart-rate", code="8867-4"),
    _obs("Pulse Oximetry", "us-core-pulse-oximetry", code="59408-5"),
    _obs("Respiratory Rate", "us-core-respiratory-rate", code="9279-1"),
    _obs("Pediatric BMI for Age", "pediatric-bmi-for-age", code="59576-9"),
    _obs("Pediatric Weight for Height", "pediatric-weight-for-height", code="77606-2"),
    _obs("Head Occipital-frontal Circumference Percentile",
         "head-occipital-frontal-circumference-percentile", code="8289-1"),
    _obs("Smoking Status", "us-core-smokingstatus", code="72166-2"),
    _obs("Pregnancy Status", "us-core-observation-pregnancystatus", code="82810-3"),
    _obs("Pregnancy Intent", "us-core-observation-pregnancyintent", code="86645-9"),
    _obs("Occupation", "us-core-observation-occupation", code="11341-5"),
    _obs("Sexual Orientation", "us-core-observation-sexual-orientation", code="76690-7"),
    _obs("Screening Assessment", "us-core-observation-screening-assessment", category="survey"),
    _obs("Simple Observation", "us-core-simple-observation",
         category="sdoh,functional-status,disability-status,cognitive-status"),
    Group("Procedure", "Procedure", "us-core-procedure"),
    Group("QuestionnaireResponse", "QuestionnaireResponse", "us-core-questionnaireresponse"),
    Group("RelatedPerson", "RelatedPerson", "us-core-relatedperson"),
    Group("ServiceRequest", "ServiceRequest", "us-core-servicerequest"),
    Group("Specimen", "Specimen", "us-core-specimen"),
]  # fmt: skip

_SUBJECT = ("subject",)
_PATIENT = ("patient",)
# (type, parameter) -> (parameter type, element paths); "[x]" paths list each choice used
PARAMS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("AllergyIntolerance", "patient"): ("reference", _PATIENT),
    ("AllergyIntolerance", "clinical-status"): ("token", ("clinicalStatus",)),
    ("CarePlan", "patient"): ("reference", _SUBJECT),
    ("CarePlan", "category"): ("token", ("category",)),
    ("CarePlan", "status"): ("token", ("status",)),
    ("CarePlan", "date"): ("date", ("period",)),
    ("CareTeam", "patient"): ("reference", _SUBJECT),
    ("CareTeam", "status"): ("token", ("status",)),
    ("CareTeam", "role"): ("token", ("participant.role",)),
    ("Condition", "patient"): ("reference", _SUBJECT),
    ("Condition", "category"): ("token", ("category",)),
    ("Condition", "clinical-status"): ("token", ("clinicalStatus",)),
    ("Condition", "code"): ("token", ("code",)),
    ("Condition", "encounter"): ("reference", ("encounter",)),
    ("Condition", "onset-date"): ("date", ("onsetDateTime", "onsetPeriod")),
    ("Condition", "abatement-date"): ("date", ("abatementDateTime", "abatementPeriod")),
    ("Condition", "recorded-date"): ("date", ("recordedDate",)),
    ("Condition", "asserted-date"): ("date", ("extension(http://hl7.org/fhir/StructureDefinition/condition-assertedDate).valueDateTime",)),
    ("Device", "patient"): ("reference", _PATIENT),
    ("Device", "type"): ("token", ("type",)),
    ("Device", "status"): ("token", ("status",)),
    ("DiagnosticReport", "patient"): ("reference", _SUBJECT),
    ("DiagnosticReport", "category"): ("token", ("category",)),
    ("DiagnosticReport", "code"): ("token", ("code",)),
    ("DiagnosticReport", "status"): ("token", ("status",)),
    ("DiagnosticReport", "date"): ("date", ("effectiveDateTime", "effectivePeriod")),
    ("DocumentReference", "patient"): ("reference", _SUBJECT),
    ("DocumentReference", "_id"): ("token", ("id",)),
    ("DocumentReference", "category"): ("token", ("category",)),
    ("DocumentReference", "type"): ("token", ("type",)),
    ("DocumentReference", "status"): ("token", ("status",)),
    ("DocumentReference", "date"): ("date", ("date",)),
    ("DocumentReference", "period"): ("date", ("context.period",)),
    ("Goal", "patient"): ("reference", _SUBJECT),
    ("Goal", "lifecycle-status"): ("token", ("lifecycleStatus",)),
    ("Goal", "description"): ("token", ("description",)),
    ("Goal", "target-date"): ("date", ("target.dueDate",)),
    ("Immunization", "patient"): ("reference", _PATIENT),
    ("Immunization", "status"): ("token", ("status",)),
    ("Immunization", "date"): ("date", ("occurrenceDateTime",)),
    ("MedicationDispense", "patient"): ("reference", _SUBJECT),
    ("MedicationDispense", "status"): ("token", ("status",)),
    ("MedicationDispense", "type"): ("token", ("type",)),
    ("MedicationRequest", "patient"): ("reference", _SUBJECT),
    ("MedicationRequest", "intent"): ("token", ("intent",)),
    ("MedicationRequest", "status"): ("token", ("status",)),
    ("MedicationRequest", "encounter"): ("reference", ("encounter",)),
    ("MedicationRequest", "authoredon"): ("date", ("authoredOn",)),
    ("Observation", "patient"): ("reference", _SUBJECT),
    ("Observation", "category"): ("token", ("category",)),
    ("Observation", "code"): ("token", ("code",)),
    ("Observation", "status"): ("token", ("status",)),
    ("Observation", "date"): ("date", ("effectiveDateTime", "effectivePeriod", "effectiveInstant")),
    ("Procedure", "patient"): ("reference", _SUBJECT),
    ("Procedure", "status"): ("token", ("status",)),
    ("Procedure", "code"): ("token", ("code",)),
    ("Procedure", "date"): ("date", ("performedDateTime", "performedPeriod")),
    ("QuestionnaireResponse", "patient"): ("reference", _SUBJECT),
    ("QuestionnaireResponse", "_id"): ("token", ("id",)),
    ("QuestionnaireResponse", "status"): ("token", ("status",)),
    ("QuestionnaireResponse", "authored"): ("date", ("authored",)),
    ("RelatedPerson", "patient"): ("reference", _PATIENT),
    ("RelatedPerson", "_id"): ("token", ("id",)),
    ("RelatedPerson", "name"): ("string", ("name.family", "name.given", "name.text")),
    ("ServiceRequest", "patient"): ("reference", _SUBJECT),
    ("ServiceRequest", "_id"): ("token", ("id",)),
    ("ServiceRequest", "status"): ("token", ("status",)),
    ("ServiceRequest", "category"): ("token", ("category",)),
    ("ServiceRequest", "code"): ("token", ("code",)),
    ("ServiceRequest", "authored"): ("date", ("authoredOn",)),
    ("Specimen", "patient"): ("reference", _SUBJECT),
    ("Specimen", "_id"): ("token", ("id",)),
}  # fmt: skip

# US Core 6.1.0 server CapabilityStatement: rest.resource.extension[search-parameter-combination]
COMBINATIONS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "AllergyIntolerance": [("SHOULD", ("patient", "clinical-status"))],
    "CarePlan": [("SHOULD", ("patient", "category", "status")),
                 ("SHOULD", ("patient", "category", "status", "date")),
                 ("SHALL", ("patient", "category")), ("SHOULD", ("patient", "category", "date"))],
    "CareTeam": [("SHALL", ("patient", "status")), ("SHOULD", ("patient", "role"))],
    "Condition": [("SHOULD", ("patient", "recorded-date")), ("SHOULD", ("patient", "asserted-date")),
                  ("SHOULD", ("patient", "category", "clinical-status")), ("SHOULD", ("patient", "onset-date")),
                  ("SHOULD", ("patient", "abatement-date")), ("SHOULD", ("patient", "clinical-status")),
                  ("SHOULD", ("patient", "category", "encounter")), ("SHOULD", ("patient", "code")),
                  ("SHALL", ("patient", "category"))],
    "Device": [("SHOULD", ("patient", "type")), ("SHOULD", ("patient", "status"))],
    "DiagnosticReport": [("SHOULD", ("patient", "code", "date")), ("SHOULD", ("patient", "status")),
                         ("SHALL", ("patient", "category", "date")), ("SHALL", ("patient", "category")),
                         ("SHALL", ("patient", "code"))],
    "DocumentReference": [("SHALL", ("patient", "type")), ("SHOULD", ("patient", "status")),
                          ("SHOULD", ("patient", "type", "period")), ("SHALL", ("patient", "category", "date")),
                          ("SHALL", ("patient", "category")), ("SHALL", ("_id",))],
    "Goal": [("SHOULD", ("patient", "target-date")), ("SHOULD", ("patient", "description")),
             ("SHOULD", ("patient", "lifecycle-status"))],
    "Immunization": [("SHOULD", ("patient", "date")), ("SHOULD", ("patient", "status"))],
    "MedicationDispense": [("SHOULD", ("patient", "status", "type")), ("SHOULD", ("patient", "status"))],
    "MedicationRequest": [("SHOULD", ("patient", "intent", "encounter")), ("SHALL", ("patient", "intent", "status")),
                          ("SHOULD", ("patient", "intent", "authoredon")), ("SHALL", ("patient", "intent"))],
    "Observation": [("SHOULD", ("patient", "code", "date")), ("SHOULD", ("patient", "category", "status")),
                    ("SHALL", ("patient", "category", "date")), ("SHALL", ("patient", "category")),
                    ("SHALL", ("patient", "code"))],
    "Procedure": [("SHOULD", ("patient", "code", "date")), ("SHOULD", ("patient", "status")),
                  ("SHALL", ("patient", "date"))],
    "QuestionnaireResponse": [("SHOULD", ("patient", "authored")), ("SHOULD", ("patient", "status")),
                              ("SHALL", ("_id",))],
    "RelatedPerson": [("SHOULD", ("patient", "name")), ("SHALL", ("_id",))],
    "ServiceRequest": [("SHALL", ("patient", "category", "authored")), ("SHOULD", ("patient", "status")),
                       ("SHALL", ("patient", "category")), ("SHOULD", ("patient", "code", "authored")),
                       ("SHALL", ("patient", "code")), ("SHALL", ("_id",))],
    "Specimen": [("SHALL", ("_id",))],
}  # fmt: skip

# SHALL _include (server CapabilityStatement searchInclude): name, element, target type
INCLUDES: dict[str, tuple[str, str, str]] = {
    "MedicationRequest": ("MedicationRequest:medication", "medicationReference", "Medication"),
    "MedicationDispense": ("MedicationDispense:medication", "medicationReference", "Medication"),
}
# searchRevInclude Provenance:target (every type above but Specimen)
REVINCLUDE = {g.resource for g in GROUPS} - {"Specimen"}
# Inferno's Clinical Notes group: the note types and report categories a server SHALL have
NOTE_TYPES = {"11488-4", "18842-5", "34117-2", "28570-0", "11506-3"}
REPORT_CATEGORIES = {"LP29684-5", "LP29708-2", "LP7839-6"}
