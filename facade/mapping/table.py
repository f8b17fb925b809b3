"""Schema of the declarative mapping tables in ``mappings/`` (DESIGN.md "Mapping tables").

Tables are data; this module only describes their shape so that a typo in a
table fails at load time, not on the request path. Pydantic is used here
because this is where data enters the program.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Surface = Literal["rest", "fhir"]
Direction = Literal["read", "write", "both"]
ParamType = Literal["token", "string", "date", "reference", "special"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class IdScheme(_Strict):
    """FHIR ids ``a-{practice}.{prefix}-{local}`` (athena's own FHIR ids).

    ``local_pattern`` is the syntax of athena's id for the record (digits; digits-digits
    for a provider in a department), declared once: an ``_id`` or ``identifier`` search
    value outside it matches nothing and is answered without calling athena
    (:func:`facade.mapping.planner.plan_search`).
    """

    prefix: str
    local_pattern: str = r"[0-9]{1,12}"
    # The identifier holding athena's id (its value is the local id), e.g.
    # urn:athenahealth:athenanet:patient:{practice}. With it declared, the resource's
    # identifiers are exactly this one and ``identifiers``.
    identifier_system: str | None = None
    identifiers: dict[str, str] = Field(default_factory=dict)  # other system -> value syntax
    # Also own ``a-1.{practice_prefix}-{practiceid}`` (the practice Organization, API-NOTES §5.3).
    practice_prefix: str | None = None


class Field_(_Strict):
    """One FHIR path <-> athena field correspondence."""

    fhir: str
    athena: str | list[str]
    transform: str = "identity"
    codes: str | None = None
    direction: Direction = "both"
    # A reference or templated value: ``{value}`` (or ``{0}``, ``{1}`` for several athena
    # fields) and ``{practice}``. On write, only values matching the template are taken.
    template: str | None = None
    each: bool = False  # a list value: set each item through the path (use ``[+]``)


class Source(_Strict):
    """How records from one athena surface become FHIR resources.

    ``rest`` sources list ``fields``; ``fhir`` sources copy the named top-level
    elements of athena's own FHIR resource (ids share one scheme) and may add
    ``fields`` on top.
    """

    surface: Surface
    record_id: str | None = None  # athena field holding the local id (rest)
    copy_elements: list[str] = Field(default_factory=list, alias="copy")
    fields: list[Field_] = Field(default_factory=list)
    # Facts the facade adds to each record before mapping: ``department`` adds
    # ``departmenttimezone`` (hours from UTC) from the practice's department list,
    # because athena's appointment records carry department-local times only;
    # ``schedule`` adds a provider-in-department's bookable reasons (``reasonids``) and
    # planning horizon (``planningstart``, ``planningend``; see facade/engine/records.py).
    context: list[Literal["department", "schedule"]] = Field(default_factory=list)


class SearchParamDef(_Strict):
    """A FHIR search parameter the resource supports, evaluated locally on FHIR output."""

    type: ParamType
    paths: list[str] = Field(default_factory=list)  # mapping-path syntax, relative to the resource
    definition: str | None = None  # canonical URL of the SearchParameter
    modifiers: list[str] = Field(default_factory=list)
    comparators: list[str] = Field(default_factory=list)
    system: str | None = None  # implicit system of a code element (e.g. gender)
    target: list[str] = Field(default_factory=list)  # reference target types
    local: bool = True  # False: cannot be checked on the resource; must be pushed upstream
    documentation: str | None = None


def _no_modifier() -> list[str | None]:
    return [None]


class Push(_Strict):
    """How one FHIR search parameter translates into an upstream parameter."""

    param: str
    kind: Literal[
        "value",
        "token-code",
        "token-value",
        "token-fhir-id",
        "date",
        "date-range",
        "fhir-id",
        "fhir-id-local",
        "reference",
        "reference-id",
        "reference-typed",
        "reference-parts",
    ] = "value"
    prefixes: list[str] = Field(default_factory=lambda: ["eq"])
    precision: Literal["day", "any"] = "any"
    transform: str | None = None  # named transform; its write direction converts the value
    modifiers: list[str | None] = Field(default_factory=_no_modifier)
    system: str | None = None  # a token's system must equal this (templated) when given
    multiple: bool = False  # an OR-list goes upstream as one comma-separated value
    # date-range: every ``date`` parameter narrows one window, pushed as ``param`` (first
    # day) and ``end_param`` (last day, inclusive), widened by ``widen_days`` on each side
    # (athena days are department-local; the local filter decides exactly).
    end_param: str | None = None
    widen_days: int = 0
    # reference-parts: the local id split on "-" into these upstream parameters
    parts: list[str] = Field(default_factory=list)


class Merge(_Strict):
    """A second source for the same resource (e.g. the /v1 chart summary for Encounter.text).

    ``path`` may use ``{id}`` (FHIR id) and ``{local}`` (athena id). Elements the
    merged source maps are added only where the primary rendering lacks them.
    ``optional``: an athena 404 on this call leaves the resource as it is.
    """

    surface: Surface
    path: str
    source: str
    method: Literal["GET"] = "GET"
    optional: bool = True


class Explode(_Strict):
    """``list`` names a list field; each item becomes a record with the item under ``as``.

    ``id`` is a template over the exploded record giving its local id (field ``_id``).
    """

    list_field: str = Field(alias="list")
    as_field: str = Field(alias="as")
    id: str


class Join(_Strict):
    """Rows of ``path`` (``list_key``) whose ``key`` equals the record's ``on`` field are
    copied onto the record with each field name prefixed by ``prefix``."""

    path: str
    list_key: str
    key: str
    on: str
    prefix: str


class Include(_Strict):
    """``_include`` (search §include): the references at ``path`` of each match."""

    path: str
    target: list[str]


class RevInclude(_Strict):
    """``_revinclude``: resources of ``resource`` whose ``param`` references a match."""

    resource: str
    param: str


class Route(_Strict):
    name: str
    surface: Surface
    method: Literal["GET", "POST", "PUT"] = "GET"
    path: str
    source: str
    requires: list[list[str]] = Field(default_factory=list)
    push: dict[str, Push] = Field(default_factory=dict)
    fixed: dict[str, str] = Field(default_factory=dict)
    paging: Literal["offset", "cursor", "none"] = "none"
    page_size: int = 100
    list_key: str | None = None  # rest list responses: key holding the records
    exact: list[str] = Field(
        default_factory=list
    )  # pushed params whose upstream semantics equal FHIR's
    scan: bool = False  # reads a whole list and filters locally
    # Read routes: second sources fetched after the primary and merged into it.
    merge: list[Merge] = Field(default_factory=list)
    # List routes: one record per item of a list field (provider x department).
    explode: Explode | None = None
    # List routes: rows of a second athena list joined onto each record.
    join: Join | None = None
    # Upstream parameters sent only when no pushed parameter supplies them. The value
    # ``{departments}`` is every department of the practice (comma list).
    defaults: dict[str, str] = Field(default_factory=dict)
    # Records with these field values are not this resource (an open slot is no Appointment).
    skip_when: dict[str, list[str]] = Field(default_factory=dict)


class Compartment(_Strict):
    """Where a resource names its patient (the SMART patient compartment).

    ``param``: the search parameter that selects one patient's resources (pinned
    on every search of a patient-limited token); ``path``: the element holding
    the patient (an id for Patient itself, a reference elsewhere), checked on
    every resource returned. Patient: ``{param: _id, path: id}``; Encounter:
    ``{param: patient, path: subject}``.
    """

    param: str
    path: str


class Routes(_Strict):
    read: Route
    search: list[Route]


class WriteStep(_Strict):
    """One upstream write, declared by a table (FHIR create, update or an operation).

    ``form`` names the athena fields (from ``to_athena`` over ``source``, plus the
    facade-resolved ones) sent as the form body; ``path`` may use ``{field}``
    placeholders. ``resolve`` names a resolver that completes the athena fields
    before the call (e.g. ``open-slot``: the slot from ``slot`` or start/end + actors).
    ``readback`` names how an ambiguous outcome (timeout) is checked before deciding.
    ``when``: FHIR element values that select this step (updates).
    """

    name: str
    method: Literal["POST", "PUT", "DELETE"] = "PUT"
    path: str
    source: str
    form: list[str] = Field(default_factory=list)
    required: list[str] = Field(default_factory=list)  # athena fields that must be present
    resolve: str | None = None
    readback: str | None = None
    when: dict[str, str] = Field(default_factory=dict)
    result: Literal["record", "reread"] = "record"  # athena answers the record, or re-read it


class OperationParam(_Strict):
    name: str
    use: Literal["in", "out"] = "in"
    min: int = 0
    max: str = "1"
    type: str | None = None
    documentation: str | None = None


class OperationDef(_Strict):
    """A FHIR operation a table serves (advertised with its OperationDefinition).

    The OperationDefinition is generated from this entry and served at
    ``{base}/OperationDefinition/{resource}-{name}`` (its canonical URL).
    """

    name: str  # without "$"
    based_on: str | None = None  # the specification it follows (IHE ITI Scheduling)
    parameters: list[OperationParam] = Field(default_factory=list)
    methods: list[str] = Field(default_factory=lambda: ["POST"])  # GET and/or POST
    writes: bool = False  # writes upstream: idempotency applies
    documentation: str | None = None


class Writes(_Strict):
    create: WriteStep | None = None
    update: list[WriteStep] = Field(default_factory=list)
    patch_paths: list[str] = Field(default_factory=list)  # elements JSON Patch may change
    steps: list[WriteStep] = Field(default_factory=list)  # further steps operations use, by name
    operations: list[OperationDef] = Field(default_factory=list)


class Table(_Strict):
    resource: str
    profile: str | None = None  # None: a base resource (no US Core profile)
    profile_versions: list[str] = Field(default_factory=list)
    ttl_seconds: int = 60
    id: IdScheme
    sources: dict[str, Source]
    routes: Routes
    search_params: dict[str, SearchParamDef]
    combinations: list[list[str]] = Field(default_factory=list)  # advertised (US Core) combinations
    documentation: str | None = None
    compartment: Compartment | None = None  # None: closed to patient-limited tokens
    # Reference data outside every patient compartment (Practitioner, Location,
    # Organization): readable by patient-limited tokens.
    shared: bool = False
    includes: dict[str, Include] = Field(default_factory=dict)  # "Encounter:patient": ...
    revincludes: dict[str, RevInclude] = Field(default_factory=dict)  # "Provenance:target": ...
    writes: Writes | None = None

    @model_validator(mode="after")
    def _check_references(self) -> Table:
        routes = [self.routes.read, *self.routes.search]
        for route in routes:
            if route.source not in self.sources:
                raise ValueError(f"route {route.name} uses unknown source {route.source}")
            for merge in route.merge:
                if merge.source not in self.sources:
                    raise ValueError(f"route {route.name} merges unknown source {merge.source}")
            for name in [*route.push, *(p for alt in route.requires for p in alt)]:
                if name not in self.search_params:
                    raise ValueError(f"route {route.name} names unknown parameter {name}")
        if self.writes is not None:
            steps = [self.writes.create, *self.writes.update]
            for step in steps:
                if step is not None and step.source not in self.sources:
                    raise ValueError(f"write {step.name} uses unknown source {step.source}")
        if self.compartment and self.compartment.param not in self.search_params:
            raise ValueError(f"compartment names unknown parameter {self.compartment.param}")
        return self


class CodeTable(_Strict):
    """athena codes <-> FHIR codes; the first athena code listed for a FHIR code wins on write."""

    system: str
    map: dict[str, str]
    default: str | None = None  # FHIR code for athena codes not in the map
    write_default: str | None = None
    display: dict[str, str] = Field(default_factory=dict)
