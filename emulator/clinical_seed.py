"""Deterministic clinical records for athena's FHIR clinical resources (US Core 6.1.0).

Built once per world from the seeded patients and encounters (never the clock): every
sandbox patient (60178-60184) gets a chart covering every US Core 6.1.0 profile athena's
FHIR API serves, with real LOINC / SNOMED CT / RxNorm / CVX codes and UCUM units, and
between them every must-support element; the first generated patient under 18 gets the
pediatric vital signs. Missing facts are marked with ``data-absent-reason`` as athena's
FHIR API does (a pending lab result, a temperature not taken).

Links are real: lab Observations name their Specimen and are the results of a lab
DiagnosticReport based on a ServiceRequest; a clinical note is a DocumentReference
whose attachment is a Binary; the SDOH screening Observation derives from its
QuestionnaireResponse; a MedicationDispense names the MedicationRequest it fills and
both name a (shared) Medication.

[G] Which records athena's sandbox charts hold is unpublished; these are plausible
ambulatory charts. [G] Binary ``securityContext`` names the patient (athena's choice of
security proxy is unknown).
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from emulator.catalog import CPT_SYSTEM, DIAGNOSES, ICD10_SYSTEM, SNOMED_SYSTEM
from emulator.fhir_clinical import ClinicalStore
from emulator.fhir_patient import US_CORE

if TYPE_CHECKING:
    from emulator.visits import EncounterRecord
    from emulator.world import World

Json = dict[str, Any]
PRACTICE = "195900"
SANDBOX = range(60178, 60185)
FIRST_ID = 700_000
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
US_CORE_CAT = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
DAR = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
DAR_EXTENSION = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ATHENA_FHIR = "https://api.preview.platform.athenahealth.com/fhir/r4"
XHTML = "http://www.w3.org/1999/xhtml"
# a 1x1 grey PNG (report key images)
TINY_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
)


def cc(system: str, code: str, display: str, text: str | None = None) -> Json:
    out: Json = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        out["text"] = text
    return out


def qty(value: float, unit: str, code: str | None = None) -> Json:
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}


def ref(rtype: str, ident: str, display: str | None = None) -> Json:
    out: Json = {"reference": f"{rtype}/{ident}"}
    if display:
        out["display"] = display
    return out


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


VITAL_CAT = cc(OBS_CAT, "vital-signs", "Vital Signs")
LAB_CAT = cc(OBS_CAT, "laboratory", "Laboratory")
SOCIAL_CAT = cc(OBS_CAT, "social-history", "Social History")
SURVEY_CAT = cc(OBS_CAT, "survey", "Survey")
SDOH_CAT = cc(US_CORE_CAT, "sdoh", "SDOH")
PROCEDURE_CAT = cc(OBS_CAT, "procedure", "Procedure")

# (key, profile, LOINC code, display, UCUM unit, UCUM code, low, high)
VITALS = [
    ("heart-rate", "us-core-heart-rate", "8867-4", "Heart rate", "/min", "/min", 58, 92),
    ("respiratory-rate", "us-core-respiratory-rate", "9279-1", "Respiratory rate", "/min", "/min", 12, 20),
    ("body-temperature", "us-core-body-temperature", "8310-5", "Body temperature", "Cel", "Cel", 36.2, 37.4),
    ("body-weight", "us-core-body-weight", "29463-7", "Body weight", "kg", "kg", 52, 104),
    ("body-height", "us-core-body-height", "8302-2", "Body height", "cm", "cm", 152, 190),
]  # fmt: skip
PEDIATRIC = [
    ("head-circumference", "us-core-head-circumference", "9843-4", "Head Occipital-frontal circumference", "cm", "cm", 52, 56),
    ("bmi-for-age", "pediatric-bmi-for-age", "59576-9", "Body mass index (BMI) [Percentile] Per age and sex", "%", "%", 20, 80),
    ("weight-for-height", "pediatric-weight-for-height", "77606-2", "Weight-for-length Per age and sex", "%", "%", 20, 80),
    ("head-percentile", "head-occipital-frontal-circumference-percentile", "8289-1", "Head Occipital-frontal circumference Percentile", "%", "%", 20, 80),
]  # fmt: skip
# (LOINC, display, UCUM unit, low, high, reference low, reference high)
LIPIDS = [
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 150, 260, 0, 200),
    ("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", 35, 75, 40, 200),
    ("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "mg/dL", 70, 170, 0, 130),
]  # fmt: skip
MEDICATIONS = [
    ("197361", "amlodipine 5 MG Oral Tablet"),
    ("861007", "metformin hydrochloride 500 MG Oral Tablet"),
    ("617310", "atorvastatin 20 MG Oral Tablet"),
    ("314076", "lisinopril 10 MG Oral Tablet"),
]
SMOKING = [
    ("266919005", "Never smoked tobacco"),
    ("8517006", "Ex-smoker"),
    ("77176002", "Smoker"),
]
ORIENTATION = [("20430005", "Heterosexual"), ("38628009", "Homosexual"), ("42035005", "Bisexual")]
OCCUPATIONS = [  # [G] ODH occupation / industry codes (CDC census 2010 based)
    ("15-1252.00.000000", "Software developers", "5415", "Computer systems design and related services"),
    ("29-1141.00.000000", "Registered nurses", "8190", "Hospitals"),
    ("25-2021.00.000000", "Elementary school teachers", "7860", "Elementary and secondary schools"),
]  # fmt: skip
NOTE_TYPES = [
    ("11506-3", "Progress note"),
    ("34117-2", "History and physical note"),
    ("18842-5", "Discharge summary"),
    ("28570-0", "Procedure note"),
]


class Chart:
    """One practice's clinical records as they are built (ids in creation order)."""

    def __init__(self, world: World, store: ClinicalStore, practiceid: str) -> None:
        self.world, self.store, self.pid = world, store, practiceid
        self.next = FIRST_ID
        self.medications: dict[str, str] = {}

    def new_id(self, prefix: str) -> str:
        self.next += 1
        return f"a-{self.pid}.{prefix}-{self.next}"

    def add(self, resource: Json, profile: str | None, updated: datetime) -> Json:
        meta: Json = {"lastUpdated": stamp(updated)}
        if profile:
            meta["profile"] = [f"{US_CORE}/{profile}"]
        resource = {"resourceType": resource.pop("resourceType"), "id": resource.pop("id"),
                    "meta": meta, **resource}  # fmt: skip
        self.store.add(self.pid, resource)
        return resource

    def medication(self, rxnorm: str, name: str, at: datetime) -> str:
        if rxnorm not in self.medications:
            ident = self.new_id("Medication")
            self.add({"resourceType": "Medication", "id": ident,
                      "code": cc(RXNORM, rxnorm, name, name)}, "us-core-medication", at)  # fmt: skip
            self.medications[rxnorm] = ident
        return self.medications[rxnorm]


