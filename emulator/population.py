"""The generated patient population (API-NOTES section 3.3; US-CORE-NOTES 1.2).

Deterministic under ``seed`` (one ``random.Random``; fixed dates, no clock).
The mix exercises every US Core 6.1 Patient must-support / USCDI element:
race (incl. multi-race and declined), ethnicity, birth sex, gender identity,
sex, language, phones and email, address with period, suffixes, previous
names, deceased patients, tribal affiliation, and records with unknown values.

Every 100th generated patient (index % 100 == 37) is an "unknown" record:
sex U, race/ethnicity declined, no address, no phone, identity not disclosed.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import TypeVar

from emulator.records import PatientRecord, PreviousName, us_date
from emulator.terminology import DECLINED, LANGUAGES, TRIBES, race_name

ANCHOR = date(2025, 6, 30)  # the fixed "today" of the generated data

FEMALE = [
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Lisa",
    "Nancy",
    "Betty",
    "Sandra",
    "Margaret",
    "Ashley",
    "Kimberly",
    "Emily",
    "Donna",
    "Michelle",
    "Carol",
    "Amanda",
    "Melissa",
    "Deborah",
    "Stephanie",
    "Maria",
    "Guadalupe",
    "Sofia",
    "Mei",
    "Ling",
    "Aaliyah",
    "Fatima",
    "Priya",
    "Nguyen",
    "Olga",
    "Keisha",
    "Yolanda",
    "Ximena",
]
MALE = [
    "James",
    "Robert",
    "John",
    "Michael",
    "David",
    "William",
    "Richard",
    "Joseph",
    "Thomas",
    "Charles",
    "Christopher",
    "Daniel",
    "Matthew",
    "Anthony",
    "Mark",
    "Donald",
    "Steven",
    "Paul",
    "Andrew",
    "Joshua",
    "Kenneth",
    "Kevin",
    "Brian",
    "George",
    "Timothy",
    "Jose",
    "Luis",
    "Carlos",
    "Wei",
    "Hiroshi",
    "Malik",
    "Omar",
    "Raj",
    "Dmitri",
    "Tyrone",
    "Kwame",
    "Mateo",
    "Tuan",
]
NEUTRAL = [
    "Alex",
    "Jordan",
    "Taylor",
    "Casey",
    "Riley",
    "Morgan",
    "Avery",
    "Quinn",
    "Skyler",
    "Jamie",
]
SURNAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Chen",
    "Wang",
    "Kim",
    "Patel",
    "Begay",
    "Yazzie",
    "Kealoha",
    "Okafor",
    "Haddad",
    "Ivanova",
    "O'Brien",
    "Van-Dyke",
    "Dubois",
    "Tanaka",
    "Kowalski",
]
STREETS = [
    "Main",
    "Oak",
    "Pine",
    "Maple",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Walnut",
    "Sunset",
    "Highland",
]
STREET_TYPES = ["St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Way"]
# fmt: off
PLACES = [
    ("Watertown", "MA", "02472"),
    ("Boston", "MA", "02118"),
    ("Cambridge", "MA", "02139"),
    ("Nashville", "TN", "37203"),
    ("Austin", "TX", "78704"),
    ("El Paso", "TX", "79901"),
    ("Phoenix", "AZ", "85004"),
    ("Window Rock", "AZ", "86515"),
    ("San Diego", "CA", "92101"),
    ("Portland", "OR", "97209"),
    ("Atlanta", "GA", "30303"),
    ("Honolulu", "HI", "96813"),
    ("Burlington", "VT", "05401"),
    ("Essex Junction", "VT", "05452"),
    ("Miami", "FL", "33130"),
]
# fmt: on
SUFFIXES = ["Jr.", "Sr.", "II", "III", "IV"]
# (code list, weight); "declined" = patient declined; [] = never recorded.
# fmt: off
RACE_MIX: list[tuple[list[str], int]] = [
    (["2106-3"], 52),
    (["2054-5"], 14),
    (["2028-9"], 7),
    (["1002-5"], 4),
    (["2076-8"], 2),
    (["2106-3", "2054-5"], 3),
    (["2028-9", "2106-3"], 2),
    (["1002-5", "2106-3"], 2),
    ([DECLINED], 4),
    ([], 10),
]
# fmt: on
ETHNICITY_MIX = [("2186-5", 70), ("2135-2", 18), (DECLINED, 4), ("", 8)]
LANGUAGE_MIX = (
    [("eng", 74), ("spa", 13)]
    + [(code, 1) for code in LANGUAGES if code not in {"eng", "spa"}]
    + [(DECLINED, 1), ("", 3)]
)
MARITAL = ["M", "S", "D", "W", "P", "X", "U"]

T = TypeVar("T")


def _pick(rng: random.Random, mix: list[tuple[T, int]]) -> T:
    values = [value for value, _ in mix]
    weights = [weight for _, weight in mix]
    return rng.choices(values, weights)[0]


def _day_between(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange(max(1, (end - start).days)))


def _phone(rng: random.Random) -> str:
    return f"{rng.choice(['617', '615', '512', '602', '619', '503', '404', '802'])}555{rng.randrange(10000):04d}"


def _identity(rng: random.Random, sex: str) -> tuple[str, str]:
    """(assignedsexatbirth, genderidentity)."""
    roll = rng.random()
    if roll < 0.03:
        return (
            ("F", "Transgender Male/Female-to-Male (FTM)")
            if sex == "M"
            else (
                "M",
                "Transgender Female/Male-to-Female (MTF)",
            )
        )
    if roll < 0.05:
        return sex, "Gender non-conforming (neither exclusively male nor female)"
    if roll < 0.06:
        return sex, "Additional gender category or other, please specify"
    if roll < 0.09:
        return sex, "Choose not to disclose"
    if roll < 0.70:
        return sex, "Identifies as Male" if sex == "M" else "Identifies as Female"
    return sex, ""


def _patient(
    rng: random.Random,
    practice: str,
    patientid: int,
    index: int,
    departments: list[str],
    providers: list[str],
) -> PatientRecord:
    unknown = index % 100 == 37
    sex = "U" if unknown else rng.choices(["F", "M", "U"], [50, 47, 3])[0]
    first = rng.choice(FEMALE if sex == "F" else MALE if sex == "M" else NEUTRAL)
    last = rng.choice(SURNAMES)
    dob = _day_between(rng, date(1930, 1, 1), date(2024, 12, 31))
    registered = _day_between(rng, max(dob, date(2005, 1, 1)), ANCHOR - timedelta(days=30))
    updated = _day_between(rng, registered, ANCHOR)
    department = rng.choice(departments)
    fields: dict[str, str | list[str]] = {"firstname": first}
    if rng.random() < 0.6:
        fields["middlename"] = rng.choice(FEMALE + MALE + NEUTRAL)
    fields["lastname"] = last
    if sex == "M" and rng.random() < 0.08:
        fields["suffix"] = rng.choice(SUFFIXES)
    if rng.random() < 0.08:
        fields["preferredname"] = rng.choice(NEUTRAL)
    fields["dob"] = us_date(dob)
    fields["sex"] = sex
    if unknown:
        birth_sex, identity = "U", "Choose not to disclose"
        races, ethnicity, language = [DECLINED], DECLINED, ""
    else:
        birth_sex, identity = _identity(rng, sex) if sex != "U" else ("U", "")
        races = _pick(rng, RACE_MIX).copy()
        ethnicity = _pick(rng, ETHNICITY_MIX)
        language = _pick(rng, LANGUAGE_MIX)
    fields["assignedsexatbirth"] = birth_sex
    fields["genderidentity"] = identity
    fields["race"] = races
    fields["racename"] = race_name(races) if races else ""
    fields["ethnicitycode"] = ethnicity
    fields["language6392code"] = language
    address_since: str | None = None
    if not unknown:
        for kind, chance in (("homephone", 0.7), ("mobilephone", 0.8), ("workphone", 0.25)):
            if rng.random() < chance:
                fields[kind] = _phone(rng)
        if not any(k in fields for k in ("homephone", "mobilephone", "workphone")):
            fields["mobilephone"] = _phone(rng)
        if rng.random() < 0.6:
            handle = last.lower().replace("'", "")
            fields["email"] = f"{first.lower()}.{handle}{patientid}@example.com"
        city, state, zip_code = rng.choice(PLACES)
        fields["address1"] = (
            f"{rng.randrange(1, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"
        )
        if rng.random() < 0.15:
            fields["address2"] = f"Apt {rng.randrange(1, 400)}"
        fields.update({"city": city, "state": state, "zip": zip_code})
        fields.update({"countrycode": "USA", "countrycode3166": "US"})
        address_since = _day_between(rng, registered, ANCHOR).isoformat()
        phones = [k for k in ("mobilephone", "homephone", "workphone") if k in fields]
        fields["contactpreference"] = phones[0].upper()
    fields["departmentid"] = department
    fields["primarydepartmentid"] = department
    fields["primaryproviderid"] = rng.choice(providers)
    fields["status"] = rng.choices(["active", "inactive", "prospective"], [95, 4, 1])[0]
    fields["registrationdate"] = us_date(registered)
    fields["lastupdated"] = us_date(updated)
    age = (ANCHOR - dob).days // 365
    fields["maritalstatus"] = "S" if age < 20 else rng.choice(MARITAL)
    if rng.random() < 0.7:
        fields["ssn"] = f"*****{rng.randrange(10000):04d}"
    if not unknown and age > 20 and rng.random() < 0.03:
        fields["deceaseddate"] = us_date(_day_between(rng, max(dob, date(2010, 1, 1)), ANCHOR))
    previous: list[PreviousName] = []
    if (
        sex == "F"
        and fields["maritalstatus"] in {"M", "D", "W"}
        and age > 22
        and rng.random() < 0.5
    ):
        married = _day_between(
            rng, dob + timedelta(days=365 * 20), min(ANCHOR, dob + timedelta(days=365 * 60))
        )
        previous.append(PreviousName(first, rng.choice(SURNAMES), married.isoformat()))
    tribe = None
    if "1002-5" in races and rng.random() < 0.6:
        tribe = rng.choice(sorted(TRIBES))
    return PatientRecord(
        practiceid=practice,
        patientid=patientid,
        fields={k: v for k, v in fields.items() if v not in ("", [])},
        previous_names=previous,
        address_since=address_since,
        tribal_affiliation=tribe,
        last_updated=f"{updated.isoformat()}T{rng.randrange(8, 18):02d}:{rng.randrange(60):02d}:00Z",
    )


def generate_population(
    seed: int, count: int, *, departments: dict[str, list[str]], providers: dict[str, list[str]]
) -> list[PatientRecord]:
    """``count`` patients: three quarters in 195900 (ids from 1000), the rest in 195901 (ids from 1)."""
    rng = random.Random(seed)
    first_practice = count - count // 4
    records = []
    for index in range(count):
        if index < first_practice:
            practice, patientid = "195900", 1000 + index
        else:
            practice, patientid = "195901", 1 + index - first_practice
        records.append(
            _patient(rng, practice, patientid, index, departments[practice], providers[practice])
        )
    return records
