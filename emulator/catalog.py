"""Scheduling and clinical reference tables (API-NOTES sections 1.4, 3.5, 3.6, 6.1, 6.2).

Appointment types 2, 8, 42, 82 and patient appointment reasons 541, 563, 761,
841, 902, 962 are the ids seen in the sandbox recordings; their names beyond
those the notes quote, durations and scheduling windows are [G]. The
diagnosis table pairs each SNOMED CT concept with its usual ICD-10-CM code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SNOMED_SYSTEM: Final = "http://snomed.info/sct"
ICD10_SYSTEM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
CPT_SYSTEM: Final = "http://www.ama-assn.org/go/cpt"
ACT_CODE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NULL_FLAVOR_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
DISCHARGE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/discharge-disposition"


@dataclass(frozen=True)
class AppointmentType:
    appointmenttypeid: int
    name: str
    shortname: str
    duration: int  # minutes
    patientdisplayname: str
    generic: bool
    patient: bool
    # The encounter type a visit of this kind gets (system, code, display) [G].
    visit_code: tuple[str, str, str]

    def v1(self) -> dict[str, object]:
        """``GET /appointmenttypes`` item; one type per field (newest fixtures)."""
        return {
            "appointmenttypeid": str(self.appointmenttypeid),
            "name": self.name,
            "shortname": self.shortname,
            "duration": self.duration,
            "patientdisplayname": self.patientdisplayname,
            "generic": self.generic,
            "patient": self.patient,
            "templatetypeonly": False,
        }


# fmt: off
APPOINTMENT_TYPES: Final[dict[int, AppointmentType]] = {
    t.appointmenttypeid: t
    for t in (
        AppointmentType(2, "Office Visit", "OV", 20, "Office Visit", True, True,
                        (CPT_SYSTEM, "99213", "Office or other outpatient visit, established patient, low complexity")),
        AppointmentType(8, "New Patient Appointment", "NP", 30, "New Patient Visit", False, True,
                        (CPT_SYSTEM, "99203", "Office or other outpatient visit, new patient, low complexity")),
        AppointmentType(42, "Established", "EST", 15, "Established Visit", False, True,
                        (CPT_SYSTEM, "99212", "Office or other outpatient visit, established patient, straightforward")),
        AppointmentType(82, "Any 15", "ANY15", 15, "Established Patient", True, True,
                        (SNOMED_SYSTEM, "185349003", "Encounter for check up")),
    )
}
# fmt: on


@dataclass(frozen=True)
class Reason:
    """A patient appointment reason (section 3.5) and the slot types it books."""

    reasonid: int
    reason: str
    description: str
    reasontype: str  # new | existing | all (section 6.2)
    schedulingminhours: int
    schedulingmaxdays: int
    appointmenttypeids: tuple[int, ...]
    providers: tuple[int, ...] | None  # None: every provider
    snomed: tuple[str, str]  # the visit reason athena keeps for FHIR reasonCode [G]

    def v1(self) -> dict[str, object]:
        return {
            "reasonid": self.reasonid,
            "reason": self.reason,
            "description": self.description,
            "reasontype": self.reasontype,
            "schedulingminhours": self.schedulingminhours,
            "schedulingmaxdays": self.schedulingmaxdays,
        }


# fmt: off
REASONS: Final[dict[int, Reason]] = {
    r.reasonid: r
    for r in (
        Reason(541, "New Patient Visit", "First visit with a new provider", "new", 24, 90, (8,), None,
               ("185349003", "Encounter for check up")),
        Reason(563, "Established Patient", "Visit for an existing patient", "existing", 24, 90, (82, 42), None,
               ("390906007", "Follow-up encounter")),
        Reason(761, "Annual Physical", "Yearly preventive exam", "all", 24, 90, (2,), None,
               ("185349003", "Encounter for check up")),
        Reason(841, "Sick Visit", "Same-week visit for an acute problem", "existing", 2, 14, (82, 42, 2), None,
               ("2704003", "Acute disease")),
        Reason(902, "Well Child", "Pediatric preventive visit", "all", 24, 90, (2, 82), (71,),
               ("410620009", "Well child visit")),
        Reason(962, "Follow-Up", "Follow-up on an ongoing problem", "existing", 48, 90, (42, 82), None,
               ("390906007", "Follow-up encounter")),
    )
}
# fmt: on


@dataclass(frozen=True)
class CancelReason:
    """``GET /appointmentcancelreasons`` entry [G: ids and names]."""

    appointmentcancelreasonid: int
    name: str
    noshow: bool
    slotavailable: bool


# athena quirk: an API cancel without a reason is recorded as "CANCELLED FROM API" (GO fixture).
API_CANCEL = CancelReason(0, "CANCELLED FROM API", False, True)
CANCEL_REASONS: Final[dict[int, CancelReason]] = {
    r.appointmentcancelreasonid: r
    for r in (
        CancelReason(1, "PATIENT CANCELLED", False, True),
        CancelReason(2, "PATIENT NO SHOW", True, False),
        CancelReason(3, "PROVIDER UNAVAILABLE", False, False),
        CancelReason(4, "SCHEDULING ERROR", False, True),
        CancelReason(5, "RESCHEDULED", False, True),
    )
}


@dataclass(frozen=True)
class Diagnosis:
    """One row of the diagnosis table: SNOMED CT concept with its ICD-10-CM code."""

    snomed: str
    icd10: str
    description: str
    icd10_description: str
    chronic: bool  # chronic problems stay active; acute ones resolve


# fmt: off
DIAGNOSES: Final[dict[str, Diagnosis]] = {
    d.snomed: d
    for d in (
        Diagnosis("38341003", "I10", "Hypertensive disorder", "Essential (primary) hypertension", True),
        Diagnosis("44054006", "E11.9", "Diabetes mellitus type 2", "Type 2 diabetes mellitus without complications", True),
        Diagnosis("55822004", "E78.5", "Hyperlipidemia", "Hyperlipidemia, unspecified", True),
        Diagnosis("54150009", "J06.9", "Upper respiratory infection", "Acute upper respiratory infection, unspecified", False),
        Diagnosis("279039007", "M54.50", "Low back pain", "Low back pain, unspecified", False),
        Diagnosis("197480006", "F41.9", "Anxiety disorder", "Anxiety disorder, unspecified", True),
        Diagnosis("185349003", "Z00.00", "Encounter for check up", "Encounter for general adult medical examination without abnormal findings", False),
        Diagnosis("195967001", "J45.909", "Asthma", "Unspecified asthma, uncomplicated", True),
        Diagnosis("35489007", "F32.A", "Depressive disorder", "Depression, unspecified", True),
        Diagnosis("68566005", "N39.0", "Urinary tract infectious disease", "Urinary tract infection, site not specified", False),
        Diagnosis("43878008", "J02.0", "Streptococcal sore throat", "Streptococcal pharyngitis", False),
        Diagnosis("40930008", "E03.9", "Hypothyroidism", "Hypothyroidism, unspecified", True),
    )
}
# fmt: on

# Encounter classes (v3 ActCode): athena keeps an encounter "mode" [G].
ENCOUNTER_CLASSES: Final[dict[str, str]] = {
    "AMB": "ambulatory",
    "VR": "virtual",
    "HH": "home health",
}

# athena encounter stage -> /v1 patientstatus (section 6.2) [G beyond READYFORSTAFF].
PATIENT_STATUS: Final[dict[str, tuple[str, int]]] = {
    "INTAKE": ("Ready For Staff", 1),
    "EXAM": ("With Provider", 3),
    "CHECKOUT": ("Checked Out", 5),
    "SIGNOFF": ("Checked Out", 5),
}


def verhoeff_valid(digits: str) -> bool:
    """SNOMED CT identifiers end in a Verhoeff check digit."""
    table_d = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ]
    table_p = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ]
    check = 0
    for position, char in enumerate(reversed(digits)):
        check = table_d[check][table_p[position % 8][int(char)]]
    return check == 0


def snomed_concept_valid(code: str) -> bool:
    """A syntactically valid SNOMED CT concept id: 6-18 digits, concept partition, check digit."""
    code = code.strip()
    if not code.isdigit() or not 6 <= len(code) <= 18 or code.startswith("0"):
        return False
    # partition identifier: "00" (short concept) or "10" (extension concept)
    return code[-3:-1] in {"00", "10"} and verhoeff_valid(code)