def _past_encounters(world: World, pid: str, patientid: int) -> list[EncounterRecord]:
    found = [
        e
        for e in world.schedule.all_encounters(pid)
        if e.patientid == patientid and e.start is not None and e.encounterdate < world.today
    ]
    return sorted(found, key=lambda e: (e.encounterdate, e.encounterid))


def _age(dob: date, today: date) -> int:
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


def build_clinical(world: World) -> ClinicalStore:
    store = ClinicalStore(world.lock)
    chart = Chart(world, store, PRACTICE)
    for patientid in SANDBOX:
        record = world.patient(PRACTICE, patientid)
        if record is None:
            continue
        encounters = _past_encounters(world, PRACTICE, patientid)
        if encounters:
            _patient_chart(chart, record, encounters)
    child = next((p for p in world.live_patients(PRACTICE) if _is_child(p, world.today)), None)
    if child is not None:
        _pediatric(chart, child.patientid, world.today - timedelta(days=30))
    return store


def _is_child(record: Any, today: date) -> bool:
    dob = _dob(record)
    return dob is not None and 2 <= _age(dob, today) < 18


def _dob(record: Any) -> date | None:
    text = record.fields.get("dob")
    if not isinstance(text, str) or len(text) != 10:
        return None
    month, day, year = text.split("/")
    return date(int(year), int(month), int(day))


class PatientChart:
    """The records of one patient, sharing the chart's ids and medications."""

    def __init__(self, chart: Chart, patientid: int, rng: random.Random) -> None:
        self.chart, self.rng = chart, rng
        self.patient = f"a-{chart.pid}.E-{patientid}"
        self.subject = ref("Patient", self.patient)
        self.provider = ref("Practitioner", f"a-{chart.pid}.Provider-23", "Jane Doe")
        self.practice = ref("Organization", f"a-1.Practice-{chart.pid}")

    def obs(
        self,
        profile: str,
        categories: list[Json],
        code: Json,
        at: datetime,
        *,
        encounter: str | None = None,
        **elements: Any,
    ) -> Json:
        ident = self.chart.new_id("Observation")
        resource: Json = {"resourceType": "Observation", "id": ident, "status": "final",
                          "category": categories, "code": code, "subject": self.subject}  # fmt: skip
        if encounter:
            resource["encounter"] = ref("Encounter", encounter)
        if "effectivePeriod" not in elements:
            resource["effectiveDateTime"] = local(at)
        resource.update(elements)
        return self.chart.add(resource, profile, at + timedelta(minutes=5))

    def value(self, low: float, high: float) -> float:
        number = self.rng.uniform(low, high)
        return round(number, 1) if high - low < 10 else float(round(number))


def _encounter_id(encounter: EncounterRecord) -> str:
    return f"a-{encounter.practiceid}.encounter-{encounter.encounterid}"


def _patient_chart(chart: Chart, record: Any, encounters: list[EncounterRecord]) -> None:
    patientid = record.patientid
    p = PatientChart(chart, patientid, random.Random(patientid))
    female = record.fields.get("sex") == "F"
    dob = _dob(record) or date(1980, 1, 1)
    latest = encounters[-1]
    assert latest.start is not None
    at = latest.start
    for encounter in encounters[-2:]:
        _vitals(p, encounter, missing_temperature=patientid == 60184 and encounter is latest)
    if patientid == 60184:  # vitals not taken at the first visit: data-absent-reason
        _vitals(p, encounters[0], missing_temperature=True, missing=True)
    if patientid == 60183:  # growth-chart data from her childhood record [G]
        _pediatric(chart, patientid, date(1991, 6, 3))
    specimen, request, lab_results = _labs(p, latest, pending=patientid in (60178, 60181))
    _lab_report(p, latest, specimen, request, lab_results)
    _social(p, latest, female=female, age=_age(dob, chart.world.today))
    _allergies(p, at, none_known=patientid == 60184)
    _problems(p, latest, patientid)
    _medications(p, latest, patientid)
    _immunizations(p, latest)
    _procedures(p, latest)
    _notes(p, latest, patientid)
    _reports(p, latest, patientid)
    _plans(p, latest, patientid)
    if patientid in (60181, 60182):
        _device(p, at, patientid)
    if patientid in (60178, 60181, 60182):
        _related_person(p, at, patientid)


