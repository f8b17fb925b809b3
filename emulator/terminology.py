"""Code tables shared by the seed and the emulator's FHIR rendering.

athena /v1 codes (API-NOTES section 3.3, 6.2) against the FHIR codes athena's
own FHIR server would emit (US Core 6.1 Patient, US-CORE-NOTES 1.2).
"""

from __future__ import annotations

from typing import Final

CDC_RACE_SYSTEM: Final = "urn:oid:2.16.840.1.113883.6.238"
NULL_FLAVOR_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
SNOMED_SYSTEM: Final = "http://snomed.info/sct"
BCP47_SYSTEM: Final = "urn:ietf:bcp:47"
MARITAL_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
TRIBAL_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-TribalEntityUS"
# FHIR's data-absent-reason: the extension (a value missing, and why) and its code system
# (a code missing from a CodeableConcept). athena's FHIR API is US Core certified, and
# Inferno's Missing Data test needs both somewhere (US-CORE-NOTES §1.1).
DAR_EXTENSION: Final = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
DAR_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

# athena quirk: race/ethnicity/language take the special value "declined" when
# the patient declined to answer (athena docs, [G] on exact spelling). It maps to ASKU.
DECLINED: Final = "declined"

# OMB race categories (CDC race and ethnicity code set).
RACES: Final[dict[str, str]] = {
    "1002-5": "American Indian or Alaska Native",
    "2028-9": "Asian",
    "2054-5": "Black or African American",
    "2076-8": "Native Hawaiian or Other Pacific Islander",
    "2106-3": "White",
}

ETHNICITIES: Final[dict[str, str]] = {
    "2135-2": "Hispanic or Latino",
    "2186-5": "Not Hispanic or Latino",
}

# ISO 639-2 (athena language6392code) -> (BCP 47, display).
LANGUAGES: Final[dict[str, tuple[str, str]]] = {
    "eng": ("en", "English"),
    "spa": ("es", "Spanish"),
    "zho": ("zh", "Chinese"),
    "vie": ("vi", "Vietnamese"),
    "fra": ("fr", "French"),
    "kor": ("ko", "Korean"),
    "rus": ("ru", "Russian"),
    "ara": ("ar", "Arabic"),
    "hat": ("ht", "Haitian Creole"),
    "por": ("pt", "Portuguese"),
}

# athena genderidentity strings [G: athena's documented enumeration as remembered]
# -> (system, code, display) for us-core-genderIdentity (US Core 6.1).
GENDER_IDENTITIES: Final[dict[str, tuple[str, str, str]]] = {
    "Identifies as Male": (SNOMED_SYSTEM, "446151000124109", "Identifies as male gender"),
    "Identifies as Female": (SNOMED_SYSTEM, "446141000124107", "Identifies as female gender"),
    "Transgender Male/Female-to-Male (FTM)": (
        SNOMED_SYSTEM,
        "407377005",
        "Female-to-male transsexual",
    ),
    "Transgender Female/Male-to-Female (MTF)": (
        SNOMED_SYSTEM,
        "407376001",
        "Male-to-female transsexual",
    ),
    "Gender non-conforming (neither exclusively male nor female)": (
        SNOMED_SYSTEM,
        "446131000124102",
        "Identifies as non-conforming gender",
    ),
    "Additional gender category or other, please specify": (NULL_FLAVOR_SYSTEM, "OTH", "other"),
    "Choose not to disclose": (NULL_FLAVOR_SYSTEM, "ASKU", "asked but declined"),
}

# athena sex -> FHIR administrative gender (section 6.2: M, F, N, U).
GENDERS: Final[dict[str, str]] = {"M": "male", "F": "female", "U": "unknown", "N": "unknown"}

# athena assignedsexatbirth -> us-core-birthsex valueCode.
BIRTH_SEX: Final[dict[str, str]] = {"M": "M", "F": "F", "U": "UNK", "N": "UNK"}

# athena sex -> us-core-sex valueCode (SNOMED; VSAC 2.16.840.1.113762.1.4.1240.3) [G].
SEX_SNOMED: Final[dict[str, str]] = {"M": "248153007", "F": "248152002"}

# athena maritalstatus (NET enum D, M, P, S, U, W, X) -> (system, code, display) [G meanings].
MARITAL_STATUSES: Final[dict[str, tuple[str, str, str]]] = {
    "D": (MARITAL_SYSTEM, "D", "Divorced"),
    "M": (MARITAL_SYSTEM, "M", "Married"),
    "P": (MARITAL_SYSTEM, "T", "Domestic partner"),
    "S": (MARITAL_SYSTEM, "S", "Never Married"),
    "U": (NULL_FLAVOR_SYSTEM, "UNK", "unknown"),
    "W": (MARITAL_SYSTEM, "W", "Widowed"),
    "X": (MARITAL_SYSTEM, "L", "Legally Separated"),
}

# A few v3-TribalEntityUS entries [G: codes as remembered, extensible binding].
TRIBES: Final[dict[str, str]] = {
    "40": "Cherokee Nation",
    "170": "Navajo Nation, Arizona, New Mexico & Utah",
    "187": "Paiute-Shoshone Tribe of the Fallon Reservation and Colony, Nevada",
    "91": "Hopi Tribe of Arizona",
}


def race_name(codes: list[str]) -> str:
    """athena ``racename``: the category names joined, or "Patient Declined"."""
    if codes == [DECLINED]:
        return "Patient Declined"
    return " ".join(RACES.get(code, code) for code in codes)
