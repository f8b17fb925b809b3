"""Deterministic seed data: practices, departments, providers, sandbox patients
(API-NOTES sections 1.2, 1.4, 3.1, 3.2, 3.3).

Everything here is fixed; the generated population lives in
:mod:`emulator.population`. :func:`build_seed` combines both and depends only
on the config's ``seed`` and ``generated_patients``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.population import generate_population
from emulator.records import PatientRecord, PreviousName
from emulator.terminology import race_name

SANDBOX_PRACTICE = "195900"
SECOND_PRACTICE = "195901"

PRACTICES: dict[str, dict[str, Any]] = {
    SANDBOX_PRACTICE: {
        "practiceid": SANDBOX_PRACTICE,
        "name": "athenahealth MDP Sandbox",
        "hasclinicals": True,
        "hascommunicator": True,
        "hascollector": True,
        "iscoordinatorsender": False,
        "golivedate": "09/14/2015",
        "experiencemode": "STREAMLINEDONLY",
    },
    SECOND_PRACTICE: {
        "practiceid": SECOND_PRACTICE,
        "name": "Riverbend Family Medicine",
        "hasclinicals": True,
        "hascommunicator": True,
        "hascollector": False,
        "iscoordinatorsender": False,
        "golivedate": "03/02/2019",
        "experiencemode": "STREAMLINEDONLY",
    },
}

_ZONES = {
    -5: ("US/Eastern", False),
    -6: ("US/Central", False),
    -7: ("US/Arizona", True),
    -8: ("US/Pacific", False),
}

# (id, name, patient-facing name, address, city, state, zip, tz, chart sharing group)
# fmt: off
_DEPARTMENTS: dict[str, list[tuple[str, str, str, str, str, str, str, int, str]]] = {
    SANDBOX_PRACTICE: [
        ("1", "MAIN ST (HUB)", "Main Street Medical", "311 Arsenal St", "Watertown", "MA", "02472", -5, "42"),
        ("21", "CAMBRIDGE PEDS", "Cambridge Pediatrics", "55 Brattle St", "Cambridge", "MA", "02138", -5, "42"),
        ("102", "BELMONT FAMILY MED", "Belmont Family Medicine", "4 Leonard St", "Belmont", "MA", "02478", -5, "42"),
        ("144", "NASHVILLE INTERNAL", "Music Row Internal Medicine", "1600 Division St", "Nashville", "TN", "37203", -6, "43"),
        ("145", "NASHVILLE URGENT", "Music Row Urgent Care", "1604 Division St", "Nashville", "TN", "37203", -6, "43"),
        ("148", "AUSTIN WOMENS HEALTH", "Austin Women's Health", "900 W 38th St", "Austin", "TX", "78705", -6, "43"),
        ("150", "PHOENIX CARDIOLOGY", "Desert Heart Cardiology", "2222 E Highland Ave", "Phoenix", "AZ", "85016", -7, "44"),
        ("157", "SAN DIEGO DERM", "Harbor Dermatology", "3900 5th Ave", "San Diego", "CA", "92103", -8, "44"),
        ("162", "PORTLAND ORTHO", "Rose City Orthopedics", "1010 NW 22nd Ave", "Portland", "OR", "97210", -8, "44"),
        ("172", "ATLANTA PEDIATRICS", "Peachtree Pediatrics", "1800 Peachtree St NW", "Atlanta", "GA", "30309", -5, "45"),
    ],
    SECOND_PRACTICE: [
        ("1", "RIVERBEND MAIN", "Riverbend Family Medicine", "12 River Rd", "Burlington", "VT", "05401", -5, "7"),
        ("2", "RIVERBEND NORTH", "Riverbend North Clinic", "88 Pearl St", "Essex Junction", "VT", "05452", -5, "7"),
        ("3", "RIVERBEND LAKESIDE", "Lakeside Family Care", "5 Lake St", "St. Albans", "VT", "05478", -5, "7"),
    ],
}
# fmt: on

# (id, first, last, credential, specialty, ansi code, sex, npi, departments)
# NPIs carry a valid Luhn check digit (prefix 80840), as US Core's us-core-17 requires.
# Providers 23, 71 and 86 work in departments 1, 21 and 102: the recordings show
# provider 71 with open slots in department 1 and 86 booked there (RB).
# fmt: off
_PROVIDERS: dict[str, list[tuple[int, str, str, str, str, str, str, int, tuple[str, ...]]]] = {
    SANDBOX_PRACTICE: [
        (1, "Adam", "Bricker", "MD", "Family Medicine", "207Q00000X", "M", 1023456787, ("1", "21", "102")),
        (23, "Jane", "Doe", "MD", "Internal Medicine", "207R00000X", "F", 1234567893, ("1", "21", "102", "144", "145")),
        (71, "Terry", "Ahmad", "DO", "Pediatrics", "208000000X", "M", 1386718260, ("21", "1", "102", "172")),
        (86, "Marisol", "Vega", "NP", "Family Medicine", "363LF0000X", "F", 1457392003, ("1", "21", "102", "148", "150", "157")),
        (87, "Kenji", "Watanabe", "MD", "Orthopaedic Surgery", "207X00000X", "M", 1598765430, ("162", "157")),
    ],
    SECOND_PRACTICE: [
        (1, "Claire", "Lindqvist", "MD", "Family Medicine", "207Q00000X", "F", 1669473823, ("1", "2")),
        (2, "Samuel", "Okafor", "PA", "Family Medicine", "363AM0700X", "M", 1740283746, ("1", "3")),
        (3, "Priya", "Raman", "MD", "Pediatrics", "208000000X", "F", 1821093477, ("2", "3")),
    ],
}
# fmt: on


def _department(
    practice: str, row: tuple[str, str, str, str, str, str, str, int, str]
) -> dict[str, Any]:
    dept_id, name, patient_name, address, city, state, zip_code, tz, csg = row
    zone_name, no_dst = _ZONES[tz]
    return {
        "departmentid": dept_id,
        "name": name,
        "patientdepartmentname": patient_name,
        "address": address,
        "city": city,
        "state": state,
        "zip": zip_code,
        "phone": f"617555{int(dept_id) % 10000:04d}",
        "fax": f"617556{int(dept_id) % 10000:04d}",
        "latitude": "42.3626",
        "longitude": "-71.1843",
        "timezone": tz,
        "timezoneoffset": tz,
        "timezonename": zone_name,
        "doesnotobservedst": no_dst,
        "providergroupid": "1",
        "providergroupname": PRACTICES[practice]["name"],
        "chartsharinggroupid": csg,
        "communicatorbrandid": "1",
        "placeofservicetypeid": "11",
        "placeofservicetypename": "OFFICE",
        "placeofservicefacility": False,
        "clinicals": "ON",
        "servicedepartment": True,
        "ishospitaldepartment": False,
        "medicationhistoryconsent": True,
        "creditcardtypes": ["AX", "DS", "MC", "VI"],
        "ecommercecreditcardtypes": ["AX", "DS", "MC", "VI"],
        "singleappointmentcontractmax": "500",
        "oneyearcontractmax": "1000",
        "portalurl": f"https://{practice}.portal.athenahealth.com/",
    }


def _provider(
    row: tuple[int, str, str, str, str, str, str, int, tuple[str, ...]],
) -> dict[str, Any]:
    pid, first, last, credential, specialty, ansi, sex, npi, departments = row
    return {
        "providerid": pid,
        "firstname": first,
        "lastname": last,
        "displayname": f"{first} {last}, {credential}",
        "schedulingname": f"{first[0]}{last}".upper(),
        "providerusername": f"{first[0]}{last}".lower(),
        "npi": npi,
        "providertypeid": credential,
        "providertype": credential,
        "specialty": specialty,
        "specialtyid": "008",
        "ansispecialtycode": ansi,
        "ansinamecode": f"{specialty} ({ansi})",
        "entitytype": "Person",
        "sex": sex,
        "billable": True,
        "hideinportal": False,
        "createencounteroncheckin": True,
        "homedepartment": departments[0],
        "acceptingnewpatients": True,
    }


def provider_departments(practice: str) -> dict[int, tuple[str, ...]]:
    """provider id -> department ids the provider works in (for ``providerlist``)."""
    return {row[0]: row[8] for row in _PROVIDERS.get(practice, [])}


# (id, first, middle, last, sex, dob, race, ethnicity, language)
# fmt: off
_SANDBOX = [
    (60178, "Donna", "Marie", "Sandboxtest", "F", "10/24/1972", "2106-3", "2186-5", "eng"),
    (60179, "Eleana", "Rose", "Sandboxtest", "F", "03/15/1988", "2054-5", "2186-5", "eng"),
    (60180, "Frankie", "Lee", "Sandboxtest", "M", "07/04/1995", "2028-9", "2186-5", "eng"),
    (60181, "Gary", "Alan", "Sandboxtest", "M", "01/30/1961", "2106-3", "2135-2", "spa"),
    (60182, "Dorrie", "Ann", "Sandboxtest", "F", "11/11/1949", "1002-5", "2186-5", "eng"),
    (60183, "Anna", "Grace", "Sandbox-Test", "F", "05/05/1983", "2106-3", "2135-2", "spa"),
    (60184, "Rebecca", "Jo", "Sandbox-Test", "F", "09/17/1990", "2054-5", "2186-5", "eng"),
]
# fmt: on


def sandbox_patients() -> list[PatientRecord]:
    """Patients 60178-60184 (section 1.4), provider 23: complete US Core data, except what
    Inferno's Missing Data test needs shown (US-CORE-NOTES §1.1): 60182 declined to give
    an email, 60184 to name a language (and has an encounter of unknown type)."""
    records = []
    for index, (pid, first, middle, last, sex, dob, race, ethnicity, language) in enumerate(
        _SANDBOX
    ):
        identity = "Identifies as Female" if sex == "F" else "Identifies as Male"
        races = [race, "2106-3"] if pid == 60184 else [race]
        fields: dict[str, str | list[str]] = {
            "firstname": first,
            "middlename": middle,
            "lastname": last,
            "dob": dob,
            "sex": sex,
            "assignedsexatbirth": sex,
            "genderidentity": identity,
            "race": races,
            "racename": race_name(races),
            "ethnicitycode": ethnicity,
            "language6392code": language,
            "homephone": f"6175550{index + 100}",
            "mobilephone": f"6175551{index + 100}",
            "workphone": f"6175552{index + 100}",
            "email": f"{first.lower()}.{last.lower().replace('-', '')}@example.com",
            "address1": f"{10 + index} Arsenal Yards Blvd",
            "address2": f"Apt {index + 1}",
            "city": "Watertown",
            "state": "MA",
            "zip": "02472",
            "countrycode": "USA",
            "countrycode3166": "US",
            "contactpreference": "MOBILEPHONE",
            "departmentid": "1",
            "primarydepartmentid": "1",
            "primaryproviderid": "23",
            "status": "active",
            "registrationdate": "06/17/2019",
            "lastupdated": "01/15/2025",
            "maritalstatus": "M" if index % 2 else "S",
            "ssn": f"*****{4410 + index}",
        }
        fields["emailexists"] = "true"
        if pid == 60182:  # declined to give an email: data-absent-reason on telecom.value
            del fields["email"]
            fields["emailexists"] = "false"
        if pid == 60184:  # declined to name a language: the data-absent-reason code
            fields["language6392code"] = "declined"
        if pid == 60181:
            fields["suffix"] = "Jr."
        if pid == 60183:
            fields["preferredname"] = "Annie"
        previous = [PreviousName(first, "Whitfield", "2012-06-30")] if pid == 60183 else []
        records.append(
            PatientRecord(
                practiceid=SANDBOX_PRACTICE,
                patientid=pid,
                fields=fields,
                previous_names=previous,
                address_since="2019-06-17",
                tribal_affiliation="170" if pid == 60182 else None,
                last_updated="2025-01-15T14:30:00Z",
            )
        )
    return records


@dataclass
class Seed:
    """Everything the world starts with; equal seeds give equal values."""

    practices: dict[str, dict[str, Any]]
    departments: dict[str, list[dict[str, Any]]]
    providers: dict[str, list[dict[str, Any]]]
    patients: dict[str, list[PatientRecord]]


def build_seed(seed: int, generated_patients: int) -> Seed:
    """Practices 195900 and 195901 with their reference data and patients."""
    departments = {p: [_department(p, row) for row in rows] for p, rows in _DEPARTMENTS.items()}
    providers = {p: [_provider(row) for row in rows] for p, rows in _PROVIDERS.items()}
    generated = generate_population(
        seed,
        generated_patients,
        departments={p: [d["departmentid"] for d in rows] for p, rows in departments.items()},
        providers={p: [str(row[0]) for row in rows] for p, rows in _PROVIDERS.items()},
    )
    patients: dict[str, list[PatientRecord]] = {p: [] for p in PRACTICES}
    for record in generated:
        patients[record.practiceid].append(record)
    patients[SANDBOX_PRACTICE].extend(sandbox_patients())
    for rows in patients.values():
        rows.sort(key=lambda r: r.patientid)
    return Seed(
        practices={p: dict(info) for p, info in PRACTICES.items()},
        departments=departments,
        providers=providers,
        patients=patients,
    )