def _vitals(
    p: PatientChart, encounter: EncounterRecord, *, missing_temperature: bool, missing: bool = False
) -> None:
    """One visit's vital signs; ``missing``: none was taken (each with data-absent-reason)."""
    assert encounter.start is not None
    at = encounter.start + timedelta(minutes=10)
    enc = _encounter_id(encounter)
    if missing:
        _missing_vitals(p, at, enc)
        return
    systolic, diastolic = p.value(108, 148), p.value(66, 92)
    p.obs("us-core-blood-pressure", [VITAL_CAT], cc(LOINC, "85354-9", "Blood pressure panel with all children optional", "Blood pressure"), at,
          encounter=enc, component=[
              {"code": cc(LOINC, "8480-6", "Systolic blood pressure"), "valueQuantity": qty(systolic, "mm[Hg]")},
              {"code": cc(LOINC, "8462-4", "Diastolic blood pressure"), "valueQuantity": qty(diastolic, "mm[Hg]")},
          ])  # fmt: skip
    weight = height = 0.0
    for key, profile, code, display, unit, ucum, low, high in VITALS:
        number = p.value(low, high)
        weight = number if key == "body-weight" else weight
        height = number if key == "body-height" else height
        if key == "body-temperature" and missing_temperature:
            p.obs(profile, [VITAL_CAT], cc(LOINC, code, display, display), at, encounter=enc,
                  dataAbsentReason=cc(DAR, "unknown", "Unknown"))  # fmt: skip
            continue
        p.obs(profile, [VITAL_CAT], cc(LOINC, code, display, display), at, encounter=enc,
              valueQuantity=qty(number, unit, ucum))  # fmt: skip
    bmi = round(weight / ((height / 100) ** 2), 1)
    p.obs("us-core-bmi", [VITAL_CAT], cc(LOINC, "39156-5", "Body mass index (BMI) [Ratio]", "BMI"), at,
          encounter=enc, valueQuantity=qty(bmi, "kg/m2"))  # fmt: skip
    spo2: Json = {"coding": [{"system": LOINC, "code": "2708-6", "display": "Oxygen saturation in Arterial blood"},
                       {"system": LOINC, "code": "59408-5", "display": "Oxygen saturation in Arterial blood by Pulse oximetry"}],
            "text": "SpO2"}  # fmt: skip
    p.obs("us-core-pulse-oximetry", [VITAL_CAT], spo2, at, encounter=enc,
          valueQuantity=qty(p.value(95, 99), "%"), component=[
              {"code": cc(LOINC, "3151-8", "Inhaled oxygen flow rate"), "valueQuantity": qty(0.0, "L/min")},
              {"code": cc(LOINC, "3150-0", "Inhaled oxygen concentration"), "valueQuantity": qty(21.0, "%")},
          ])  # fmt: skip


def _missing_vitals(p: PatientChart, at: datetime, enc: str) -> None:
    unknown = cc(DAR, "unknown", "Unknown")
    p.obs("us-core-blood-pressure", [VITAL_CAT], cc(LOINC, "85354-9", "Blood pressure panel with all children optional", "Blood pressure"), at,
          encounter=enc, component=[
              {"code": cc(LOINC, "8480-6", "Systolic blood pressure"), "dataAbsentReason": unknown},
              {"code": cc(LOINC, "8462-4", "Diastolic blood pressure"), "dataAbsentReason": unknown},
          ], dataAbsentReason=cc(DAR, "not-performed", "Not Performed"))  # fmt: skip
    for _, profile, code, display, _unit, _ucum, _low, _high in VITALS:
        p.obs(
            profile,
            [VITAL_CAT],
            cc(LOINC, code, display, display),
            at,
            encounter=enc,
            dataAbsentReason=unknown,
        )
    p.obs("us-core-bmi", [VITAL_CAT], cc(LOINC, "39156-5", "Body mass index (BMI) [Ratio]", "BMI"), at,
          encounter=enc, dataAbsentReason=unknown)  # fmt: skip
    spo2: Json = {"coding": [{"system": LOINC, "code": "2708-6", "display": "Oxygen saturation in Arterial blood"},
                             {"system": LOINC, "code": "59408-5", "display": "Oxygen saturation in Arterial blood by Pulse oximetry"}]}  # fmt: skip
    p.obs("us-core-pulse-oximetry", [VITAL_CAT], spo2, at, encounter=enc, dataAbsentReason=unknown,
          component=[{"code": cc(LOINC, "3151-8", "Inhaled oxygen flow rate"), "dataAbsentReason": unknown},
                     {"code": cc(LOINC, "3150-0", "Inhaled oxygen concentration"), "dataAbsentReason": unknown}])  # fmt: skip


def _pediatric(chart: Chart, patientid: int, day: date) -> None:
    p = PatientChart(chart, patientid, random.Random(patientid))
    at = datetime.combine(day, time(10, 0), UTC)
    for _, profile, code, display, unit, ucum, low, high in PEDIATRIC:
        p.obs(profile, [VITAL_CAT], cc(LOINC, code, display, display), at,
              valueQuantity=qty(p.value(low, high), unit, ucum))  # fmt: skip
        # a year later the measurement was not recorded
        p.obs(profile, [VITAL_CAT], cc(LOINC, code, display, display), at + timedelta(days=365),
              dataAbsentReason=cc(DAR, "unknown", "Unknown"))  # fmt: skip


def _labs(
    p: PatientChart, encounter: EncounterRecord, *, pending: bool
) -> tuple[str, str, list[str]]:
    assert encounter.start is not None
    drawn = encounter.start + timedelta(minutes=30)
    resulted = drawn + timedelta(hours=26)
    enc = _encounter_id(encounter)
    chart = p.chart
    request = chart.new_id("ServiceRequest")
    chart.add({"resourceType": "ServiceRequest", "id": request, "status": "completed", "intent": "order",
               "category": [cc(SNOMED_SYSTEM, "108252007", "Laboratory procedure")],
               "code": {"coding": [{"system": SNOMED_SYSTEM, "code": "16254007", "display": "Lipid panel"},
                                   {"system": LOINC, "code": "57698-3", "display": "Lipid panel with direct LDL - Serum or Plasma"}],
                        "text": "Lipid panel"},
               "subject": p.subject, "encounter": ref("Encounter", enc),
               "occurrenceDateTime": local(drawn), "authoredOn": local(encounter.start),
               "requester": p.provider}, "us-core-servicerequest", encounter.start)  # fmt: skip
    followup = chart.new_id("ServiceRequest")
    soon = encounter.start + timedelta(days=90)
    chart.add({"resourceType": "ServiceRequest", "id": followup, "status": "active", "intent": "order",
               "category": [cc(US_CORE_CAT, "sdoh", "SDOH")],
               "code": cc(SNOMED_SYSTEM, "464131000124100", "Referral to food pantry program", "Food pantry referral"),
               "subject": p.subject, "occurrencePeriod": {"start": local(soon)},
               "authoredOn": local(encounter.start), "requester": p.provider},
              "us-core-servicerequest", encounter.start)  # fmt: skip
    specimen = chart.new_id("Specimen")
    chart.add({"resourceType": "Specimen", "id": specimen,
               "identifier": [{"system": f"urn:athenahealth:athenanet:specimen:{chart.pid}", "value": specimen.rsplit("-", 1)[1]}],
               "status": "available", "type": cc(SNOMED_SYSTEM, "119297000", "Blood specimen", "Blood"),
               "subject": p.subject, "request": [ref("ServiceRequest", request)],
               "collection": {"collectedDateTime": local(drawn)}}, "us-core-specimen", drawn)  # fmt: skip
    results: list[str] = []
    for code, display, unit, low, high, ref_low, ref_high in LIPIDS:
        number = p.value(low, high)
        flag = "H" if number > ref_high else "L" if number < ref_low else "N"
        names = {"H": "High", "L": "Low", "N": "Normal"}
        obs = p.obs("us-core-observation-lab", [LAB_CAT], cc(LOINC, code, display, display), drawn,
                    encounter=enc, issued=stamp(resulted), valueQuantity=qty(number, unit),
                    interpretation=[cc(INTERP, flag, names[flag])],
                    referenceRange=[{"low": qty(ref_low, unit), "high": qty(ref_high, unit)}],
                    specimen=ref("Specimen", specimen), basedOn=[ref("ServiceRequest", request)])  # fmt: skip
        results.append(obs["id"])
    a1c = "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"
    if pending:
        p.obs("us-core-observation-lab", [LAB_CAT], cc(LOINC, *a1c, "HbA1c"), drawn, encounter=enc,
              status="preliminary", dataAbsentReason=cc(DAR, "unknown", "Unknown"),
              specimen=ref("Specimen", specimen))  # fmt: skip
    else:
        p.obs("us-core-observation-lab", [LAB_CAT], cc(LOINC, *a1c, "HbA1c"), drawn, encounter=enc,
              valueQuantity=qty(p.value(5.1, 8.4), "%"), specimen=ref("Specimen", specimen))  # fmt: skip
    return specimen, request, results


