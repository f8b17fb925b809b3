"""Schema of the declarative mapping tables in ``mappings/`` (DESIGN.md "Mapping tables").

Tables are data; this module only describes their shape so that a typo in a
table fails at load time, not on the request path. Pydantic is used here
because this is where data enters the program.

**Write authorization** (DESIGN.md "Writes": a write is authorized on what is sent
upstream). A table with ``writes`` declares which athena fields of its upstream
requests carry ids that matter, and the engine (:mod:`facade.engine.write_policy`)
checks them for every step — create, update, patch and the named steps operations
use — on the FHIR body first and on the athena request just before it is sent:

- ``writes.patients``: the athena fields that carry a patient id, in any step
  (``[patientid]``). Each one sent must be the caller's patient when the token is
  limited to a patient compartment; the FHIR elements the table writes it from may
  name at most one patient (athena takes one; more is 422 at the element); an
  update never takes it from the body (the current record's patient is sent, and a
  body naming another is 400). Every write field whose ``template`` is a
  ``Patient/`` reference must be listed, so a new table cannot forget it.
- ``records`` on each :class:`WriteStep`: the athena fields naming a record the call
  acts on, each with a :class:`WriteRecord` role — ``target`` (the resource in an
  update's URL: the URL decides, a body naming another record is 400),
  ``writable`` (an existing record of ``type`` the caller must be allowed to
  update: re-read from athena with the caller's token, in the write's practice,
  belonging to the request's patient) or ``taken`` (a free record the call turns
  into this table's resource, e.g. a booked slot). Every ``{placeholder}`` of a
  step's ``path`` must be a declared patient or record field. Every record a
  request names is dropped from the entity cache once the call went out.

For example (``mappings/appointment.yaml``)::

    writes:
      patients: [patientid]
      update:
        - name: cancel
          path: /appointments/{appointmentid}/cancel
          records: {appointmentid: {role: target}}
      steps:
        - name: reschedule
          path: /appointments/{cancelledid}/reschedule
          records:
            cancelledid: {role: writable, type: Appointment}
            newappointmentid: {role: taken, type: Slot}
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# ``store``: records the facade itself keeps (facade/store/), read through a collection a
# workflow registers under the route's ``path`` (facade/engine/registry.py), because athena
# keeps none (eligibility requests and responses: athena holds only the latest check).
Surface = Literal["rest", "fhir", "store"]
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
    # Further prefixes of this type's ids, each with its local syntax: the payer
    # Organization of a Coverage is ``a-{practice}.InsurancePackage-{id}`` (athena's FHIR).
    other_prefixes: dict[str, str] = Field(default_factory=dict)


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
    # planning horizon (``planningstart``, ``planningend``; see facade/engine/records.py);
    # ``today`` adds the practice's current date (``today``, ISO), for mappings that compare
    # athena's dates with it (an expired insurance is not in force), so they stay pure.
    context: list[Literal["department", "schedule", "today"]] = Field(default_factory=list)
    # fhir sources: copied elements whose absolute URLs into athena's FHIR base
    # (``https://.../fhir/r4/Binary/{id}``) become references relative to ours
    # (``Binary/{id}``, which resolves through the facade; R4 Attachment.url may be relative).
    rebase: list[str] = Field(default_factory=list)


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
    # date-range: ``department`` when athena's days are its departments' local days. With
    # every department's UTC offset known, the window is the request's bounds seen from
    # those offsets (no blanket ``widen_days``); unknown offsets fall back to widen_days.
    zone: Literal["department"] | None = None
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


class Locate(_Strict):
    """The parent record a rest path needs, found through athena's FHIR read of the same id.

    athena's /v1 API lists a patient's insurances (``/patients/{patientid}/insurances``)
    but reads none by id; its FHIR read of the same id (``/Coverage/{id}``) names the
    patient. The FHIR id is the read's own id, or the upstream parameter ``from`` (a
    pushed ``_id``, which is then not sent); the value at ``field`` of athena's answer,
    matched against ``template``, becomes ``into`` (a placeholder of the route's path).
    Nothing is looked up when ``into`` is already supplied (pushed from ``patient``);
    athena's 404, or an answer of another shape, matches nothing.
    """

    path: str  # athena FHIR path with {id}
    field: str  # mapping path into athena's resource, e.g. beneficiary.reference
    template: str  # e.g. Patient/a-{practice}.E-{value}
    into: str  # the upstream parameter it fills, e.g. patientid
    from_param: str | None = Field(default=None, alias="from")


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
    # rest routes whose path needs a parent athena cannot give by id (see Locate)
    locate: Locate | None = None
    # Search parameters decided on athena's raw record before the whole record is mapped:
    # only the source fields that produce the parameter's elements are mapped and matched
    # (the same fields and transforms as the full mapping, so the same answer), and a
    # record that fails is never mapped (facade/mapping/filter.py ``Prefilter``).
    prefilter: list[str] = Field(default_factory=list)


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


class WriteRecord(_Strict):
    """The role of an athena field that names a record a write step acts on.

    - ``target``: the resource named in the request URL (update and patch steps only).
      The engine sets the field from the URL id; the body may only repeat it.
    - ``writable``: an existing record of ``type`` the call changes (the appointment a
      reschedule cancels). The engine re-reads it from athena (never the cache) with
      the caller's token in the write's practice: unknown, in another practice or
      outside the caller's patient compartment is 404, no ``u`` scope letter for
      ``type`` is 403, and it must belong to the patient the request sends (422).
    - ``taken``: a free record the call takes and turns into this table's resource (the
      slot a booking fills). It belongs to no patient yet; the step's resolver proves
      it is free and athena takes it atomically (409 otherwise).
    - ``referenced``: an existing record the call is about without changing it as a FHIR
      resource (the Coverage an eligibility check is for). The engine re-reads it from
      athena in the caller's patient compartment and practices (whatever the caller's
      scope letters for ``type``): unknown or outside the compartment is 404, and it must
      belong to the patient the request sends (422).

    ``type``: the FHIR type the record is served as (default: the table's resource);
    its id scheme checks the value's shape and names the cache entry to drop.
    """

    role: Literal["target", "writable", "taken", "referenced"]
    type: str | None = None


class WriteStep(_Strict):
    """One upstream write, declared by a table (FHIR create, update or an operation).

    ``form`` names the athena fields (from ``to_athena`` over ``source``, plus the
    facade-resolved ones) sent as the form body; ``path`` may use ``{field}``
    placeholders. ``resolve`` names a resolver that completes the athena fields
    before the call (e.g. ``open-slot``: the slot from ``slot`` or start/end + actors).
    ``readback`` names how an ambiguous outcome (timeout) is checked before deciding.
    ``when``: FHIR element values that select this step (updates). ``records``: the
    athena fields naming the records the call acts on, with their roles (module
    docstring, "Write authorization").

    ``mode`` (updates): ``set`` sends every form field the current record and the body
    give (the body wins: a state change such as a cancel); ``replace`` makes the body the
    new record (PUT semantics): only the form fields whose value differs from the current
    record's are sent, one the body leaves out is sent empty (athena clears it), except
    the ``keep`` fields, which an absent element leaves as they are (athena cannot clear
    them, e.g. a patient's ``status`` when ``active`` is left out); a ``required`` field
    may not be cleared (422 at the element).

    ``result``: athena answers the ``record``; or nothing useful, and the URL's record is
    re-read (``reread``); or the new record's ``id`` only, and it is read back through
    the table's read (the answer is the full resource); or ``answer``: athena's answer as
    it is, for the step's completer (a claim's ``claimids`` list). A create whose athena call may
    answer an existing record instead of a new one (athena's duplicate check) has its
    resolver list those records' ids in ``WriteContext.facts["existing"]``: such an
    answer is a 409 naming the match (with ``If-None-Exist``, a 200 with it).

    ``intent``: the athena fields the idempotency ledger records for the read-back
    (default ``required``); never names or dates (resolvers may add ids in
    ``facts["intent"]``).
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
    result: Literal["record", "reread", "id", "answer"] = "record"
    records: dict[str, WriteRecord] = Field(default_factory=dict)
    mode: Literal["set", "replace"] = "set"
    keep: list[str] = Field(default_factory=list)  # replace: absent leaves these unchanged
    intent: list[str] | None = None
    # Updates: the FHIR elements this step may change. Empty: a state change selected by
    # ``when`` (a record already in that state is answered as it is, unless
    # ``skip_if_current`` is false), or a ``replace`` (which sends what differs).
    # Declared: the body may differ from the current record only in these elements
    # (others are 422 at the element; elements left out are kept), and a body that
    # changes nothing is answered without a call (unless ``skip_if_current`` is false:
    # an expired Coverage reads ``cancelled`` but athena still holds it live, so
    # cancelling it is still sent).
    changes: list[str] = Field(default_factory=list)
    skip_if_current: bool = True
    # A named completer (facade/engine/registry.py) that turns athena's answer into the
    # write's outcome instead of ``to_fhir`` over ``source`` (an eligibility check stores
    # the request and the response it builds from the 271).
    complete: str | None = None
    # athena's HTTP-200 soft failure (``success: false``, API-NOTES §4.2) is an answer for
    # the completer, not an error: athena's preview cannot check eligibility (§3.8).
    soft: bool = False
    # athena's refusals whose text names no field: a piece of the message -> the athena
    # field it is about, so the OperationOutcome points at the FHIR element
    # (athena's ``invalidfields`` / ``missingfields`` are mapped the same way).
    errors: dict[str, str] = Field(default_factory=dict)

    def placeholders(self) -> list[str]:
        """The ``{field}`` names of ``path``."""
        return re.findall(r"\{([^{}]+)\}", self.path)


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
    # The specification's own OperationDefinition when this is exactly that operation
    # (R4 core ``$submit``): /metadata names it; the served definition says it is based on it.
    canonical: str | None = None


class Writes(_Strict):
    # athena fields carrying a patient id, in any step (module docstring, "Write authorization")
    patients: list[str] = Field(default_factory=list)
    # The athena fields an update by a patient-limited token may change (None: the steps'
    # own rules alone). Any other field the update would send is 422 at its element.
    patient_may_change: list[str] | None = None
    create: WriteStep | None = None
    update: list[WriteStep] = Field(default_factory=list)
    patch_paths: list[str] = Field(default_factory=list)  # elements JSON Patch may change
    steps: list[WriteStep] = Field(default_factory=list)  # further steps operations use, by name
    operations: list[OperationDef] = Field(default_factory=list)


class Table(_Strict):
    resource: str
    profile: str | None = None  # None: a base resource (no US Core profile)
    # Further profiles of the same type (Observation: lab, vital signs, smoking status...).
    # athena's own meta.profile picks among ``profile`` and these; otherwise ``profile``.
    profiles: list[str] = Field(default_factory=list)
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
    # What to do instead of DELETE, said in its 405 answer (athena deletes nothing here).
    delete_instead: str | None = None

    @model_validator(mode="after")
    def _check_references(self) -> Table:
        routes = [self.routes.read, *self.routes.search]
        for route in routes:
            if route.source not in self.sources:
                raise ValueError(f"route {route.name} uses unknown source {route.source}")
            if (route.surface == "store") != (self.sources[route.source].surface == "store"):
                raise ValueError(f"route {route.name}: store routes read store sources only")
            for merge in route.merge:
                if merge.source not in self.sources:
                    raise ValueError(f"route {route.name} merges unknown source {merge.source}")
            for name in [*route.push, *(p for alt in route.requires for p in alt)]:
                if name not in self.search_params:
                    raise ValueError(f"route {route.name} names unknown parameter {name}")
            for name in route.prefilter:
                definition = self.search_params.get(name)
                if definition is None or not definition.local:
                    raise ValueError(f"route {route.name} prefilters {name}: no local parameter")
                if self.sources[route.source].surface != "rest":
                    raise ValueError(f"route {route.name} prefilters {name}: rest sources only")
        if self.writes is not None:
            self._check_writes(self.writes)
        if self.compartment and self.compartment.param not in self.search_params:
            raise ValueError(f"compartment names unknown parameter {self.compartment.param}")
        return self

    def _check_writes(self, writes: Writes) -> None:
        """Every id an upstream write sends has a declared role (write authorization)."""
        updates = {id(step) for step in writes.update}
        for step in (s for s in [writes.create, *writes.update, *writes.steps] if s is not None):
            if step.source not in self.sources:
                raise ValueError(f"write {step.name} uses unknown source {step.source}")
            for name in step.placeholders():
                if name not in step.records and name not in writes.patients:
                    raise ValueError(
                        f"write {step.name}: path field {name} is neither in writes.patients"
                        " nor in the step's records"
                    )
            used = {*step.placeholders(), *step.form, *step.required}
            for name, record in step.records.items():
                if name not in used:
                    raise ValueError(f"write {step.name}: record {name} is never sent")
                if record.role == "target" and id(step) not in updates:
                    raise ValueError(f"write {step.name}: only update steps have a target")
            if not set(step.keep) <= set(step.form):
                raise ValueError(f"write {step.name}: keep names fields it never sends")
            if step.mode == "replace" and id(step) not in updates:
                raise ValueError(f"write {step.name}: only update steps replace the record")
            targets = [n for n, r in step.records.items() if r.role == "target"]
            if id(step) in updates and len(targets) != 1:
                raise ValueError(f"update {step.name} must declare exactly one target record")
            if writes.patient_may_change is not None and not set(writes.patient_may_change) <= {
                n for s in writes.update for n in s.form
            }:
                raise ValueError("patient_may_change names fields no update sends")
            for field in self.sources[step.source].fields:
                names = [field.athena] if isinstance(field.athena, str) else field.athena
                if (
                    field.direction != "read"
                    and (field.template or "").startswith("Patient/")
                    and names[0] not in writes.patients
                ):
                    raise ValueError(
                        f"write field {field.fhir} -> {names[0]} carries a patient id:"
                        " list it in writes.patients"
                    )


class CodeTable(_Strict):
    """athena codes <-> FHIR codes; the first athena code listed for a FHIR code wins on write."""

    system: str
    map: dict[str, str]
    default: str | None = None  # FHIR code for athena codes not in the map
    write_default: str | None = None
    display: dict[str, str] = Field(default_factory=dict)
