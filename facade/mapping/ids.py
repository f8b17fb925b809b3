"""athena's FHIR id scheme: ``a-{practiceid}.{Prefix}-{localid}`` (API-NOTES §5.3).

One endpoint serves many practices because the practice travels inside the id;
ids are interchangeable with athena's own FHIR API.

>>> parse_id("a-195900.E-60178", "E")
FhirId(practice='195900', local='60178')
>>> format_id("195900", "E", "60178")
'a-195900.E-60178'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from facade.errors import InvalidRequest
from facade.mapping.table import IdScheme

PRACTICE_ORG_PREFIX = "Practice"
_PRACTICE = r"[0-9]{1,10}"
# athena record ids are numbers, or numbers joined by "-" for a pair (provider-department);
# each table's ``local_pattern`` narrows this for its own ids.
ATHENA_LOCAL_ID = re.compile(r"[0-9]{1,12}(?:-[0-9]{1,12})*")
# FHIR R4 id datatype: [A-Za-z0-9\-\.]{1,64}
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True)
class FhirId:
    practice: str
    local: str


@lru_cache(maxsize=64)
def _pattern(prefix: str, local_pattern: str) -> re.Pattern[str]:
    return re.compile(rf"^a-({_PRACTICE})\.{re.escape(prefix)}-({local_pattern})$")


def parse_id(value: str, prefix: str, local_pattern: str = r"[0-9]{1,12}") -> FhirId:
    """Split a facade id; anything else is a 400 (malformed id), never a 404 or 500."""
    m = _pattern(prefix, local_pattern).match(value)
    if not m:
        raise InvalidRequest(
            f"Malformed id {value[:80]!r}: expected a-{{practiceid}}.{prefix}-{{id}}",
            expression=("id",),
        )
    return FhirId(practice=m.group(1), local=m.group(2))


def format_id(practice: str, prefix: str, local: str) -> str:
    return f"a-{practice}.{prefix}-{local}"


def practice_org_id(practice: str) -> str:
    """The practice's Organization id: ``a-1.Practice-{practiceid}``."""
    return f"a-1.{PRACTICE_ORG_PREFIX}-{practice}"


def parse_practice_reference(value: str) -> str:
    """``Organization/a-1.Practice-195900`` (or the bare id) -> ``195900``."""
    text = value.removeprefix("Organization/")
    m = re.match(rf"^a-1\.{PRACTICE_ORG_PREFIX}-({_PRACTICE})$", text)
    if not m:
        raise InvalidRequest(
            f"Invalid ah-practice {value[:80]!r}: expected Organization/a-1.Practice-{{practiceid}}",
            expression=("ah-practice",),
        )
    return m.group(1)


def parse_table_id(value: str, scheme: IdScheme) -> FhirId:
    """A table's id: ``a-{practice}.{prefix}-{local}``, or ``a-1.{practice_prefix}-{practice}``.

    >>> from facade.mapping.table import IdScheme
    >>> parse_table_id("a-1.Practice-195900", IdScheme(prefix="Department", practice_prefix="Practice"))
    FhirId(practice='195900', local='195900')
    >>> parse_table_id("a-195900.InsurancePackage-8477",
    ...     IdScheme(prefix="Department", other_prefixes={"InsurancePackage": "[0-9]{1,12}"}))
    FhirId(practice='195900', local='8477')
    """
    if scheme.practice_prefix is not None:
        m = re.match(rf"^a-1\.{re.escape(scheme.practice_prefix)}-({_PRACTICE})$", value)
        if m:
            return FhirId(practice=m.group(1), local=m.group(1))
    for prefix, pattern in scheme.other_prefixes.items():
        m = _pattern(prefix, pattern).match(value)
        if m:
            return FhirId(practice=m.group(1), local=m.group(2))
    return parse_id(value, scheme.prefix, scheme.local_pattern)