def _lab_report(
    p: PatientChart, encounter: EncounterRecord, specimen: str, request: str, results: list[str]
) -> None:
    assert encounter.start is not None
    drawn = encounter.start + timedelta(minutes=30)
    chart = p.chart
    chart.add({"resourceType": "DiagnosticReport", "id": chart.new_id("DiagnosticReport"),
               "basedOn": [ref("ServiceRequest", request)], "status": "final",
               "category": [cc("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
               "code": cc(LOINC, "57698-3", "Lipid panel with direct LDL - Serum or Plasma", "Lipid panel"),
               "subject": p.subject, "encounter": ref("Encounter", _encounter_id(encounter)),
               "effectiveDateTime": local(drawn), "issued": stamp(drawn + timedelta(hours=26)),
               "performer": [p.practice], "specimen": [ref("Specimen", specimen)],
               "result": [ref("Observation", r) for r in results]},
              "us-core-diagnosticreport-lab", drawn + timedelta(hours=26))  # fmt: skip


def _social(p: PatientChart, encounter: EncounterRecord, *, female: bool, age: int) -> None:
    assert encounter.start is not None
    at = encounter.start + timedelta(minutes=15)
    enc = _encounter_id(encounter)
    rng = p.rng
    smoking = SMOKING[rng.randrange(len(SMOKING))]
    p.obs("us-core-smokingstatus", [SOCIAL_CAT], cc(LOINC, "72166-2", "Tobacco smoking status", "Tobacco smoking status"), at,
          encounter=enc, valueCodeableConcept=cc(SNOMED_SYSTEM, *smoking))  # fmt: skip
    orientation = ORIENTATION[rng.randrange(len(ORIENTATION))]
    p.obs("us-core-observation-sexual-orientation", [SOCIAL_CAT], cc(LOINC, "76690-7", "Sexual orientation", "Sexual orientation"), at,
          valueCodeableConcept=cc(SNOMED_SYSTEM, *orientation))  # fmt: skip
    job, job_name, industry, industry_name = OCCUPATIONS[rng.randrange(len(OCCUPATIONS))]
    since = date(encounter.encounterdate.year - rng.randrange(2, 12), 1 + rng.randrange(12), 1)
    p.obs("us-core-observation-occupation", [SOCIAL_CAT], cc(LOINC, "11341-5", "History of Occupation", "Occupation"), at,
          effectivePeriod={"start": since.isoformat()},
          valueCodeableConcept=cc("urn:oid:2.16.840.1.114222.4.5.327", job, job_name),
          component=[{"code": cc(LOINC, "86188-0", "History of Occupation industry"),
                      "valueCodeableConcept": cc("urn:oid:2.16.840.1.114222.4.5.315", industry, industry_name)}])  # fmt: skip
    if female and 15 <= age <= 50:
        p.obs(
            "us-core-observation-pregnancystatus",
            [SOCIAL_CAT],
            cc(LOINC, "82810-3", "Pregnancy status", "Pregnancy status"),
            at,
            encounter=enc,
            valueCodeableConcept=cc(SNOMED_SYSTEM, "60001007", "Not pregnant"),
        )
        p.obs("us-core-observation-pregnancyintent", [SOCIAL_CAT], cc(LOINC, "86645-9", "Pregnancy intention in the next year - Reported", "Pregnancy intention"), at,
              encounter=enc, valueCodeableConcept=cc(SNOMED_SYSTEM, "454381000124105", "Does not want to become pregnant"))  # fmt: skip
    # SDOH screening: the Hunger Vital Sign questionnaire, its answers and the derived risk
    worried = rng.random() < 0.5
    answer = ("LA28397-0", "Often true") if worried else ("LA28398-8", "Never true")
    chart = p.chart
    response = chart.new_id("QuestionnaireResponse")
    questions = [("88122-7", "Within the past 12 months we worried whether our food would run out before we got money to buy more"),
                 ("88123-5", "Within the past 12 months the food we bought just didn't last and we didn't have money to get more")]  # fmt: skip
    chart.add({"resourceType": "QuestionnaireResponse", "id": response,
               "identifier": {"system": f"urn:athenahealth:athenanet:questionnaireresponse:{chart.pid}", "value": response.rsplit("-", 1)[1]},
               "questionnaire": "http://loinc.org/q/88121-9",
               "_questionnaire": {"extension": [
                   {"url": "http://hl7.org/fhir/StructureDefinition/display", "valueString": "Hunger Vital Sign [HVS]"},
                   {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-extension-questionnaire-uri", "valueUri": "http://loinc.org/q/88121-9"}]},
               "status": "completed", "subject": p.subject, "encounter": ref("Encounter", enc),
               "authored": local(at), "author": p.subject,
               "item": [{"linkId": "/88121-9", "text": "Hunger Vital Sign [HVS]",
                         "item": [{"linkId": f"/88121-9/{code}", "text": text,
                                   "answer": [{"valueCoding": {"system": LOINC, "code": answer[0], "display": answer[1]}}]}
                                  for code, text in questions]},
                        {"linkId": "/88124-3", "text": "Food insecurity risk [HVS]",
                         "answer": [{"valueCoding": {"system": LOINC, "code": "LA19952-3" if worried else "LA19983-8",
                                                     "display": "At risk" if worried else "No risk"},
                                     "item": [{"linkId": "/88124-3/comment", "text": "Comment",
                                               "answer": [{"valueString": "Discussed community resources" if worried else "None"}]}]}]}]},
              "us-core-questionnaireresponse", at)  # fmt: skip
    answers: list[Json] = [{"valueCodeableConcept": cc(LOINC, *answer)} for _ in questions]
    if p.patient.endswith("60184"):  # the second question was declined: data-absent-reason
        answers[1] = {"dataAbsentReason": cc(DAR, "asked-declined", "Asked But Declined")}
    members = [p.obs("us-core-observation-screening-assessment", [SURVEY_CAT, SDOH_CAT], cc(LOINC, code, text[:60]), at,
                     performer=[p.provider], derivedFrom=[ref("QuestionnaireResponse", response)], **given)["id"]
               for (code, text), given in zip(questions, answers, strict=True)]  # fmt: skip
    p.obs("us-core-observation-screening-assessment", [SURVEY_CAT, SDOH_CAT], cc(LOINC, "88121-9", "Hunger Vital Sign [HVS]", "Hunger Vital Sign"), at,
          performer=[p.provider], hasMember=[ref("Observation", m) for m in members],
          derivedFrom=[ref("QuestionnaireResponse", response)],
          valueCodeableConcept=cc(LOINC, "LA19952-3" if worried else "LA19983-8", "At risk" if worried else "No risk"))  # fmt: skip
    p.obs("us-core-simple-observation", [SDOH_CAT], cc(LOINC, "71802-3", "Housing status", "Housing status"), at,
          performer=[p.provider], valueCodeableConcept=cc(LOINC, "LA31993-1", "I have a steady place to live"))  # fmt: skip
    impression: Json = {"valueString": "Normal sinus rhythm"}
    if p.patient.endswith("60184"):  # the tracing was lost: data-absent-reason
        impression = {"dataAbsentReason": cc(DAR, "unknown", "Unknown")}
    ecg = p.obs("us-core-observation-clinical-result", [PROCEDURE_CAT], cc(LOINC, "8601-7", "EKG impression", "ECG impression"), at,
                encounter=enc, **impression)  # fmt: skip
    chart.add({"resourceType": "DiagnosticReport", "id": chart.new_id("DiagnosticReport"), "status": "final",
               "category": [cc(LOINC, "LP29708-2", "Cardiology")],
               "code": cc(LOINC, "11524-6", "EKG study", "ECG"), "subject": p.subject,
               "encounter": ref("Encounter", enc), "effectiveDateTime": local(at),
               "issued": stamp(at + timedelta(hours=1)), "performer": [p.provider],
               "result": [ref("Observation", ecg["id"])],
               "presentedForm": [{"contentType": "text/plain", "data": b64("12-lead ECG: normal sinus rhythm, rate 72, no acute ST changes."),
                                  "title": "ECG report"}]},
              "us-core-diagnosticreport-note", at + timedelta(hours=1))  # fmt: skip


def _allergies(p: PatientChart, at: datetime, *, none_known: bool) -> None:
    chart = p.chart
    clinical = cc(
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"
    )
    confirmed = cc(
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
        "confirmed",
        "Confirmed",
    )
    if none_known:
        chart.add({"resourceType": "AllergyIntolerance", "id": chart.new_id("AllergyIntolerance"),
                   "clinicalStatus": clinical, "verificationStatus": confirmed,
                   "code": cc(SNOMED_SYSTEM, "716186003", "No known allergy", "NKA"),
                   "patient": p.subject, "recordedDate": local(at)}, "us-core-allergyintolerance", at)  # fmt: skip
        return
    chart.add({"resourceType": "AllergyIntolerance", "id": chart.new_id("AllergyIntolerance"),
               "clinicalStatus": clinical, "verificationStatus": confirmed, "type": "allergy",
               "category": ["medication"], "criticality": "low",
               "code": cc(RXNORM, "7980", "Penicillin G", "Penicillin"), "patient": p.subject,
               "onsetDateTime": "2005", "recordedDate": local(at - timedelta(days=400)), "recorder": p.provider,
               "reaction": [{"manifestation": [cc(SNOMED_SYSTEM, "247472004", "Wheal", "Hives")], "severity": "mild"}]},
              "us-core-allergyintolerance", at - timedelta(days=400))  # fmt: skip
    if p.rng.random() < 0.5:
        chart.add({"resourceType": "AllergyIntolerance", "id": chart.new_id("AllergyIntolerance"),
                   "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "inactive", "Inactive"),
                   "verificationStatus": cc("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "unconfirmed", "Unconfirmed"),
                   "category": ["food"], "code": cc(SNOMED_SYSTEM, "91935009", "Allergy to peanut", "Peanut allergy"),
                   "patient": p.subject, "recordedDate": local(at - timedelta(days=30)),
                   "reaction": [{"manifestation": [cc(SNOMED_SYSTEM, "39579001", "Anaphylaxis")], "severity": "severe"}]},
                  "us-core-allergyintolerance", at - timedelta(days=30))  # fmt: skip


def _problems(p: PatientChart, encounter: EncounterRecord, patientid: int) -> None:
    from emulator.schedule_seed import SANDBOX_DIAGNOSES

    assert encounter.start is not None
    chart, at = p.chart, encounter.start
    category = cc(
        "http://terminology.hl7.org/CodeSystem/condition-category",
        "problem-list-item",
        "Problem List Item",
    )
    for n, snomed in enumerate(SANDBOX_DIAGNOSES.get(patientid, [])):
        dx = DIAGNOSES[snomed]
        resolved = not dx.chronic
        onset = (
            (at - timedelta(days=365 * (n + 2))).date()
            if not resolved
            else (at - timedelta(days=20)).date()
        )
        resource: Json = {"resourceType": "Condition", "id": chart.new_id("Problem"),
                          "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/condition-assertedDate",
                                         "valueDateTime": onset.isoformat()}],
                          "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                               "resolved" if resolved else "active", "Resolved" if resolved else "Active"),
                          "verificationStatus": cc("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"),
                          "category": [category],
                          "code": {"coding": [{"system": SNOMED_SYSTEM, "code": snomed, "display": dx.description},
                                              {"system": ICD10_SYSTEM, "code": dx.icd10, "display": dx.icd10_description}],
                                   "text": dx.description},
                          "subject": p.subject, "onsetDateTime": onset.isoformat(),
                          "recordedDate": local(at - timedelta(days=1) if resolved else at - timedelta(days=300))}  # fmt: skip
        if resolved:
            resource["abatementDateTime"] = at.date().isoformat()
        chart.add(resource, "us-core-condition-problems-health-concerns", at)
    chart.add({"resourceType": "Condition", "id": chart.new_id("HealthConcern"),
               "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
               "verificationStatus": cc("http://terminology.hl7.org/CodeSystem/condition-ver-status", "provisional", "Provisional"),
               "category": [cc("http://hl7.org/fhir/us/core/CodeSystem/condition-category", "health-concern", "Health Concern"),
                            cc(US_CORE_CAT, "sdoh", "SDOH")],
               "code": {"coding": [{"system": SNOMED_SYSTEM, "code": "733423003", "display": "Food insecurity"},
                                   {"system": ICD10_SYSTEM, "code": "Z59.41", "display": "Food insecurity"}],
                        "text": "Food insecurity"},
               "subject": p.subject, "onsetPeriod": {"start": (at - timedelta(days=60)).date().isoformat()},
               "recordedDate": local(at)}, "us-core-condition-problems-health-concerns", at)  # fmt: skip


def _medications(p: PatientChart, encounter: EncounterRecord, patientid: int) -> None:
    assert encounter.start is not None
    chart, at = p.chart, encounter.start
    enc = _encounter_id(encounter)
    first = MEDICATIONS[patientid % len(MEDICATIONS)]
    second = MEDICATIONS[(patientid + 1) % len(MEDICATIONS)]
    dosage = [{"text": "Take 1 tablet by mouth once daily", "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
               "route": cc(SNOMED_SYSTEM, "26643006", "Oral route"),
               "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet", "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm", "code": "TAB"}}]}]  # fmt: skip
    medication = chart.medication(*first, at)
    order = chart.new_id("MedicationRequest")
    chart.add({"resourceType": "MedicationRequest", "id": order, "status": "active", "intent": "order",
               "category": [cc("http://terminology.hl7.org/CodeSystem/medicationrequest-category", "community", "Community")],
               "reportedBoolean": False, "medicationReference": ref("Medication", medication, first[1]),
               "subject": p.subject, "encounter": ref("Encounter", enc), "authoredOn": local(at),
               "requester": p.provider, "dosageInstruction": dosage,
               "dispenseRequest": {"numberOfRepeatsAllowed": 3, "quantity": {"value": 30, "unit": "tablet", "system": UCUM, "code": "{tbl}"}}},
              "us-core-medicationrequest", at)  # fmt: skip
    chart.add({"resourceType": "MedicationRequest", "id": chart.new_id("MedicationRequest"),
               "status": "completed" if patientid % 2 else "active", "intent": "plan",
               "category": [cc("http://terminology.hl7.org/CodeSystem/medicationrequest-category", "outpatient", "Outpatient")],
               "reportedReference": p.subject,
               "medicationCodeableConcept": cc(RXNORM, second[0], second[1], second[1]),
               "subject": p.subject, "authoredOn": local(at - timedelta(days=180)), "requester": p.subject,
               "dosageInstruction": [{"text": "1 tablet daily as reported by patient"}]},
              "us-core-medicationrequest", at - timedelta(days=180))  # fmt: skip
    handed = at + timedelta(hours=5)
    chart.add({"resourceType": "MedicationDispense", "id": chart.new_id("MedicationDispense"), "status": "completed",
               "medicationReference": ref("Medication", medication, first[1]), "subject": p.subject,
               "context": ref("Encounter", enc),
               "performer": [{"actor": p.practice}], "authorizingPrescription": [ref("MedicationRequest", order)],
               "type": cc("http://terminology.hl7.org/CodeSystem/v3-ActCode", "FF", "First Fill"),
               "quantity": {"value": 30, "unit": "tablet", "system": UCUM, "code": "{tbl}"},
               "daysSupply": {"value": 30, "unit": "day", "system": UCUM, "code": "d"},
               "whenHandedOver": local(handed), "dosageInstruction": dosage},
              "us-core-medicationdispense", handed)  # fmt: skip


def _immunizations(p: PatientChart, encounter: EncounterRecord) -> None:
    assert encounter.start is not None
    chart, at = p.chart, encounter.start + timedelta(minutes=40)
    chart.add({"resourceType": "Immunization", "id": chart.new_id("Immunization"), "status": "completed",
               "vaccineCode": cc(CVX, "140", "Influenza, seasonal, injectable, preservative free", "Influenza vaccine"),
               "patient": p.subject, "encounter": ref("Encounter", _encounter_id(encounter)),
               "occurrenceDateTime": local(at), "primarySource": True, "lotNumber": f"FLU{p.rng.randrange(10000, 99999)}",
               "performer": [{"actor": p.provider}]}, "us-core-immunization", at)  # fmt: skip
    declined = at - timedelta(days=200)
    chart.add({"resourceType": "Immunization", "id": chart.new_id("Immunization"), "status": "not-done",
               "statusReason": cc("http://terminology.hl7.org/CodeSystem/v3-ActReason", "PATOBJ", "patient objection"),
               "vaccineCode": cc(CVX, "213", "SARS-COV-2 (COVID-19) vaccine, UNSPECIFIED FORMULATION", "COVID-19 vaccine"),
               "patient": p.subject, "occurrenceDateTime": local(declined), "primarySource": False},
              "us-core-immunization", declined)  # fmt: skip


def _procedures(p: PatientChart, encounter: EncounterRecord) -> None:
    assert encounter.start is not None
    chart, at = p.chart, encounter.start + timedelta(minutes=20)
    chart.add({"resourceType": "Procedure", "id": chart.new_id("Procedure"), "status": "completed",
               "code": {"coding": [{"system": CPT_SYSTEM, "code": "93000", "display": "Electrocardiogram, routine ECG with at least 12 leads; with interpretation and report"},
                                   {"system": SNOMED_SYSTEM, "code": "268400002", "display": "12 lead electrocardiogram"}],
                        "text": "12 lead ECG"},
               "subject": p.subject, "encounter": ref("Encounter", _encounter_id(encounter)),
               "performedDateTime": local(at), "performer": [{"actor": p.provider}]}, "us-core-procedure", at)  # fmt: skip
    years = 3 + p.rng.randrange(6)
    start = datetime(at.year - years, 4, 12, 8, 0, tzinfo=at.tzinfo)
    chart.add({"resourceType": "Procedure", "id": chart.new_id("Procedure"), "status": "completed",
               "code": cc(SNOMED_SYSTEM, "73761001", "Colonoscopy", "Colonoscopy"), "subject": p.subject,
               "performedPeriod": {"start": local(start), "end": local(start + timedelta(minutes=45))}},
              "us-core-procedure", start + timedelta(hours=2))  # fmt: skip
    if p.patient.endswith(("60178", "60184")):  # a childhood appendectomy, date unknown
        chart.add({"resourceType": "Procedure", "id": chart.new_id("Procedure"), "status": "completed",
                   "code": cc(SNOMED_SYSTEM, "80146002", "Appendectomy", "Appendectomy"), "subject": p.subject,
                   "performedPeriod": {"extension": [{"url": DAR_EXTENSION, "valueCode": "unknown"}]}},
                  "us-core-procedure", at - timedelta(days=700))  # fmt: skip


def _notes(p: PatientChart, encounter: EncounterRecord, patientid: int) -> None:
    assert encounter.start is not None
    chart = p.chart
    enc = _encounter_id(encounter)
    signed = encounter.start + timedelta(hours=2)
    period = {
        "start": local(encounter.start),
        "end": local(encounter.end or encounter.start + timedelta(minutes=30)),
    }
    fmt = {"system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
           "code": "urn:ihe:iti:xds:2017:mimeTypeSufficient", "display": "mimeType Sufficient"}  # fmt: skip
    category = [
        cc(
            "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
            "clinical-note",
            "Clinical Note",
        )
    ]
    code, display = NOTE_TYPES[patientid % len(NOTE_TYPES)]
    text = (f"{display} for {encounter.visitname or 'office visit'} on {encounter.encounterdate.isoformat()}.\n"
            "Subjective: patient reports feeling well. Objective: vitals reviewed. "
            "Assessment and plan: continue current medications; follow up in 3 months.")  # fmt: skip
    binary = chart.new_id("Binary")
    chart.store.add(chart.pid, {"resourceType": "Binary", "id": binary, "meta": {"lastUpdated": stamp(signed)},
                                "contentType": "text/plain", "securityContext": p.subject, "data": b64(text)})  # fmt: skip
    document = chart.new_id("DocumentReference")
    chart.add({"resourceType": "DocumentReference", "id": document,
               "identifier": [{"system": f"urn:athenahealth:athenanet:document:{chart.pid}", "value": document.rsplit("-", 1)[1]}],
               "status": "current", "docStatus": "final", "type": cc(LOINC, code, display, display),
               "category": category, "subject": p.subject, "date": stamp(signed), "author": [p.provider],
               "content": [{"attachment": {"contentType": "text/plain", "url": f"{ATHENA_FHIR}/Binary/{binary}",
                                           "title": display, "creation": local(signed)}, "format": fmt}],
               "context": {"encounter": [ref("Encounter", enc)], "period": period}},
              "us-core-documentreference", signed)  # fmt: skip
    earlier = signed - timedelta(days=200)
    chart.add({"resourceType": "DocumentReference", "id": chart.new_id("DocumentReference"),
               "identifier": [{"system": f"urn:athenahealth:athenanet:document:{chart.pid}", "value": str(chart.next)}],
               "status": "current", "type": cc(LOINC, "11488-4", "Consult note", "Consult note"),
               "category": category, "subject": p.subject, "date": stamp(earlier), "author": [p.provider],
               "content": [{"attachment": {"contentType": "text/plain", "data": b64("Cardiology consult: no further workup needed."),
                                           "title": "Consult note"}, "format": fmt}],
               "context": {"period": {"start": local(earlier - timedelta(hours=1)), "end": local(earlier)}}},
              "us-core-documentreference", earlier)  # fmt: skip


# (category LOINC, display, report LOINC, display, text) of imaging and pathology reports
REPORTS = [
    ("LP29684-5", "Radiology", "36643-5", "XR Chest 2 Views", "Chest X-ray, two views: lungs clear, heart size normal."),
    ("LP7839-6", "Pathology", "60567-5", "Comprehensive pathology report panel", "Skin, shave biopsy: benign seborrheic keratosis."),
]  # fmt: skip


def _reports(p: PatientChart, encounter: EncounterRecord, patientid: int) -> None:
    """A radiology or a pathology report (US Core DiagnosticReport Note) with its text."""
    assert encounter.start is not None
    chart, at = p.chart, encounter.start + timedelta(days=1)
    category, category_name, code, name, text = REPORTS[patientid % 2]
    media = chart.new_id("Media")
    chart.add({"resourceType": "Media", "id": media, "status": "completed",
               "type": cc("http://terminology.hl7.org/CodeSystem/media-type", "image", "Image"),
               "subject": p.subject, "encounter": ref("Encounter", _encounter_id(encounter)),
               "createdDateTime": local(at), "operator": p.provider,
               "content": {"contentType": "image/png", "data": TINY_PNG, "title": f"{name} image"}},
              None, at)  # fmt: skip
    chart.add({"resourceType": "DiagnosticReport", "id": chart.new_id("DiagnosticReport"), "status": "final",
               "category": [cc(LOINC, category, category_name)], "code": cc(LOINC, code, name, name),
               "subject": p.subject, "encounter": ref("Encounter", _encounter_id(encounter)),
               "effectiveDateTime": local(at), "issued": stamp(at + timedelta(hours=3)),
               "performer": [p.provider],
               "media": [{"comment": "key image", "link": ref("Media", media)}],
               "presentedForm": [{"contentType": "text/plain", "data": b64(text), "title": name}]},
              "us-core-diagnosticreport-note", at + timedelta(hours=3))  # fmt: skip


def _plans(p: PatientChart, encounter: EncounterRecord, patientid: int) -> None:
    assert encounter.start is not None
    chart, at = p.chart, encounter.start + timedelta(hours=1)
    chart.add({"resourceType": "CarePlan", "id": chart.new_id("CarePlan"),
               "text": {"status": "additional",
                        "div": f'<div xmlns="{XHTML}"><p>Assessment: stable chronic conditions.</p><p>Plan: diet and exercise counselling, recheck labs in 3 months.</p></div>'},
               "status": "active", "intent": "plan",
               "category": [{"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category", "code": "assess-plan", "display": "Assessment and Plan of Treatment"}]}],
               "subject": p.subject, "encounter": ref("Encounter", _encounter_id(encounter)),
               "period": {"start": at.date().isoformat(), "end": (at + timedelta(days=90)).date().isoformat()},
               "author": p.provider}, "us-core-careplan", at)  # fmt: skip
    participants = [{"role": [cc(SNOMED_SYSTEM, "446050000", "Primary care physician")], "member": p.provider},
                    {"role": [cc(SNOMED_SYSTEM, "116154003", "Patient")], "member": p.subject}]  # fmt: skip
    if patientid in (60178, 60181, 60182):
        participants.append(
            {
                "role": [cc(SNOMED_SYSTEM, "133932002", "Caregiver")],
                "member": ref("RelatedPerson", _related_id(chart, patientid)),
            }
        )
    chart.add({"resourceType": "CareTeam", "id": chart.new_id("CareTeam"),
               "status": "active" if patientid != 60183 else "inactive", "name": "Primary care team",
               "subject": p.subject, "participant": participants, "managingOrganization": [p.practice]},
              "us-core-careteam", at)  # fmt: skip
    due = (at + timedelta(days=180)).date()
    chart.add({"resourceType": "Goal", "id": chart.new_id("Goal"), "lifecycleStatus": "active",
               "achievementStatus": cc("http://terminology.hl7.org/CodeSystem/goal-achievement", "in-progress", "In Progress"),
               "description": cc(SNOMED_SYSTEM, "289169006", "Weight loss", "Lose 5 kg in six months"),
               "subject": p.subject, "startDate": at.date().isoformat(),
               "target": [{"measure": cc(LOINC, "29463-7", "Body weight"), "detailQuantity": qty(-5, "kg"), "dueDate": due.isoformat()}],
               "expressedBy": p.subject}, "us-core-goal", at)  # fmt: skip


def _related_id(chart: Chart, patientid: int) -> str:
    return f"a-{chart.pid}.RelatedPerson-{patientid}"


def _related_person(p: PatientChart, at: datetime, patientid: int) -> None:
    chart = p.chart
    family = "Sandboxtest"
    relation = {60178: ("SPS", "spouse", "Michael"), 60181: ("DAU", "natural daughter", "Emma"),
                60182: ("SON", "natural son", "Robert")}[patientid]  # fmt: skip
    chart.add({"resourceType": "RelatedPerson", "id": _related_id(chart, patientid), "active": True,
               "patient": p.subject,
               "relationship": [cc("http://terminology.hl7.org/CodeSystem/v3-RoleCode", relation[0], relation[1])],
               "name": [{"use": "official", "family": family, "given": [relation[2]]}],
               "telecom": [{"system": "phone", "value": f"555-01{patientid % 100:02d}", "use": "mobile"}],
               "address": [{"use": "home", "line": ["100 Main St"], "city": "Watertown", "state": "MA", "postalCode": "02472"}]},
              "us-core-relatedperson", at - timedelta(days=500))  # fmt: skip


def _device(p: PatientChart, at: datetime, patientid: int) -> None:
    chart = p.chart
    kind = {60181: ("109228008", "Knee joint prosthesis", "08717648200274"),
            60182: ("14106009", "Cardiac pacemaker", "09504000059118")}[patientid]  # fmt: skip
    implanted = at - timedelta(days=900)
    lot, serial = f"{patientid}L", f"SN{patientid}X"
    hrf = f"(01){kind[2]}(17)300101(10){lot}(21){serial}"
    chart.add({"resourceType": "Device", "id": chart.new_id("Device"),
               "udiCarrier": [{"deviceIdentifier": kind[2], "issuer": "http://hl7.org/fhir/NamingSystem/gs1-di",
                               "jurisdiction": "http://hl7.org/fhir/NamingSystem/fda-udi", "carrierHRF": hrf}],
               "status": "active", "distinctIdentifier": f"{kind[2]}{serial}",
               "manufactureDate": (implanted - timedelta(days=200)).date().isoformat(),
               "expirationDate": "2030-01-01", "lotNumber": lot, "serialNumber": serial,
               "type": cc(SNOMED_SYSTEM, kind[0], kind[1], kind[1]), "patient": p.subject},
              "us-core-implantable-device", implanted)  # fmt: skip


def iter_types(store: ClinicalStore) -> Iterator[str]:
    """The resource types the store holds (tests)."""
    yield from sorted(store.by_type)
